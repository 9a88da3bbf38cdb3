//! Hub mode on moto server, which keys resources by account and honours `AssumeRole` into any
//! account: a hub in account 111111111111 reverts an event from 222222222222 through the spoke
//! role there (and leaves its own same-named repository alone), a denied `AssumeRole` (moto's
//! IAM enforcement, `INITIAL_NO_AUTH_ACTION_COUNT`) becomes a `revert-failed` alert, and the
//! `scan` command sweeps two accounts in two regions into one summary.

use crate::support::{REGION, cli_as, document, moto, root};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::config::Credentials;
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::{AwsAccounts, AwsPorts, SsmPositions, caller_identity};
use ecr_policy_guard::adapters::memory::{Memory, MemoryPositions};
use ecr_policy_guard::adapters::moto::{AlertQueue, Moto};
use ecr_policy_guard::app::Invocation;
use ecr_policy_guard::app::hub::{Hub, invoke_hub};
use ecr_policy_guard::ports::{Accounts, Notifier, Positions};
use ecr_policy_guard_core::{Incident, Mode, Owner, RuleConfig, Taken};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const HUB: &str = "111111111111";
const SPOKE: &str = "222222222222";
const SPOKE_ROLE: &str = "ecr-policy-guard-spoke";
/// Where the hub runs; the events (and so the reverts) are in [`REGION`].
const HUB_REGION: &str = "us-east-1";
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}]}"#;

/// Temporary credentials of `role` in `account` (moto's dummy credentials may assume any role
/// until IAM enforcement starts), and SDK configuration using them in `region`.
async fn as_role(moto: &Moto, account: &str, role: &str, region: &str) -> (SdkConfig, [String; 3]) {
    let sts = aws_sdk_sts::Client::new(&moto.sdk_config(region).await);
    let c = sts
        .assume_role()
        .role_arn(format!("arn:aws:iam::{account}:role/{role}"))
        .role_session_name("test-setup")
        .send()
        .await
        .unwrap()
        .credentials
        .unwrap();
    let keys = [c.access_key_id, c.secret_access_key, c.session_token];
    (with_keys(moto, &keys, region).await, keys)
}

async fn with_keys(moto: &Moto, keys: &[String; 3], region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            &keys[0],
            &keys[1],
            Some(keys[2].clone()),
            None,
            "test",
        ))
        .load()
        .await
}

/// The cross-account root grant sample, made in `account` on `repository`.
fn event_in(account: &str, repository: &str) -> Value {
    let text = std::fs::read_to_string(root().join("events/set-policy-cross-account-root.json"))
        .unwrap()
        .replace("123456789012", account)
        .replace("platform/base-images", repository);
    serde_json::from_str(&text).unwrap()
}

