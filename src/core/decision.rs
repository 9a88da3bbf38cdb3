//! What the guard does about an event: ignore it, accept it, alert, or revert.

use crate::event::{Change, EventError, EventFacts, PolicyEvent, Subject, read_event};
use crate::policy::{Policy, PolicyKind, RegistryScope, same_document};
use crate::rules::{Owner, RuleConfig, Violation, invalid_policy};
use crate::text::{plural, tick};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How the guard reacts to a violation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Publish an alert and change nothing.
    #[default]
    Alert,
    /// Restore a compliant policy, then alert.
    Revert,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Alert => "alert",
            Mode::Revert => "revert",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "alert" => Ok(Mode::Alert),
            "revert" => Ok(Mode::Revert),
            other => Err(format!(
                "mode must be `alert` or `revert`, found {}",
                tick(other)
            )),
        }
    }
}

/// The action decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Not a policy change the guard judges.
    Ignore,
    /// The change complies with every rule.
    None,
    /// Violations found: publish an alert, change nothing.
    Alert,
    /// Violations found in revert mode: restore a compliant policy, then alert.
    Revert,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Ignore => "ignore",
            Action::None => "none",
            Action::Alert => "alert",
            Action::Revert => "revert",
        }
    }

    /// True where the guard acts (the CLI exits 1).
    pub fn is_violation(self) -> bool {
        matches!(self, Action::Alert | Action::Revert)
    }
}

/// The one value every report (CLI text, JSON, alerts, logs) is rendered from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub action: Action,
    /// One sentence on why.
    pub reason: String,
    pub mode: Mode,
    #[serde(flatten)]
    pub facts: EventFacts,
    pub violations: Vec<Violation>,
    /// A `SetRepositoryPolicy` event's two copies (the caller's text and ECR's stored copy) are
    /// different documents: the verdict covers both.
    pub copies_differ: bool,
}

/// Reads an event and decides; the CLI's `evaluate` and the Lambda share this path.
pub fn evaluate(text: &str, rules: &RuleConfig, mode: Mode) -> Result<Outcome, EventError> {
    Ok(decide(&read_event(text)?.into_policy_event(), rules, mode))
}

/// What a change is judged on: the policy texts of its kind (none: no policy), or a replication
/// configuration.
struct Judged<'e> {
    /// The caller's text, then ECR's copy where the event carries a second one.
    texts: Vec<&'e str>,
    kind: PolicyKind,
    /// What "no policy" means for this subject: a repository without one is open to nobody's
    /// deny; a registry without one grants nothing.
    none_violates: bool,
    subject: String,
}

