//! The handler end to end against moto server through the real SDK adapters (CloudTrail's
//! `LookupEvents`, which moto lacks, through aws-smithy-mocks).

use crate::support::{self, ACCOUNT, Aws, attribute, document, event, event_policy};
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsOutput;
use aws_sdk_cloudtrail::types::Event as TrailEvent;
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::{CloudTrailHistory, EcrRegistry};
use ecr_policy_guard::app::{AppError, handle};
use ecr_policy_guard_core::policy::same_document;
use ecr_policy_guard_core::remedy::{default_baseline, derive};
use ecr_policy_guard_core::{Action, Mode, Owner, Policy, RuleConfig, Taken, evaluate};
use serde_json::{Value, json};

fn config(mode: Mode) -> Config {
    Config {
        mode,
        ..Config::default()
    }
}

fn expected_derived(offending: &str) -> String {
    derive(
        &Policy::parse(offending).unwrap(),
        ACCOUNT,
        &RuleConfig::default(),
    )
    .to_json_text()
}

fn passes(text: &str) -> bool {
    RuleConfig::default().passes(text, Owner::Account(ACCOUNT))
}

/// Creates the repository and applies the event's policy to it, as the caller did.
async fn apply(aws: &Aws, event: &Value, repository: &str) {
    aws.create_repository(repository).await;
    aws.set_policy(repository, &event_policy(event)).await;
}

/// A test's resources, and a sample event re-targeted at `t-<name>/repo` and already applied.
async fn scenario(name: &str, file: &str) -> (Aws, String, Value) {
    let aws = Aws::new(name, true).await;
    let repo = format!("t-{name}/repo");
    let ev = event(file, &repo);
    apply(&aws, &ev, &repo).await;
    (aws, repo, ev)
}

#[tokio::test]
async fn a_compliant_change_makes_no_call_and_sends_no_alert() {
    let aws = Aws::new("compliant", true).await;
    let ev = event("set-policy-compliant-push-pull.json", "t-compliant/web");
    apply(&aws, &ev, "t-compliant/web").await;
    let incident = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Nothing);
    assert_eq!(incident.outcome.unwrap().action, Action::None);
    assert_eq!(aws.registry_calls(), (0, 0));
    assert_eq!(
        (aws.history.calls().len(), aws.notifier.calls().len()),
        (0, 0)
    );
    assert!(aws.alerts().await.is_empty());
}

