//! The CLI's exit codes, and the one place that maps outcomes to them.

use ecr_policy_guard_core::render::text::CheckSummary;
use ecr_policy_guard_core::{Action, ScanReport, SweepReport, Taken};
use std::process::{ExitCode, Termination};

/// Exit codes; part of the interface for scripts and CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// Compliant, or nothing to judge.
    Clean = 0,
    /// Violations found.
    Violations = 1,
    /// Unreadable or invalid input, a usage error, or a failure to act.
    Invalid = 2,
    /// `scan` stopped early (`--max-seconds`): not every repository was checked.
    Incomplete = 3,
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        ExitCode::from(self as u8)
    }
}

impl Exit {
    /// `evaluate`: what the guard would do.
    pub fn of_action(action: Action) -> Exit {
        if action.is_violation() {
            Exit::Violations
        } else {
            Exit::Clean
        }
    }

    /// `check` on one policy.
    pub fn of_violations(count: usize) -> Exit {
        if count == 0 {
            Exit::Clean
        } else {
            Exit::Violations
        }
    }

    /// `check` on several inputs: the worst of them.
    pub fn of_batch(s: &CheckSummary) -> Exit {
        if s.invalid > 0 {
            Exit::Invalid
        } else {
            Exit::of_violations(s.non_compliant)
        }
    }

    /// `handle`: what the guard did.
    pub fn of_taken(taken: Taken) -> Exit {
        match taken {
            Taken::Nothing => Exit::Clean,
            Taken::MalformedEvent => Exit::Invalid,
            _ => Exit::Violations,
        }
    }

    /// `scan`: a repository or registry-level door left unchecked, or a failed revert (2) outranks an incomplete run (3),
    /// which outranks offenders (1): an incomplete run has not said everything it will find.
    pub fn of_scan(report: &ScanReport) -> Exit {
        if report.has_failures() {
            Exit::Invalid
        } else if !report.complete {
            Exit::Incomplete
        } else {
            Exit::of_violations(report.non_compliant + report.registry.non_compliant)
        }
    }

    /// `scan` over several accounts or regions: the same order, a target not scanned counting as
    /// repositories not checked.
    pub fn of_sweep(report: &SweepReport) -> Exit {
        let t = &report.totals;
        if report.has_failures() {
            Exit::Invalid
        } else if !report.complete {
            Exit::Incomplete
        } else {
            Exit::of_violations(t.non_compliant + t.registry.non_compliant)
        }
    }
}
