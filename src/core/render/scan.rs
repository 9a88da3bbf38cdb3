//! A [`ScanReport`] as the scheduled scan's summary alert.

use super::{ALERT_SCHEMA_VERSION, Alert, MAX_SUBJECT_CHARS, attributes, waived_section};
use crate::decision::Mode;
use crate::incident::{Offender, ScanReport};
use crate::text::{plural, repositories};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write;

/// The summary alert of a scheduled scan.
pub fn render_scan(report: &ScanReport) -> Alert {
    let account = report.account.as_deref().unwrap_or("unknown account");
    let state = if report.complete {
        "SCAN"
    } else {
        "SCAN (partial)"
    };
    // Registry-level findings join the count; where the subject would pass SNS's limit, the
    // place goes (the body and the attributes carry it).
    let doors = match report.registry.non_compliant {
        0 => String::new(),
        n => format!(" and {}", plural(n, "registry door")),
    };
    let mut subject = format!(
        "ecr-policy-guard {state}: {} of {} repositories{doors} non-compliant in {account}",
        report.non_compliant, report.scanned
    );
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        subject = format!(
            "ecr-policy-guard {state}: {} of {} repositories{doors} non-compliant",
            report.non_compliant, report.scanned
        );
    }
    subject.truncate(MAX_SUBJECT_CHARS);
    let severity = if report.has_failures() {
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
        "{state}: {} checked in account {account} ({}), mode {}: {} compliant, {} non-compliant",
        repositories(report.scanned),
        report.region,
        report.mode,
        report.compliant,
        report.non_compliant
    );
    if report.waived > 0 {
        let _ = write!(email, ", {} waived", report.waived);
    }
    if report.mode == Mode::Revert {
        let failures = plural(report.revert_failed, "revert failure");
        let _ = write!(email, ", {} reverted, {failures}", report.reverted);
    }
    let _ = writeln!(email, ".");
    if report.mode == Mode::Alert && !report.offenders.is_empty() {
        let _ = writeln!(
            email,
            "In alert mode the scan changes nothing and this summary is its only alert."
        );
    }
    if !report.by_rule.is_empty() {
        let _ = writeln!(email, "\nViolations by rule:");
        rule_lines(&mut email, &report.by_rule);
    }
    if !report.offenders.is_empty() {
        let _ = writeln!(email, "\nFirst offenders:");
        offender_lines(&mut email, &report.offenders);
    }
    waived_section(
        &mut email,
        report.waived_findings.iter().map(|w| (String::new(), w)),
        &report.unmatched_waivers,
    );
    if !report.unchecked.is_empty() {
        let _ = writeln!(
            email,
            "\nCould not check (they are checked again on the next pass over the registry):"
        );
        for u in &report.unchecked {
            let _ = writeln!(email, "  - {}: {}", u.repository, u.error);
        }
    }
    registry_section(&mut email, report);
    let _ = match (report.complete, &report.resume_after) {
        (true, _) => writeln!(
            email,
            "\nEvery repository was checked ({} in all).",
            report.repositories
        ),
        (false, Some(after)) => writeln!(
            email,
            "\nINCOMPLETE: the run stopped early, after `{after}`, and did not check every repository; the next run continues from there ({} in all).",
            report.repositories
        ),
        (false, None) => writeln!(
            email,
            "\nINCOMPLETE: the run stopped early, before checking any repository; the next run starts from the first ({} in all).",
            report.repositories
        ),
    };
    // Both maps are sorted: their keys, merged, are the distinct rule ids in order.
    let mut rules: Vec<&str> = report
        .by_rule
        .keys()
        .chain(report.registry.by_rule.keys())
        .map(String::as_str)
        .collect();
    rules.sort_unstable();
    rules.dedup();
    Alert {
        subject,
        document,
        email,
        attributes: attributes("scan-summary", severity, &rules, "*", account),
    }
}

/// The registry-level doors (registry policy, creation templates, replication), counted apart.
fn registry_section(email: &mut String, report: &ScanReport) {
    let r = &report.registry;
    if !r.checked_this_run {
        let _ = writeln!(
            email,
            "\nRegistry level: {}",
            match report.started_after {
                Some(_) =>
                    "not checked by this run (the run that started this pass checked the registry policy, creation templates and replication).",
                None =>
                    "NOT CHECKED: the run stopped before it reached the registry policy, creation templates and replication; the next run checks them.",
            }
        );
        return;
    }
    let _ = write!(
        email,
        "\nRegistry level (registry policy, creation templates, replication): {} checked, {} compliant, {} non-compliant",
        r.checked, r.compliant, r.non_compliant
    );
    if report.mode == Mode::Revert {
        let failures = plural(r.revert_failed, "revert failure");
        let _ = write!(email, ", {} reverted, {failures}", r.reverted);
    }
    let _ = writeln!(email, ".");
    rule_lines(email, &r.by_rule);
    offender_lines(email, &r.offenders);
    for u in &r.unchecked {
        let _ = writeln!(email, "  - could not check {}: {}", u.repository, u.error);
    }
}

/// One line per rule with its count of violations.
fn rule_lines(email: &mut String, by_rule: &BTreeMap<String, usize>) {
    for (rule, n) in by_rule {
        let _ = writeln!(email, "  {rule}: {n}");
    }
}

/// One line per offender: where, which rules, what was done.
fn offender_lines(email: &mut String, offenders: &[Offender]) {
    for o in offenders {
        let _ = writeln!(
            email,
            "  - {} ({}): {}",
            o.repository,
            o.rules.join(", "),
            o.taken.as_str()
        );
    }
}
