//! What the guard did about one event (`Incident`) and its rendering as an SNS alert: subject,
//! a versioned JSON document for machines, a short e-mail text for people, and filterable
//! message attributes. Pure: the SNS adapter only sends what is rendered here.

use crate::decision::Outcome;
use crate::remedy::{Target, TargetSource};
use crate::report::violation_line;
use crate::rules::RuleId;
use serde::Serialize;
use serde_json::{Value, json};
use std::fmt::Write;

/// Version of the alert document; bumped on any incompatible change.
pub const ALERT_SCHEMA_VERSION: u32 = 1;
/// SNS requires subjects shorter than 100 characters.
const MAX_SUBJECT_CHARS: usize = 99;

/// What the guard did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Taken {
    /// Ignored, or compliant: nothing to do, no alert.
    Nothing,
    /// Alerted and changed nothing (alert mode, or a policy the guard cannot read).
    Alerted,
    /// Wrote the compliant target policy.
    Reverted,
    /// The live policy already equals the target (a retried invocation): no write.
    AlreadyReverted,
    /// The live policy changed after the event: no write.
    RevertSuperseded,
    /// The revert could not be carried out; `detail` says why.
    RevertFailed,
    /// The event could not be read.
    MalformedEvent,
}

impl Taken {
    pub fn as_str(self) -> &'static str {
        match self {
            Taken::Nothing => "nothing",
            Taken::Alerted => "alerted",
            Taken::Reverted => "reverted",
            Taken::AlreadyReverted => "already-reverted",
            Taken::RevertSuperseded => "revert-superseded",
            Taken::RevertFailed => "revert-failed",
            Taken::MalformedEvent => "malformed-event",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Taken::Nothing => "NO ACTION",
            Taken::Alerted => "ALERT",
            Taken::Reverted | Taken::AlreadyReverted => "REVERTED",
            Taken::RevertSuperseded => "REVERT SUPERSEDED",
            Taken::RevertFailed => "REVERT FAILED",
            Taken::MalformedEvent => "MALFORMED EVENT",
        }
    }
}

/// The single value every output of the Lambda (alert, log line, CLI `handle`) renders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub taken: Taken,
    /// The decision; absent only for a malformed event.
    pub outcome: Option<Outcome>,
    /// Why a revert failed or was superseded, or why the event is malformed.
    pub detail: Option<String>,
    /// The policy text the event set (or, for a deletion, removed).
    pub offending_policy: Option<String>,
    /// The compliant policy restored (or that would have been).
    pub target: Option<Target>,
}

/// One SNS message, ready to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub subject: String,
    /// The `default` document (also what SQS, Lambda and HTTP subscribers receive).
    pub document: Value,
    /// The `email` text.
    pub email: String,
    /// Message attributes for subscription filter policies: (name, data type, value).
    pub attributes: Vec<(&'static str, &'static str, String)>,
}

impl Alert {
    /// The SNS `Message` for `MessageStructure=json`.
    pub fn message(&self) -> String {
        json!({"default": self.document.to_string(), "email": self.email}).to_string()
    }
}

/// The ARN partition of a region.
pub fn partition(region: &str) -> &'static str {
    const PREFIXES: [(&str, &str); 6] = [
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
    ];
    PREFIXES
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, p)| p)
}

/// `arn:<partition>:ecr:<region>:<registry>:repository/<name>` when all parts are known.
pub fn repository_arn(outcome: &Outcome) -> Option<String> {
    let f = &outcome.facts;
    let (region, registry, name) = (
        f.region.as_ref()?,
        f.registry_id.as_ref()?,
        f.repository.as_ref()?,
    );
    Some(format!(
        "arn:{}:ecr:{region}:{registry}:repository/{name}",
        partition(region)
    ))
}

fn severity(incident: &Incident) -> &'static str {
    let serious = |rule: &RuleId| *rule != RuleId::DenyByDefaultRequired;
    let any_serious = incident
        .outcome
        .iter()
        .flat_map(|o| &o.violations)
        .any(|v| serious(&v.rule));
    if any_serious || matches!(incident.taken, Taken::RevertFailed | Taken::MalformedEvent) {
        "high"
    } else {
        "medium"
    }
}

/// Where a restored policy came from, in words.
pub fn source_text(target: &Target) -> String {
    let text = match &target.source {
        TargetSource::CloudtrailHistory { event_id, event_time } => format!(
            "the last compliant policy, set by CloudTrail event {} at {}",
            event_id.as_deref().unwrap_or("(no id)"),
            event_time.as_deref().unwrap_or("(no time)")
        ),
        TargetSource::DerivedFromOffending => {
            "the new policy with its violating grants removed and a deny-by-default statement added where missing".into()
        }
        TargetSource::DeletedPolicy => "the policy that was deleted (it passes every rule)".into(),
        TargetSource::DerivedFromDeleted => {
            "the deleted policy with its violating grants removed and a deny-by-default statement added where missing".into()
        }
        TargetSource::Baseline => "the baseline policy".into(),
    };
    match &target.note {
        Some(note) => format!("{text} ({note})"),
        None => text,
    }
}

