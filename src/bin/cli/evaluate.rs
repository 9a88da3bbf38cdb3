//! `evaluate`: the guard's decision on event files, with no AWS calls.

use crate::args::Format;
use crate::exit::Exit;
use crate::input::{display, print, read_input};
use anyhow::Context;
use ecr_policy_guard::Config;
use ecr_policy_guard_core::evaluate;
use ecr_policy_guard_core::event::MAX_EVENT_BYTES;
use ecr_policy_guard_core::render::text::{Style, outcome_text, to_json};

/// Evaluates each event file and prints its result (or its one-line error); several files
/// continue past a bad one so that every file gets a verdict. The exit code is the worst.
pub fn evaluate_all(events: &[String], config: &Config, format: Format, style: Style) -> Exit {
    let several = events.len() > 1;
    events
        .iter()
        .map(|path| evaluate_one(path, config, format, style, several))
        .max()
        .unwrap_or(Exit::Clean)
}

fn evaluate_one(path: &str, config: &Config, format: Format, style: Style, several: bool) -> Exit {
    let result = read_input(path, MAX_EVENT_BYTES).and_then(|text| {
        evaluate(&text, &config.rules, config.mode).with_context(|| display(path))
    });
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Exit::Invalid;
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
        Format::Text if several => format!("== {path}\n{}\n", outcome_text(&outcome, style)),
        Format::Text => outcome_text(&outcome, style),
    };
    if let Err(error) = print(&out) {
        eprintln!("error: {error:#}");
        return Exit::Invalid;
    }
    Exit::of_action(outcome.action)
}