#[tokio::test]
async fn a_root_grant_in_alert_mode_leaves_the_policy_and_sends_one_alert() {
    let (aws, repo, ev) = scenario("root-alert", "set-policy-cross-account-root.json").await;
    let repo = repo.as_str();
    let before = aws.live_policy(repo).await;
    let incident = handle(&ev.to_string(), &config(Mode::Alert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(aws.live_policy(repo).await, before);
    assert_eq!(aws.registry_calls(), (0, 0));

    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    let n = &alerts[0];
    assert_eq!(
        n["Subject"],
        format!("ecr-policy-guard ALERT: {repo} in {ACCOUNT}")
    );
    assert_eq!(attribute(n, "action"), "alerted");
    assert_eq!(attribute(n, "severity"), "high");
    // Its deny exempts the same foreign account, so it is no deny-by-default either.
    assert_eq!(
        attribute(n, "rules"),
        r#"["deny-by-default-required","no-root-principal"]"#
    );
    assert_eq!(attribute(n, "repository"), repo);
    assert_eq!(attribute(n, "account"), ACCOUNT);
    assert_eq!(n["MessageAttributes"]["rules"]["Type"], "String.Array");
    let doc = document(n);
    assert_eq!(doc["schema_version"], 1);
    assert_eq!(doc["action"], "alerted");
    assert_eq!(doc["mode"], "alert");
    assert_eq!(doc["region"], "eu-west-1");
    assert_eq!(
        doc["repository_arn"],
        format!("arn:aws:ecr:eu-west-1:{ACCOUNT}:repository/{repo}")
    );
    assert_eq!(doc["event"]["id"], ev["detail"]["eventID"]);
    assert_eq!(doc["event"]["time"], ev["detail"]["eventTime"]);
    assert_eq!(doc["actor"], ev["detail"]["userIdentity"]["arn"]);
    assert_eq!(doc["source_ip"], ev["detail"]["sourceIPAddress"]);
    assert_eq!(doc["violations"][0]["rule"], "no-root-principal");
    assert_eq!(
        doc["violations"][0]["principal"],
        "arn:aws:iam::987654321098:root"
    );
    assert_eq!(doc["offending_policy"], event_policy(&ev));
    assert_eq!(doc["restored_policy"], Value::Null);
}

#[tokio::test]
async fn revert_mode_writes_the_derived_policy_when_history_is_unavailable() {
    let (aws, repo, ev) = scenario("root-revert", "set-policy-cross-account-root.json").await;
    let repo = repo.as_str();
    let incident = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    let live = aws.live_policy(repo).await.unwrap();
    assert!(same_document(&live, &expected_derived(&event_policy(&ev))));
    assert!(passes(&live));
    assert!(!live.contains(":root"));
    assert_eq!(aws.registry.count("ecr:SetRepositoryPolicy"), 1);

    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    let doc = document(&alerts[0]);
    assert_eq!(attribute(&alerts[0], "action"), "reverted");
    assert_eq!(doc["restored_from"]["kind"], "derived-from-offending");
    // moto has no LookupEvents: the fallback says why.
    assert!(
        doc["restore_note"]
            .as_str()
            .unwrap()
            .contains("CloudTrail history unavailable")
    );
    assert!(same_document(
        doc["restored_policy"].as_str().unwrap(),
        &live
    ));

    // The guard's own write, fed back as an event, is compliant: a fixed point in one step.
    let mut own = ev.clone();
    own["detail"]["requestParameters"]["policyText"] = live.clone().into();
    own["detail"]["responseElements"]["policyText"] = live.into();
    own["detail"]["eventID"] = "guard-own-write".into();
    let outcome = evaluate(&own.to_string(), &RuleConfig::default(), Mode::Revert).unwrap();
    assert_eq!(outcome.action, Action::None, "{}", outcome.reason);
    let incident = handle(&own.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Nothing);
    assert_eq!(aws.registry.count("ecr:SetRepositoryPolicy"), 1);
    assert!(aws.alerts().await.is_empty());
}

#[tokio::test]
async fn a_deleted_compliant_policy_is_restored() {
    let aws = Aws::new("deleted", true).await;
    let repo = "t-deleted/reports";
    let ev = event("delete-repository-policy.json", repo);
    let deleted = event_policy(&ev);
    assert!(
        passes(&deleted),
        "the sample's deleted policy should be compliant"
    );
    apply(&aws, &ev, repo).await;
    aws.delete_policy(repo).await;
    let incident = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    assert!(same_document(
        &aws.live_policy(repo).await.unwrap(),
        &deleted
    ));
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        document(&alerts[0])["restored_from"]["kind"],
        "deleted-policy"
    );
    assert_eq!(attribute(&alerts[0], "severity"), "medium");
}

#[tokio::test]
async fn a_new_repository_gets_the_baseline() {
    let aws = Aws::new("created", true).await;
    let repo = "t-created/ledger";
    let ev = event("create-repository.json", repo);
    aws.create_repository(repo).await;
    let incident = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    let live = aws.live_policy(repo).await.unwrap();
    let baseline = default_baseline(ACCOUNT, &RuleConfig::default()).to_json_text();
    assert_eq!(live, baseline, "ECR (moto) stores the text verbatim");
    let alerts = aws.alerts().await;
    assert_eq!(document(&alerts[0])["restored_from"]["kind"], "baseline");
}

#[tokio::test]
async fn a_stale_event_is_never_written() {
    let (aws, repo, ev) = scenario("stale", "set-policy-public-pull.json").await;
    let repo = repo.as_str();
    // Someone changes the policy again before the guard runs.
    let newer = default_baseline(ACCOUNT, &RuleConfig::default())
        .to_json_text()
        .replace("DenyByDefault", "Newer");
    aws.set_policy(repo, &newer).await;
    let incident = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::RevertSuperseded);
    assert_eq!(aws.registry.count("ecr:SetRepositoryPolicy"), 0);
    assert_eq!(aws.live_policy(repo).await.unwrap(), newer);
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(attribute(&alerts[0], "action"), "revert-superseded");
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_and_the_retry_alerts_without_writing_again() {
    let name = "retry";
    let aws = Aws::new(name, false).await;
    let repo = "t-retry/api";
    let ev = event("set-policy-bare-account-id.json", repo);
    apply(&aws, &ev, repo).await;
    let error = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap_err();
    let AppError::Retry(port) = &error;
    assert!(
        port.to_string().starts_with("sns:Publish failed"),
        "{error}"
    );
    assert_eq!(aws.registry.count("ecr:SetRepositoryPolicy"), 1);
    let live = aws.live_policy(repo).await.unwrap();
    assert!(passes(&live));

    aws.create_topic().await;
    let incident = handle(&ev.to_string(), &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::AlreadyReverted);
    assert_eq!(
        aws.registry.count("ecr:SetRepositoryPolicy"),
        1,
        "the retry must not write again"
    );
    assert_eq!(aws.live_policy(repo).await.unwrap(), live);
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(attribute(&alerts[0], "action"), "already-reverted");
}

#[tokio::test]
async fn a_malformed_event_is_alerted_and_nothing_is_written() {
    let aws = Aws::new("malformed", true).await;
    let text = r#"{"detail-type": "AWS API Call via CloudTrail", "source": "aws.ecr", "detail": {"eventSource": "ecr.amazonaws.com", "eventName": "SetRepositoryPolicy", "eventName": "PutImage"}}"#;
    let incident = handle(text, &config(Mode::Revert), aws.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::MalformedEvent);
    assert_eq!(aws.registry_calls(), (0, 0));
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(attribute(&alerts[0], "action"), "malformed-event");
    assert_eq!(attribute(&alerts[0], "severity"), "high");
    assert!(
        document(&alerts[0])["detail"]
            .as_str()
            .unwrap()
            .contains("duplicate key `eventName`")
    );
}

/// A CloudTrail record as `LookupEvents` returns it in `CloudTrailEvent`.
fn trail_record(id: &str, time: &str, repository: &str, policy: &str) -> TrailEvent {
    let record = json!({
        "eventVersion": "1.08", "eventSource": "ecr.amazonaws.com", "eventName": "SetRepositoryPolicy",
        "eventID": id, "eventTime": time, "awsRegion": "eu-west-1", "recipientAccountId": ACCOUNT,
        "userIdentity": {"arn": format!("arn:aws:iam::{ACCOUNT}:user/alice")},
        "requestParameters": {"repositoryName": repository, "policyText": policy},
    });
    TrailEvent::builder()
        .event_id(id)
        .cloud_trail_event(record.to_string())
        .build()
}

#[tokio::test]
async fn history_is_searched_page_by_page_for_the_last_compliant_policy() {
    let (aws, repo, ev) = scenario("history", "set-policy-public-pull.json").await;
    let repo = repo.as_str();
    let compliant = default_baseline(ACCOUNT, &RuleConfig::default())
        .to_json_text()
        .replace("DenyByDefault", "FromHistory");
    let offending = event_policy(&ev);
    let page1 = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .match_requests(|r| r.next_token().is_none() && r.end_time().is_some())
        .then_output(move || {
            LookupEventsOutput::builder()
                .events(trail_record(
                    "other-repo",
                    "2026-11-19T10:00:00Z",
                    "t-history/other",
                    &default_baseline(ACCOUNT, &RuleConfig::default()).to_json_text(),
                ))
                .events(trail_record(
                    "earlier-violation",
                    "2026-11-19T09:00:00Z",
                    "t-history/repo",
                    r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#,
                ))
                .next_token("page-2")
                .build()
        });
    let compliant_record = compliant.clone();
    let page2 = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .match_requests(|r| r.next_token() == Some("page-2"))
        .then_output(move || {
            LookupEventsOutput::builder()
                .events(trail_record(
                    "last-good",
                    "2026-11-18T09:00:00Z",
                    "t-history/repo",
                    &compliant_record,
                ))
                .events(trail_record(
                    "older-good",
                    "2026-11-17T09:00:00Z",
                    "t-history/repo",
                    &offending,
                ))
                .build()
        });
    let history = CloudTrailHistory {
        client: mock_client!(aws_sdk_cloudtrail, RuleMode::Sequential, [&page1, &page2]),
    };
    let ports = aws.with_history(&history);
    let incident = handle(&ev.to_string(), &config(Mode::Revert), ports)
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    assert_eq!((page1.num_calls(), page2.num_calls()), (1, 1));
    assert_eq!(aws.live_policy(repo).await.unwrap(), compliant);
    let doc = document(&aws.alerts().await[0]);
    assert_eq!(doc["restored_from"]["kind"], "cloudtrail-history");
    assert_eq!(doc["restored_from"]["event_id"], "last-good");
}

#[tokio::test]
async fn a_history_error_falls_back_to_the_derived_policy() {
    let (aws, repo, ev) = scenario("history-error", "set-policy-public-pull.json").await;
    let repo = repo.as_str();
    let failing = mock!(aws_sdk_cloudtrail::Client::lookup_events)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"AccessDeniedException","message":"no"}"#.into()),
        )
        .repeatedly()
        .build();
    let history = CloudTrailHistory {
        client: mock_client!(aws_sdk_cloudtrail, RuleMode::MatchAny, [&failing]),
    };
    let ports = aws.with_history(&history);
    let incident = handle(&ev.to_string(), &config(Mode::Revert), ports)
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted);
    assert!(same_document(
        &aws.live_policy(repo).await.unwrap(),
        &expected_derived(&event_policy(&ev))
    ));
    let doc = document(&aws.alerts().await[0]);
    assert_eq!(doc["restored_from"]["kind"], "derived-from-offending");
    let note = doc["restore_note"].as_str().unwrap();
    assert!(
        note.contains("cloudtrail:LookupEvents was denied"),
        "{note}"
    );
}

