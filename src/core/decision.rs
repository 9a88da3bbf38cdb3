//! What the guard does about an event: ignore it, accept it, alert, or revert.

use crate::event::{Change, EventError, EventFacts, PolicyEvent, Subject, read_event};
use crate::policy::{Policy, PolicyCopy, PolicyKind, RegistryScope, same_document};
use crate::rules::{Owner, RuleConfig, Violation, invalid_policy};
use crate::text::{plural, tick};
use crate::waiver::MatchedWaiver;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
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
    /// A `SetRepositoryPolicy` (or `PutRegistryPolicy`, `PutReplicationConfiguration`) event's
    /// two copies (the caller's and ECR's stored copy) are different documents, or one cannot be
    /// read: the verdict covers both.
    pub copies_differ: bool,
    /// The waivers that matched a violation ([`crate::waiver::Waivers::apply`]), in config order.
    pub waivers: Vec<MatchedWaiver>,
}

/// Reads an event and decides; the CLI's `evaluate` and the Lambda share this path.
pub fn evaluate(text: &str, rules: &RuleConfig, mode: Mode) -> Result<Outcome, EventError> {
    Ok(decide(&read_event(text)?.into_policy_event(), rules, mode))
}

/// What a change is judged on: the policy texts of its kind (none: no policy), or a replication
/// configuration.
struct Judged<'e> {
    /// The caller's text, then ECR's copy where the event carries a second one, each with
    /// which copy it is (which decides how long it may be).
    texts: Vec<(&'e str, PolicyCopy)>,
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
        waivers: Vec::new(),
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
        Change::Replication { requested, stored } => {
            // The union over both copies, as for policies: the caller's and ECR's.
            let copies: Vec<&Result<_, String>> = requested.iter().chain(stored.iter()).collect();
            let mut violations = Union::default();
            for configuration in copies.iter().filter_map(|c| c.as_ref().ok()) {
                violations.add(rules.check_replication(configuration, owner));
            }
            let violations = violations.into_vec();
            let copies_differ = match copies.as_slice() {
                [Ok(a), Ok(b)] => a != b,
                [_, _] => true,
                _ => false,
            };
            let empty = event.change.replication().is_none_or(|r| r.is_empty());
            let mut finding = match (empty, violations.len()) {
                (true, 0) => format!("{what} copies nothing to other registries"),
                (false, 0) => format!("{what} copies images only to approved accounts"),
                (_, n) => format!("{what} has {}", plural(n, "violation")),
            };
            if let Some(Err(error)) = requested {
                finding.push_str(&format!(
                    " (judged on ECR's stored copy; the caller's copy cannot be read: {error})"
                ));
            } else if copies_differ {
                finding.push_str(
                    " (counting both copies: ECR stored a different configuration than the caller sent)",
                );
            }
            let (action, reason) = act(finding, &violations, mode, facts.subject);
            return outcome(action, reason, violations, copies_differ);
        }
        Change::Template { template, .. } => Judged {
            texts: event.change.policy_copies(),
            kind: PolicyKind::Repository,
            none_violates: true,
            subject: match &template.repository_policy {
                Some(_) => format!("the repository policy of {what}"),
                None => format!("{what} has no repository policy"),
            },
        },
        Change::PolicySet { .. } => Judged {
            texts: event.change.policy_copies(),
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
            texts: event.change.policy_copies(),
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
        .map(|(text, copy)| Policy::parse_copy(text, judged.kind, scope, *copy))
        .collect();
    let copies_differ = match (judged.texts.as_slice(), parsed.as_slice()) {
        ([(a, _), (b, _)], [Ok(_), Ok(_)]) => !same_document(a, b),
        ([_, _], _) => true,
        _ => false,
    };
    let (violations, finding) = if parsed.is_empty() {
        let violations = match (judged.none_violates, &event.change) {
            (false, _) => Vec::new(),
            (true, Change::Template { template, .. }) => {
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
        let mut union = Union::default();
        for policy in parsed.iter().flatten() {
            union.add(match judged.kind {
                PolicyKind::Repository => rules.check(policy, owner),
                PolicyKind::Registry => rules.check_registry(policy, owner),
            });
        }
        let violations = union.into_vec();
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

/// The violations of every copy judged, each once, in the order found. A set keeps it linear:
/// ECR's stored copy may hold thousands of grants, and comparing each with all before it was
/// quadratic.
#[derive(Default)]
struct Union {
    violations: Vec<Violation>,
    seen: HashSet<ViolationKey>,
}

/// Every field a fresh violation has (none carries a waiver before the waivers are applied).
type ViolationKey = (
    crate::rules::RuleId,
    Option<usize>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Vec<String>,
);

impl Union {
    fn add(&mut self, found: Vec<Violation>) {
        for v in found {
            let key = (
                v.rule,
                v.statement,
                v.sid.clone(),
                v.principal.clone(),
                v.via.clone(),
                v.message.to_string(),
                v.resources.clone(),
            );
            if self.seen.insert(key) {
                self.violations.push(v);
            }
        }
    }

    fn into_vec(self) -> Vec<Violation> {
        self.violations
    }
}

/// The action for a finding, and the reason that says what will happen.
fn act(
    finding: String,
    violations: &[Violation],
    mode: Mode,
    subject: Subject,
) -> (Action, String) {
    let action = match (violations.is_empty(), mode) {
        (true, _) => Action::None,
        (false, Mode::Alert) => Action::Alert,
        (false, Mode::Revert) => Action::Revert,
    };
    let reason = format!("{finding}{}", action_clause(action, mode, subject));
    (action, reason)
}

/// How a reason ends: what the guard does about the finding before it (nothing for none). A
/// waiver that changes the action replaces this clause ([`crate::waiver::Waivers::apply`]).
pub fn action_clause(action: Action, mode: Mode, subject: Subject) -> String {
    let remedy = match subject {
        Subject::Repository => "restores a compliant policy",
        Subject::RegistryPolicy => {
            "restores a compliant registry policy (or deletes it: no registry policy grants nothing)"
        }
        Subject::CreationTemplate => "gives the template a compliant policy",
        Subject::Replication => "removes the unapproved destinations",
    };
    match (action, mode) {
        (Action::Alert, Mode::Alert) => {
            "; in alert mode the guard alerts and changes nothing".into()
        }
        (Action::Revert, _) => format!("; in revert mode the guard {remedy} and alerts"),
        _ => String::new(),
    }
}