/// Renders the alert for an incident.
pub fn render(incident: &Incident) -> Alert {
    let outcome = incident.outcome.as_ref();
    let facts = outcome.map(|o| &o.facts);
    let field =
        |get: fn(&crate::event::EventFacts) -> &Option<String>| facts.and_then(|f| get(f).clone());
    let repository = field(|f| &f.repository);
    let account = field(|f| &f.account);
    let rules: Vec<&str> = {
        let mut r: Vec<&str> = outcome
            .iter()
            .flat_map(|o| &o.violations)
            .map(|v| v.rule.as_str())
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    };
    let severity = severity(incident);

    let subject = subject(
        incident.taken,
        repository.as_deref().unwrap_or("unknown repository"),
        account.as_deref().unwrap_or("unknown account"),
    );
    let document = json!({
        "schema_version": ALERT_SCHEMA_VERSION,
        "source": "ecr-policy-guard",
        "action": incident.taken,
        "severity": severity,
        "mode": outcome.map(|o| o.mode),
        "account": account,
        "region": field(|f| &f.region),
        "repository": repository,
        "repository_arn": outcome.and_then(repository_arn),
        "event": {
            "name": field(|f| &f.event_name),
            "id": field(|f| &f.event_id),
            "time": field(|f| &f.event_time),
        },
        "actor": field(|f| &f.actor),
        "invoked_by": field(|f| &f.invoked_by),
        "source_ip": field(|f| &f.source_ip),
        "reason": outcome.map(|o| &o.reason),
        "detail": incident.detail,
        "violations": outcome.map(|o| o.violations.as_slice()).unwrap_or_default(),
        "offending_policy": incident.offending_policy,
        "restored_policy": incident.target.as_ref().map(|t| &t.policy_text),
        "restored_from": incident.target.as_ref().map(|t| &t.source),
        "restore_note": incident.target.as_ref().and_then(|t| t.note.as_ref()),
    });
    let attributes = vec![
        ("action", "String", incident.taken.as_str().to_owned()),
        ("severity", "String", severity.to_owned()),
        ("rules", "String.Array", json!(rules).to_string()),
        (
            "repository",
            "String",
            repository.unwrap_or_else(|| "unknown".into()),
        ),
        (
            "account",
            "String",
            account.unwrap_or_else(|| "unknown".into()),
        ),
    ];
    Alert {
        subject,
        email: email(incident),
        document,
        attributes,
    }
}

fn subject(taken: Taken, repository: &str, account: &str) -> String {
    let printable = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    };
    let head = format!("ecr-policy-guard {}: ", taken.headline());
    let tail = format!(" in {}", printable(account));
    let room = MAX_SUBJECT_CHARS.saturating_sub(head.len() + tail.len());
    let mut repo = printable(repository);
    if repo.len() > room {
        repo.truncate(room.saturating_sub(3));
        repo.push_str("...");
    }
    let mut subject = format!("{head}{repo}{tail}");
    subject.truncate(MAX_SUBJECT_CHARS);
    subject
}

fn email(incident: &Incident) -> String {
    let mut out = String::new();
    let headline = incident.taken.headline();
    let Some(outcome) = &incident.outcome else {
        let _ = writeln!(
            out,
            "{headline}: ecr-policy-guard received an event it cannot read, so it judged nothing and changed nothing.\n\nError: {}",
            incident.detail.as_deref().unwrap_or("unknown")
        );
        return out;
    };
    let f = &outcome.facts;
    let unknown = "?";
    let place = format!(
        "{} (account {}, {})",
        f.repository.as_deref().unwrap_or(unknown),
        f.account.as_deref().unwrap_or(unknown),
        f.region.as_deref().unwrap_or(unknown)
    );
    let n = outcome.violations.len();
    let broke = if n == 1 {
        "1 rule violation".to_owned()
    } else {
        format!("{n} rule violations")
    };
    let what = match incident.taken {
        Taken::Nothing => format!("{place}: nothing to do."),
        Taken::Alerted => format!(
            "{place} has {broke}. Nothing was changed (mode {}).",
            outcome.mode
        ),
        Taken::Reverted => format!("{place} had {broke}. The guard restored a compliant policy."),
        Taken::AlreadyReverted => format!(
            "{place} had {broke}. Its live policy already equals the compliant policy, so nothing was written."
        ),
        Taken::RevertSuperseded => format!(
            "{place} had {broke}, but its policy changed again after this event, so the guard wrote nothing. Review the current policy."
        ),
        Taken::RevertFailed => format!(
            "{place} has {broke} and the guard could NOT restore a compliant policy. The violating policy may still be in place."
        ),
        Taken::MalformedEvent => format!("{place}: the event could not be read."),
    };
    let _ = writeln!(out, "{headline}: {what}\n");
    let mut who = format!(
        "Change: {} by {}",
        f.event_name.as_deref().unwrap_or(unknown),
        f.actor.as_deref().unwrap_or("an unknown actor")
    );
    if let Some(via) = &f.invoked_by {
        let _ = write!(who, " via {via}");
    }
    if let Some(ip) = &f.source_ip {
        let _ = write!(who, " from {ip}");
    }
    if let Some(time) = &f.event_time {
        let _ = write!(who, " at {time}");
    }
    let _ = writeln!(out, "{who}");
    if let Some(id) = &f.event_id {
        let _ = writeln!(out, "Event: {id}");
    }
    if !outcome.violations.is_empty() {
        let _ = writeln!(out, "\nViolations:");
        for v in &outcome.violations {
            let _ = writeln!(out, "  - {}", violation_line(v));
        }
    }
    if let Some(detail) = &incident.detail {
        let _ = writeln!(out, "\nDetail: {detail}");
    }
    if let Some(target) = &incident.target {
        let verb = match incident.taken {
            Taken::Reverted | Taken::AlreadyReverted => "Restored",
            _ => "Compliant policy the guard would restore",
        };
        let _ = writeln!(out, "\n{verb}: {}.", source_text(target));
        let _ = writeln!(out, "{}", target.policy_text);
    }
    if let Some(policy) = &incident.offending_policy {
        let _ = writeln!(out, "\nOffending policy, as set:\n{policy}");
    }
    let _ = writeln!(
        out,
        "\n-- ecr-policy-guard, mode {}. Message attributes for filtering: action, severity, rules, repository, account.",
        outcome.mode
    );
    out
}