#[tokio::test]
async fn access_denied_on_write_is_alerted_as_a_failed_revert() {
    let aws = Aws::new("denied", true).await;
    let ev = event("set-policy-cross-account-root.json", "t-denied/base");
    let offending = event_policy(&ev);
    let get = mock!(aws_sdk_ecr::Client::get_repository_policy).then_output(move || {
        aws_sdk_ecr::operation::get_repository_policy::GetRepositoryPolicyOutput::builder()
            .policy_text(offending.clone())
            .build()
    });
    let set = mock!(aws_sdk_ecr::Client::set_repository_policy)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"AccessDeniedException","message":"not authorized to perform ecr:SetRepositoryPolicy"}"#.into()),
        )
        .build();
    let registry = EcrRegistry {
        client: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&get, &set]),
    };
    let ports = aws.with_registry(&registry);
    let incident = handle(&ev.to_string(), &config(Mode::Revert), ports)
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::RevertFailed);
    assert_eq!(set.num_calls(), 1);
    let detail = incident.detail.unwrap();
    assert!(
        detail.contains("ecr:SetRepositoryPolicy was denied: AccessDeniedException"),
        "{detail}"
    );
    let alerts = aws.alerts().await;
    assert_eq!(attribute(&alerts[0], "action"), "revert-failed");
    assert!(
        alerts[0]["Subject"]
            .as_str()
            .unwrap()
            .starts_with("ecr-policy-guard REVERT FAILED: ")
    );
}

