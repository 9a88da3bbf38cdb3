//! The CLI's renderings of check results, outcomes and incidents, for people (text) and machines
//! (JSON). Every renderer reads the same evidence values; none of them re-derives a verdict.

use super::alert::headline;
use super::{actor_line, source_text, violation_line, waiver_lines};
use crate::decision::{Action, Mode, Outcome};
use crate::event::Subject;
use crate::incident::{Incident, Taken};
use crate::remedy::Target;
use crate::rules::Violation;
use crate::text::plural;
use crate::waiver::{Date, WaiverState, WaiverStatus};
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
    pub(crate) fn paint(self, code: &str, text: &str) -> String {
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

/// What the guard does (or, in a dry run, would do) for an action on a subject.
pub fn action_text(action: Action, mode: Mode, subject: Subject) -> String {
    let revert = match subject {
        Subject::Repository => {
            "restore the last compliant policy (or a safe baseline), then publish an alert (mode revert)"
        }
        Subject::RegistryPolicy => {
            "restore the last compliant registry policy (or the policy without its violating grants, or none at all), then publish an alert (mode revert)"
        }
        Subject::CreationTemplate => {
            "give the template its policy without the violating grants (or a safe baseline), then publish an alert (mode revert)"
        }
        Subject::Replication => {
            "rewrite the replication configuration without the unapproved destinations, then publish an alert (mode revert)"
        }
    };
    match action {
        Action::Ignore => "nothing: the event is not a change the guard judges".into(),
        Action::None => "nothing: it is compliant".into(),
        Action::Alert if mode == Mode::Revert => {
            "publish an alert and leave it as it is (a policy the guard cannot read is never rewritten)".into()
        }
        Action::Alert => "publish an alert and leave it as it is (mode alert)".into(),
        Action::Revert => revert.into(),
    }
}

/// `waivers` as text: a count, then per waiver its status, number, scope, expiry and reason.
pub fn waivers_text(states: &[WaiverState], today: Date, style: Style) -> String {
    let count = |status| states.iter().filter(|s| s.status == status).count();
    let mut out = format!(
        "{} on {today}: {} active, {} expiring within 30 days, {} expired\n",
        plural(states.len(), "waiver"),
        count(WaiverStatus::Active),
        count(WaiverStatus::Expiring),
        count(WaiverStatus::Expired)
    );
    for s in states {
        let status = match s.status {
            WaiverStatus::Active => style.good("ACTIVE  "),
            WaiverStatus::Expiring => style.bad("EXPIRING"),
            WaiverStatus::Expired => style.dim("EXPIRED "),
        };
        let _ = writeln!(
            out,
            "{status} waiver {}: {}, {}: {}",
            s.waiver.number,
            s.waiver.scope(),
            s.when(),
            s.waiver.reason
        );
    }
    out
}

/// `evaluate` as text: the verdict and event, one line per violation, then what would happen.
pub fn outcome_text(outcome: &Outcome, style: Style) -> String {
    let verdict = match outcome.action {
        Action::Ignore => style.dim("IGNORED"),
        // Violations and nothing to do: every one of them is waived.
        Action::None if !outcome.violations.is_empty() => style.good("WAIVED"),
        Action::None => style.good("COMPLIANT"),
        Action::Alert => style.bad("ALERT"),
        Action::Revert => style.bad("REVERT"),
    };
    let mut out = outcome_lines(outcome, &verdict);
    let would = match outcome.action {
        Action::None if !outcome.violations.is_empty() => {
            "nothing: every violation is waived".to_owned()
        }
        action => action_text(action, outcome.mode, outcome.facts.subject),
    };
    let _ = writeln!(out, "  would: {would}");
    out
}

/// The headline (a word, then the event and where), who did it, why, and the violations.
fn outcome_lines(outcome: &Outcome, headline: &str) -> String {
    let f = &outcome.facts;
    let unknown = "?";
    let mut out = format!("{headline} {}", f.event_name.as_deref().unwrap_or(unknown));
    if f.repository.is_some() || f.subject != Subject::Repository {
        let _ = write!(out, " on {}", f.subject_text());
    }
    let _ = writeln!(
        out,
        " in account {} ({})",
        f.account.as_deref().unwrap_or(unknown),
        f.region.as_deref().unwrap_or(unknown),
    );
    let mut who = format!("  by {}", actor_line(f));
    if let Some(id) = &f.event_id {
        let _ = write!(who, " (event {id})");
    }
    let _ = writeln!(out, "{who}");
    let _ = writeln!(out, "  {}", outcome.reason);
    for v in &outcome.violations {
        let _ = writeln!(out, "  - {}", violation_line(v));
    }
    for line in waiver_lines(outcome) {
        let _ = writeln!(out, "  {line}");
    }
    out
}

/// What the guard did, in one line (the `did:` line of `handle`).
pub fn taken_text(incident: &Incident) -> String {
    let subject = incident
        .outcome
        .as_ref()
        .map(|o| o.facts.subject)
        .unwrap_or_default();
    let target = || {
        incident
            .target
            .as_ref()
            .map(|t| source_text(t, subject))
            .unwrap_or_default()
    };
    let deleted = incident.target.as_ref().is_some_and(Target::is_deletion);
    let unchanged = match subject {
        Subject::Replication => "the replication configuration is unchanged",
        Subject::CreationTemplate => "the template is unchanged",
        Subject::RegistryPolicy | Subject::Repository => "the policy is unchanged",
    };
    match incident.taken {
        Taken::Nothing => "nothing".into(),
        Taken::Alerted => format!("published an alert; {unchanged}"),
        Taken::Reverted if deleted => format!(
            "deleted the registry policy, leaving {}, then published an alert",
            target()
        ),
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
        Taken::Reported => format!("listed it in the scan summary; {unchanged}"),
        Taken::MalformedEvent => format!(
            "published an alert about a malformed event: {}",
            incident.detail.as_deref().unwrap_or_default()
        ),
    }
}

/// `handle` as text: what was done, the event and its violations, then the `did:` line.
pub fn incident_text(incident: &Incident, style: Style) -> String {
    // The headline says what was done (REVERTED, REVERT FAILED, ...), not what was decided.
    let mut out = match &incident.outcome {
        Some(outcome) => {
            let headline = match (incident.taken, outcome.action) {
                (Taken::Nothing, Action::Ignore) => style.dim("IGNORED"),
                (Taken::Nothing, _) if !outcome.violations.is_empty() => style.good("WAIVED"),
                (Taken::Nothing, _) => style.good("COMPLIANT"),
                (taken, _) => style.bad(headline(taken)),
            };
            outcome_lines(outcome, &headline)
        }
        None => format!("{}\n", style.bad(headline(Taken::MalformedEvent))),
    };
    writeln!(out, "  did: {}", taken_text(incident)).unwrap_or_default();
    out
}

/// How text output names an input: `-` is standard input.
pub fn input_name(path: &str) -> &str {
    if path == "-" { "standard input" } else { path }
}

/// Counts over `evaluate` on several events, by what the guard would do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvaluateSummary {
    pub events: usize,
    pub ignored: usize,
    pub compliant: usize,
    pub alert: usize,
    pub revert: usize,
    /// Events that could not be read (each got its one-line error).
    pub unreadable: usize,
}

