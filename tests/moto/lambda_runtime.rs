//! The shipped Lambda binary (the `bootstrap` of the deployment zip) driven through the Lambda
//! Runtime API protocol: a small fake of the Runtime API hands it events and captures its
//! responses, while it acts on moto server.

use crate::support::{ACCOUNT, Aws, REGION, attribute, event, event_policy, package};
use ecr_policy_guard::adapters::moto::Moto;
use serde_json::Value;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the fake Runtime API saw: (request id, "response" or "error", body).
type Posted = (String, String, String);

/// Serves `events` one per `GET .../invocation/next` (then holds further GETs open) and
/// reports every posted response or error.
fn fake_runtime_api(events: Vec<Vec<u8>>) -> (u16, Receiver<Posted>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let queue = Arc::new(Mutex::new(VecDeque::from(events)));
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            let (queue, tx) = (queue.clone(), tx.clone());
            std::thread::spawn(move || serve(stream, n, &queue, &tx));
        }
    });
    (port, rx)
}

fn serve(stream: TcpStream, conn: usize, queue: &Mutex<VecDeque<Vec<u8>>>, tx: &Sender<Posted>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut served = 0;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        if path.ends_with("/invocation/next") {
            let Some(event) = queue.lock().unwrap().pop_front() else {
                // No more events: keep the runtime waiting, as Lambda does between invocations.
                std::thread::sleep(Duration::from_secs(3600));
                return;
            };
            served += 1;
            let id = format!("req-{conn}-{served}");
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nLambda-Runtime-Aws-Request-Id: {id}\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:{REGION}:{ACCOUNT}:function:ecr-policy-guard\r\n\r\n",
                event.len()
            );
            writer.write_all(head.as_bytes()).unwrap();
            writer.write_all(&event).unwrap();
        } else {
            let mut parts = path.rsplit('/');
            let kind = parts.next().unwrap_or_default().to_owned();
            let id = parts.next().unwrap_or_default().to_owned();
            writer
                .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}")
                .unwrap();
            tx.send((id, kind, String::from_utf8(body).unwrap()))
                .unwrap();
        }
    }
}

fn lambda_command(binary: &PathBuf, runtime_port: u16, endpoint: &str) -> Command {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lambda-home");
    std::fs::create_dir_all(&home).unwrap();
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env(
            "AWS_LAMBDA_RUNTIME_API",
            format!("127.0.0.1:{runtime_port}"),
        )
        .env("AWS_LAMBDA_FUNCTION_NAME", "ecr-policy-guard")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", REGION)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test]
async fn the_release_binary_handles_events_through_the_runtime_api() {
    let binary = package().bootstrap.clone();
    // A moto server of its own: the scheduled scan below counts every repository it holds.
    let moto = Moto::start().unwrap();
    let aws = Aws::on(&moto, "runtime-api", true).await;
    let repo = "t-runtime/base";
    let ev = event("set-policy-cross-account-root.json", repo);
    aws.create_repository(repo).await;
    aws.set_policy(repo, &event_policy(&ev)).await;
    let malformed = r#"{"detail-type": "AWS API Call via CloudTrail", "source": "aws.ecr"}"#;
    let not_utf8 = vec![0xff, 0xfe, b'{', b'}'];
    let scheduled = format!(
        r#"{{"version":"0","id":"5e1f7c3a-0d9b-4d8e-9a51-2f8c6b7e4d10","detail-type":"Scheduled Event","source":"aws.events","account":"{ACCOUNT}","time":"2026-11-29T06:00:00Z","region":"{REGION}","resources":["arn:aws:events:{REGION}:{ACCOUNT}:rule/ecr-policy-guard-scan"],"detail":{{}}}}"#
    );
    let (port, posted) = fake_runtime_api(vec![
        ev.to_string().into_bytes(),
        malformed.as_bytes().to_vec(),
        not_utf8,
        scheduled.into_bytes(),
    ]);

    let mut child = lambda_command(&binary, port, &moto.endpoint)
        .env("GUARD_MODE", "revert")
        .env("GUARD_ALERT_TOPIC_ARN", &aws.topic_arn)
        .env(
            "GUARD_SCAN_STATE_PARAMETER",
            "/ecr-policy-guard/runtime-test",
        )
        .spawn()
        .unwrap();
    let first = posted.recv_timeout(Duration::from_secs(60));
    let second = posted.recv_timeout(Duration::from_secs(60));
    let third = posted.recv_timeout(Duration::from_secs(60));
    let fourth = posted.recv_timeout(Duration::from_secs(60));
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout).into_owned();
    let (id, kind, body) = first.unwrap_or_else(|e| panic!("no response ({e}); logs:\n{logs}"));
    assert_eq!(kind, "response", "{body}");
    assert!(id.starts_with("req-"));
    let response: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(response["taken"], "reverted");
    assert_eq!(response["outcome"]["repository"], repo);
    let live = aws.live_policy(repo).await.unwrap();
    assert!(!live.contains(":root"), "{live}");

    let (_, kind, body) = second.unwrap();
    assert_eq!(
        kind, "response",
        "a malformed event is answered, not failed: {body}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["taken"],
        "malformed-event"
    );

    // A payload that is not UTF-8 never reaches the handler: the runtime reports an
    // invocation error (Lambda retries it, then sends it to the on-failure destination).
    let (_, kind, body) = third.unwrap();
    assert_eq!(kind, "error", "{body}");

    // A scheduled event runs the reconciliation scan over the account's repositories (this
    // test's moto server holds only the one reverted above, compliant by now).
    let (_, kind, body) = fourth.unwrap();
    assert_eq!(kind, "response", "{body}");
    let scan: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (scan["scanned"].clone(), scan["compliant"].clone()),
        (1.into(), 1.into()),
        "{scan}"
    );
    assert_eq!(scan["complete"], true);

    let alerts = aws.alerts().await;
    let actions: Vec<&str> = alerts.iter().map(|a| attribute(a, "action")).collect();
    assert_eq!(actions, ["reverted", "malformed-event", "scan-summary"]);

    // Lambda-style JSON logs: one line per event, the malformed one at ERROR.
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["repository"] == repo && l["fields"]["taken"] == "reverted"),
        "{logs}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["level"] == "ERROR" && l["fields"]["taken"] == "malformed-event"),
        "{logs}"
    );
}

#[test]
fn invalid_settings_fail_the_cold_start_naming_the_variable() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_ecr-policy-guard-lambda"));
    let output = lambda_command(&binary, 9, "http://127.0.0.1:9")
        .env("GUARD_MODE", "loud")
        .env(
            "GUARD_ALERT_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:123456789012:alerts",
        )
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains("GUARD_MODE") && all.contains("`loud`"),
        "{all}"
    );

    let output = lambda_command(&binary, 9, "http://127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(all.contains("GUARD_ALERT_TOPIC_ARN"), "{all}");

    // Hub settings are checked at cold start too: other accounts only through a spoke role.
    let output = lambda_command(&binary, 9, "http://127.0.0.1:9")
        .env(
            "GUARD_ALERT_TOPIC_ARN",
            "arn:aws:sns:eu-west-1:123456789012:alerts",
        )
        .env("GUARD_SCAN_ACCOUNTS", "111111111111,222222222222")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let all = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(
        all.contains("GUARD_SCAN_ACCOUNTS") && all.contains("needs `spoke_role_name`"),
        "{all}"
    );
}
