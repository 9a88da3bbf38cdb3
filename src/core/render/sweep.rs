//! A [`SweepReport`] (a scan over several accounts and regions) as its one summary alert: the
//! totals, a line per target, then the offenders, the repositories and targets not checked.

use super::{ALERT_SCHEMA_VERSION, Alert, MAX_SUBJECT_CHARS, attributes};
use crate::decision::Mode;
use crate::incident::MAX_LISTED_OFFENDERS;
use crate::sweep::SweepReport;
use crate::text::plural;
use serde_json::{Value, json};
use std::fmt::Write;

/// The summary alert of a sweep.
pub fn render_sweep(report: &SweepReport) -> Alert {
    let t = &report.totals;
    let (accounts, regions) = report.spread();
    let state = if report.complete {
        "SCAN"
    } else {
        "SCAN (partial)"
    };
    let spread = format!(
        "{} and {}",
        plural(accounts, "account"),
        plural(regions, "region")
    );
    // Registry-level findings join the count; where the subject would pass SNS's limit, the
    // place goes (the body and the attributes carry it).
    let doors = match t.registry.non_compliant {
        0 => String::new(),
        n => format!(" and {}", plural(n, "registry door")),
    };
    let mut subject = format!(
        "ecr-policy-guard {state}: {} of {} repositories{doors} non-compliant in {spread}",
        t.non_compliant, t.scanned
    );
    if subject.chars().count() > MAX_SUBJECT_CHARS {
        subject = format!(
            "ecr-policy-guard {state}: {} of {} repositories{doors} non-compliant",
            t.non_compliant, t.scanned
        );
    }
    subject.truncate(MAX_SUBJECT_CHARS);
    let severity = if report.has_failures() {
        "high"
    } else if t.non_compliant > 0 || t.registry.non_compliant > 0 {
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
        "{state}: {} repositories checked in {spread} ({}), mode {}: {} compliant, {} non-compliant",
        t.scanned,
        plural(report.targets.len(), "target"),
        report.mode,
        t.compliant,
        t.non_compliant
    );
    if report.mode == Mode::Revert {
        let failures = plural(t.revert_failed, "revert failure");
        let _ = write!(email, ", {} reverted, {failures}", t.reverted);
    }
    let _ = writeln!(email, ".");
    if report.mode == Mode::Alert && t.non_compliant > 0 {
        let _ = writeln!(
            email,
            "In alert mode the scan changes nothing and this summary is its only alert."
        );
    }
    let _ = writeln!(email, "\nBy account and region:");
    for r in &report.reports {
        let account = r.account.as_deref().unwrap_or("(no repositories)");
        let _ = write!(
            email,
            "  {account} {}: {} checked, {} non-compliant",
            r.region, r.scanned, r.non_compliant
        );
        if report.mode == Mode::Revert {
            let _ = write!(email, ", {} reverted", r.reverted);
        }
        if !r.unchecked.is_empty() {
            let _ = write!(email, ", {} not checked", r.unchecked.len());
        }
        if r.registry.checked_this_run {
            let d = &r.registry;
            let _ = write!(
                email,
                "; registry level {} checked, {} non-compliant",
                d.checked, d.non_compliant
            );
            if !d.unchecked.is_empty() {
                let _ = write!(email, ", {} not checked", d.unchecked.len());
            }
        }
        if !r.complete {
            let _ = write!(email, " (stopped early)");
        }
        let _ = writeln!(email);
    }
    for u in &report.unreachable {
        let _ = writeln!(
            email,
            "  {} {}: NOT SCANNED: {}",
            u.account, u.region, u.error
        );
    }
    if !t.by_rule.is_empty() {
        let _ = writeln!(email, "\nViolations by rule:");
        for (rule, n) in &t.by_rule {
            let _ = writeln!(email, "  {rule}: {n}");
        }
    }
    let offenders: Vec<_> = report
        .reports
        .iter()
        .flat_map(|r| {
            r.registry
                .offenders
                .iter()
                .chain(&r.offenders)
                .map(move |o| (r, o))
        })
        .take(MAX_LISTED_OFFENDERS)
        .collect();
    if !offenders.is_empty() {
        let _ = writeln!(email, "\nFirst offenders:");
        for (r, o) in offenders {
            let _ = writeln!(
                email,
                "  - {} {} {} ({}): {}",
                r.account.as_deref().unwrap_or_default(),
                r.region,
                o.repository,
                o.rules.join(", "),
                o.taken.as_str()
            );
        }
    }
    if t.unchecked > 0 || t.registry.unchecked > 0 {
        let _ = writeln!(
            email,
            "\nCould not check (they are checked again on the next pass over the registry):"
        );
        for r in &report.reports {
            for u in r.registry.unchecked.iter().chain(&r.unchecked) {
                let account = r.account.as_deref().unwrap_or_default();
                let _ = writeln!(
                    email,
                    "  - {account} {} {}: {}",
                    r.region, u.repository, u.error
                );
            }
        }
    }
    let _ = match (report.complete, &report.resume_at) {
        (true, _) if report.unreachable.is_empty() => writeln!(
            email,
            "\nEvery target was scanned ({} repositories in all).",
            t.repositories
        ),
        (true, _) => writeln!(
            email,
            "\n{} not scanned; the next run tries again.",
            match report.unreachable.len() {
                1 => "1 target was".to_owned(),
                n => format!("{n} targets were"),
            }
        ),
        (false, Some(at)) => writeln!(
            email,
            "\nINCOMPLETE: the run stopped early, in or before `{at}`, and did not scan every target; the next run continues there."
        ),
        (false, None) => writeln!(
            email,
            "\nINCOMPLETE: the run stopped early and did not scan every target."
        ),
    };
    let rules: Vec<&str> = t.by_rule.keys().map(String::as_str).collect();
    Alert {
        subject,
        document,
        email,
        attributes: attributes("scan-summary", severity, &rules, "*", "*"),
    }
}
