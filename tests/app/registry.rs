//! The registry-level doors on in-memory ports: the registry policy, creation templates and
//! replication, each handled from its sample event in alert and revert mode (history, derived
//! state, deletion, staleness), and the scan's registry section. The same doors against the
//! real SDK adapters: tests/moto/registry.rs (moto) and the creation templates through
//! aws-smithy-mocks in tests/moto/templates.rs.

use crate::sample;
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::memory::{Memory, Recorded};
use ecr_policy_guard::app::{handle, scan};
use ecr_policy_guard::ports::{PortError, Ports, ScanState};
use ecr_policy_guard_core::policy::MAX_POLICY_CHARS;
use ecr_policy_guard_core::registry::{CreationTemplate, Replication};
use ecr_policy_guard_core::remedy::TargetSource;
use ecr_policy_guard_core::{Mode, Owner, Policy, Taken};
use serde_json::{Value, json};

const ACCOUNT: &str = "123456789012";

/// The samples' own config (events/guard.toml: 111122223333 allowlisted for root grants and
/// replication), in `mode`.
fn sample_config(mode: Mode) -> Config {
    let mut config = Config::from_toml(&sample("guard.toml")).unwrap();
    config.mode = mode;
    config
}

fn detail(file: &str) -> Value {
    let event: Value = serde_json::from_str(&sample(file)).unwrap();
    event["detail"].clone()
}

fn operations(aws: &Recorded<Memory>) -> Vec<&'static str> {
    aws.calls().iter().map(|c| c.operation).collect()
}

/// A registry where `put-registry-policy-cross-account-root.json` has just been made.
fn registry_after_put() -> (String, String, Recorded<Memory>) {
    let event = sample("put-registry-policy-cross-account-root.json");
    let live =
        detail("put-registry-policy-cross-account-root.json")["requestParameters"]["policyText"]
            .as_str()
            .unwrap()
            .to_owned();
    let aws = Recorded::new(Memory::new(ACCOUNT).with_registry_policy(Some(&live)));
    (event, live, aws)
}

