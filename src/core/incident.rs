//! What the guard did: one [`Incident`] per event (or per repository a scan handles), and the
//! [`ScanReport`] of a scheduled scan with its tally. Plain values; [`crate::render`] renders them.

use crate::decision::{Mode, Outcome};
use crate::event::Subject;
use crate::remedy::{Target, WritePlan};
use crate::rules::Violation;
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// A scan finding in alert mode: listed in the scan's summary alert, no alert of its own.
    Reported,
}

impl Taken {
    pub const ALL: [Taken; 8] = [
        Taken::Nothing,
        Taken::Alerted,
        Taken::Reverted,
        Taken::AlreadyReverted,
        Taken::RevertSuperseded,
        Taken::RevertFailed,
        Taken::MalformedEvent,
        Taken::Reported,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Taken::Nothing => "nothing",
            Taken::Alerted => "alerted",
            Taken::Reverted => "reverted",
            Taken::AlreadyReverted => "already-reverted",
            Taken::RevertSuperseded => "revert-superseded",
            Taken::RevertFailed => "revert-failed",
            Taken::MalformedEvent => "malformed-event",
            Taken::Reported => "reported",
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

impl Incident {
    /// An event that could not be read.
    pub fn malformed(error: String) -> Incident {
        Incident {
            taken: Taken::MalformedEvent,
            outcome: None,
            detail: Some(error),
            offending_policy: None,
            target: None,
        }
    }

    /// Records a revert that could not be carried out.
    pub fn revert_failed(&mut self, detail: String) {
        self.taken = Taken::RevertFailed;
        self.detail = Some(detail);
    }

    /// Records the outcome of a revert's plan that writes nothing (`AlreadyInPlace`,
    /// `Superseded`); `live_exists` tells whether the repository has a policy now. A `Write` plan
    /// records nothing: the write itself decides between `Reverted` and `RevertFailed`.
    pub fn planned(&mut self, plan: WritePlan, live_exists: bool) {
        match plan {
            WritePlan::Write => {}
            WritePlan::AlreadyInPlace => {
                self.taken = Taken::AlreadyReverted;
                self.detail = Some(
                    "the live policy already equals the compliant policy (restored by an earlier attempt or by someone else), so nothing was written".into(),
                );
            }
            WritePlan::Superseded => {
                self.taken = Taken::RevertSuperseded;
                let subject = self
                    .outcome
                    .as_ref()
                    .map(|o| o.facts.subject)
                    .unwrap_or_default();
                self.detail = Some(match (subject, live_exists) {
                    (Subject::Repository, true) => "the repository's policy changed after this event; the guard does not overwrite a newer change".into(),
                    (Subject::Repository, false) => "the repository has had no policy since a later change; the guard does not overwrite a newer change".into(),
                    (Subject::RegistryPolicy, true) => "the registry policy changed after this event; the guard does not overwrite a newer change".into(),
                    (Subject::RegistryPolicy, false) => "the registry policy was deleted after this event; the guard does not overwrite a newer change".into(),
                    (Subject::CreationTemplate, true) => "the template's policy changed after this event; the guard does not overwrite a newer change".into(),
                    (Subject::CreationTemplate, false) => "the template no longer exists or lost its policy after this event; the guard does not overwrite a newer change".into(),
                    (Subject::Replication, _) => "the replication configuration changed after this event; the guard does not overwrite a newer change".into(),
                });
            }
        }
    }

    /// The violations the incident is about (none for a malformed event).
    pub fn violations(&self) -> &[Violation] {
        self.outcome
            .as_ref()
            .map(|o| o.violations.as_slice())
            .unwrap_or_default()
    }
}

/// Offenders named in a scan summary; the counts cover all of them.
pub const MAX_LISTED_OFFENDERS: usize = 20;

/// A repository that could not be checked or handled, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unchecked {
    pub repository: String,
    pub error: String,
}

/// A non-compliant repository and what the scan did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    pub repository: String,
    pub rules: Vec<String>,
    pub taken: Taken,
}