fn offending(event: &Value) -> String {
    event["detail"]["requestParameters"]["policyText"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn put_repository(ecr: &aws_sdk_ecr::Client, name: &str, policy: &str) {
    ecr.create_repository()
        .repository_name(name)
        .send()
        .await
        .unwrap();
    ecr.set_repository_policy()
        .repository_name(name)
        .policy_text(policy)
        .send()
        .await
        .unwrap();
}

async fn live(ecr: &aws_sdk_ecr::Client, name: &str) -> String {
    ecr.get_repository_policy()
        .repository_name(name)
        .send()
        .await
        .unwrap()
        .policy_text
        .unwrap()
}

/// A topic in the hub's account and region, with a queue subscribed.
async fn hub_topic(hub: &SdkConfig, name: &str) -> (String, AlertQueue) {
    let topic = aws_sdk_sns::Client::new(hub)
        .create_topic()
        .name(name)
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue = AlertQueue::subscribe(hub, &topic, name).await.unwrap();
    (topic, queue)
}

/// Runs the `ecr-policy-guard` binary with these credentials and nothing else.
fn cli_with(moto: &Moto, keys: &[String; 3], region: &str, args: &[&str]) -> Output {
    cli_as(moto, [&keys[0], &keys[1], &keys[2]], region, args)
}

/// The incident of one event the hub handled, as the Lambda's dispatch hands it over.
async fn handled<N, P>(event: &Value, mode: Mode, hub: Hub<'_, AwsAccounts, N, P>) -> Incident
where
    N: Notifier + Sync,
    P: Positions,
{
    let never = || false;
    match invoke_hub(&event.to_string(), &hub_config(mode), hub, &never)
        .await
        .unwrap()
    {
        Invocation::Event(incident) => incident,
        other => panic!("an event, not {other:?}"),
    }
}

fn hub_config(mode: Mode) -> Config {
    Config {
        mode,
        spoke_role_name: Some(SPOKE_ROLE.into()),
        ..Config::default()
    }
}

#[tokio::test]
async fn a_hub_reverts_an_event_from_another_account_through_the_spoke_role_there() {
    let moto = moto();
    let (hub_sdk, hub_keys) = as_role(moto, HUB, "ecr-policy-guard-hub", HUB_REGION).await;
    let (spoke_sdk, _) = as_role(moto, SPOKE, "setup", REGION).await;
    let (hub_here, _) = as_role(moto, HUB, "setup", REGION).await;
    let spoke_ecr = aws_sdk_ecr::Client::new(&spoke_sdk);
    let hub_ecr = aws_sdk_ecr::Client::new(&hub_here);
    let repo = "t-hub/base-images";
    let event = event_in(SPOKE, repo);
    // The spoke's repository carries the event's policy; the hub's own repository of the same
    // name, in the same region, a different non-compliant one.
    put_repository(&spoke_ecr, repo, &offending(&event)).await;
    put_repository(&hub_ecr, repo, PUBLIC).await;
    let hub_before = live(&hub_ecr, repo).await;
    let (topic, queue) = hub_topic(&hub_sdk, "hub-alerts").await;

    let (account, partition) = caller_identity(&hub_sdk).await.unwrap();
    assert_eq!((account.as_str(), partition.as_str()), (HUB, "aws"));
    let accounts = AwsAccounts::new(&hub_sdk, account, partition, Some(SPOKE_ROLE.into()));
    let aws = AwsPorts::new(&hub_sdk, topic.clone(), "/unused".into());
    let positions = SsmPositions {
        client: aws.state.client.clone(),
        base: "/ecr-policy-guard/hub-test".into(),
    };
    let hub = Hub {
        accounts: &accounts,
        notifier: &aws.notifier,
        positions: &positions,
        region: HUB_REGION,
    };
    let incident = handled(&event, Mode::Revert, hub).await;
    assert_eq!(incident.taken, Taken::Reverted, "{:?}", incident.detail);
    let restored = live(&spoke_ecr, repo).await;
    assert!(
        RuleConfig::default().passes(&restored, Owner::Account(SPOKE)),
        "{restored}"
    );
    assert_eq!(
        live(&hub_ecr, repo).await,
        hub_before,
        "the hub's repository was touched"
    );
    assert_eq!(accounts.roles_assumed(), 1);
    let delivered = queue.drain(1).await.unwrap();
    assert_eq!(delivered.len(), 1);
    let notification: Value = serde_json::from_str(&delivered[0]).unwrap();
    assert_eq!(notification["TopicArn"], topic);
    let doc = document(&notification);
    assert_eq!(
        (doc["action"].as_str(), doc["account"].as_str()),
        (Some("reverted"), Some(SPOKE))
    );

    // A second event in that account reuses the credentials: no second AssumeRole.
    let second = "t-hub/second";
    let event2 = event_in(SPOKE, second);
    put_repository(&spoke_ecr, second, &offending(&event2)).await;
    let incident = handled(&event2, Mode::Revert, hub).await;
    assert_eq!(incident.taken, Taken::Reverted);
    assert_eq!(accounts.roles_assumed(), 1);

    // The same through `handle --spoke-role-name`, with the hub's credentials.
    let third = "t-hub/third";
    let event3 = event_in(SPOKE, third);
    put_repository(&spoke_ecr, third, &offending(&event3)).await;
    let file = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hub-event.json");
    std::fs::write(&file, event3.to_string()).unwrap();
    let out = cli_with(
        moto,
        &hub_keys,
        HUB_REGION,
        &[
            "handle",
            "--mode",
            "revert",
            "--topic-arn",
            &topic,
            "--spoke-role-name",
            SPOKE_ROLE,
            &file.to_string_lossy(),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "$ ecr-policy-guard handle --mode revert --spoke-role-name {SPOKE_ROLE} ...\n{stdout}"
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("REVERTED"), "{stdout}");
    assert!(
        stdout.contains(&format!("in account {SPOKE} ({REGION})")),
        "{stdout}"
    );
    assert!(RuleConfig::default().passes(&live(&spoke_ecr, third).await, Owner::Account(SPOKE)));
    assert_eq!(live(&hub_ecr, repo).await, hub_before);
}

#[tokio::test]
async fn a_denied_assume_role_is_a_revert_failed_alert() {
    // moto enforces IAM after its first three requests: the hub's own credentials (1), its role
    // (2) and that role's policy (3), which allows everything but sts:AssumeRole. The alert is
    // captured in memory: under enforcement moto's signature check rejects the SDK's form-encoded
    // spaces (`%20`, in every SNS message) with SignatureDoesNotMatch; SNS delivery of alerts is
    // tested without enforcement above and in aws.rs.
    let moto = Moto::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]).unwrap();
    let keys = hub_role_without_assume_role(&moto);
    let hub_sdk = with_keys(&moto, &keys, HUB_REGION).await;
    let (account, partition) = caller_identity(&hub_sdk).await.unwrap();
    assert_eq!(account, HUB);
    let accounts = AwsAccounts::new(&hub_sdk, account, partition, Some(SPOKE_ROLE.into()));
    let alerts = Memory::new(HUB);
    let positions = MemoryPositions::default();
    let hub = Hub {
        accounts: &accounts,
        notifier: &alerts,
        positions: &positions,
        region: HUB_REGION,
    };
    let event = event_in(SPOKE, "t-denied/app");
    let incident = handled(&event, Mode::Revert, hub).await;
    assert_eq!(incident.taken, Taken::RevertFailed);
    let detail = incident.detail.clone().unwrap();
    // moto words its IAM errors in an `<Errors>` wrapper the SDK's query parser does not read,
    // so the code and message show as unknown; STS itself answers `AccessDenied` with a message.
    assert!(
        detail.starts_with(&format!(
            "could not read the live policy: sts:AssumeRole was denied: `arn:aws:iam::{SPOKE}:role/{SPOKE_ROLE}` in account {SPOKE}: "
        )) && detail.contains("(HTTP 403)"),
        "{detail}"
    );
    assert_eq!(accounts.roles_assumed(), 0);
    let published = alerts.alerts();
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].document["action"], "revert-failed");
    assert_eq!(published[0].document["account"], SPOKE);
    assert_eq!(published[0].document["detail"], detail.as_str());
    assert!(
        published[0]
            .subject
            .starts_with("ecr-policy-guard REVERT FAILED: t-denied/app in 222222222222"),
        "{}",
        published[0].subject
    );
    eprintln!(
        "revert-failed alert: {}\n{}",
        published[0].subject, published[0].email
    );
}

