//! The scheduled reconciliation end to end against moto: 330 repositories in mixed states,
//! scanned in alert mode, then in revert mode with a stop part-way and a resumed second run.

use crate::support::{ACCOUNT, Aws, REGION, attribute, cli_on, document};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::moto::Moto;
use ecr_policy_guard::app::scan;
use ecr_policy_guard::ports::ScanState;
use ecr_policy_guard_core::policy::same_document;
use ecr_policy_guard_core::{Mode, Owner, RuleConfig};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

const COMPLIANT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/app-pull"},"Action":"ecr:BatchGetImage"},{"Sid":"DenyByDefault","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/app-pull"}}}]}"#;
const ROOT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PartnerPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::987654321098:root"},"Action":"ecr:BatchGetImage"},{"Sid":"DenyByDefault","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":["123456789012","987654321098"]}}}]}"#;
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicPull","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;
const INVALID: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Twice","Effect":"Deny","Effect":"Allow","Principal":"*","Action":"ecr:*"}]}"#;

/// 330 repositories: 80 each compliant / root grant / no policy / public without deny, and 10
/// whose policy the guard cannot read.
fn states() -> Vec<(String, Option<&'static str>)> {
    (0..330)
        .map(|i| {
            let policy = match (i >= 320, i % 4) {
                (true, _) => Some(INVALID),
                (false, 0) => Some(COMPLIANT),
                (false, 1) => Some(ROOT),
                (false, 2) => None,
                _ => Some(PUBLIC),
            };
            (format!("scan/r-{i:03}"), policy)
        })
        .collect()
}

fn passes(text: &str) -> bool {
    RuleConfig::default().passes(text, Owner::Account(ACCOUNT))
}