/// The result of one scan run; also the summary alert's document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    pub mode: Mode,
    pub account: Option<String>,
    pub region: String,
    /// Where this run started (the previous run stopped after this repository).
    pub started_after: Option<String>,
    /// Repositories in the account and region.
    pub repositories: usize,
    /// Repositories checked by this run.
    pub scanned: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    /// Violations by rule id.
    pub by_rule: BTreeMap<String, usize>,
    pub reverted: usize,
    pub revert_failed: usize,
    /// The first offenders, in name order.
    pub offenders: Vec<Offender>,
    /// Repositories that could not be checked: never skipped silently.
    pub unchecked: Vec<Unchecked>,
    /// False when the run stopped early (before the Lambda's deadline).
    pub complete: bool,
    /// Where the next run continues, when this one stopped early.
    pub resume_after: Option<String>,
    /// The registry-level doors, counted apart from repositories: the registry policy, each
    /// creation template and the replication configuration (checked at the start of a pass).
    pub registry: RegistryTally,
}

/// What a scan found at the registry level; `offenders` and `unchecked` name each door
/// ("registry policy", "creation template `prod`", "replication configuration").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegistryTally {
    /// False when this run resumed an earlier one, which checked them.
    pub checked_this_run: bool,
    pub checked: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub by_rule: BTreeMap<String, usize>,
    pub reverted: usize,
    pub revert_failed: usize,
    pub offenders: Vec<Offender>,
    pub unchecked: Vec<Unchecked>,
}

/// The counters a tally updates: a scan's repositories, or its registry-level doors.
struct Counters<'a> {
    checked: &'a mut usize,
    compliant: &'a mut usize,
    non_compliant: &'a mut usize,
    by_rule: &'a mut BTreeMap<String, usize>,
    reverted: &'a mut usize,
    revert_failed: &'a mut usize,
    offenders: &'a mut Vec<Offender>,
    unchecked: &'a mut Vec<Unchecked>,
}

impl Counters<'_> {
    fn tally(self, name: &str, result: Result<&Incident, String>) {
        let incident = match result {
            Ok(incident) => incident,
            Err(error) => {
                self.unchecked.push(Unchecked {
                    repository: name.to_owned(),
                    error,
                });
                return;
            }
        };
        *self.checked += 1;
        let violations = incident.violations();
        if violations.is_empty() {
            *self.compliant += 1;
            return;
        }
        *self.non_compliant += 1;
        for v in violations {
            *self.by_rule.entry(v.rule.to_string()).or_default() += 1;
        }
        match incident.taken {
            Taken::Reverted | Taken::AlreadyReverted => *self.reverted += 1,
            Taken::RevertFailed => *self.revert_failed += 1,
            _ => {}
        }
        if self.offenders.len() < MAX_LISTED_OFFENDERS {
            self.offenders.push(Offender {
                repository: name.to_owned(),
                rules: rule_names(violations),
                taken: incident.taken,
            });
        }
    }
}

impl ScanReport {
    /// Counts one repository's result: its incident, or the error that kept it unchecked.
    pub fn tally(&mut self, repository: &str, result: Result<&Incident, String>) {
        Counters {
            checked: &mut self.scanned,
            compliant: &mut self.compliant,
            non_compliant: &mut self.non_compliant,
            by_rule: &mut self.by_rule,
            reverted: &mut self.reverted,
            revert_failed: &mut self.revert_failed,
            offenders: &mut self.offenders,
            unchecked: &mut self.unchecked,
        }
        .tally(repository, result);
    }

    /// Counts one registry-level door's result (`door`: "registry policy", ...).
    pub fn tally_registry(&mut self, door: &str, result: Result<&Incident, String>) {
        let r = &mut self.registry;
        r.checked_this_run = true;
        Counters {
            checked: &mut r.checked,
            compliant: &mut r.compliant,
            non_compliant: &mut r.non_compliant,
            by_rule: &mut r.by_rule,
            reverted: &mut r.reverted,
            revert_failed: &mut r.revert_failed,
            offenders: &mut r.offenders,
            unchecked: &mut r.unchecked,
        }
        .tally(door, result);
    }

    /// True when something could not be checked or a revert failed, repositories or registry.
    pub fn has_failures(&self) -> bool {
        !self.unchecked.is_empty()
            || self.revert_failed > 0
            || !self.registry.unchecked.is_empty()
            || self.registry.revert_failed > 0
    }
}

/// The distinct rule ids of some violations, sorted (violations come in statement order, so one
/// rule can recur apart: sort, then dedup).
pub fn rule_names(violations: &[Violation]) -> Vec<String> {
    let mut rules: Vec<String> = violations.iter().map(|v| v.rule.to_string()).collect();
    rules.sort_unstable();
    rules.dedup();
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_taken_has_one_spelling_in_json_and_text() {
        for taken in Taken::ALL {
            assert_eq!(serde_json::to_value(taken).unwrap(), taken.as_str());
        }
    }
}
