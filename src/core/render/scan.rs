//! A [`ScanReport`] as the scheduled scan's summary alert.

use super::{ALERT_SCHEMA_VERSION, Alert, MAX_SUBJECT_CHARS, attributes, waived_section};
use crate::decision::Mode;
use crate::incident::ScanReport;
use crate::text::plural;
use serde_json::{Value, json};
use std::fmt::Write;

/// The summary alert of a scheduled scan.
pub fn render_scan(report: &ScanReport) -> Alert {
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
    // by_rule is a sorted map: its keys are the distinct rule ids in order.
    let rules: Vec<&str> = report.by_rule.keys().map(String::as_str).collect();
    Alert {
        subject,
        document,
        email,
        attributes: attributes("scan-summary", severity, &rules, "*", account),
    }
}
