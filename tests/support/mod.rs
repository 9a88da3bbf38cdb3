//! Shared test support: one moto server per test binary, per-test AWS resources, counting
//! decorators around the real SDK adapters, and sample events re-targeted at a test's repository.

#![allow(dead_code)] // each test binary uses its own part of this module

use aws_sdk_ecr::error::DisplayErrorContext;
use ecr_policy_guard::alert::Alert;
use ecr_policy_guard::aws::{AwsPorts, CloudTrailHistory, EcrRegistry, SnsNotifier, SsmScanState};
use ecr_policy_guard::handler::Ports;
use ecr_policy_guard::local::Moto;
use ecr_policy_guard::ports::{
    History, HistoryPage, Notifier, PortError, Registry, RepositoryPage,
};
use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const REGION: &str = "eu-west-1";
pub const ACCOUNT: &str = "123456789012";

/// The test binary's moto server, started on first use; it stops when the process exits.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| Moto::start().unwrap_or_else(|e| panic!("{e}")))
}

/// A sample event from events/, re-targeted at `repository` so tests do not share state.
pub fn event(file: &str, repository: &str) -> Value {
    let path = format!("{}/events/{file}", env!("CARGO_MANIFEST_DIR"));
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

/// Counts the calls that pass through to a real adapter.
pub struct Counting<T> {
    pub inner: T,
    pub reads: AtomicUsize,
    pub writes: AtomicUsize,
}

impl<T> Counting<T> {
    pub fn new(inner: T) -> Self {
        Counting {
            inner,
            reads: AtomicUsize::new(0),
            writes: AtomicUsize::new(0),
        }
    }
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

impl<T: Registry + Sync> Registry for Counting<T> {
    async fn get_policy(
        &self,
        registry: &str,
        repository: &str,
    ) -> Result<Option<String>, PortError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_policy(registry, repository).await
    }
    async fn set_policy(
        &self,
        registry: &str,
        repository: &str,
        text: &str,
    ) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.set_policy(registry, repository, text).await
    }
    async fn list_repositories(&self, token: Option<String>) -> Result<RepositoryPage, PortError> {
        self.inner.list_repositories(token).await
    }
}

impl<T: History + Sync> History for Counting<T> {
    async fn policy_changes(
        &self,
        before: Option<&str>,
        token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.policy_changes(before, token).await
    }
}

impl<T: Notifier + Sync> Notifier for Counting<T> {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(alert).await
    }
}

/// One test's AWS: SDK clients on moto, a topic with an SQS subscriber, counted ports.
pub struct Aws {
    pub ecr: aws_sdk_ecr::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub topic_arn: String,
    pub queue_url: String,
    pub registry: Counting<EcrRegistry>,
    pub history: Counting<CloudTrailHistory>,
    pub notifier: Counting<SnsNotifier>,
    pub state: SsmScanState,
}

impl Aws {
    /// Resources named after the test; `create_topic: false` leaves the topic missing.
    pub async fn new(name: &str, create_topic: bool) -> Aws {
        let sdk = moto().sdk_config(REGION).await;
        let sns = aws_sdk_sns::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let topic_arn = format!("arn:aws:sns:{REGION}:{ACCOUNT}:{name}");
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .unwrap()
            .queue_url
            .unwrap();
        let ports = AwsPorts::new(&sdk, topic_arn.clone(), format!("/ecr-policy-guard/{name}"));
        let aws = Aws {
            ecr: aws_sdk_ecr::Client::new(&sdk),
            sns,
            sqs,
            topic_arn,
            queue_url,
            registry: Counting::new(ports.registry),
            history: Counting::new(ports.history),
            notifier: Counting::new(ports.notifier),
            state: ports.state,
        };
        if create_topic {
            aws.create_topic(name).await;
        }
        aws
    }

    /// Creates the topic and subscribes the queue to it.
    pub async fn create_topic(&self, name: &str) {
        let arn = self
            .sns
            .create_topic()
            .name(name)
            .send()
            .await
            .unwrap()
            .topic_arn
            .unwrap();
        assert_eq!(arn, self.topic_arn);
        let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
        self.sns
            .subscribe()
            .topic_arn(&arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .unwrap();
    }

    pub fn ports(
        &self,
    ) -> Ports<'_, Counting<EcrRegistry>, Counting<CloudTrailHistory>, Counting<SnsNotifier>> {
        Ports {
            registry: &self.registry,
            history: &self.history,
            notifier: &self.notifier,
        }
    }

    /// The ports with another CloudTrail history (a mocked client, say).
    pub fn with_history<'a, H>(
        &'a self,
        history: &'a H,
    ) -> Ports<'a, Counting<EcrRegistry>, H, Counting<SnsNotifier>> {
        Ports {
            registry: &self.registry,
            history,
            notifier: &self.notifier,
        }
    }

    /// The ports with another registry (a mocked ECR client, say).
    pub fn with_registry<'a, R>(
        &'a self,
        registry: &'a R,
    ) -> Ports<'a, R, Counting<CloudTrailHistory>, Counting<SnsNotifier>> {
        Ports {
            registry,
            history: &self.history,
            notifier: &self.notifier,
        }
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
        let mut all = Vec::new();
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return all;
            }
            for m in messages {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle.unwrap())
                    .send()
                    .await
                    .unwrap();
                all.push(serde_json::from_str(&m.body.unwrap()).unwrap());
            }
        }
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

/// Runs the `ecr-policy-guard` binary with `stdin` as its standard input.
pub fn run_cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The guard stops reading past its size limit, so a broken pipe here is expected.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}
