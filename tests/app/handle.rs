//! The application services on in-memory ports: every revert rule (target choice, staleness,
//! idempotent retries, failures) and the scan, without an emulator. The same paths against the
//! real SDK adapters on moto are in tests/moto/.

use crate::sample;
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::memory::{Memory, Recorded};
use ecr_policy_guard::app::{AppError, Invocation, handle, invoke, scan};
use ecr_policy_guard::ports::{PortError, Ports};
use ecr_policy_guard_core::policy::{MAX_POLICY_CHARS, same_document};
use ecr_policy_guard_core::remedy::{TargetSource, default_baseline};
use ecr_policy_guard_core::{Mode, Owner, RuleConfig, Taken};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

fn config(mode: Mode) -> Config {
    Config {
        mode,
        ..Config::default()
    }
}

/// A sample event, its repository, and a registry where the event's change has been made.
fn applied(file: &str) -> (String, String, Recorded<Memory>) {
    let text = sample(file);
    let event: Value = serde_json::from_str(&text).unwrap();
    let detail = &event["detail"];
    let repository = detail["requestParameters"]["repositoryName"]
        .as_str()
        .unwrap()
        .to_owned();
    let live = match detail["eventName"].as_str() {
        Some("SetRepositoryPolicy") => detail["requestParameters"]["policyText"].as_str(),
        _ => None,
    };
    let memory = Memory::new(ACCOUNT).with_repository(&repository, live);
    (text, repository, Recorded::new(memory))
}

fn passes(text: &str) -> bool {
    RuleConfig::default().passes(text, Owner::Account(ACCOUNT))
}

fn throttled(operation: &'static str) -> PortError {
    PortError::Transient {
        operation,
        message: "ThrottlingException (HTTP 400): Rate exceeded".into(),
    }
}

#[tokio::test]
async fn a_compliant_change_makes_no_call_and_sends_no_alert() {
    let (event, _, aws) = applied("set-policy-compliant-push-pull.json");
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Nothing);
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

#[tokio::test]
async fn alert_mode_publishes_once_and_touches_nothing() {
    let (event, repo, aws) = applied("set-policy-cross-account-root.json");
    let before = aws.inner.policy(&repo);
    let incident = handle(&event, &config(Mode::Alert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    let calls: Vec<&str> = aws.calls().iter().map(|c| c.operation).collect();
    assert_eq!(calls, ["sns:Publish"]);
    assert_eq!(aws.inner.policy(&repo), before);
    let alerts = aws.inner.alerts();
    assert_eq!(alerts[0].document["action"], "alerted");
}

#[tokio::test]
async fn revert_writes_the_derived_policy_and_its_own_write_is_compliant() {
    let (event, repo, aws) = applied("set-policy-public-pull.json");
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    let target = incident.target.unwrap();
    assert_eq!(target.source, TargetSource::DerivedFromOffending);
    assert_eq!(
        target.note.as_deref(),
        Some("no earlier compliant policy of this repository in CloudTrail history")
    );
    let live = aws.inner.policy(&repo).flatten().unwrap();
    assert_eq!(live, target.policy_text);
    assert!(passes(&live));
    let calls: Vec<&str> = aws.calls().iter().map(|c| c.operation).collect();
    assert_eq!(
        calls,
        [
            "ecr:GetRepositoryPolicy",
            "cloudtrail:LookupEvents",
            "ecr:SetRepositoryPolicy",
            "sns:Publish"
        ]
    );

    // The guard's own write, seen as the next event, is compliant: no loop.
    let mut own: Value = serde_json::from_str(&event).unwrap();
    own["detail"]["requestParameters"]["policyText"] = live.clone().into();
    own["detail"]["responseElements"]["policyText"] = live.clone().into();
    own["detail"]["eventID"] = "guard-own-write".into();
    let incident = handle(&own.to_string(), &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Nothing);
    assert_eq!(aws.count("ecr:SetRepositoryPolicy"), 1);
}

#[tokio::test]
async fn a_stale_event_is_never_written() {
    let (event, repo, aws) = applied("set-policy-public-pull.json");
    let newer = default_baseline(ACCOUNT, &RuleConfig::default())
        .to_json_text()
        .replace("DenyByDefault", "Newer");
    aws.inner.put(&repo, Some(&newer));
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::RevertSuperseded);
    assert_eq!(aws.count("ecr:SetRepositoryPolicy"), 0);
    assert_eq!(aws.inner.policy(&repo), Some(Some(newer)));
    assert_eq!(
        aws.inner.alerts()[0].document["action"],
        "revert-superseded"
    );

    // A deletion whose repository has a policy again is just as stale.
    let (event, repo, aws) = applied("delete-repository-policy.json");
    aws.inner.put(
        &repo,
        Some(
            &default_baseline(ACCOUNT, &RuleConfig::default())
                .to_json_text()
                .replace("DenyByDefault", "SetAfterTheDeletion"),
        ),
    );
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::RevertSuperseded);
    assert_eq!(aws.count("ecr:SetRepositoryPolicy"), 0);
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_and_the_retry_does_not_write_again() {
    let (event, repo, aws) = applied("set-policy-bare-account-id.json");
    aws.fail_next("sns:Publish", throttled("sns:Publish"));
    let error = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap_err();
    let AppError::Retry(port) = &error;
    assert!(port.is_transient(), "{error}");
    assert_eq!(aws.count("ecr:SetRepositoryPolicy"), 1);
    let live = aws.inner.policy(&repo).flatten().unwrap();
    assert!(passes(&live));
    assert!(aws.inner.alerts().is_empty());

    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::AlreadyReverted);
    assert_eq!(aws.count("ecr:SetRepositoryPolicy"), 1, "no second write");
    assert_eq!(aws.inner.policy(&repo).flatten().unwrap(), live);
    let alerts = aws.inner.alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].document["action"], "already-reverted");
}