impl EvaluateSummary {
    /// Counts one event: its outcome's action, or `None` for one that could not be read.
    pub fn count(&mut self, action: Option<Action>) {
        self.events += 1;
        match action {
            None => self.unreadable += 1,
            Some(Action::Ignore) => self.ignored += 1,
            Some(Action::None) => self.compliant += 1,
            Some(Action::Alert) => self.alert += 1,
            Some(Action::Revert) => self.revert += 1,
        }
    }

    /// The closing line of the text output.
    pub fn text(&self) -> String {
        format!(
            "{}: {} to revert, {} to alert, {} compliant, {} ignored, {} unreadable\n",
            plural(self.events, "event"),
            self.revert,
            self.alert,
            self.compliant,
            self.ignored,
            self.unreadable
        )
    }
}

/// One input of a batch `check`: a file, or one line of a JSON Lines file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult<'a> {
    /// The path as given (`-` for standard input).
    pub file: &'a str,
    /// 1-based line number, for JSON Lines input.
    pub line: Option<usize>,
    /// `None` when the input is not a valid policy (see `error`).
    pub compliant: Option<bool>,
    pub violations: Vec<Violation>,
    pub error: Option<String>,
}

impl<'a> CheckResult<'a> {
    /// The result of judging one input: its violations (none: compliant), or why it is not a
    /// valid policy.
    pub fn judged(
        file: &'a str,
        line: Option<usize>,
        checked: Result<Vec<Violation>, String>,
    ) -> CheckResult<'a> {
        let (compliant, violations, error) = match checked {
            Ok(violations) => (Some(violations.is_empty()), violations, None),
            Err(error) => (None, Vec::new(), Some(error)),
        };
        CheckResult {
            file,
            line,
            compliant,
            violations,
            error,
        }
    }
}

