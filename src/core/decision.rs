//! What the guard does about an event: ignore it, accept it, alert, or revert.

use crate::event::{Change, EventError, EventFacts, PolicyEvent, read_event};
use crate::policy::{Policy, same_document};
use crate::rules::{Owner, RuleConfig, Violation, invalid_policy};
use crate::text::{plural, tick};
use crate::waiver::MatchedWaiver;
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
    /// The waivers that matched a violation ([`crate::waiver::Waivers::apply`]), in config order.
    pub waivers: Vec<MatchedWaiver>,
}

/// How a reason ends, per action: what the guard does about the finding before it.
pub const ALERT_CLAUSE: &str = "; in alert mode the guard alerts and changes nothing";
pub const REVERT_CLAUSE: &str = "; in revert mode the guard restores a compliant policy and alerts";

/// The clause [`decide`] ends a reason with for `action` in `mode` (empty for none).
pub fn action_clause(action: Action, mode: Mode) -> &'static str {
    match (action, mode) {
        (Action::Alert, Mode::Alert) => ALERT_CLAUSE,
        (Action::Revert, _) => REVERT_CLAUSE,
        _ => "",
    }
}

/// Reads an event and decides; the CLI's `evaluate` and the Lambda share this path.
pub fn evaluate(text: &str, rules: &RuleConfig, mode: Mode) -> Result<Outcome, EventError> {
    Ok(decide(&read_event(text)?.into_policy_event(), rules, mode))
}

/// What a policy change is judged on: the texts to judge (none: the repository has no policy).
struct Judged<'e> {
    /// The caller's text, then ECR's copy where the event carries a second one.
    texts: Vec<&'e str>,
    subject: String,
}

/// Decides what to do about a read event.
pub fn decide(event: &PolicyEvent, rules: &RuleConfig, mode: Mode) -> Outcome {
    let facts = event.facts.clone();
    let owner = match facts.registry_id.as_deref().or(facts.account.as_deref()) {
        Some(account) => Owner::Account(account),
        None => Owner::Unknown,
    };
    let repository = tick(facts.repository.as_deref().unwrap_or_default());
    let judged = match &event.change {
        Change::Ignored { reason } => {
            return Outcome {
                action: Action::Ignore,
                reason: reason.clone(),
                mode,
                facts,
                violations: Vec::new(),
                copies_differ: false,
                waivers: Vec::new(),
            };
        }
        Change::PolicySet {
            policy_text,
            stored_text,
        } => Judged {
            texts: std::iter::once(policy_text.as_str())
                .chain(stored_text.as_deref())
                .collect(),
            subject: format!("the policy set on {repository}"),
        },
        Change::NoPolicy { call, .. } => Judged {
            texts: Vec::new(),
            subject: format!("{} left {repository} with no policy", tick(call.as_str())),
        },
        Change::Observed { policy_text } => Judged {
            texts: policy_text.as_deref().into_iter().collect(),
            subject: match policy_text {
                Some(_) => format!("the policy of {repository}"),
                None => format!("{repository} has no policy"),
            },
        },
    };
    let subject = judged.subject;
    let parsed: Vec<Result<Policy, _>> = judged.texts.iter().map(|t| Policy::parse(t)).collect();
    let copies_differ = match (judged.texts.as_slice(), parsed.as_slice()) {
        ([a, b], [Ok(_), Ok(_)]) => !same_document(a, b),
        ([_, _], _) => true,
        _ => false,
    };
    let (violations, finding) = if parsed.is_empty() {
        (rules.check_no_policy(), subject)
    } else if let Some(Err(error)) = parsed.first()
        && parsed.iter().all(Result::is_err)
    {
        return Outcome {
            action: Action::Alert,
            reason: format!(
                "{subject} cannot be parsed; the guard alerts and never rewrites a policy it cannot read"
            ),
            mode,
            facts,
            violations: vec![invalid_policy(error)],
            copies_differ,
            waivers: Vec::new(),
        };
    } else {
        // The union of what each readable copy breaks: the caller's and the one ECR stored.
        let mut violations: Vec<Violation> = Vec::new();
        for policy in parsed.iter().flatten() {
            for v in rules.check(policy, owner) {
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
    let (action, reason) = match (violations.is_empty(), mode) {
        (true, _) => (Action::None, finding),
        (false, Mode::Alert) => (Action::Alert, format!("{finding}{ALERT_CLAUSE}")),
        (false, Mode::Revert) => (Action::Revert, format!("{finding}{REVERT_CLAUSE}")),
    };
    Outcome {
        action,
        reason,
        mode,
        facts,
        violations,
        copies_differ,
        waivers: Vec::new(),
    }
}