#[tokio::test]
async fn the_scan_finds_every_offender_fixes_them_in_revert_mode_and_resumes_where_it_stopped() {
    // A moto server of its own holds only these repositories, so the counts are exact.
    let moto = Moto::start().unwrap();
    let aws = Aws::on(&moto, "scan", true).await;
    let repos = states();
    for (name, policy) in &repos {
        aws.create_repository(name).await;
        if let Some(text) = policy {
            aws.set_policy(name, text).await;
        }
    }
    let never = || false;

    // Alert mode: every finding counted, nothing changed, one summary alert only.
    let config = Config {
        mode: Mode::Alert,
        ..Config::default()
    };
    let report = scan(&config, Some(ACCOUNT), REGION, aws.ports(), &never)
        .await
        .unwrap();
    assert!(report.complete && report.resume_after.is_none());
    assert_eq!((report.repositories, report.scanned), (330, 330));
    assert_eq!((report.compliant, report.non_compliant), (80, 250));
    let expected_rules: BTreeMap<String, usize> = [
        // 80 without policy, 80 public, and the root grants' deny exempting the foreign account.
        ("deny-by-default-required", 240),
        ("invalid-policy", 10),
        ("no-root-principal", 80),
        ("no-wildcard-principal", 80),
    ]
    .into_iter()
    .map(|(r, n)| (r.to_owned(), n))
    .collect();
    assert_eq!(report.by_rule, expected_rules);
    assert_eq!((report.reverted, report.revert_failed), (0, 0));
    assert!(report.unchecked.is_empty());
    assert_eq!(report.offenders.len(), 20);
    assert_eq!(report.offenders[0].repository, "scan/r-001");
    assert_eq!(aws.registry.count("ecr:SetRepositoryPolicy"), 0);
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(attribute(&alerts[0], "action"), "scan-summary");
    assert_eq!(
        alerts[0]["Subject"],
        format!("ecr-policy-guard SCAN: 250 of 330 repositories non-compliant in {ACCOUNT}")
    );
    assert_eq!(document(&alerts[0])["by_rule"]["no-root-principal"], 80);

    // Revert mode, stopped after 50 chunks (200 repositories) as if the Lambda's time ran out.
    let config = Config {
        mode: Mode::Revert,
        ..Config::default()
    };
    let chunks = AtomicUsize::new(0);
    let stop_after_200 = || chunks.fetch_add(1, Ordering::SeqCst) >= 50;
    let first = scan(&config, Some(ACCOUNT), REGION, aws.ports(), &stop_after_200)
        .await
        .unwrap();
    assert!(!first.complete);
    assert_eq!(first.scanned, 200);
    assert_eq!(first.resume_after.as_deref(), Some("scan/r-199"));
    assert_eq!(
        aws.state.inner.load().await.unwrap().as_deref(),
        Some("scan/r-199")
    );

    // The next run continues after r-199 and finishes.
    let second = scan(&config, Some(ACCOUNT), REGION, aws.ports(), &never)
        .await
        .unwrap();
    assert_eq!(second.started_after.as_deref(), Some("scan/r-199"));
    assert!(second.complete && second.resume_after.is_none());
    assert_eq!(second.scanned, 130);
    assert_eq!(aws.state.inner.load().await.unwrap(), None);
    assert_eq!(first.non_compliant + second.non_compliant, 250);
    assert_eq!(first.compliant + second.compliant, 80);
    // Everything but the 10 unreadable policies was reverted; those are only ever alerted.
    assert_eq!(first.reverted + second.reverted, 240);
    assert_eq!(first.revert_failed + second.revert_failed, 0);
    assert_eq!(aws.registry.count("ecr:SetRepositoryPolicy"), 240);

    for (name, before) in &repos {
        let live = aws.live_policy(name).await;
        match *before {
            Some(INVALID) => assert_eq!(live.as_deref(), Some(INVALID), "{name} was rewritten"),
            Some(COMPLIANT) => assert_eq!(live.as_deref(), Some(COMPLIANT), "{name} was touched"),
            _ => {
                let live = live.unwrap_or_else(|| panic!("{name} still has no policy"));
                assert!(passes(&live), "{name} is still non-compliant: {live}");
            }
        }
    }
    // A root grant keeps its compliant part: the derived policy, not the baseline.
    let r001 = aws.live_policy("scan/r-001").await.unwrap();
    assert!(
        r001.contains("DenyByDefault") && !r001.contains("PartnerPull"),
        "{r001}"
    );
    assert!(!same_document(&r001, ROOT));

    // One alert per change made, and one summary per run.
    let alerts = aws.alerts().await;
    let mut actions: BTreeMap<String, usize> = BTreeMap::new();
    for a in &alerts {
        *actions
            .entry(attribute(a, "action").to_owned())
            .or_default() += 1;
    }
    assert_eq!(
        actions,
        [("reverted".to_owned(), 240), ("scan-summary".to_owned(), 2)].into()
    );

    // The operators' command runs the same scan: only the 10 unreadable policies remain.
    let out = cli_on(
        &moto,
        &[
            "scan",
            "--mode",
            "revert",
            "--format",
            "json",
            "--topic-arn",
            &aws.topic_arn,
        ],
    );
    // moto has no `DescribeRepositoryCreationTemplates` (it answers HTTP 500): the creation
    // templates are not checked, which makes the exit code 2, not 1.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["scanned"].clone(), report["non_compliant"].clone()),
        (330.into(), 10.into())
    );
    assert_eq!(report["by_rule"], serde_json::json!({"invalid-policy": 10}));
    assert_eq!(report["reverted"], 0);

    // A run stopped before its first repository says so everywhere, and exits 3.
    let out = cli_on(
        &moto,
        &["scan", "--max-seconds", "0", "--topic-arn", &aws.topic_arn],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // 2 (the creation templates moto cannot list, as above) outranks 3 (stopped early).
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("SCAN (partial): 0 repositories checked"),
        "{text}"
    );
    assert!(text.contains("INCOMPLETE: the run stopped early, before checking any repository"));
    assert!(!text.contains("Every repository was checked"), "{text}");
    let summary = aws.alerts().await.pop().unwrap();
    assert!(
        summary["Subject"]
            .as_str()
            .unwrap()
            .starts_with("ecr-policy-guard SCAN (partial): ")
    );
    assert_eq!(document(&summary)["complete"], false);
}
