//! Shared support for the moto suites: the shared moto server (and private ones for tests that
//! count everything in an account), per-test AWS resources, the real SDK adapters wrapped in the
//! call-recording adapter, sample events re-targeted at a test's repository, and the CLI and
//! release Lambda binary run against the emulator.

use aws_sdk_ecr::error::DisplayErrorContext;
use ecr_policy_guard::adapters::aws::{
    AwsPorts, CloudTrailHistory, EcrRegistry, SnsNotifier, SsmScanState,
};
use ecr_policy_guard::adapters::memory::Recorded;
use ecr_policy_guard::adapters::moto::{AlertQueue, Moto};
use ecr_policy_guard::ports::{Ports, Registry};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

/// The repository's root folder.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The moto server most tests share, started on first use; it stops when the process exits.
/// Tests that count every repository of an account start their own with [`Moto::start`].
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start().unwrap_or_else(|e| panic!("{e}")))
}

/// A sample event from events/, re-targeted at `repository` so tests do not share state.
pub fn event(file: &str, repository: &str) -> Value {
    let path = root().join("events").join(file);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let detail = if event.get("detail").is_some() {
        &mut event["detail"]
    } else {
        &mut event
    };
    for part in ["requestParameters", "responseElements"] {
        if let Some(obj) = detail.get_mut(part).and_then(Value::as_object_mut)
            && obj.contains_key("repositoryName")
        {
            obj.insert("repositoryName".into(), repository.into());
        }
    }
    event
}

/// The policy text an event sets (SetRepositoryPolicy) or deleted (DeleteRepositoryPolicy).
pub fn event_policy(event: &Value) -> String {
    let detail = &event["detail"];
    detail["requestParameters"]["policyText"]
        .as_str()
        .or(detail["responseElements"]["policyText"].as_str())
        .unwrap()
        .to_owned()
}

/// The recorded SDK adapters, as the handler sees them.
pub type AwsPortsOf<'a, R, H> = Ports<'a, R, H, Recorded<SnsNotifier>, Recorded<SsmScanState>>;

/// One test's AWS: SDK clients on a moto server, a topic with an SQS subscriber (created on
/// demand), and the real adapters wrapped in the call-recording adapter.
pub struct Aws {
    sdk: aws_config::SdkConfig,
    pub ecr: aws_sdk_ecr::Client,
    pub topic_arn: String,
    name: String,
    queue: OnceLock<AlertQueue>,
    pub registry: Recorded<EcrRegistry>,
    pub history: Recorded<CloudTrailHistory>,
    pub notifier: Recorded<SnsNotifier>,
    pub state: Recorded<SsmScanState>,
}

impl Aws {
    /// Resources named after the test on the shared server; `create_topic: false` leaves the
    /// topic missing.
    pub async fn new(name: &str, create_topic: bool) -> Aws {
        Aws::on(moto(), name, create_topic).await
    }