/// The summary alert of a scheduled scan.
pub fn render_scan(report: &crate::scan::ScanReport) -> Alert {
    let account = report.account.as_deref().unwrap_or("unknown account");
    let state = if report.complete {
        "SCAN"
    } else {
        "SCAN (partial)"
    };
    let mut subject = format!(
        "ecr-policy-guard {state}: {} of {} repositories non-compliant in {account}",
        report.non_compliant, report.scanned
    );
    subject.truncate(MAX_SUBJECT_CHARS);
    let severity = if report.revert_failed > 0 || !report.unchecked.is_empty() {
        "high"
    } else if report.non_compliant > 0 {
        "medium"
    } else {
        "low"
    };
    let mut document = json!({
        "schema_version": ALERT_SCHEMA_VERSION,
        "source": "ecr-policy-guard",
        "action": "scan-summary",
        "severity": severity,
    });
    if let (Some(map), Ok(Value::Object(fields))) =
        (document.as_object_mut(), serde_json::to_value(report))
    {
        map.extend(fields);
    }
    let mut email = format!(
        "{state}: {} repositories checked in account {account} ({}), mode {}: {} compliant, {} non-compliant",
        report.scanned, report.region, report.mode, report.compliant, report.non_compliant
    );
    if report.mode == crate::decision::Mode::Revert {
        let failures = match report.revert_failed {
            1 => "1 revert failure".to_owned(),
            n => format!("{n} revert failures"),
        };
        let _ = write!(email, ", {} reverted, {failures}", report.reverted);
    }
    let _ = writeln!(email, ".");
    if !report.by_rule.is_empty() {
        let _ = writeln!(email, "\nViolations by rule:");
        for (rule, n) in &report.by_rule {
            let _ = writeln!(email, "  {rule}: {n}");
        }
    }
    if !report.offenders.is_empty() {
        let _ = writeln!(email, "\nFirst offenders:");
        for o in &report.offenders {
            let _ = writeln!(
                email,
                "  - {} ({}): {}",
                o.repository,
                o.rules.join(", "),
                o.taken.as_str()
            );
        }
    }
    if !report.unchecked.is_empty() {
        let _ = writeln!(
            email,
            "\nCould not check (they are checked again on the next pass over the registry):"
        );
        for u in &report.unchecked {
            let _ = writeln!(email, "  - {}: {}", u.repository, u.error);
        }
    }
    match &report.resume_after {
        Some(after) => {
            let _ = writeln!(
                email,
                "\nThe run stopped before the Lambda timeout after `{after}`; the next run continues from there ({} repositories in all).",
                report.repositories
            );
        }
        None => {
            let _ = writeln!(
                email,
                "\nEvery repository was checked ({} in all).",
                report.repositories
            );
        }
    }
    let mut rules: Vec<&str> = report.by_rule.keys().map(String::as_str).collect();
    rules.sort_unstable();
    Alert {
        subject,
        document,
        email,
        attributes: vec![
            ("action", "String", "scan-summary".to_owned()),
            ("severity", "String", severity.to_owned()),
            ("rules", "String.Array", json!(rules).to_string()),
            ("repository", "String", "*".to_owned()),
            ("account", "String", account.to_owned()),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_stay_under_100_printable_characters() {
        let long = "a/".repeat(128);
        let s = subject(Taken::RevertSuperseded, &long, "123456789012");
        assert!(s.len() < 100, "{} chars", s.len());
        assert!(s.starts_with("ecr-policy-guard REVERT SUPERSEDED: a/a/"));
        assert!(s.ends_with("... in 123456789012"), "{s}");
        let s = subject(Taken::Alerted, "team/web\nInjected: header", "123456789012");
        assert_eq!(
            s,
            "ecr-policy-guard ALERT: team/web?Injected: header in 123456789012"
        );
    }

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
    }
}
