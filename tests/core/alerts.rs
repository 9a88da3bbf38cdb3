//! Snapshot tests of the alert renderings (JSON document, e-mail text, subject, attributes).
//! Run with `UPDATE_SNAPSHOTS=1` to rewrite the files after an intended change, then review
//! the diff.

use crate::{policy_event, root, sample, sample_rules};
use ecr_policy_guard_core::incident::{
    Offender, RegistryTally, Unchecked, UnmatchedWaiver, WaivedFinding,
};
use ecr_policy_guard_core::policy::PolicyCopy;
use ecr_policy_guard_core::remedy::{TargetSource, derived_target};
use ecr_policy_guard_core::render::Alert;
use ecr_policy_guard_core::render::alert::render;
use ecr_policy_guard_core::render::scan::render_scan;
use ecr_policy_guard_core::{Date, Incident, Mode, ScanReport, Taken, decide};
use serde_json::json;

/// Compares `actual` with the snapshot file, or rewrites it under `UPDATE_SNAPSHOTS=1`.
fn assert_snapshot(name: &str, actual: &str) {
    let path = root().join("tests/snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run with UPDATE_SNAPSHOTS=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "{name} differs from its snapshot:\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

/// Holds an alert's subject, attributes and `default` document in `NAME.json` and its e-mail
/// text in `NAME.email.txt`.
fn snapshot_alert(name: &str, alert: &Alert) {
    assert!(alert.subject.len() < 100);
    let rendered = json!({
        "subject": alert.subject,
        "attributes": alert.attributes.iter().map(|(n, t, v)| json!({"name": n, "type": t, "value": v})).collect::<Vec<_>>(),
        "default": alert.document,
    });
    assert_snapshot(
        &format!("{name}.json"),
        &(serde_json::to_string_pretty(&rendered).unwrap() + "\n"),
    );
    assert_snapshot(&format!("{name}.email.txt"), &alert.email);
}

fn check(name: &str, incident: &Incident) {
    let alert = render(incident);
    snapshot_alert(name, &alert);
    // The SNS message carries both renderings, the document as a JSON string.
    let message: serde_json::Value = serde_json::from_str(&alert.message()).unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(message["default"].as_str().unwrap()).unwrap(),
        alert.document
    );
    assert_eq!(message["email"], alert.email);
}

fn incident(file: &str, mode: Mode, taken: Taken) -> Incident {
    let rules = sample_rules();
    let event = policy_event(&sample(file));
    let outcome = decide(&event, &rules, mode);
    let offending = event.change.policy_text();
    let target = match taken {
        Taken::Reverted => offending.as_deref().and_then(|text| {
            derived_target(
                text,
                PolicyCopy::Caller,
                "123456789012",
                &rules,
                TargetSource::DerivedFromOffending,
            )
            .ok()
        }),
        _ => None,
    };
    Incident {
        taken,
        outcome: Some(outcome),
        detail: None,
        offending_policy: offending,
        target,
    }
}

#[test]
fn a_reverted_root_grant() {
    let mut incident = incident(
        "set-policy-cross-account-root.json",
        Mode::Revert,
        Taken::Reverted,
    );
    if let Some(target) = &mut incident.target {
        target.note = Some("CloudTrail history unavailable: cloudtrail:LookupEvents failed (a retry may succeed): ThrottlingException (HTTP 400): Rate exceeded".into());
    }
    check("reverted-root-grant", &incident);
}

#[test]
fn an_alert_with_several_violations() {
    let incident = incident(
        "set-policy-multiple-violations.json",
        Mode::Alert,
        Taken::Alerted,
    );
    check("alerted-multiple-violations", &incident);
}

#[test]
fn a_malformed_event() {
    let incident = Incident::malformed("EventBridge event has no `detail`".into());
    check("malformed-event", &incident);
}

#[test]
fn a_partial_scan_summary() {
    let report = ScanReport {
        mode: Mode::Revert,
        account: Some("123456789012".into()),
        region: "eu-west-1".into(),
        started_after: None,
        repositories: 330,
        scanned: 200,
        compliant: 150,
        non_compliant: 50,
        by_rule: [("no-root-principal".to_owned(), 30), ("deny-by-default-required".to_owned(), 25)].into(),
        reverted: 49,
        revert_failed: 1,
        offenders: vec![Offender {
            repository: "team-a/web".into(),
            rules: vec!["no-root-principal".into()],
            taken: Taken::Reverted,
        }],
        unchecked: vec![Unchecked {
            repository: "team-b/api".into(),
            error: "ecr:GetRepositoryPolicy failed (a retry may succeed): ThrottlingException (HTTP 400): Rate exceeded".into(),
        }],
        waived: 1,
        waived_findings: vec![WaivedFinding {
            repository: "vendor/scanner".into(),
            rule: "no-root-principal".into(),
            principal: Some("arn:aws:iam::444455556666:root".into()),
            waiver: 1,
            expires: Date::parse("2027-06-30").unwrap(),
        }],
        unmatched_waivers: vec![UnmatchedWaiver {
            waiver: 2,
            repository: "legacy/*".into(),
            rule: "deny-by-default-required".into(),
            expires: Date::parse("2027-03-31").unwrap(),
        }],
        matched_waivers: [1].into(),
        complete: false,
        resume_after: Some("team-z/last".into()),
        registry: RegistryTally {
            checked_this_run: true,
            checked: 2,
            compliant: 1,
            non_compliant: 1,
            by_rule: [("no-unapproved-replication".to_owned(), 1)].into(),
            reverted: 1,
            revert_failed: 0,
            offenders: vec![Offender {
                repository: "replication configuration".into(),
                rules: vec!["no-unapproved-replication".into()],
                taken: Taken::Reverted,
            }],
            unchecked: vec![Unchecked {
                repository: "creation templates".into(),
                error: "ecr:DescribeRepositoryCreationTemplates failed (a retry may succeed): ServerException (HTTP 500)".into(),
            }],
        },
    };
    snapshot_alert("scan-summary", &render_scan(&report));
}