/// Decides what to do about a read event.
pub fn decide(event: &PolicyEvent, rules: &RuleConfig, mode: Mode) -> Outcome {
    let facts = event.facts.clone();
    let owner = match facts.registry_id.as_deref().or(facts.account.as_deref()) {
        Some(account) => Owner::Account(account),
        None => Owner::Unknown,
    };
    let scope = RegistryScope {
        account: facts.registry_id.as_deref().or(facts.account.as_deref()),
        region: facts.region.as_deref(),
    };
    let what = facts.subject_text();
    let outcome = |action, reason, violations, copies_differ| Outcome {
        action,
        reason,
        mode,
        facts: facts.clone(),
        violations,
        copies_differ,
    };
    let registry = facts.subject == Subject::RegistryPolicy;
    let (kind, none_violates) = match registry {
        true => (PolicyKind::Registry, false),
        false => (PolicyKind::Repository, true),
    };
    let judged = match &event.change {
        Change::Ignored { reason } => {
            return outcome(Action::Ignore, reason.clone(), Vec::new(), false);
        }
        Change::Replication { configuration } => {
            let violations = rules.check_replication(configuration, owner);
            let finding = match (configuration.is_empty(), violations.len()) {
                (true, _) => format!("{what} copies nothing to other registries"),
                (false, 0) => format!("{what} copies images only to approved accounts"),
                (false, n) => format!("{what} has {}", plural(n, "violation")),
            };
            let (action, reason) = act(finding, &violations, mode, facts.subject);
            return outcome(action, reason, violations, false);
        }
        Change::Template { template } => Judged {
            texts: template.repository_policy.as_deref().into_iter().collect(),
            kind: PolicyKind::Repository,
            none_violates: true,
            subject: match &template.repository_policy {
                Some(_) => format!("the repository policy of {what}"),
                None => format!("{what} has no repository policy"),
            },
        },
        Change::PolicySet {
            policy_text,
            stored_text,
        } => Judged {
            texts: std::iter::once(policy_text.as_str())
                .chain(stored_text.as_deref())
                .collect(),
            kind,
            none_violates,
            subject: match registry {
                true => "the registry policy set".into(),
                false => format!("the policy set on {what}"),
            },
        },
        Change::NoPolicy { call, .. } => Judged {
            texts: Vec::new(),
            kind,
            none_violates,
            subject: match registry {
                true => format!(
                    "{} left the registry with no registry policy, which grants nothing",
                    tick(call.as_str())
                ),
                false => format!("{} left {what} with no policy", tick(call.as_str())),
            },
        },
        Change::Observed { policy_text } => Judged {
            texts: policy_text.as_deref().into_iter().collect(),
            kind,
            none_violates,
            subject: match (policy_text, registry) {
                (Some(_), true) => "the registry policy".into(),
                (None, true) => "the registry has no registry policy, which grants nothing".into(),
                (Some(_), false) => format!("the policy of {what}"),
                (None, false) => format!("{what} has no policy"),
            },
        },
    };
    let subject = judged.subject;
    let parsed: Vec<Result<Policy, _>> = judged
        .texts
        .iter()
        .map(|t| Policy::parse_kind(t, judged.kind, scope))
        .collect();
    let copies_differ = match (judged.texts.as_slice(), parsed.as_slice()) {
        ([a, b], [Ok(_), Ok(_)]) => !same_document(a, b),
        ([_, _], _) => true,
        _ => false,
    };
    let (violations, finding) = if parsed.is_empty() {
        let violations = match (judged.none_violates, &event.change) {
            (false, _) => Vec::new(),
            (true, Change::Template { template }) => {
                rules.check_template(template, owner).unwrap_or_default()
            }
            (true, _) => rules.check_no_policy(),
        };
        (violations, subject)
    } else if let Some(Err(error)) = parsed.first()
        && parsed.iter().all(Result::is_err)
    {
        let reason = format!(
            "{subject} cannot be parsed; the guard alerts and never rewrites a policy it cannot read"
        );
        return outcome(
            Action::Alert,
            reason,
            vec![invalid_policy(error)],
            copies_differ,
        );
    } else {
        // The union of what each readable copy breaks: the caller's and the one ECR stored.
        let mut violations: Vec<Violation> = Vec::new();
        for policy in parsed.iter().flatten() {
            let found = match judged.kind {
                PolicyKind::Repository => rules.check(policy, owner),
                PolicyKind::Registry => rules.check_registry(policy, owner),
            };
            for v in found {
                if !violations.contains(&v) {
                    violations.push(v);
                }
            }
        }
        let mut finding = match violations.len() {
            0 => format!("{subject} complies with every rule"),
            n => format!("{subject} has {}", plural(n, "violation")),
        };
        if let Some(Err(error)) = parsed.first() {
            finding.push_str(&format!(
                " (judged on ECR's stored copy; the caller's text cannot be parsed: {error})"
            ));
        } else if copies_differ {
            finding.push_str(
                " (counting both copies: ECR stored a different document than the caller sent)",
            );
        }
        (violations, finding)
    };
    let (action, reason) = act(finding, &violations, mode, facts.subject);
    outcome(action, reason, violations, copies_differ)
}

/// The action for a finding, and the reason that says what will happen.
fn act(
    finding: String,
    violations: &[Violation],
    mode: Mode,
    subject: Subject,
) -> (Action, String) {
    let remedy = match subject {
        Subject::Repository => "restores a compliant policy",
        Subject::RegistryPolicy => {
            "restores a compliant registry policy (or deletes it: no registry policy grants nothing)"
        }
        Subject::CreationTemplate => "gives the template a compliant policy",
        Subject::Replication => "removes the unapproved destinations",
    };
    match (violations.is_empty(), mode) {
        (true, _) => (Action::None, finding),
        (false, Mode::Alert) => (
            Action::Alert,
            format!("{finding}; in alert mode the guard alerts and changes nothing"),
        ),
        (false, Mode::Revert) => (
            Action::Revert,
            format!("{finding}; in revert mode the guard {remedy} and alerts"),
        ),
    }
}
