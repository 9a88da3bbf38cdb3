//! Every output the guard produces, rendered from its one value (an [`crate::Outcome`], an
//! [`crate::Incident`] or a [`crate::ScanReport`]): SNS alerts ([`alert`], [`scan`]) and the
//! CLI's text and JSON ([`text`]). The lines they share live here.

pub mod alert;
pub mod findings;
pub mod iac;
pub mod junit;
pub mod sarif;
pub mod scan;
pub mod sweep;
pub mod text;

use crate::decision::Outcome;
use crate::event::{EventFacts, Subject};
use crate::incident::{UnmatchedWaiver, WaivedFinding};
use crate::remedy::{Target, TargetSource};
use crate::rules::{RuleId, Violation};
use crate::text::tick;
use serde_json::{Value, json};
use std::fmt::Write;

/// Version of the alert document; bumped on any incompatible change.
pub const ALERT_SCHEMA_VERSION: u32 = 1;
/// SNS requires subjects shorter than 100 characters.
pub(crate) const MAX_SUBJECT_CHARS: usize = 99;

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

/// The five message attributes every alert carries, in one place: subscribers filter on them.
fn attributes(
    action: &str,
    severity: &str,
    rules: &[&str],
    repository: &str,
    account: &str,
) -> Vec<(&'static str, &'static str, String)> {
    vec![
        ("action", "String", action.to_owned()),
        ("severity", "String", severity.to_owned()),
        ("rules", "String.Array", json!(rules).to_string()),
        ("repository", "String", repository.to_owned()),
        ("account", "String", account.to_owned()),
    ]
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

/// Where a restored policy came from, in words, for the subject it was restored to.
pub fn source_text(target: &Target, subject: Subject) -> String {
    let text = match &target.source {
        TargetSource::CloudtrailHistory { event_id, event_time } => format!(
            "the last compliant policy, set by CloudTrail event {} at {}",
            event_id.as_deref().unwrap_or("(no id)"),
            event_time.as_deref().unwrap_or("(no time)")
        ),
        TargetSource::DerivedFromOffending => match subject {
            Subject::Repository => "the new policy with its violating grants removed and a deny-by-default statement added where missing",
            Subject::CreationTemplate => "the template's policy with its violating grants removed and a deny-by-default statement added where missing",
            Subject::RegistryPolicy => "the registry policy with its violating grants removed",
            Subject::Replication => "the replication configuration without its unapproved destinations",
        }
        .into(),
        TargetSource::DeletedPolicy => "the policy that was deleted (it passes every rule)".into(),
        TargetSource::DerivedFromDeleted => {
            "the deleted policy with its violating grants removed and a deny-by-default statement added where missing".into()
        }
        TargetSource::Baseline => "the baseline policy".into(),
        TargetSource::NoRegistryPolicy => {
            "no registry policy at all (a registry without one grants nothing)".into()
        }
    };
    match &target.note {
        Some(note) => format!("{text} ({note})"),
        None => text,
    }
}

/// One line per violation: rule, where, principal, then the explanation.
pub fn violation_line(v: &Violation) -> String {
    let mut line = format!("{} at ", v.rule);
    let replication = v.rule == RuleId::NoUnapprovedReplication;
    let _ = match (v.statement, &v.sid) {
        (Some(i), _) if replication => write!(line, "replication rule {i}"),
        (Some(i), Some(sid)) => write!(line, "statement {i} ({})", tick(sid)),
        (Some(i), None) => write!(line, "statement {i}"),
        (None, _) => write!(line, "policy level"),
    };
    if !v.resources.is_empty() {
        let resources: Vec<String> = v.resources.iter().map(|r| tick(r)).collect();
        let _ = write!(line, " on {}", resources.join(", "));
    }
    if let Some(principal) = &v.principal {
        let noun = if replication {
            "destination"
        } else {
            "principal"
        };
        let _ = write!(line, ", {noun} {}", tick(principal));
    }
    let _ = write!(line, ": {}", v.message);
    if let Some(mark) = &v.waiver {
        let _ = write!(line, " [{}]", mark.text());
    }
    line
}

/// The scan summary's lines on waivers: the waived violations (with where they are, `place`
/// giving an account and region prefix in a sweep), then the waivers that matched nothing.
pub fn waived_section<'a>(
    out: &mut String,
    waived: impl IntoIterator<Item = (String, &'a WaivedFinding)>,
    unmatched: &[UnmatchedWaiver],
) {
    let mut waived = waived.into_iter().peekable();
    if waived.peek().is_some() {
        let _ = writeln!(
            out,
            "\nWaived (reported, not acted on, until the waiver expires):"
        );
        for (place, w) in waived {
            let principal = w.principal.as_deref().map(tick).unwrap_or_default();
            let _ = writeln!(
                out,
                "  - {place}{} {} {principal}: waiver {} until {}",
                w.repository, w.rule, w.waiver, w.expires
            );
        }
    }
    if !unmatched.is_empty() {
        let _ = writeln!(
            out,
            "\nWaivers that matched nothing in the repositories checked (still needed?):"
        );
        for u in unmatched {
            let _ = writeln!(
                out,
                "  - waiver {} ({} {}, until {})",
                u.waiver,
                tick(&u.repository),
                u.rule,
                u.expires
            );
        }
    }
}

/// One line per waiver that matched: its number, scope and where it stands, then its reason.
pub fn waiver_lines(outcome: &Outcome) -> Vec<String> {
    outcome
        .waivers
        .iter()
        .map(|m| {
            let s = &m.state;
            format!(
                "waiver {} ({}, {}): {} {}: {}",
                s.waiver.number,
                s.status.as_str(),
                s.when(),
                s.waiver.scope(),
                match m.violations {
                    1 => "matched 1 violation".to_owned(),
                    n => format!("matched {n} violations"),
                },
                s.waiver.reason
            )
        })
        .collect()
}

/// Who made the change, how, from where and when: "ACTOR via SERVICE from IP at TIME", each
/// part only where the event says it.
pub fn actor_line(f: &EventFacts) -> String {
    let mut who = f.actor.as_deref().unwrap_or("an unknown actor").to_owned();
    if let Some(via) = &f.invoked_by {
        let _ = write!(who, " via {via}");
    }
    if let Some(ip) = &f.source_ip {
        let _ = write!(who, " from {ip}");
    }
    if let Some(time) = &f.event_time {
        let _ = write!(who, " at {time}");
    }
    who
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_follow_the_region() {
        assert_eq!(partition("eu-west-1"), "aws");
        assert_eq!(partition("cn-north-1"), "aws-cn");
        assert_eq!(partition("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition("us-isob-east-1"), "aws-iso-b");
        assert_eq!(partition("us-iso-east-1"), "aws-iso");
    }
}
