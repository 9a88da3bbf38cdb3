//! Waivers and findings on in-memory ports: a waiver in force stops the alert and the revert
//! but not the report; an expired one no longer does, and says so; Security Hub findings follow
//! the repository's state; a failed import fails the invocation. And the `waivers` command.

use crate::{run_cli, sample};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::memory::{Memory, Recorded};
use ecr_policy_guard::app::{AppError, handle};
use ecr_policy_guard::ports::{PortError, Ports};
use ecr_policy_guard_core::render::findings::{ComplianceStatus, RecordState};
use ecr_policy_guard_core::{Action, Date, RuleId, Taken, WaiverStatus};
use serde_json::Value;

const ACCOUNT: &str = "123456789012";
const REPOSITORY: &str = "platform/base-images";

fn day(text: &str) -> Date {
    Date::parse(text).unwrap()
}

/// Revert mode with waivers for the sample's two violations (a cross-account root grant, and
/// the deny-by-default exempting that account), judged on `today`.
fn config(today: &str, security_hub: bool) -> Config {
    let toml = r#"
        mode = "revert"
        [[waiver]]
        repository = "platform/*"
        rule = "no-root-principal"
        principal = "arn:aws:iam::987654321098:root"
        statement = "AllowPullFromSharedServices"
        reason = "shared services pull until the migration ends"
        expires = 2027-06-30
        # The same account is exempted from the deny-by-default: its own finding, its own waiver.
        [[waiver]]
        repository = "platform/base-images"
        rule = "deny-by-default-required"
        reason = "shared services pull until the migration ends"
        expires = 2027-06-30
    "#;
    let mut config = Config::from_toml_on(toml, day("2026-12-01")).unwrap();
    config.today = Some(day(today));
    config.security_hub = security_hub;
    config
}

fn registry() -> Recorded<Memory> {
    let text = sample("set-policy-cross-account-root.json");
    let event: Value = serde_json::from_str(&text).unwrap();
    let policy = event["detail"]["requestParameters"]["policyText"].as_str();
    Recorded::new(Memory::new(ACCOUNT).with_repository(REPOSITORY, policy))
}

#[tokio::test]
async fn a_waiver_in_force_stops_the_revert_and_the_alert_but_not_the_report() {
    let aws = registry();
    let before = aws.inner.policy(REPOSITORY);
    let event = sample("set-policy-cross-account-root.json");
    for today in ["2026-12-01", "2027-06-29"] {
        let incident = handle(&event, &config(today, false), Ports::all(&aws))
            .await
            .unwrap();
        assert_eq!(incident.taken, Taken::Nothing, "{today}");
        let outcome = incident.outcome.as_ref().unwrap();
        assert_eq!(outcome.action, Action::None);
        assert_eq!(outcome.violations.len(), 2);
        assert!(outcome.violations.iter().all(|v| v.is_waived()));
        assert!(
            outcome.reason.ends_with(
                "all waived by waiver 1 until 2027-06-30, waiver 2 until 2027-06-30; the guard does nothing"
            ),
            "{}",
            outcome.reason
        );
        let numbers: Vec<usize> = outcome
            .waivers
            .iter()
            .map(|m| m.state.waiver.number)
            .collect();
        assert_eq!(numbers, [1, 2]);
        let want = if today == "2027-06-29" {
            WaiverStatus::Expiring
        } else {
            WaiverStatus::Active
        };
        assert_eq!(outcome.waivers[0].state.status, want, "{today}");
    }
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
    assert_eq!(aws.inner.policy(REPOSITORY), before);
}

