//! A scan over several accounts and regions (hub mode): one [`ScanReport`] per target it
//! scanned, the targets it could not reach, and their totals. Plain values;
//! [`crate::render::sweep`] renders them as the one summary alert.

use crate::decision::Mode;
use crate::incident::ScanReport;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The key of one target, as positions and summaries name it: `<account>/<region>`.
pub fn target_key(account: &str, region: &str) -> String {
    format!("{account}/{region}")
}

/// A target the sweep could not scan (the spoke role could not be assumed, the repositories
/// could not be listed, ...), and why: never skipped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreachable {
    pub account: String,
    pub region: String,
    pub error: String,
}

/// The sums over every target this run scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepTotals {
    pub repositories: usize,
    pub scanned: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub by_rule: BTreeMap<String, usize>,
    pub reverted: usize,
    pub revert_failed: usize,
    /// Repositories that could not be checked, over all targets.
    pub unchecked: usize,
    /// The registry-level doors (registry policy, creation templates, replication), over all
    /// targets, counted apart from repositories.
    pub registry: DoorTotals,
}

/// Sums of the registry-level doors over a sweep's targets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DoorTotals {
    pub checked: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    pub reverted: usize,
    pub revert_failed: usize,
    pub unchecked: usize,
}

/// The result of one sweep run; also the summary alert's document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    pub mode: Mode,
    /// Every target of the sweep (`<account>/<region>`), in the order they are scanned.
    pub targets: Vec<String>,
    /// The target this run started with, when the previous run stopped in it or before it.
    pub started_at: Option<String>,
    /// One report per target this run scanned, in order.
    pub reports: Vec<ScanReport>,
    pub unreachable: Vec<Unreachable>,
    pub totals: SweepTotals,
    /// False when the run stopped early (before the Lambda's deadline).
    pub complete: bool,
    /// The target the next run continues with, when this one stopped early.
    pub resume_at: Option<String>,
}

impl SweepReport {
    /// Adds one target's report to the sweep and its totals.
    pub fn add(&mut self, report: ScanReport) {
        let t = &mut self.totals;
        t.repositories += report.repositories;
        t.scanned += report.scanned;
        t.compliant += report.compliant;
        t.non_compliant += report.non_compliant;
        t.reverted += report.reverted;
        t.revert_failed += report.revert_failed;
        t.unchecked += report.unchecked.len();
        let r = &report.registry;
        t.registry.checked += r.checked;
        t.registry.compliant += r.compliant;
        t.registry.non_compliant += r.non_compliant;
        t.registry.reverted += r.reverted;
        t.registry.revert_failed += r.revert_failed;
        t.registry.unchecked += r.unchecked.len();
        for (rule, n) in report.by_rule.iter().chain(&r.by_rule) {
            *t.by_rule.entry(rule.clone()).or_default() += n;
        }
        self.reports.push(report);
    }

    /// Records a target the sweep could not scan.
    pub fn unreachable(&mut self, account: &str, region: &str, error: String) {
        self.unreachable.push(Unreachable {
            account: account.to_owned(),
            region: region.to_owned(),
            error,
        });
    }

    /// True when something could not be checked or a revert failed, anywhere in the sweep.
    pub fn has_failures(&self) -> bool {
        let t = &self.totals;
        t.unchecked > 0
            || t.revert_failed > 0
            || t.registry.unchecked > 0
            || t.registry.revert_failed > 0
            || !self.unreachable.is_empty()
    }

    /// The distinct accounts and regions among the targets.
    pub fn spread(&self) -> (usize, usize) {
        let mut accounts = BTreeSet::new();
        let mut regions = BTreeSet::new();
        for target in &self.targets {
            let (account, region) = target.split_once('/').unwrap_or((target, ""));
            accounts.insert(account);
            regions.insert(region);
        }
        (accounts.len(), regions.len())
    }
}
