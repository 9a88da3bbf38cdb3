//! The registry-level doors through the real SDK adapters: the registry policy and replication
//! on moto server (which emulates put/get/delete registry policy and describe/put replication),
//! creation templates through aws-smithy-mocks (moto has no `DescribeRepositoryCreationTemplates`
//! or `UpdateRepositoryCreationTemplate`: it answers HTTP 500), each in alert and revert mode,
//! and one scan over a registry with a violation behind every door.

use crate::support::{ACCOUNT, Aws, REGION, attribute, document};
use aws_sdk_ecr::operation::describe_repository_creation_templates::DescribeRepositoryCreationTemplatesOutput;
use aws_sdk_ecr::operation::update_repository_creation_template::UpdateRepositoryCreationTemplateOutput;
use aws_sdk_ecr::types::{RctAppliedFor, RepositoryCreationTemplate};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::EcrRegistry;
use ecr_policy_guard::adapters::memory::{Memory, Recorded};
use ecr_policy_guard::adapters::moto::Moto;
use ecr_policy_guard::app::{handle, scan};
use ecr_policy_guard::ports::{PortError, Ports, Registry, RepositoryPage};
use ecr_policy_guard_core::registry::{CreationTemplate, Replication};
use ecr_policy_guard_core::{Mode, Owner, Taken};
use serde_json::Value;
use std::sync::{Arc, Mutex};