#[tokio::test]
async fn throttling_fails_the_invocation_so_lambda_retries_it() {
    let aws = Aws::new("throttled", true).await;
    let ev = event("set-policy-cross-account-root.json", "t-throttled/base");
    let get = mock!(aws_sdk_ecr::Client::get_repository_policy)
        .sequence()
        .http_status(
            400,
            Some(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.into()),
        )
        .repeatedly()
        .build();
    let registry = EcrRegistry {
        client: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&get]),
    };
    let ports = aws.with_registry(&registry);
    let error = handle(&ev.to_string(), &config(Mode::Revert), ports)
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("ecr:GetRepositoryPolicy failed (a retry may succeed): ThrottlingException"),
        "{error}"
    );
    assert!(
        aws.alerts().await.is_empty(),
        "nothing is published before the retry"
    );
}

fn cli(args: &[&str]) -> std::process::Output {
    support::cli_on(support::moto(), args)
}

#[tokio::test]
async fn handle_replays_an_event_through_the_handler_from_the_command_line() {
    let (aws, repo, ev) = scenario("cli-handle", "set-policy-public-pull.json").await;
    let repo = repo.as_str();
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-handle-event.json");
    std::fs::write(&file, ev.to_string()).unwrap();
    let file = file.to_string_lossy().into_owned();

    let out = cli(&[
        "handle",
        "--mode",
        "revert",
        "--topic-arn",
        &aws.topic_arn,
        &file,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("REVERTED SetRepositoryPolicy on `{repo}`")),
        "{stdout}"
    );
    assert!(
        stdout.contains("  did: restored the new policy with its violating grants removed"),
        "{stdout}"
    );
    assert!(passes(&aws.live_policy(repo).await.unwrap()));
    assert_eq!(aws.alerts().await.len(), 1);

    let out = cli(&["handle", &file]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no alert topic: pass --topic-arn or set `alert_topic_arn` in the config\n"
    );
}