/// Counts over a batch. A batch `check` prints its results as they are judged, so these are all
/// it keeps: its JSON document is `{"results": [CheckResult, ...], "summary": CheckSummary}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckSummary {
    pub inputs: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub invalid: usize,
    pub violations: usize,
}

impl CheckSummary {
    /// Counts one result.
    pub fn count(&mut self, result: &CheckResult) {
        self.inputs += 1;
        self.violations += result.violations.len();
        match result.compliant {
            Some(true) => self.compliant += 1,
            Some(false) => self.non_compliant += 1,
            None => self.invalid += 1,
        }
    }

    /// Adds counts made elsewhere (one worker's share of a batch).
    pub fn add(&mut self, other: &CheckSummary) {
        self.inputs += other.inputs;
        self.compliant += other.compliant;
        self.non_compliant += other.non_compliant;
        self.invalid += other.invalid;
        self.violations += other.violations;
    }

    /// The closing line of the text output.
    pub fn text(&self) -> String {
        format!(
            "{} inputs: {} compliant, {} not compliant, {} invalid ({})\n",
            self.inputs,
            self.compliant,
            self.non_compliant,
            self.invalid,
            plural(self.violations, "violation")
        )
    }
}

/// One input of a batch `check` as compact JSON, appended to `out`: the element of the batch
/// document's `results` array, byte for byte what `serde_json::to_writer` writes for it (a test
/// holds it to that). Written by hand because serde's path was a sixth of a batch check: the
/// fields are few and fixed, and most strings need no escape.
pub fn result_json(out: &mut Vec<u8>, r: &CheckResult) {
    out.extend_from_slice(b"{\"file\":");
    json_str(out, r.file);
    out.extend_from_slice(b",\"line\":");
    json_opt(out, r.line, json_usize);
    out.extend_from_slice(b",\"compliant\":");
    json_opt(out, r.compliant, |out, c| {
        out.extend_from_slice(if c { b"true" } else { b"false" });
    });
    out.extend_from_slice(b",\"violations\":[");
    for (i, v) in r.violations.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if v.waiver.is_some() || !v.resources.is_empty() {
            // The rare shapes (waived, registry resources) take serde's path.
            let _ = serde_json::to_writer(&mut *out, v);
            continue;
        }
        out.extend_from_slice(b"{\"rule\":\"");
        out.extend_from_slice(v.rule.as_str().as_bytes());
        out.extend_from_slice(b"\",\"statement\":");
        json_opt(out, v.statement, json_usize);
        out.extend_from_slice(b",\"sid\":");
        json_opt(out, v.sid.as_deref(), json_str);
        out.extend_from_slice(b",\"principal\":");
        json_opt(out, v.principal.as_deref(), json_str);
        out.extend_from_slice(b",\"via\":");
        json_opt(out, v.via.as_deref(), json_str);
        out.extend_from_slice(b",\"message\":");
        json_str(out, &v.message);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"error\":");
    json_opt(out, r.error.as_deref(), json_str);
    out.push(b'}');
}

fn json_opt<T>(out: &mut Vec<u8>, value: Option<T>, write: impl FnOnce(&mut Vec<u8>, T)) {
    match value {
        Some(value) => write(out, value),
        None => out.extend_from_slice(b"null"),
    }
}

fn json_usize(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is a single digit.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// A JSON string: copied as it is when nothing in it needs an escape, else escaped by
/// serde_json itself.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(out, s);
    }
}

/// One input of a batch `check` as text, appended to `out`: where it is, its verdict, then one
/// line per violation.
pub fn result_text(out: &mut String, r: &CheckResult, style: Style) {
    let place = input_name(r.file);
    let _ = match r.line {
        Some(line) => write!(out, "{place}:{line}: "),
        None => write!(out, "{place}: "),
    };
    let _ = match (r.compliant, &r.error) {
        (Some(true), _) => writeln!(out, "{}", style.good("COMPLIANT")),
        (Some(false), _) => writeln!(
            out,
            "{} {}",
            style.bad("NOT COMPLIANT"),
            plural(r.violations.len(), "violation")
        ),
        (None, error) => writeln!(
            out,
            "{} {}",
            style.bad("INVALID"),
            error.as_deref().unwrap_or_default()
        ),
    };
    for v in &r.violations {
        let _ = writeln!(out, "  - {}", violation_line(v));
    }
}