    /// The same on a given server.
    pub async fn on(moto: &Moto, name: &str, create_topic: bool) -> Aws {
        let sdk = moto.sdk_config(REGION).await;
        let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}");
        let ports = AwsPorts::new(&sdk, topic_arn.clone(), format!("/ecr-policy-guard/{name}"));
        let aws = Aws {
            ecr: aws_sdk_ecr::Client::new(&sdk),
            sdk,
            topic_arn,
            name: name.to_owned(),
            queue: OnceLock::new(),
            registry: Recorded::new(ports.registry),
            history: Recorded::new(ports.history),
            notifier: Recorded::new(ports.notifier.sns),
            state: Recorded::new(ports.state),
        };
        if create_topic {
            aws.create_topic().await;
        }
        aws
    }

    /// Creates the topic and subscribes the test's queue to it.
    pub async fn create_topic(&self) {
        let arn = aws_sdk_sns::Client::new(&self.sdk)
            .create_topic()
            .name(&self.name)
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        assert_eq!(arn, self.topic_arn);
        let queue = AlertQueue::subscribe(&self.sdk, &arn, &self.name)
            .await
            .unwrap();
        assert!(self.queue.set(queue).is_ok(), "the topic is created once");
    }

    pub fn ports(&self) -> AwsPortsOf<'_, Recorded<EcrRegistry>, Recorded<CloudTrailHistory>> {
        Ports {
            registry: &self.registry,
            history: &self.history,
            notifier: &self.notifier,
            state: &self.state,
        }
    }

    /// The ports with another CloudTrail history (a mocked client, say).
    pub fn with_history<'a, H>(
        &'a self,
        history: &'a H,
    ) -> AwsPortsOf<'a, Recorded<EcrRegistry>, H> {
        Ports {
            registry: &self.registry,
            history,
            notifier: &self.notifier,
            state: &self.state,
        }
    }

    /// The ports with another registry (a mocked ECR client, say).
    pub fn with_registry<'a, R>(
        &'a self,
        registry: &'a R,
    ) -> AwsPortsOf<'a, R, Recorded<CloudTrailHistory>> {
        Ports {
            registry,
            history: &self.history,
            notifier: &self.notifier,
            state: &self.state,
        }
    }

    /// Calls made through the recorded registry: (reads, writes) of repository policies.
    pub fn registry_calls(&self) -> (usize, usize) {
        (
            self.registry.count("ecr:GetRepositoryPolicy"),
            self.registry.count("ecr:SetRepositoryPolicy"),
        )
    }

    pub async fn create_repository(&self, name: &str) {
        self.ecr
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .unwrap();
    }

    pub async fn set_policy(&self, repository: &str, text: &str) {
        self.ecr
            .set_repository_policy()
            .repository_name(repository)
            .policy_text(text)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}", DisplayErrorContext(e)));
    }

    pub async fn delete_policy(&self, repository: &str) {
        self.ecr
            .delete_repository_policy()
            .repository_name(repository)
            .send()
            .await
            .unwrap();
    }

    pub async fn live_policy(&self, repository: &str) -> Option<String> {
        self.registry
            .inner
            .get_policy(ACCOUNT, repository)
            .await
            .unwrap()
    }

    /// Every notification delivered to the queue so far (SNS envelopes), removing them.
    pub async fn alerts(&self) -> Vec<Value> {
        let queue = self
            .queue
            .get()
            .expect("the test's topic was never created");
        let bodies = queue.drain(0).await.unwrap();
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).unwrap())
            .collect()
    }
}

/// The alert document inside a delivered SNS notification.
pub fn document(notification: &Value) -> Value {
    serde_json::from_str(notification["Message"].as_str().unwrap()).unwrap()
}

/// A message attribute of a delivered SNS notification.
pub fn attribute<'a>(notification: &'a Value, name: &str) -> &'a str {
    notification["MessageAttributes"][name]["Value"]
        .as_str()
        .unwrap()
}

/// Runs the `ecr-policy-guard` binary against `moto` with the standard AWS environment
/// variables and nothing else (no profile, no real credentials).
pub fn cli_on(moto: &Moto, args: &[&str]) -> Output {
    cli_in(moto, REGION, args)
}

/// The same with `AWS_REGION` set to `region`.
pub fn cli_in(moto: &Moto, region: &str, args: &[&str]) -> Output {
    cli_as(moto, ["test", "test", ""], region, args)
}

/// The same with these credentials (access key, secret, session token or empty).
pub fn cli_as(moto: &Moto, keys: [&str; 3], region: &str, args: &[&str]) -> Output {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_REGION", region)
        .env("AWS_ENDPOINT_URL", &moto.endpoint)
        .env("AWS_ACCESS_KEY_ID", keys[0])
        .env("AWS_SECRET_ACCESS_KEY", keys[1]);
    if !keys[2].is_empty() {
        command.env("AWS_SESSION_TOKEN", keys[2]);
    }
    command.output().unwrap()
}

/// The deployment zip and the Lambda binary in it, built once per test run by
/// `infra/package.sh` (cargo lambda, release profile): the packaging test measures the zip and
/// the Runtime API test runs the binary, so the shipped artefact is what both test.
pub struct Package {
    /// The line the packaging command printed last: `<zip path> <bytes> bytes`.
    pub summary: String,
    pub zip: PathBuf,
    pub bootstrap: PathBuf,
}

pub fn package() -> &'static Package {
    static PACKAGE: OnceLock<Package> = OnceLock::new();
    PACKAGE.get_or_init(|| {
        let out = Command::new("bash")
            .arg("infra/package.sh")
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "infra/package.sh failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let summary = stdout.lines().last().unwrap_or_default().to_owned();
        let zip = root().join(summary.split_whitespace().next().unwrap());
        // The binary as shipped, unpacked next to the zip.
        let dir = zip.with_extension("unpacked");
        let status = Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&zip)
            .arg(&dir)
            .status()
            .unwrap();
        assert!(status.success(), "cannot unpack {}", zip.display());
        let bootstrap = dir.join("bootstrap");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bootstrap, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        Package {
            summary,
            zip,
            bootstrap,
        }
    })
}