#[tokio::test]
async fn on_the_expiry_day_the_violation_counts_again_and_the_alert_says_the_waiver_expired() {
    let aws = registry();
    let event = sample("set-policy-cross-account-root.json");
    let incident = handle(&event, &config("2027-06-30", false), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    let alerts = aws.inner.alerts();
    assert_eq!(alerts.len(), 1);
    let document = &alerts[0].document;
    assert_eq!(document["violations"][0]["waived"], false);
    assert_eq!(document["violations"][0]["waiver"]["status"], "expired");
    assert_eq!(document["waivers"][0]["status"], "expired");
    assert!(
        alerts[0].email.contains("waiver 1 expired on 2027-06-30"),
        "{}",
        alerts[0].email
    );
}

#[tokio::test]
async fn findings_are_failed_while_broken_and_passed_and_archived_once_reverted() {
    let aws = registry();
    let event = sample("set-policy-cross-account-root.json");
    // Waived: on record as failed, but archived (out of the active view).
    handle(&event, &config("2027-01-15", true), Ports::all(&aws))
        .await
        .unwrap();
    let findings = aws.inner.findings();
    let id = format!(
        "arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{REPOSITORY}/ecr-policy-guard/no-root-principal"
    );
    let root = &findings[&id];
    assert_eq!(root.compliance_status, ComplianceStatus::Failed);
    assert_eq!(root.record_state, RecordState::Archived);
    assert_eq!(
        root.product_fields["ecr-policy-guard/WaiverStatus"],
        "active"
    );
    // Every rule has its finding; those not broken are passed.
    assert_eq!(findings.len(), RuleId::ALL.len());
    // Expired: the guard reverts, and the finding is resolved.
    handle(&event, &config("2027-07-01", true), Ports::all(&aws))
        .await
        .unwrap();
    let root = &aws.inner.findings()[&id];
    assert_eq!(root.compliance_status, ComplianceStatus::Passed);
    assert_eq!(root.record_state, RecordState::Archived);
    assert!(
        root.description.contains("the guard restored"),
        "{}",
        root.description
    );
}

#[tokio::test]
async fn a_failed_import_fails_the_invocation_so_that_it_is_retried() {
    let aws = registry();
    aws.fail_next(
        "securityhub:BatchImportFindings",
        PortError::Transient {
            operation: "securityhub:BatchImportFindings",
            message: "ThrottlingException (HTTP 429)".into(),
        },
    );
    let event = sample("set-policy-cross-account-root.json");
    let result = handle(&event, &config("2027-01-15", true), Ports::all(&aws)).await;
    assert!(matches!(result, Err(AppError::Retry(_))));
    assert!(aws.inner.findings().is_empty());
}

#[test]
fn the_waivers_command_lists_each_waiver_with_its_status() {
    let dir = std::env::temp_dir().join(format!("waivers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("guard.toml");
    std::fs::write(
        &path,
        r#"
[[waiver]]
repository = "vendor/scanner"
rule = "no-root-principal"
reason = "vendor contract"
expires = 2027-06-30

[[waiver]]
repository = "legacy/*"
rule = "deny-by-default-required"
reason = "until the legacy apps move"
expires = "2027-01-10"

[[waiver]]
repository = "old/app"
rule = "no-wildcard-principal"
reason = "forgotten"
expires = 2026-11-30
"#,
    )
    .unwrap();
    let path = path.to_str().unwrap();
    let out = run_cli(&["waivers", "--config", path, "--today", "2026-12-20"], b"");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.starts_with(
            "3 waivers on 2026-12-20: 1 active, 1 expiring within 30 days, 1 expired\n"
        ),
        "{text}"
    );
    assert!(text.contains("ACTIVE   waiver 1: `vendor/scanner` no-root-principal, until 2027-06-30 (192 days left): vendor contract"), "{text}");
    assert!(text.contains("EXPIRING waiver 2: `legacy/*` deny-by-default-required, until 2027-01-10 (21 days left)"), "{text}");
    assert!(
        text.contains(
            "EXPIRED  waiver 3: `old/app` no-wildcard-principal, expired on 2026-11-30: forgotten"
        ),
        "{text}"
    );
    let json = run_cli(
        &[
            "waivers",
            "--config",
            path,
            "--today",
            "2026-12-20",
            "--format",
            "json",
        ],
        b"",
    );
    let states: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(states[1]["status"], "expiring");
    assert_eq!(states[1]["days_left"], 21);
    // A waiver longer than a year is a config error, in one line.
    let far = run_cli(&["waivers", "--config", path, "--today", "2025-06-01"], b"");
    let err = String::from_utf8(far.stderr).unwrap();
    assert_eq!(far.status.code(), Some(2));
    assert!(
        err.contains("waiver 1: `expires` 2027-06-30 is more than 366 days after 2025-06-01"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn evaluate_applies_the_waivers_as_on_the_day_given() {
    let path = std::env::temp_dir().join(format!("waivers-evaluate-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        r#"
[[waiver]]
repository = "platform/*"
rule = "no-root-principal"
reason = "shared services"
expires = 2027-06-30

[[waiver]]
repository = "platform/base-images"
rule = "deny-by-default-required"
reason = "shared services"
expires = 2027-06-30
"#,
    )
    .unwrap();
    let event = crate::root().join("events/set-policy-cross-account-root.json");
    let run = |today: &str| {
        let args = [
            "evaluate",
            "--config",
            path.to_str().unwrap(),
            "--today",
            today,
            event.to_str().unwrap(),
        ];
        let out = run_cli(&args, b"");
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    };
    let (code, text) = run("2027-06-29");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("WAIVED SetRepositoryPolicy"), "{text}");
    assert!(
        text.contains("would: nothing: every violation is waived"),
        "{text}"
    );
    let (code, text) = run("2027-06-30");
    assert_eq!(code, Some(1), "{text}");
    assert!(text.starts_with("ALERT SetRepositoryPolicy"), "{text}");
    assert!(
        text.contains("[waiver 1 expired on 2027-06-30: shared services]"),
        "{text}"
    );
    std::fs::remove_file(&path).unwrap();
}
