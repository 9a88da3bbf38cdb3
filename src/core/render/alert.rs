//! An [`Incident`] as an SNS alert: subject, a versioned JSON document for machines, a short
//! e-mail text for people, and filterable message attributes. The SNS adapter only sends what
//! is rendered here.

use super::{
    ALERT_SCHEMA_VERSION, Alert, MAX_SUBJECT_CHARS, actor_line, attributes, repository_arn,
    source_text, violation_line,
};
use crate::event::{EventFacts, Subject};
use crate::incident::{Incident, Taken, rule_names};
use crate::rules::RuleId;
use crate::text::plural;
use serde_json::json;
use std::fmt::Write;

/// The word for what was done, first in subjects and e-mails.
pub fn headline(taken: Taken) -> &'static str {
    match taken {
        Taken::Nothing => "NO ACTION",
        Taken::Alerted => "ALERT",
        Taken::Reverted | Taken::AlreadyReverted => "REVERTED",
        Taken::RevertSuperseded => "REVERT SUPERSEDED",
        Taken::RevertFailed => "REVERT FAILED",
        Taken::MalformedEvent => "MALFORMED EVENT",
        Taken::Reported => "REPORTED",
    }
}

fn severity(incident: &Incident) -> &'static str {
    let any_serious = incident
        .violations()
        .iter()
        .any(|v| v.rule != RuleId::DenyByDefaultRequired);
    if any_serious || matches!(incident.taken, Taken::RevertFailed | Taken::MalformedEvent) {
        "high"
    } else {
        "medium"
    }
}

/// Renders the alert for an incident.
pub fn render(incident: &Incident) -> Alert {
    let outcome = incident.outcome.as_ref();
    let facts = outcome.map(|o| &o.facts);
    let field = |get: fn(&EventFacts) -> &Option<String>| facts.and_then(|f| get(f).clone());
    let repository = field(|f| &f.repository);
    let account = field(|f| &f.account);
    let rules = rule_names(incident.violations());
    let severity = severity(incident);

    // What the alert is about: a repository by name, or a registry-level door in words.
    let about = match facts {
        Some(f) if f.subject != Subject::Repository => f.subject_text().replace('`', ""),
        _ => repository.clone().unwrap_or("unknown repository".into()),
    };
    let subject = subject(
        incident.taken,
        &about,
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
        "subject": facts.map(|f| f.subject),
        "repository": repository,
        "template_prefix": field(|f| &f.template_prefix),
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
        "copies_differ": outcome.is_some_and(|o| o.copies_differ),
        "offending_policy": incident.offending_policy,
        "restored_policy": incident.target.as_ref().map(|t| &t.policy_text),
        "restored_from": incident.target.as_ref().map(|t| &t.source),
        "restore_note": incident.target.as_ref().and_then(|t| t.note.as_ref()),
    });
    let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
    let attributes = attributes(
        incident.taken.as_str(),
        severity,
        &rules,
        facts.map_or("unknown", EventFacts::repository_attribute),
        account.as_deref().unwrap_or("unknown"),
    );
    Alert {
        subject,
        email: email(incident),
        document,
        attributes,
    }
}

/// "the registry policy" → "The registry policy", to open a sentence.
fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
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
    let head = format!("ecr-policy-guard {}: ", headline(taken));
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
    let headline = headline(incident.taken);
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
    let what = match f.subject {
        Subject::Repository => f.repository.as_deref().unwrap_or(unknown).to_owned(),
        _ => capitalised(&f.subject_text()),
    };
    let place = format!(
        "{what} (account {}, {})",
        f.account.as_deref().unwrap_or(unknown),
        f.region.as_deref().unwrap_or(unknown)
    );
    let broke = plural(outcome.violations.len(), "rule violation");
    let what = match incident.taken {
        Taken::Nothing => format!("{place}: nothing to do."),
        Taken::Alerted => format!(
            "{place} has {broke}. Nothing was changed (mode {}).",
            outcome.mode
        ),
        Taken::Reverted => {
            let done = match (
                f.subject,
                incident.target.as_ref().is_some_and(|t| t.is_deletion()),
            ) {
                (Subject::RegistryPolicy, true) => {
                    "deleted the registry policy (no registry policy grants nothing)"
                }
                (Subject::RegistryPolicy, false) => "restored a compliant registry policy",
                (Subject::CreationTemplate, _) => "gave the template a compliant policy",
                (Subject::Replication, _) => "removed the unapproved destinations",
                (Subject::Repository, _) => "restored a compliant policy",
            };
            format!("{place} had {broke}. The guard {done}.")
        }
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
        Taken::Reported => format!(
            "{place} has {broke}. Nothing was changed (mode {}).",
            outcome.mode
        ),
    };
    let _ = writeln!(out, "{headline}: {what}\n");
    let _ = writeln!(
        out,
        "Change: {} by {}",
        f.event_name.as_deref().unwrap_or(unknown),
        actor_line(f)
    );
    if let Some(id) = &f.event_id {
        let _ = writeln!(out, "Event: {id}");
    }
    if outcome.copies_differ {
        let _ = writeln!(
            out,
            "Note: ECR stored a different document than the caller sent; both were judged."
        );
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
        let subject = outcome.facts.subject;
        let _ = writeln!(out, "\n{verb}: {}.", source_text(target, subject));
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
}