/// The hub's credentials on a moto server that enforces IAM after three requests, spent here
/// with boto3 (the package has no IAM client): assuming the hub role, creating it, and giving it
/// a policy that allows ECR, CloudTrail and sts:GetCallerIdentity, but not sts:AssumeRole.
fn hub_role_without_assume_role(moto: &Moto) -> [String; 3] {
    let script = r#"
import json, sys, boto3
endpoint, account, role = sys.argv[1:4]
dummy = dict(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1", endpoint_url=endpoint)
c = boto3.client("sts", **dummy).assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName="test-setup")["Credentials"]
keys = [c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]]
iam = boto3.client("iam", aws_access_key_id=keys[0], aws_secret_access_key=keys[1], aws_session_token=keys[2], region_name="us-east-1", endpoint_url=endpoint)
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
allowed = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["ecr:*", "cloudtrail:*", "sts:GetCallerIdentity"], "Resource": "*"}]}
iam.put_role_policy(RoleName=role, PolicyName="hub-without-assume-role", PolicyDocument=json.dumps(allowed))
print(json.dumps(keys))
"#;
    let out = Command::new("python3")
        .args(["-c", script, &moto.endpoint, HUB, "ecr-policy-guard-hub"])
        .output()
        .expect("python3 with boto3 (run the tests through tests/with-moto)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn the_scan_command_sweeps_two_accounts_in_two_regions_into_one_summary() {
    // A server of its own: the counts cover every repository of both accounts.
    let moto = Moto::start().unwrap();
    let (hub_sdk, hub_keys) = as_role(&moto, HUB, "ecr-policy-guard-hub", REGION).await;
    let regions = [REGION, HUB_REGION];
    for account in [HUB, SPOKE] {
        for region in regions {
            let (sdk, _) = as_role(&moto, account, "setup", region).await;
            let ecr = aws_sdk_ecr::Client::new(&sdk);
            let compliant =
                ecr_policy_guard_core::remedy::default_baseline(account, &RuleConfig::default())
                    .to_json_text();
            put_repository(&ecr, "team/app", &compliant).await;
            if (account, region) != (SPOKE, HUB_REGION) {
                put_repository(&ecr, "team/web", PUBLIC).await;
            }
        }
    }
    let (topic, queue) = hub_topic(&hub_sdk, "sweep-alerts").await;
    let out = cli_with(
        &moto,
        &hub_keys,
        REGION,
        &[
            "scan",
            "--mode",
            "revert",
            "--topic-arn",
            &topic,
            "--spoke-role-name",
            SPOKE_ROLE,
            "--scan-account",
            HUB,
            "--scan-account",
            SPOKE,
            "--scan-region",
            REGION,
            "--scan-region",
            HUB_REGION,
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "$ ecr-policy-guard scan --mode revert --spoke-role-name {SPOKE_ROLE} --scan-account {HUB} --scan-account {SPOKE} --scan-region {REGION} --scan-region {HUB_REGION} ...\n{stdout}"
    );
    // moto has no `DescribeRepositoryCreationTemplates` (it answers HTTP 500): every target's
    // creation templates are named as not checked, which makes the exit code 2, not 1.
    assert_eq!(
        out.status.code(),
        Some(2),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout
            .matches("creation templates: ecr:DescribeRepositoryCreationTemplates failed")
            .count(),
        4,
        "{stdout}"
    );
    for line in [
        "SCAN: 7 repositories checked in 2 accounts and 2 regions (4 targets), mode revert: 4 compliant, 3 non-compliant, 3 reverted, 0 revert failures.",
        "  111111111111 eu-west-1: 2 checked, 1 non-compliant, 1 reverted",
        "  111111111111 us-east-1: 2 checked, 1 non-compliant, 1 reverted",
        "  222222222222 eu-west-1: 2 checked, 1 non-compliant, 1 reverted",
        "  222222222222 us-east-1: 1 checked, 0 non-compliant, 0 reverted",
        "  - 222222222222 eu-west-1 team/web (deny-by-default-required, no-wildcard-principal): reverted",
        "Every target was scanned (7 repositories in all).",
    ] {
        assert!(stdout.contains(line), "{line}\n{stdout}");
    }
    // Each account's own repository was reverted, in its own region.
    for (account, region) in [(HUB, REGION), (HUB, HUB_REGION), (SPOKE, REGION)] {
        let (sdk, _) = as_role(&moto, account, "setup", region).await;
        let policy = live(&aws_sdk_ecr::Client::new(&sdk), "team/web").await;
        assert!(
            RuleConfig::default().passes(&policy, Owner::Account(account)),
            "{account} {region}"
        );
    }
    // One alert per revert and one summary, through the hub's topic.
    let delivered = queue.drain(1).await.unwrap();
    let actions: Vec<String> = delivered
        .iter()
        .map(|n| {
            document(&serde_json::from_str(n).unwrap())["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "reverted").count(),
        3,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| *a == "scan-summary").count(),
        1,
        "{actions:?}"
    );
    // The positions live in the hub's account and region: one per target, and the sweep's.
    let ssm = aws_sdk_ssm::Client::new(&hub_sdk);
    for name in [
        "/ecr-policy-guard/scan-position".to_owned(),
        format!("/ecr-policy-guard/scan-position/{SPOKE}/{HUB_REGION}"),
        format!("/ecr-policy-guard/scan-position/{HUB}/{REGION}"),
    ] {
        let value = ssm.get_parameter().name(&name).send().await.unwrap();
        assert_eq!(
            value.parameter.unwrap().value.as_deref(),
            Some("-"),
            "{name}"
        );
    }

    // `scan_accounts = "organization"`: every active account, from organizations:ListAccounts
    // (moto emulates it), with the hub as the organization's management account here.
    let organizations = aws_sdk_organizations::Client::new(&hub_sdk);
    organizations
        .create_organization()
        .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
        .send()
        .await
        .unwrap();
    organizations
        .create_account()
        .email("member@example.com")
        .account_name("member")
        .send()
        .await
        .unwrap();
    let (account, partition) = caller_identity(&hub_sdk).await.unwrap();
    let accounts = AwsAccounts::new(&hub_sdk, account, partition, Some(SPOKE_ROLE.into()));
    let listed = accounts.organization_accounts().await.unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&HUB.to_owned()), "{listed:?}");
    assert!(listed.is_sorted());
}
