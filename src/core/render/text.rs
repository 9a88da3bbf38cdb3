//! The CLI's renderings of check results, outcomes and incidents, for people (text) and machines
//! (JSON). Every renderer reads the same evidence values; none of them re-derives a verdict.

use super::{actor_line, source_text, violation_line};
use crate::decision::{Action, Mode, Outcome};
use crate::incident::{Incident, Taken};
use crate::rules::Violation;
use crate::text::{plural, tick};
use serde::Serialize;
use std::fmt::Write;

/// The JSON document of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport<'a> {
    pub compliant: bool,
    pub violations: &'a [Violation],
}

/// ANSI styling, applied only when the output is a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    fn bad(self, text: &str) -> String {
        self.paint("1;31", text)
    }
    fn good(self, text: &str) -> String {
        self.paint("1;32", text)
    }
    fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }
}

/// Pretty JSON; serialising these plain structs cannot fail.
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

/// `check` as text: the verdict, then one line per violation.
pub fn check_text(violations: &[Violation], style: Style) -> String {
    let mut out = if violations.is_empty() {
        format!("{} the policy passes every rule\n", style.good("COMPLIANT"))
    } else {
        format!(
            "{} {}\n",
            style.bad("NOT COMPLIANT"),
            plural(violations.len(), "violation")
        )
    };
    for v in violations {
        writeln!(out, "  - {}", violation_line(v)).unwrap_or_default();
    }
    out
}

/// What the guard does (or, in a dry run, would do) for an action.
pub fn action_text(action: Action, mode: Mode) -> String {
    match action {
        Action::Ignore => "nothing: the event is not a policy change the guard judges".into(),
        Action::None => "nothing: the repository's policy is compliant".into(),
        Action::Alert if mode == Mode::Revert => {
            "publish an alert and leave the policy as it is (a policy the guard cannot read is never rewritten)".into()
        }
        Action::Alert => "publish an alert and leave the policy as it is (mode alert)".into(),
        Action::Revert => {
            "restore the last compliant policy (or a safe baseline), then publish an alert (mode revert)".into()
        }
    }
}

/// `evaluate` as text: the verdict and event, one line per violation, then what would happen.
pub fn outcome_text(outcome: &Outcome, style: Style) -> String {
    let verdict = match outcome.action {
        Action::Ignore => style.dim("IGNORED"),
        Action::None => style.good("COMPLIANT"),
        Action::Alert => style.bad("ALERT"),
        Action::Revert => style.bad("REVERT"),
    };
    let f = &outcome.facts;
    let unknown = "?";
    let mut out = format!("{verdict} {}", f.event_name.as_deref().unwrap_or(unknown));
    if let Some(repository) = &f.repository {
        write!(out, " on {}", tick(repository)).unwrap_or_default();
    }
    writeln!(
        out,
        " in account {} ({})",
        f.account.as_deref().unwrap_or(unknown),
        f.region.as_deref().unwrap_or(unknown),
    )
    .unwrap_or_default();
    let mut who = format!("  by {}", actor_line(f));
    if let Some(id) = &f.event_id {
        write!(who, " (event {id})").unwrap_or_default();
    }
    writeln!(out, "{who}").unwrap_or_default();
    writeln!(out, "  {}", outcome.reason).unwrap_or_default();
    for v in &outcome.violations {
        writeln!(out, "  - {}", violation_line(v)).unwrap_or_default();
    }
    writeln!(
        out,
        "  would: {}",
        action_text(outcome.action, outcome.mode)
    )
    .unwrap_or_default();
    out
}

/// What the guard did, in one line (the `did:` line of `handle`).
pub fn taken_text(incident: &Incident) -> String {
    let target = || {
        incident
            .target
            .as_ref()
            .map(source_text)
            .unwrap_or_default()
    };
    match incident.taken {
        Taken::Nothing => "nothing".into(),
        Taken::Alerted => "published an alert; the policy is unchanged".into(),
        Taken::Reverted => format!("restored {}, then published an alert", target()),
        Taken::AlreadyReverted => format!(
            "found {} already in place, wrote nothing, published an alert",
            target()
        ),
        Taken::RevertSuperseded => format!(
            "wrote nothing ({}), published an alert",
            incident.detail.as_deref().unwrap_or_default()
        ),
        Taken::RevertFailed => format!(
            "could not revert ({}), published an alert",
            incident.detail.as_deref().unwrap_or_default()
        ),
        Taken::MalformedEvent => format!(
            "published an alert about a malformed event: {}",
            incident.detail.as_deref().unwrap_or_default()
        ),
    }
}

/// `handle` as text: the outcome (without the dry run's `would:` line), then what was done.
pub fn incident_text(incident: &Incident, style: Style) -> String {
    let mut out = match &incident.outcome {
        Some(outcome) => {
            let text = outcome_text(outcome, style);
            text.lines()
                .filter(|l| !l.starts_with("  would: "))
                .fold(String::new(), |acc, l| acc + l + "\n")
        }
        None => format!("{}\n", style.bad("MALFORMED EVENT")),
    };
    writeln!(out, "  did: {}", taken_text(incident)).unwrap_or_default();
    out
}

/// One input of a batch `check`: a file, or one line of a JSON Lines file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    pub file: String,
    /// 1-based line number, for JSON Lines input.
    pub line: Option<usize>,
    /// `None` when the input is not a valid policy (see `error`).
    pub compliant: Option<bool>,
    pub violations: Vec<Violation>,
    pub error: Option<String>,
}

/// Counts over a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    pub inputs: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub invalid: usize,
    pub violations: usize,
}

/// The JSON document of a batch `check`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    pub results: Vec<CheckResult>,
    pub summary: CheckSummary,
}

impl BatchReport {
    pub fn push(&mut self, result: CheckResult) {
        let s = &mut self.summary;
        s.inputs += 1;
        s.violations += result.violations.len();
        match result.compliant {
            Some(true) => s.compliant += 1,
            Some(false) => s.non_compliant += 1,
            None => s.invalid += 1,
        }
        self.results.push(result);
    }
}

/// A batch `check` as text: one verdict line per input, its violations, then the counts.
pub fn batch_text(report: &BatchReport, style: Style) -> String {
    let mut out = String::new();
    for r in &report.results {
        let place = match r.line {
            Some(line) => format!("{}:{line}", r.file),
            None => r.file.clone(),
        };
        let verdict = match (r.compliant, &r.error) {
            (Some(true), _) => style.good("COMPLIANT"),
            (Some(false), _) => {
                format!(
                    "{} {}",
                    style.bad("NOT COMPLIANT"),
                    plural(r.violations.len(), "violation")
                )
            }
            (None, error) => format!(
                "{} {}",
                style.bad("INVALID"),
                error.as_deref().unwrap_or_default()
            ),
        };
        writeln!(out, "{place}: {verdict}").unwrap_or_default();
        for v in &r.violations {
            writeln!(out, "  - {}", violation_line(v)).unwrap_or_default();
        }
    }
    let s = &report.summary;
    writeln!(
        out,
        "{} inputs: {} compliant, {} not compliant, {} invalid ({})",
        s.inputs,
        s.compliant,
        s.non_compliant,
        s.invalid,
        plural(s.violations, "violation")
    )
    .unwrap_or_default();
    out
}