/// A foreign root may replicate into every repository; an allowlisted account (events/guard.toml)
/// too. moto accepts only the registry-policy actions of scope V1 (`ecr:CreateRepository`,
/// `ecr:ReplicateImage`), so the sample's pull grant is swapped for replication here.
const ROOT_GRANT: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PartnerReplicates","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::987654321098:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:eu-west-1:123456789012:repository/*"},{"Sid":"DrReplication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:eu-west-1:123456789012:repository/*"}]}"#;

fn config(mode: Mode) -> Config {
    let text = std::fs::read_to_string(crate::support::root().join("events/guard.toml")).unwrap();
    let mut config = Config::from_toml(&text).unwrap();
    config.mode = mode;
    config
}

/// A sample event with `edit` applied to its CloudTrail record.
fn sample_event(file: &str, edit: impl FnOnce(&mut Value)) -> String {
    let text = std::fs::read_to_string(crate::support::root().join("events").join(file)).unwrap();
    let mut event: Value = serde_json::from_str(&text).unwrap();
    edit(&mut event["detail"]);
    event.to_string()
}

fn put_registry_policy_event() -> String {
    sample_event("put-registry-policy-cross-account-root.json", |d| {
        d["requestParameters"]["policyText"] = ROOT_GRANT.into();
        d["responseElements"]["policyText"] = ROOT_GRANT.into();
    })
}

async fn put_registry_policy(aws: &Aws, text: &str) {
    aws.ecr
        .put_registry_policy()
        .policy_text(text)
        .send()
        .await
        .unwrap();
}

async fn live_registry_policy(aws: &Aws) -> Option<String> {
    aws.ecr
        .get_registry_policy()
        .send()
        .await
        .ok()
        .and_then(|o| o.policy_text)
}

fn unapproved_replication() -> Replication {
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(
            crate::support::root().join("events/put-replication-unapproved-account.json"),
        )
        .unwrap(),
    )
    .unwrap();
    Replication::from_value(&event["detail"]["requestParameters"]).unwrap()
}

/// The live destinations' registry ids, rule by rule.
async fn live_destinations(aws: &Aws) -> Vec<String> {
    let out = aws.ecr.describe_registry().send().await.unwrap();
    out.replication_configuration
        .map(|c| c.rules)
        .unwrap_or_default()
        .into_iter()
        .flat_map(|r| r.destinations.into_iter().map(|d| d.registry_id))
        .collect()
}

#[tokio::test]
async fn the_registry_policy_and_replication_are_alerted_and_reverted_on_moto() {
    // Registry-level state is one per account and region: a server of its own.
    let moto = Moto::start().unwrap();
    let aws = Aws::on(&moto, "registry", true).await;
    // moto has no CloudTrail LookupEvents: an empty history, so the revert derives.
    let history = Memory::new(ACCOUNT);

    // Registry policy, alert mode: the alert names the registry policy and the resources.
    put_registry_policy(&aws, ROOT_GRANT).await;
    let event = put_registry_policy_event();
    let incident = handle(&event, &config(Mode::Alert), aws.with_history(&history))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(
        live_registry_policy(&aws).await.as_deref(),
        Some(ROOT_GRANT)
    );
    let alerts = aws.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(attribute(&alerts[0], "action"), "alerted");
    assert_eq!(attribute(&alerts[0], "repository"), "*");
    let doc = document(&alerts[0]);
    assert_eq!(doc["subject"], "registry-policy");
    assert_eq!(
        doc["violations"][0]["resources"][0],
        "arn:aws:ecr:eu-west-1:123456789012:repository/*"
    );

    // Revert mode: the foreign root's statement goes, the allowlisted one stays.
    let incident = handle(&event, &config(Mode::Revert), aws.with_history(&history))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let live = live_registry_policy(&aws).await.unwrap();
    assert!(!live.contains("987654321098"), "{live}");
    assert!(live.contains("DrReplication"), "{live}");
    assert_eq!(attribute(&aws.alerts().await[0], "action"), "reverted");
    // The same event again (a retry): the live policy is already the target, nothing written.
    let incident = handle(&event, &config(Mode::Revert), aws.with_history(&history))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::AlreadyReverted);
    assert_eq!(aws.registry.count("ecr:PutRegistryPolicy"), 1);
    // The retry's alert is sent again (an alert is never lost), saying nothing was written.
    let retried = aws.alerts().await;
    assert_eq!(retried.len(), 1);
    assert_eq!(
        attribute(&retried[0], "action"),
        Taken::AlreadyReverted.as_str()
    );

    // Replication, alert then revert: the unapproved destination goes, the own region stays.
    let replication = unapproved_replication();
    aws.registry
        .inner
        .put_replication(&replication)
        .await
        .unwrap();
    let event = sample_event("put-replication-unapproved-account.json", |_| {});
    let incident = handle(&event, &config(Mode::Alert), aws.with_history(&history))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(live_destinations(&aws).await, [ACCOUNT, "444455556666"]);
    let alerts = aws.alerts().await;
    assert_eq!(
        document(&alerts[0])["violations"][0]["principal"],
        "444455556666"
    );
    let incident = handle(&event, &config(Mode::Revert), aws.with_history(&history))
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    assert_eq!(live_destinations(&aws).await, [ACCOUNT]);
    assert_eq!(attribute(&aws.alerts().await[0], "action"), "reverted");

    // Nothing compliant left (no allowlist: both statements grant a whole account): the
    // registry policy is deleted, the safe state.
    put_registry_policy(&aws, ROOT_GRANT).await;
    let bare = Config {
        mode: Mode::Revert,
        ..Config::default()
    };
    let incident = handle(
        &put_registry_policy_event(),
        &bare,
        aws.with_history(&history),
    )
    .await
    .unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    assert_eq!(live_registry_policy(&aws).await, None);
    assert_eq!(aws.registry.count("ecr:DeleteRegistryPolicy"), 1);
}

/// A scripted ECR client answering only the creation-template calls: `templates` is what
/// `DescribeRepositoryCreationTemplates` returns, each `UpdateRepositoryCreationTemplate`
/// stores its policy there.
fn template_client(templates: Arc<Mutex<Vec<CreationTemplate>>>) -> EcrRegistry {
    let listed = templates.clone();
    let describe =
        mock!(aws_sdk_ecr::Client::describe_repository_creation_templates).then_output(move || {
            let mut out = DescribeRepositoryCreationTemplatesOutput::builder().registry_id(ACCOUNT);
            for t in listed.lock().unwrap().iter() {
                let mut built = RepositoryCreationTemplate::builder().prefix(&t.prefix);
                for a in &t.applied_for {
                    built = built.applied_for(RctAppliedFor::from(a.as_str()));
                }
                if let Some(p) = &t.repository_policy {
                    built = built.repository_policy(p);
                }
                out = out.repository_creation_templates(built.build());
            }
            out.build()
        });
    let stored = templates;
    let update = mock!(aws_sdk_ecr::Client::update_repository_creation_template)
        .match_requests(move |request| {
            let mut all = stored.lock().unwrap();
            if let Some(t) = all
                .iter_mut()
                .find(|t| Some(t.prefix.as_str()) == request.prefix())
            {
                t.repository_policy = request.repository_policy().map(str::to_owned);
            }
            true
        })
        .then_output(|| UpdateRepositoryCreationTemplateOutput::builder().build());
    EcrRegistry {
        client: mock_client!(aws_sdk_ecr, RuleMode::MatchAny, [&describe, &update]),
    }
}

/// moto's ECR for everything but creation templates, which go to the scripted client.
struct WithTemplates<'a> {
    moto: &'a Recorded<EcrRegistry>,
    templates: Recorded<EcrRegistry>,
}

impl Registry for WithTemplates<'_> {
    async fn get_policy(&self, id: &str, repo: &str) -> Result<Option<String>, PortError> {
        self.moto.get_policy(id, repo).await
    }
    async fn set_policy(&self, id: &str, repo: &str, text: &str) -> Result<(), PortError> {
        self.moto.set_policy(id, repo, text).await
    }
    async fn list_repositories(&self, token: Option<String>) -> Result<RepositoryPage, PortError> {
        self.moto.list_repositories(token).await
    }
    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        self.moto.get_registry_policy().await
    }
    async fn put_registry_policy(&self, text: &str) -> Result<(), PortError> {
        self.moto.put_registry_policy(text).await
    }
    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        self.moto.delete_registry_policy().await
    }
    async fn list_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        self.templates.list_templates().await
    }
    async fn set_template_policy(&self, prefix: &str, text: &str) -> Result<(), PortError> {
        self.templates.set_template_policy(prefix, text).await
    }
    async fn get_replication(&self) -> Result<Replication, PortError> {
        self.moto.get_replication().await
    }
    async fn put_replication(&self, configuration: &Replication) -> Result<(), PortError> {
        self.moto.put_replication(configuration).await
    }
}

fn public_template() -> CreationTemplate {
    CreationTemplate {
        prefix: "docker-hub".into(),
        applied_for: vec!["PULL_THROUGH_CACHE".into()],
        repository_policy: Some(
            r#"{"Version":"2012-10-17","Statement":[{"Sid":"AnyonePulls","Effect":"Allow","Principal":"*","Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}]}"#.into(),
        ),
    }
}

#[tokio::test]
async fn a_public_creation_template_is_alerted_and_reverted_through_the_ecr_adapter() {
    let aws = Aws::new("templates", true).await;
    let templates = Arc::new(Mutex::new(vec![public_template()]));
    let registry = Recorded::new(template_client(templates.clone()));
    let event = sample_event("create-creation-template-public.json", |_| {});
    let history = Memory::new(ACCOUNT);
    let ports = Ports {
        registry: &registry,
        history: &history,
        notifier: &aws.notifier,
        state: &aws.state,
    };
    let incident = handle(&event, &config(Mode::Alert), ports).await.unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    assert_eq!(registry.count("ecr:UpdateRepositoryCreationTemplate"), 0);
    let alerts = aws.alerts().await;
    assert_eq!(document(&alerts[0])["template_prefix"], "docker-hub");

    let incident = handle(&event, &config(Mode::Revert), ports).await.unwrap();
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    assert_eq!(registry.count("ecr:UpdateRepositoryCreationTemplate"), 1);
    let policy = templates.lock().unwrap()[0]
        .repository_policy
        .clone()
        .unwrap();
    assert!(
        config(Mode::Revert)
            .rules
            .passes(&policy, Owner::Account(ACCOUNT)),
        "{policy}"
    );
    assert!(!policy.contains("AnyonePulls"), "{policy}");
    assert_eq!(attribute(&aws.alerts().await[0], "action"), "reverted");
}

#[tokio::test]
async fn a_scan_over_a_registry_with_every_door_open_counts_and_closes_them() {
    let moto = Moto::start().unwrap();
    let aws = Aws::on(&moto, "doors", true).await;
    aws.create_repository("team/app").await;
    put_registry_policy(&aws, ROOT_GRANT).await;
    aws.registry
        .inner
        .put_replication(&unapproved_replication())
        .await
        .unwrap();
    let never = || false;

    // moto alone: the templates cannot be read, and the summary says so.
    let report = scan(
        &config(Mode::Alert),
        Some(ACCOUNT),
        REGION,
        aws.ports(),
        &never,
    )
    .await
    .unwrap();
    let r = &report.registry;
    assert_eq!(r.unchecked.len(), 1, "{r:?}");
    assert_eq!(r.unchecked[0].repository, "creation templates");
    assert!(
        r.unchecked[0]
            .error
            .contains("ecr:DescribeRepositoryCreationTemplates"),
        "{:?}",
        r.unchecked
    );
    let summary = aws.alerts().await;
    assert_eq!(attribute(&summary[0], "severity"), "high");

    // With the templates scripted: every door judged, then closed in revert mode.
    let templates = Arc::new(Mutex::new(vec![public_template()]));
    let registry = WithTemplates {
        moto: &aws.registry,
        templates: Recorded::new(template_client(templates.clone())),
    };
    let report = scan(
        &config(Mode::Alert),
        Some(ACCOUNT),
        REGION,
        aws.with_registry(&registry),
        &never,
    )
    .await
    .unwrap();
    let r = &report.registry;
    assert_eq!((r.checked, r.non_compliant), (3, 3), "{r:?}");
    // One repository without a policy: no deny-by-default.
    assert_eq!(report.non_compliant, 1);
    let summary = &aws.alerts().await[0];
    let email = summary["Message"].as_str().unwrap_or_default().to_owned();
    let doc = document(summary);
    assert_eq!(doc["registry"]["non_compliant"], 3, "{email}");

    let report = scan(
        &config(Mode::Revert),
        Some(ACCOUNT),
        REGION,
        aws.with_registry(&registry),
        &never,
    )
    .await
    .unwrap();
    assert_eq!(report.registry.reverted, 3, "{:?}", report.registry);
    assert!(
        !live_registry_policy(&aws)
            .await
            .unwrap()
            .contains("987654321098")
    );
    assert_eq!(live_destinations(&aws).await, [ACCOUNT]);
    let again = scan(
        &config(Mode::Alert),
        Some(ACCOUNT),
        REGION,
        aws.with_registry(&registry),
        &never,
    )
    .await
    .unwrap();
    assert_eq!(
        (again.registry.checked, again.registry.non_compliant),
        (3, 0),
        "{:?}",
        again.registry
    );
}
