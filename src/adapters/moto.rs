//! A local AWS for the demo and the tests (feature `demo`): moto server on 127.0.0.1, SDK
//! configuration that points every client at it with dummy credentials, so nothing ever reaches
//! a real endpoint, and an SQS queue subscribed to an alert topic, to read alerts as delivered.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecr::config::Credentials;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The account moto serves.
pub const MOTO_ACCOUNT: &str = "123456789012";

/// Variable naming the `moto_server` executable; otherwise it is looked up on `PATH`.
pub const MOTO_SERVER_VAR: &str = "MOTO_SERVER";

/// A problem starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error(
        "`moto_server` not found on PATH (set {MOTO_SERVER_VAR}, or run through `tests/with-moto`, which installs moto[server])"
    )]
    NotInstalled,
    #[error("cannot start moto server: {0}")]
    Start(std::io::Error),
    #[error("moto server did not answer on {0} within 30 s")]
    NotReady(String),
    #[error("{operation}: {message}")]
    Sdk {
        operation: &'static str,
        message: String,
    },
}

/// An SDK error as one line naming the operation (the SDK's own text says only "service error").
pub fn sdk_error<E: std::error::Error>(operation: &'static str) -> impl FnOnce(E) -> LocalError {
    move |e| LocalError::Sdk {
        operation,
        message: aws_sdk_ecr::error::DisplayErrorContext(e).to_string(),
    }
}

/// A running moto server; stopped when dropped, and also when this process dies (it is
/// started under a shell that kills it once our end of its stdin closes).
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Result<Moto, LocalError> {
        Moto::start_with(&[])
    }

    /// A server with these environment variables set (e.g. `INITIAL_NO_AUTH_ACTION_COUNT`,
    /// which switches on moto's IAM enforcement after that many requests).
    pub fn start_with(env: &[(&str, &str)]) -> Result<Moto, LocalError> {
        let server = moto_server().ok_or(LocalError::NotInstalled)?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(LocalError::Start)?
            .port();
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#""$0" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & pid=$!; read line; kill $pid"#)
            .arg(&server)
            .arg(port.to_string())
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(LocalError::Start)?;
        let moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        moto.wait_ready(port)?;
        Ok(moto)
    }

    fn wait_ready(&self, port: u16) -> Result<(), LocalError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) {
                let request =
                    "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
                let mut head = [0u8; 12];
                if stream.write_all(request.as_bytes()).is_ok()
                    && stream.read_exact(&mut head).is_ok()
                    && head.starts_with(b"HTTP/1.")
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(LocalError::NotReady(self.endpoint.clone()))
    }

    /// SDK configuration for this server in `region`.
    pub async fn sdk_config(&self, region: &str) -> SdkConfig {
        sdk_config(&self.endpoint, region).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing stdin makes the shell kill the server; then reap the shell.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(MOTO_SERVER_VAR) {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("moto_server"))
        .find(|p| p.is_file())
}

/// SDK configuration for an emulator at `endpoint`: dummy credentials, fixed region.
pub async fn sdk_config(endpoint: &str, region: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new("test", "test", None, None, "local"))
        .load()
        .await
}

/// An SQS queue subscribed to an SNS topic: the alerts as a subscriber receives them.
pub struct AlertQueue {
    sqs: aws_sdk_sqs::Client,
    pub url: String,
}

impl AlertQueue {
    /// Creates the queue `name` (in the account of the credentials of `sdk`) and subscribes it
    /// to `topic_arn` (which must exist).
    pub async fn subscribe(
        sdk: &SdkConfig,
        topic_arn: &str,
        name: &str,
    ) -> Result<AlertQueue, LocalError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .map_err(sdk_error("sqs:CreateQueue"))?
            .queue_url
            .unwrap_or_default();
        let arn = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(sdk_error("sqs:GetQueueAttributes"))?
            .attributes
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                    .cloned()
            })
            .unwrap_or_default();
        aws_sdk_sns::Client::new(sdk)
            .subscribe()
            .topic_arn(topic_arn)
            .protocol("sqs")
            .endpoint(arn)
            .send()
            .await
            .map_err(sdk_error("sns:Subscribe"))?;
        Ok(AlertQueue { sqs, url })
    }

    /// Every notification delivered so far (SNS envelopes, JSON text), removing them from the
    /// queue; the first receive waits up to `wait_seconds` for one to arrive.
    pub async fn drain(&self, wait_seconds: i32) -> Result<Vec<String>, LocalError> {
        let mut all = Vec::new();
        let mut wait = wait_seconds;
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .send()
                .await
                .map_err(sdk_error("sqs:ReceiveMessage"))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(all);
            }
            wait = 0;
            for message in messages {
                if let Some(handle) = &message.receipt_handle {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(sdk_error("sqs:DeleteMessage"))?;
                }
                all.extend(message.body);
            }
        }
    }
}
