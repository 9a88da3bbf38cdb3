//! `evaluate`: the guard's decision on event files (waivers applied, as on `--today`), with no
//! AWS calls.

use crate::args::Format;
use crate::exit::Exit;
use crate::input::{display, print, read_input, stdout_closed};
use anyhow::Context;
use ecr_policy_guard::Config;
use ecr_policy_guard_core::event::MAX_EVENT_BYTES;
use ecr_policy_guard_core::render::text::{
    EvaluateSummary, Style, input_name, outcome_text, to_json,
};
use ecr_policy_guard_core::{EventError, Outcome, evaluate};

/// Evaluates each event file and prints its result (or its one-line error); several files
/// continue past a bad one so that every file gets a verdict, and end with a summary. The exit
/// code is the worst.
pub fn evaluate_all(events: &[String], config: &Config, format: Format, style: Style) -> Exit {
    let several = events.len() > 1;
    let mut summary = EvaluateSummary::default();
    let mut worst = Exit::Clean;
    for path in events {
        let outcome = evaluate_one(path, config, format, style, several);
        summary.count(outcome.as_ref().map(|o| o.action));
        worst = worst.max(outcome.map_or(Exit::Invalid, |o| Exit::of_action(o.action)));
        if stdout_closed() {
            return worst;
        }
    }
    if several {
        let out = match format {
            // The last JSON line: a summary object (it has no `action`).
            Format::Json => format!("{}\n", serde_json::json!({ "summary": summary })),
            // sarif and junit are refused before (`Format::text_or_json`).
            Format::Text | Format::Sarif | Format::Junit => summary.text(),
        };
        if let Err(error) = print(&out) {
            eprintln!("error: {error:#}");
            return Exit::Invalid;
        }
    }
    worst
}

/// One file: its outcome, printed; `None` (after a one-line error) when it cannot be judged.
fn evaluate_one(
    path: &str,
    config: &Config,
    format: Format,
    style: Style,
    several: bool,
) -> Option<Outcome> {
    let result = read_input(path, MAX_EVENT_BYTES).and_then(|text| {
        evaluate(&text, &config.rules, config.mode)
            .map(|outcome| config.waivers.apply(outcome, config.today()))
            .map_err(|e| {
                let hint = match e {
                    EventError::PolicyNotEvent => {
                        "; to judge a policy, use `ecr-policy-guard check`"
                    }
                    _ => "",
                };
                anyhow::anyhow!("{e}{hint}")
            })
            .with_context(|| display(path))
    });
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("error: {error:#}");
            return None;
        }
    };
    let out = match format {
        // Several files: JSON Lines, one object per file, each naming its file.
        Format::Json if several => {
            let mut value = serde_json::to_value(&outcome).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("file".into(), path.into());
            }
            format!("{value}\n")
        }
        Format::Json => to_json(&outcome) + "\n",
        Format::Text if several => format!(
            "== {}\n{}\n",
            input_name(path),
            outcome_text(&outcome, style)
        ),
        // sarif and junit are refused before (`Format::text_or_json`).
        Format::Text | Format::Sarif | Format::Junit => outcome_text(&outcome, style),
    };
    if let Err(error) = print(&out) {
        eprintln!("error: {error:#}");
        return None;
    }
    Some(outcome)
}