/// A CloudTrail record as `LookupEvents` returns it.
fn record(id: &str, time: &str, repository: &str, policy: &str) -> String {
    json!({"eventSource": "ecr.amazonaws.com", "eventName": "SetRepositoryPolicy",
        "eventID": id, "eventTime": time, "awsRegion": "eu-west-1", "recipientAccountId": ACCOUNT,
        "requestParameters": {"repositoryName": repository, "policyText": policy}})
    .to_string()
}

#[tokio::test]
async fn history_is_searched_page_by_page_and_the_newest_earlier_compliant_policy_wins() {
    let (event, repo, _) = applied("set-policy-public-pull.json");
    let good = default_baseline(ACCOUNT, &RuleConfig::default())
        .to_json_text()
        .replace("DenyByDefault", "FromHistory");
    let public = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#;
    let pages = vec![
        vec![
            record("other-repo", "2026-11-19T10:00:00Z", "team/other", &good),
            record("earlier-violation", "2026-11-19T09:00:00Z", &repo, public),
        ],
        vec![
            record("last-good", "2026-11-18T09:00:00Z", &repo, &good),
            record("older-good", "2026-11-17T09:00:00Z", &repo, &good),
        ],
    ];
    let live = sample("set-policy-public-pull.json");
    let live: Value = serde_json::from_str(&live).unwrap();
    let live = live["detail"]["requestParameters"]["policyText"]
        .as_str()
        .unwrap();
    let aws = Recorded::new(
        Memory::new(ACCOUNT)
            .with_repository(&repo, Some(live))
            .with_history(pages),
    );
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    assert_eq!(aws.count("cloudtrail:LookupEvents"), 2);
    assert_eq!(
        incident.target.unwrap().source,
        TargetSource::CloudtrailHistory {
            event_id: Some("last-good".into()),
            event_time: Some("2026-11-18T09:00:00Z".into())
        }
    );
    assert_eq!(aws.inner.policy(&repo).flatten().unwrap(), good);
}

#[tokio::test]
async fn a_denied_write_is_alerted_as_a_failed_revert_and_throttling_is_retried() {
    let (event, repo, aws) = applied("set-policy-cross-account-root.json");
    let before = aws.inner.policy(&repo);
    aws.fail_next(
        "ecr:SetRepositoryPolicy",
        PortError::Denied {
            operation: "ecr:SetRepositoryPolicy",
            message: "AccessDeniedException (HTTP 400): not authorized".into(),
        },
    );
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::RevertFailed);
    assert!(
        incident.detail.unwrap().starts_with(
            "could not write the compliant policy: ecr:SetRepositoryPolicy was denied"
        )
    );
    assert_eq!(aws.inner.policy(&repo), before);
    assert_eq!(aws.inner.alerts()[0].document["action"], "revert-failed");

    let (event, _, aws) = applied("set-policy-cross-account-root.json");
    aws.fail_next(
        "ecr:GetRepositoryPolicy",
        throttled("ecr:GetRepositoryPolicy"),
    );
    let error = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ecr:GetRepositoryPolicy failed (a retry may succeed)")
    );
    assert!(
        aws.inner.alerts().is_empty(),
        "nothing is published before the retry"
    );
}