#[tokio::test]
async fn a_registry_policy_granting_a_foreign_root_is_alerted_with_its_resources() {
    let (event, live, aws) = registry_after_put();
    let incident = handle(&event, &sample_config(Mode::Alert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(operations(&aws), ["sns:Publish"]);
    assert_eq!(aws.inner.registry_policy().as_deref(), Some(live.as_str()));
    let alert = &aws.inner.alerts()[0];
    assert_eq!(alert.document["subject"], "registry-policy");
    let repository = alert.attributes.iter().find(|a| a.0 == "repository");
    assert_eq!(repository.map(|a| a.2.as_str()), Some("*"));
    let violation = &alert.document["violations"][0];
    assert_eq!(violation["rule"], "no-root-principal");
    assert_eq!(
        violation["resources"],
        json!(["arn:aws:ecr:eu-west-1:123456789012:repository/*"])
    );
    assert!(
        alert.subject.contains("registry policy"),
        "{}",
        alert.subject
    );
    assert!(alert.email.contains("registry policy"), "{}", alert.email);
}

#[tokio::test]
async fn a_registry_policy_is_reverted_to_the_last_compliant_one_from_history() {
    let (event, _, aws) = registry_after_put();
    let good = r#"{"Version":"2012-10-17","Statement":[{"Sid":"FromHistory","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:ReplicateImage","Resource":"arn:aws:ecr:eu-west-1:123456789012:repository/*"}]}"#;
    let bad = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*"}]}"#;
    let record = |id: &str, time: &str, call: &str, policy: &str| {
        json!({"eventSource": "ecr.amazonaws.com", "eventName": call, "eventID": id,
            "eventTime": time, "awsRegion": "eu-west-1", "recipientAccountId": ACCOUNT,
            "requestParameters": {"policyText": policy}})
        .to_string()
    };
    aws.inner.record_history(vec![
        record(
            "earlier-public",
            "2026-11-20T09:00:00Z",
            "PutRegistryPolicy",
            bad,
        ),
        // A repository policy's record is not a registry policy, however compliant.
        record(
            "repository",
            "2026-11-19T09:00:00Z",
            "SetRepositoryPolicy",
            good,
        ),
        record(
            "last-good",
            "2026-11-18T09:00:00Z",
            "PutRegistryPolicy",
            good,
        ),
    ]);
    let incident = handle(&event, &sample_config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    assert_eq!(
        incident.target.unwrap().source,
        TargetSource::CloudtrailHistory {
            event_id: Some("last-good".into()),
            event_time: Some("2026-11-18T09:00:00Z".into())
        }
    );
    assert_eq!(aws.inner.registry_policy().as_deref(), Some(good));
    assert_eq!(aws.count("ecr:PutRegistryPolicy"), 1);
    assert_eq!(aws.count("sns:Publish"), 1);
}

#[tokio::test]
async fn without_history_the_offending_statement_goes_and_with_nothing_left_the_policy_is_deleted()
{
    // The samples' config allowlists 111122223333: its replication statement stays.
    let (event, _, aws) = registry_after_put();
    let incident = handle(&event, &sample_config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let written = aws.inner.registry_policy().unwrap();
    let scope = ecr_policy_guard_core::policy::RegistryScope {
        account: Some(ACCOUNT),
        region: Some("eu-west-1"),
    };
    let policy = Policy::parse_registry(&written, scope).unwrap();
    assert_eq!(policy.statements.len(), 1, "{written}");
    assert!(written.contains("DrReplication"), "{written}");
    let rules = sample_config(Mode::Revert).rules;
    assert!(
        rules
            .check_registry(&policy, Owner::Account(ACCOUNT))
            .is_empty()
    );

    // With no allowlist both statements grant a whole account: nothing is left, so the
    // registry policy is deleted (no registry policy grants nothing).
    let (event, _, aws) = registry_after_put();
    let config = Config {
        mode: Mode::Revert,
        ..Config::default()
    };
    let incident = handle(&event, &config, Ports::all(&aws)).await.unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    assert_eq!(aws.inner.registry_policy(), None);
    assert_eq!(aws.count("ecr:DeleteRegistryPolicy"), 1);
    assert_eq!(aws.count("ecr:PutRegistryPolicy"), 0);
    let alert = &aws.inner.alerts()[0];
    assert!(
        alert.email.contains("deleted the registry policy"),
        "{}",
        alert.email
    );
}

#[tokio::test]
async fn a_registry_policy_changed_since_the_event_is_not_overwritten() {
    let (event, _, _) = registry_after_put();
    let newer = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"ecr:ReplicateImage","Resource":"*"}]}"#;
    let aws = Recorded::new(Memory::new(ACCOUNT).with_registry_policy(Some(newer)));
    let incident = handle(&event, &sample_config(Mode::Revert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::RevertSuperseded);
    assert_eq!(aws.inner.registry_policy().as_deref(), Some(newer));
    assert_eq!(aws.count("ecr:PutRegistryPolicy"), 0);
    assert_eq!(aws.count("ecr:DeleteRegistryPolicy"), 0);
    assert!(
        incident.detail.unwrap().contains("registry policy changed"),
        "the detail names the registry policy"
    );
}

fn template(file: &str) -> CreationTemplate {
    let t = &detail(file)["responseElements"]["repositoryCreationTemplate"];
    CreationTemplate {
        prefix: t["prefix"].as_str().unwrap().to_owned(),
        applied_for: serde_json::from_value(t["appliedFor"].clone()).unwrap(),
        repository_policy: t["repositoryPolicy"].as_str().map(str::to_owned),
    }
}

#[tokio::test]
async fn a_public_creation_template_is_alerted_then_given_its_derived_policy() {
    let file = "create-creation-template-public.json";
    let aws = Recorded::new(Memory::new(ACCOUNT).with_template(template(file)));
    let incident = handle(&sample(file), &sample_config(Mode::Alert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(operations(&aws), ["sns:Publish"]);
    assert_eq!(aws.inner.template("docker-hub"), Some(template(file)));
    assert_eq!(
        aws.inner.alerts()[0].document["template_prefix"],
        "docker-hub"
    );

    let aws = Recorded::new(Memory::new(ACCOUNT).with_template(template(file)));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let written = aws.inner.template("docker-hub").unwrap();
    let policy = written.repository_policy.unwrap();
    let rules = sample_config(Mode::Revert).rules;
    assert!(
        rules.passes(&policy, Owner::Account(ACCOUNT)),
        "the template's new policy breaks a rule: {policy}"
    );
    assert!(!policy.contains("AnyonePulls"), "{policy}");
    assert_eq!(
        operations(&aws),
        [
            "ecr:DescribeRepositoryCreationTemplates",
            "ecr:UpdateRepositoryCreationTemplate",
            "sns:Publish"
        ]
    );
}

#[tokio::test]
async fn a_template_without_a_policy_gets_the_baseline_and_a_changed_one_is_left_alone() {
    let file = "update-creation-template-root-without-policy.json";
    let aws = Recorded::new(Memory::new(ACCOUNT).with_template(template(file)));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    assert_eq!(incident.target.unwrap().source, TargetSource::Baseline);
    let policy = aws
        .inner
        .template("ROOT")
        .unwrap()
        .repository_policy
        .unwrap();
    let rules = sample_config(Mode::Revert).rules;
    assert!(rules.passes(&policy, Owner::Account(ACCOUNT)), "{policy}");

    // Someone gave the template a policy after the event: not the guard's to overwrite.
    let mut newer = template(file);
    newer.repository_policy = Some(sample_policy("set-policy-compliant-push-pull.json"));
    let aws = Recorded::new(Memory::new(ACCOUNT).with_template(newer.clone()));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::RevertSuperseded);
    assert_eq!(aws.inner.template("ROOT"), Some(newer));
    assert_eq!(aws.count("ecr:UpdateRepositoryCreationTemplate"), 0);
}

#[tokio::test]
async fn a_long_template_policy_is_judged_on_ecrs_copy_and_reverted() {
    let file = "create-creation-template-long-public.json";
    let stored = template(file).repository_policy.unwrap();
    assert!(stored.chars().count() > MAX_POLICY_CHARS);
    let aws = Recorded::new(Memory::new(ACCOUNT).with_template(template(file)));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let rules: Vec<String> = incident
        .outcome
        .unwrap()
        .violations
        .iter()
        .map(|v| v.rule.to_string())
        .collect();
    assert!(!rules.contains(&"invalid-policy".to_owned()), "{rules:?}");
    let policy = aws
        .inner
        .template("upstream-mirror")
        .unwrap()
        .repository_policy
        .unwrap();
    let config = sample_config(Mode::Revert);
    assert!(policy.chars().count() <= MAX_POLICY_CHARS);
    assert!(
        config.rules.passes(&policy, Owner::Account(ACCOUNT)),
        "{policy}"
    );
    assert!(!policy.contains("AllowPublicPull") && policy.contains("service-044-pull"));
}

#[tokio::test]
async fn replication_is_judged_on_both_copies_and_reverted_on_ecrs() {
    let file = "put-replication-stored-copy-differs.json";
    let stored = Replication::from_value(&detail(file)["responseElements"]).unwrap();
    let aws = Recorded::new(Memory::new(ACCOUNT).with_replication(stored.clone()));
    let incident = handle(&sample(file), &sample_config(Mode::Alert), Ports::all(&aws))
        .await
        .unwrap();
    let outcome = incident.outcome.unwrap();
    assert!(outcome.copies_differ);
    assert_eq!(outcome.violations.len(), 1);
    assert_eq!(
        outcome.violations[0].principal.as_deref(),
        Some("444455556666")
    );
    assert_eq!(aws.inner.alerts()[0].document["copies_differ"], true);

    let aws = Recorded::new(Memory::new(ACCOUNT).with_replication(stored));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let destinations: Vec<String> = aws
        .inner
        .replication()
        .rules
        .iter()
        .flat_map(|r| r.destinations.iter().map(|d| d.registry_id.clone()))
        .collect();
    assert_eq!(destinations, [ACCOUNT, "111122223333"]);
}

fn sample_policy(file: &str) -> String {
    detail(file)["requestParameters"]["policyText"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn replication(file: &str) -> Replication {
    Replication::from_value(&detail(file)["requestParameters"]).unwrap()
}

#[tokio::test]
async fn unapproved_replication_is_alerted_then_rewritten_without_that_destination() {
    let file = "put-replication-unapproved-account.json";
    let aws = Recorded::new(Memory::new(ACCOUNT).with_replication(replication(file)));
    let incident = handle(&sample(file), &sample_config(Mode::Alert), Ports::all(&aws))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(operations(&aws), ["sns:Publish"]);
    assert_eq!(aws.inner.replication(), replication(file));

    let aws = Recorded::new(Memory::new(ACCOUNT).with_replication(replication(file)));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let now = aws.inner.replication();
    let destinations: Vec<&str> = now
        .rules
        .iter()
        .flat_map(|r| r.destinations.iter().map(|d| d.registry_id.as_str()))
        .collect();
    assert_eq!(destinations, [ACCOUNT], "{now:?}");
    // The rule keeps its filter: only the destination goes.
    assert_eq!(now.rules[0].repository_filters[0].filter, "prod");
    assert_eq!(aws.count("ecr:PutReplicationConfiguration"), 1);

    // A configuration changed since the event is not overwritten.
    let newer = replication("put-replication-own-and-allowlisted.json");
    let aws = Recorded::new(Memory::new(ACCOUNT).with_replication(newer.clone()));
    let incident = handle(
        &sample(file),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::RevertSuperseded);
    assert_eq!(aws.inner.replication(), newer);
    assert_eq!(aws.count("ecr:PutReplicationConfiguration"), 0);
}

#[tokio::test]
async fn deleting_the_registry_policy_needs_nothing() {
    let aws = Recorded::new(Memory::new(ACCOUNT));
    let incident = handle(
        &sample("delete-registry-policy.json"),
        &sample_config(Mode::Revert),
        Ports::all(&aws),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Nothing);
    assert!(aws.calls().is_empty(), "{:?}", aws.calls());
}

/// A registry with a violation behind each door, and one compliant repository.
fn registry_with_three_doors_open() -> Recorded<Memory> {
    Recorded::new(
        Memory::new(ACCOUNT)
            .with_repository(
                "team/app",
                Some(&sample_policy("set-policy-compliant-push-pull.json")),
            )
            .with_registry_policy(Some(&sample_policy(
                "put-registry-policy-cross-account-root.json",
            )))
            .with_template(template("create-creation-template-public.json"))
            .with_template(template("create-creation-template-compliant.json"))
            .with_replication(replication("put-replication-unapproved-account.json")),
    )
}

#[tokio::test]
async fn the_scan_counts_the_registry_doors_apart_and_revert_mode_closes_them() {
    let never = || false;
    let aws = registry_with_three_doors_open();
    let report = scan(
        &sample_config(Mode::Alert),
        Some(ACCOUNT),
        "eu-west-1",
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap();
    assert_eq!((report.scanned, report.non_compliant), (1, 0));
    let r = &report.registry;
    assert!(r.checked_this_run);
    // The registry policy, two templates, the replication configuration.
    assert_eq!(
        (r.checked, r.compliant, r.non_compliant),
        (4, 1, 3),
        "{r:?}"
    );
    let offenders: Vec<&str> = r.offenders.iter().map(|o| o.repository.as_str()).collect();
    assert_eq!(
        offenders,
        [
            "registry policy",
            "creation template `docker-hub`",
            "replication configuration"
        ]
    );
    assert!(r.offenders.iter().all(|o| o.taken == Taken::Reported));
    // Alert mode: one summary, nothing written.
    assert_eq!(aws.count("sns:Publish"), 1);
    let summary = &aws.inner.alerts()[0];
    assert!(
        summary
            .subject
            .contains("0 of 1 repositories and 3 registry doors non-compliant"),
        "{}",
        summary.subject
    );
    assert!(
        summary.email.contains("Registry level"),
        "{}",
        summary.email
    );
    assert_eq!(summary.document["registry"]["non_compliant"], 3);

    let report = scan(
        &sample_config(Mode::Revert),
        Some(ACCOUNT),
        "eu-west-1",
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap();
    assert_eq!(report.registry.reverted, 3, "{:?}", report.registry);
    let again = scan(
        &sample_config(Mode::Revert),
        Some(ACCOUNT),
        "eu-west-1",
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.registry.checked, again.registry.non_compliant),
        (4, 0),
        "{:?}",
        again.registry
    );
}

#[tokio::test]
async fn a_door_that_cannot_be_read_is_listed_unchecked_and_a_resumed_run_skips_the_doors() {
    let aws = registry_with_three_doors_open();
    aws.fail_next(
        "ecr:DescribeRepositoryCreationTemplates",
        PortError::Failed {
            operation: "ecr:DescribeRepositoryCreationTemplates",
            message: "AccessDeniedException (HTTP 400): not authorized".into(),
        },
    );
    let never = || false;
    let report = scan(
        &sample_config(Mode::Alert),
        Some(ACCOUNT),
        "eu-west-1",
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap();
    let r = &report.registry;
    assert_eq!(r.unchecked.len(), 1, "{r:?}");
    assert_eq!(r.unchecked[0].repository, "creation templates");
    assert!(report.has_failures());
    assert_eq!(aws.inner.alerts()[0].document["severity"], "high");
    // The other doors were still judged.
    assert_eq!((r.checked, r.non_compliant), (2, 2), "{r:?}");

    // A run that resumes an earlier pass leaves the doors to the run that started it.
    ScanState::save(&aws.inner, Some("team/a")).await.unwrap();
    let resumed = scan(
        &sample_config(Mode::Alert),
        Some(ACCOUNT),
        "eu-west-1",
        Ports::all(&aws),
        &never,
    )
    .await
    .unwrap();
    assert!(!resumed.registry.checked_this_run);
    assert_eq!(resumed.registry.checked, 0);
    let email = aws.inner.alerts().last().unwrap().email.clone();
    assert!(
        email.contains("Registry level: not checked by this run"),
        "{email}"
    );
}
