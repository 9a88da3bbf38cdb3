//! Hub mode on in-memory ports: an event handled in its own account (not the hub's), a spoke
//! role that cannot be assumed, and the sweep over accounts and regions with one summary and a
//! position per target. The same on moto server, through STS, is tests/moto/hub.rs.

use crate::sample;
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::memory::{Memory, MemoryAccounts, MemoryPositions};
use ecr_policy_guard::app::hub::{Hub, invoke_hub, sweep};
use ecr_policy_guard::app::{AppError, Invocation};
use ecr_policy_guard::config::ScanAccounts;
use ecr_policy_guard::ports::PortError;
use ecr_policy_guard_core::{Incident, Mode, Owner, RuleConfig, Taken};
use serde_json::json;

const HUB: &str = "111111111111";
const SPOKE: &str = "222222222222";
const REPO: &str = "platform/base-images";
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;

fn hub_config(mode: Mode) -> Config {
    Config {
        mode,
        spoke_role_name: Some("ecr-policy-guard-spoke".into()),
        ..Config::default()
    }
}

/// The cross-account root grant sample, made in `account`.
fn event_in(account: &str) -> String {
    sample("set-policy-cross-account-root.json").replace("123456789012", account)
}

fn denied() -> PortError {
    PortError::Denied {
        operation: "sts:AssumeRole",
        message: "`arn:aws:iam::222222222222:role/ecr-policy-guard-spoke` in account 222222222222: AccessDenied (HTTP 403): not authorized".into(),
    }
}

/// The incident of one event the hub handled, as the Lambda's dispatch hands it over.
async fn handled(
    text: &str,
    mode: Mode,
    hub: Hub<'_, MemoryAccounts, Memory, MemoryPositions>,
) -> Incident {
    let never = || false;
    match invoke_hub(text, &hub_config(mode), hub, &never)
        .await
        .unwrap()
    {
        Invocation::Event(incident) => incident,
        other => panic!("an event, not {other:?}"),
    }
}

fn hub<'a>(
    accounts: &'a MemoryAccounts,
    notifier: &'a Memory,
    positions: &'a MemoryPositions,
) -> Hub<'a, MemoryAccounts, Memory, MemoryPositions> {
    Hub {
        accounts,
        notifier,
        positions,
        region: "eu-west-1",
    }
}

#[tokio::test]
async fn an_event_is_reverted_in_its_own_account_and_the_hubs_repository_of_that_name_is_untouched()
{
    let text = event_in(SPOKE);
    let offending = serde_json::from_str::<serde_json::Value>(&text).unwrap()["detail"]
        ["requestParameters"]["policyText"]
        .as_str()
        .unwrap()
        .to_owned();
    let accounts = MemoryAccounts::new(HUB)
        .with(
            HUB,
            "eu-west-1",
            Memory::new(HUB).with_repository(REPO, Some(PUBLIC)),
        )
        .with(
            SPOKE,
            "eu-west-1",
            Memory::new(SPOKE).with_repository(REPO, Some(&offending)),
        );
    let alerts = Memory::new(HUB);
    let positions = MemoryPositions::default();
    let incident = handled(&text, Mode::Revert, hub(&accounts, &alerts, &positions)).await;
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let spoke_policy = accounts
        .registry(SPOKE, "eu-west-1")
        .unwrap()
        .policy(REPO)
        .flatten()
        .unwrap();
    assert!(RuleConfig::default().passes(&spoke_policy, Owner::Account(SPOKE)));
    // The hub's own repository of the same name keeps its (non-compliant) policy.
    assert_eq!(
        accounts.registry(HUB, "eu-west-1").unwrap().policy(REPO),
        Some(Some(PUBLIC.to_owned()))
    );
    // Reached in the event's account and region, the session naming the event.
    assert_eq!(
        accounts.scopes(),
        [(
            SPOKE.to_owned(),
            "eu-west-1".to_owned(),
            "c861f3a5-f201-4a49-8ac8-58bb4cca838c".to_owned()
        )]
    );
    let published = alerts.alerts();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].document["account"], SPOKE);
    assert_eq!(published[0].document["action"], "reverted");
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_is_a_failed_revert_alert_and_alert_mode_needs_no_role() {
    let text = event_in(SPOKE);
    let accounts = MemoryAccounts::new(HUB).deny(SPOKE, denied());
    let alerts = Memory::new(HUB);
    let positions = MemoryPositions::default();
    let incident = handled(&text, Mode::Revert, hub(&accounts, &alerts, &positions)).await;
    assert_eq!(incident.taken, Taken::RevertFailed);
    let detail = incident.detail.as_deref().unwrap();
    assert!(
        detail.starts_with("could not read the live policy: sts:AssumeRole was denied: `arn:aws:iam::222222222222:role/ecr-policy-guard-spoke`"),
        "{detail}"
    );
    let published = alerts.alerts();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].document["action"], "revert-failed");
    assert_eq!(published[0].document["detail"], detail);

    // Alert mode makes no ECR call, so the denial does not matter: the alert goes out.
    let incident = handled(&text, Mode::Alert, hub(&accounts, &alerts, &positions)).await;
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(alerts.alerts().len(), 2);
}