#[tokio::test]
async fn deletions_and_new_repositories_get_the_deleted_policy_or_the_baseline() {
    let (event, repo, aws) = applied("delete-repository-policy.json");
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    assert_eq!(incident.target.unwrap().source, TargetSource::DeletedPolicy);
    let deleted: Value = serde_json::from_str(&event).unwrap();
    let deleted = deleted["detail"]["responseElements"]["policyText"]
        .as_str()
        .unwrap();
    assert!(same_document(
        &aws.inner.policy(&repo).flatten().unwrap(),
        deleted
    ));

    let (event, repo, aws) = applied("create-repository.json");
    let incident = handle(&event, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    assert_eq!(
        aws.inner.policy(&repo).flatten().unwrap(),
        default_baseline(ACCOUNT, &RuleConfig::default()).to_json_text()
    );
}

#[tokio::test]
async fn a_scheduled_event_runs_the_scan_and_the_scan_resumes_where_it_stopped() {
    let public = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;
    let compliant = default_baseline(ACCOUNT, &RuleConfig::default()).to_json_text();
    let mut memory = Memory::new(ACCOUNT);
    for i in 0..10 {
        let policy = if i % 2 == 0 {
            Some(public)
        } else {
            Some(compliant.as_str())
        };
        memory = memory.with_repository(&format!("r-{i}"), policy);
    }
    let aws = Recorded::new(memory);
    let scheduled = json!({"version": "0", "id": "s-1", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": ACCOUNT, "region": "eu-west-1", "detail": {}});
    let never = || false;
    let Invocation::Scan(report) = invoke(
        &scheduled.to_string(),
        &config(Mode::Alert),
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap() else {
        panic!("a scheduled event must run the scan")
    };
    assert_eq!(
        (report.scanned, report.compliant, report.non_compliant),
        (10, 5, 5)
    );
    assert_eq!(report.region, "eu-west-1");
    assert_eq!(aws.count("ecr:SetRepositoryPolicy"), 0);
    // Alert mode: only the summary is published, and it lists the offenders as reported there.
    assert_eq!(aws.inner.alerts().len(), 1);
    assert!(report.offenders.iter().all(|o| o.taken == Taken::Reported));
    let email = &aws.inner.alerts()[0].email;
    assert!(
        email.contains("r-0 (no-wildcard-principal, deny-by-default-required): reported")
            || email.contains("r-0 (deny-by-default-required, no-wildcard-principal): reported"),
        "{email}"
    );
    assert!(email.contains("this summary is its only alert"), "{email}");

    // Revert mode, stopped after the first chunk of four, then resumed (the first question is
    // asked before the registry-level doors, then one before each chunk).
    let chunks = std::sync::atomic::AtomicUsize::new(0);
    let once = || chunks.fetch_add(1, std::sync::atomic::Ordering::SeqCst) >= 2;
    let first = scan(
        &config(Mode::Revert),
        Some("123456789012"),
        "eu-west-1",
        Ports::all(&aws),
        &once,
    )
    .await
    .unwrap();
    assert!(!first.complete);
    assert_eq!(first.resume_after.as_deref(), Some("r-3"));
    assert_eq!(aws.inner.position().as_deref(), Some("r-3"));
    let second = scan(
        &config(Mode::Revert),
        Some("123456789012"),
        "eu-west-1",
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap();
    assert_eq!(second.started_after.as_deref(), Some("r-3"));
    assert!(second.complete);
    assert_eq!(aws.inner.position(), None);
    assert_eq!(first.reverted + second.reverted, 5);
    for i in 0..10 {
        assert!(passes(
            &aws.inner.policy(&format!("r-{i}")).flatten().unwrap()
        ));
    }
}

#[tokio::test]
async fn a_long_stored_copy_is_judged_and_reverted_when_the_callers_copy_cannot_be_read() {
    let file = "set-policy-long-stored-copy-duplicate-key.json";
    let text = sample(file);
    let event: Value = serde_json::from_str(&text).unwrap();
    let repo = "platform/shared-builds";
    let stored = event["detail"]["responseElements"]["policyText"]
        .as_str()
        .unwrap();
    assert!(stored.chars().count() > MAX_POLICY_CHARS);
    // The repository holds ECR's copy, as it does after the call.
    let aws = Recorded::new(Memory::new(ACCOUNT).with_repository(repo, Some(stored)));
    let incident = handle(&text, &config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let outcome = incident.outcome.unwrap();
    assert!(outcome.copies_differ);
    assert!(
        outcome.reason.contains("judged on ECR's stored copy"),
        "{}",
        outcome.reason
    );
    let mut rules: Vec<String> = outcome
        .violations
        .iter()
        .map(|v| v.rule.to_string())
        .collect();
    rules.sort();
    assert_eq!(rules, ["deny-by-default-required", "no-wildcard-principal"]);
    // What the guard writes is held to the caller's limit, and keeps the 45 role grants.
    let live = aws.inner.policy(repo).flatten().unwrap();
    assert!(live.chars().count() <= MAX_POLICY_CHARS, "{}", live.len());
    assert!(passes(&live), "{live}");
    assert!(!live.contains("AllowPublicPull"));
    assert!(live.contains("role/service-044-pull"));
}

/// A policy of 45 role grants (and, when `public`, a public pull) without a line of it under
/// ECR's limit once pretty-printed: a live policy as ECR may return it.
fn long_live_policy(public: bool) -> String {
    let pull = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ];
    let mut statements: Vec<Value> = (0..45)
        .map(|i| {
            json!({"Sid": format!("AllowPullForService{i:03}"), "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/service-{i:03}-pull")},
                "Action": pull})
        })
        .collect();
    if public {
        statements.push(
            json!({"Sid": "AllowPublicPull", "Effect": "Allow", "Principal": "*", "Action": pull}),
        );
    }
    let baseline: Value =
        serde_json::from_str(&default_baseline(ACCOUNT, &RuleConfig::default()).to_json_text())
            .unwrap();
    statements.push(baseline["Statement"][0].clone());
    let text =
        serde_json::to_string_pretty(&json!({"Version": "2012-10-17", "Statement": statements}))
            .unwrap();
    assert!(text.chars().count() > MAX_POLICY_CHARS, "{}", text.len());
    text
}

/// One whole scan of the account's repositories in `mode`.
async fn scan_all(mode: Mode, aws: &Recorded<Memory>) -> ecr_policy_guard_core::ScanReport {
    let never = || false;
    scan(
        &config(mode),
        Some(ACCOUNT),
        "eu-west-1",
        Ports::all(aws),
        &never,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_scan_judges_live_policies_longer_than_a_caller_may_send() {
    let compliant = long_live_policy(false);
    let public = long_live_policy(true);
    let memory = Memory::new(ACCOUNT)
        .with_repository("long-compliant", Some(&compliant))
        .with_repository("long-public", Some(&public));
    let aws = Recorded::new(memory);
    let report = scan_all(Mode::Alert, &aws).await;
    assert_eq!(
        (report.scanned, report.compliant, report.non_compliant),
        (2, 1, 1)
    );
    assert!(report.unchecked.is_empty(), "{:?}", report.unchecked);
    assert_eq!(
        report.by_rule.get("invalid-policy"),
        None,
        "{:?}",
        report.by_rule
    );
    assert_eq!(report.by_rule.get("no-wildcard-principal"), Some(&1));

    let report = scan_all(Mode::Revert, &aws).await;
    assert_eq!(report.reverted, 1);
    let live = aws.inner.policy("long-public").flatten().unwrap();
    assert!(live.chars().count() <= MAX_POLICY_CHARS);
    assert!(passes(&live) && !live.contains("AllowPublicPull"), "{live}");
    assert!(live.contains("role/service-044-pull"));
    // The compliant one is left as ECR holds it.
    assert_eq!(
        aws.inner.policy("long-compliant").flatten(),
        Some(compliant)
    );
}