#[tokio::test]
async fn alerts_reach_a_central_topic_in_another_region() {
    // The topic and its subscriber in eu-west-1; the guard runs in eu-central-1.
    let central = Aws::new("central-region", true).await;
    let sdk = support::moto().sdk_config("eu-central-1").await;
    let ports = ecr_policy_guard::adapters::aws::AwsPorts::new(
        &sdk,
        central.topic_arn.clone(),
        "/ecr-policy-guard/central-region".into(),
    );
    let ev = event("set-policy-cross-account-root.json", "t-central/repo");
    let incident = handle(&ev.to_string(), &config(Mode::Alert), ports.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    let alerts = central.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["TopicArn"], central.topic_arn);
}

#[tokio::test]
async fn handle_acts_in_the_events_region_and_refuses_credentials_of_another_account() {
    // The same repository name, with the same offending policy, in two regions.
    let (aws, repo, ev) = scenario("cli-region", "set-policy-public-pull.json").await;
    let other = aws_sdk_ecr::Client::new(&support::moto().sdk_config("eu-central-1").await);
    other
        .create_repository()
        .repository_name(&repo)
        .send()
        .await
        .unwrap();
    let offending = event_policy(&ev);
    other
        .set_repository_policy()
        .repository_name(&repo)
        .policy_text(&offending)
        .send()
        .await
        .unwrap();
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let file = dir.join("cli-region-event.json");
    std::fs::write(&file, ev.to_string()).unwrap();
    let file = file.to_string_lossy().into_owned();
    let args = [
        "handle",
        "--mode",
        "revert",
        "--topic-arn",
        &aws.topic_arn,
        &file,
    ];
    // AWS_REGION says eu-central-1; the event says eu-west-1, where the guard acts.
    let out = support::cli_in(support::moto(), "eu-central-1", &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("(eu-west-1)"), "{stdout}");
    assert!(passes(&aws.live_policy(&repo).await.unwrap()));
    let untouched = other
        .get_repository_policy()
        .repository_name(&repo)
        .send()
        .await
        .unwrap()
        .policy_text
        .unwrap();
    assert_eq!(
        untouched, offending,
        "the other region's repository was touched"
    );

    // An event from another account is refused: the credentials act in moto's account.
    let mut foreign = ev.clone();
    foreign["detail"]["recipientAccountId"] = "210987654321".into();
    foreign["account"] = "210987654321".into();
    let file = dir.join("cli-foreign-event.json");
    std::fs::write(&file, foreign.to_string()).unwrap();
    let out = cli(&[
        "handle",
        "--mode",
        "revert",
        "--topic-arn",
        &aws.topic_arn,
        &file.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the event is from account 210987654321, but the AWS credentials act in account 123456789012: use credentials for account 210987654321, or give --spoke-role-name to act through the spoke role there\n"
    );
    assert!(out.stdout.is_empty());
}