/// Two accounts in two regions, three repositories each: one public, two compliant.
fn organization() -> MemoryAccounts {
    let compliant =
        ecr_policy_guard_core::remedy::default_baseline(HUB, &RuleConfig::default()).to_json_text();
    let mut accounts = MemoryAccounts::new(HUB);
    for account in [HUB, SPOKE] {
        for region in ["eu-west-1", "us-east-1"] {
            let compliant = compliant.replace(HUB, account);
            let memory = Memory::new(account)
                .with_repository("a", Some(&compliant))
                .with_repository("b", Some(PUBLIC))
                .with_repository("c", Some(&compliant));
            accounts = accounts.with(account, region, memory);
        }
    }
    accounts
}

fn sweep_config(mode: Mode) -> Config {
    Config {
        scan_accounts: ScanAccounts::Listed(vec![HUB.into(), SPOKE.into()]),
        scan_regions: vec!["eu-west-1".into(), "us-east-1".into()],
        ..hub_config(mode)
    }
}

#[tokio::test]
async fn a_sweep_reports_each_account_and_region_in_one_summary() {
    let accounts = organization();
    let alerts = Memory::new(HUB);
    let positions = MemoryPositions::default();
    let scheduled = json!({"version": "0", "id": "s-1", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": HUB, "region": "eu-west-1", "detail": {}});
    let never = || false;
    let Invocation::Sweep(report) = invoke_hub(
        &scheduled.to_string(),
        &sweep_config(Mode::Revert),
        hub(&accounts, &alerts, &positions),
        &never,
    )
    .await
    .unwrap() else {
        panic!("a scheduled event must sweep")
    };
    let targets: Vec<(Option<&str>, &str, usize, usize)> = report
        .reports
        .iter()
        .map(|r| {
            (
                r.account.as_deref(),
                r.region.as_str(),
                r.scanned,
                r.reverted,
            )
        })
        .collect();
    assert_eq!(
        targets,
        [
            (Some(HUB), "eu-west-1", 3, 1),
            (Some(HUB), "us-east-1", 3, 1),
            (Some(SPOKE), "eu-west-1", 3, 1),
            (Some(SPOKE), "us-east-1", 3, 1),
        ]
    );
    assert!(report.complete && report.unreachable.is_empty());
    assert_eq!(
        (
            report.totals.scanned,
            report.totals.non_compliant,
            report.totals.reverted
        ),
        (12, 4, 4)
    );
    // The session names the scan; every target reached once, in order.
    let scopes = accounts.scopes();
    assert_eq!(scopes.len(), 4);
    assert!(scopes.iter().all(|(_, _, s)| s == "scan-s-1"), "{scopes:?}");
    // One alert per revert and one summary.
    let published = alerts.alerts();
    assert_eq!(published.len(), 5);
    let summary = published.last().unwrap();
    assert_eq!(summary.document["action"], "scan-summary");
    assert_eq!(
        summary.subject,
        "ecr-policy-guard SCAN: 4 of 12 repositories non-compliant in 2 accounts and 2 regions"
    );
    for line in [
        "  111111111111 eu-west-1: 3 checked, 1 non-compliant, 1 reverted",
        "  222222222222 us-east-1: 3 checked, 1 non-compliant, 1 reverted",
        "  - 222222222222 eu-west-1 b (deny-by-default-required, no-wildcard-principal): reverted",
        "Every target was scanned (12 repositories in all).",
    ] {
        assert!(summary.email.contains(line), "{line}\n{}", summary.email);
    }
    assert!(positions.saved().is_empty(), "{:?}", positions.saved());
}

#[tokio::test]
async fn a_stopped_sweep_resumes_in_the_target_and_after_the_repository_it_stopped_at() {
    let accounts = organization();
    let alerts = Memory::new(HUB);
    let positions = MemoryPositions::default();
    let hub = hub(&accounts, &alerts, &positions);
    let config = sweep_config(Mode::Alert);
    // Each target holds 3 repositories, one chunk. `should_stop` is asked before each target,
    // before its registry-level doors and before each chunk: the ninth question is the third
    // target's first chunk, where this run stops.
    let checks = std::sync::atomic::AtomicUsize::new(0);
    let stop_at_third = || checks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 8;
    let first = sweep(&config, hub, "scan", &stop_at_third).await.unwrap();
    assert!(!first.complete);
    assert_eq!(first.reports.len(), 3, "{first:#?}");
    assert_eq!(first.resume_at.as_deref(), Some("222222222222/eu-west-1"));
    assert_eq!(
        positions.saved(),
        [("".to_owned(), "222222222222/eu-west-1".to_owned())].into()
    );
    assert!(
        alerts.alerts()[0]
            .subject
            .starts_with("ecr-policy-guard SCAN (partial): ")
    );

    // A position part-way into a target, as a stop inside it leaves it.
    positions.set("222222222222/eu-west-1", "a");
    let never = || false;
    let second = sweep(&config, hub, "scan", &never).await.unwrap();
    assert_eq!(second.started_at.as_deref(), Some("222222222222/eu-west-1"));
    assert!(second.complete);
    let resumed: Vec<(&str, Option<&str>, usize)> = second
        .reports
        .iter()
        .map(|r| (r.region.as_str(), r.started_after.as_deref(), r.scanned))
        .collect();
    assert_eq!(
        resumed,
        [("eu-west-1", Some("a"), 2), ("us-east-1", None, 3)]
    );
    assert!(positions.saved().is_empty(), "{:?}", positions.saved());
}

#[tokio::test]
async fn a_target_that_cannot_be_reached_is_named_in_the_summary_and_the_sweep_goes_on() {
    let accounts = organization().deny(SPOKE, denied());
    let alerts = Memory::new(HUB);
    let positions = MemoryPositions::default();
    let config = Config {
        scan_accounts: ScanAccounts::Organization,
        ..sweep_config(Mode::Alert)
    };
    let never = || false;
    let report = sweep(&config, hub(&accounts, &alerts, &positions), "scan", &never)
        .await
        .unwrap();
    assert_eq!(report.reports.len(), 2);
    let unreachable: Vec<(&str, &str)> = report
        .unreachable
        .iter()
        .map(|u| (u.account.as_str(), u.region.as_str()))
        .collect();
    assert_eq!(unreachable, [(SPOKE, "eu-west-1"), (SPOKE, "us-east-1")]);
    assert!(
        report.unreachable[0]
            .error
            .contains("sts:AssumeRole was denied")
    );
    let summary = &alerts.alerts()[0];
    assert_eq!(summary.document["severity"], "high");
    assert!(
        summary
            .email
            .contains("  222222222222 us-east-1: NOT SCANNED: sts:AssumeRole was denied"),
        "{}",
        summary.email
    );
    assert!(
        summary.email.contains("2 targets were not scanned"),
        "{}",
        summary.email
    );
}

#[tokio::test]
async fn a_failed_summary_publish_fails_the_invocation() {
    // The sweep's own failures (its position, its summary) fail the invocation, as the scan's do.
    let accounts = organization();
    let alerts = ecr_policy_guard::adapters::memory::Recorded::new(Memory::new(HUB));
    alerts.fail_next(
        "sns:Publish",
        PortError::Transient {
            operation: "sns:Publish",
            message: "throttled".into(),
        },
    );
    let positions = MemoryPositions::default();
    let hub = Hub {
        accounts: &accounts,
        notifier: &alerts,
        positions: &positions,
        region: "eu-west-1",
    };
    let never = || false;
    let err = sweep(&sweep_config(Mode::Alert), hub, "scan", &never)
        .await
        .unwrap_err();
    assert!(matches!(err, AppError::Retry(PortError::Transient { .. })));
}
