//! Every row of the README's bad-input table, tested: the CLI gives one clear line and exit 2,
//! and the Lambda's handler (in revert mode) logs, alerts and writes nothing, without a panic.

use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::memory::{Memory, Recorded};
use ecr_policy_guard::app::handle;
use ecr_policy_guard::ports::Ports;
use ecr_policy_guard_core::policy::MAX_STORED_POLICY_CHARS;
use ecr_policy_guard_core::{Mode, RuleId, Taken};

const SAMPLE: &str = include_str!("../../events/set-policy-compliant-push-pull.json");
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/app-pull"},"Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}},{"Sid":"DenyByDefault","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}"#;

enum Input {
    /// A policy document: `check` on the CLI; in the Lambda, the `policyText` of an event.
    Policy(Vec<u8>),
    /// A whole event: `evaluate` on the CLI and the Lambda's payload.
    Event(Vec<u8>),
}

/// (case id as in the README, input, fragment of the CLI's error, fragment of the Lambda column)
fn cases() -> Vec<(&'static str, Input, &'static str, &'static str)> {
    use Input::{Event, Policy};
    let bytes = |s: &str| s.as_bytes().to_vec();
    let replace = |from: &str, to: &str| {
        assert!(SAMPLE.contains(from), "{from}");
        bytes(&SAMPLE.replacen(from, to, 1))
    };
    let policy = |from: &str, to: &str| {
        assert!(POLICY.contains(from), "{from}");
        bytes(&POLICY.replacen(from, to, 1))
    };
    let too_long = POLICY.replacen(
        "\"Sid\":\"AllowPull\"",
        &format!("\"Sid\":\"{}\"", "A".repeat(12_000)),
        1,
    );
    vec![
        (
            "not-json",
            Event(bytes("hello")),
            "event is not JSON: it starts with `hello`",
            "`malformed-event`",
        ),
        (
            "wrong-top-level",
            Event(bytes(r#"["SetRepositoryPolicy"]"#)),
            "event must be a JSON object, found array",
            "`malformed-event`",
        ),
        (
            "truncated",
            Event(bytes(&SAMPLE[..SAMPLE.len() / 2])),
            "EOF while parsing",
            "`malformed-event`",
        ),
        (
            "trailing-data",
            Event(bytes(&format!("{SAMPLE} {{}}"))),
            "trailing characters",
            "`malformed-event`",
        ),
        (
            "duplicate-key-envelope",
            Event(replace(
                "\"source\": \"aws.ecr\",",
                "\"source\": \"aws.ecr\", \"source\": \"aws.s3\",",
            )),
            "duplicate key `source`",
            "`malformed-event`",
        ),
        (
            "duplicate-key-detail",
            Event(replace(
                "\"eventName\": \"SetRepositoryPolicy\",",
                "\"eventName\": \"SetRepositoryPolicy\", \"eventName\": \"PutImage\",",
            )),
            "duplicate key `eventName`",
            "`malformed-event`",
        ),
        (
            "duplicate-key-top",
            Policy(policy(
                "\"Version\":\"2012-10-17\",",
                "\"Version\":\"2012-10-17\",\"Version\":\"2008-10-17\",",
            )),
            "duplicate key `Version`",
            "`invalid-policy`",
        ),
        (
            "duplicate-key-statement",
            Policy(policy(
                "\"Effect\":\"Allow\",",
                "\"Effect\":\"Deny\",\"Effect\":\"Allow\",",
            )),
            "duplicate key `Effect`",
            "`invalid-policy`",
        ),
        (
            "duplicate-key-principal",
            Policy(policy(
                "{\"AWS\":\"arn:aws:iam::123456789012:role/app-pull\"}",
                "{\"AWS\":\"arn:aws:iam::123456789012:role/app-pull\",\"AWS\":\"*\"}",
            )),
            "duplicate key `AWS`",
            "`invalid-policy`",
        ),
        (
            "duplicate-key-condition",
            Policy(policy(
                "{\"aws:PrincipalOrgID\":\"o-a1b2c3d4e5\"}",
                "{\"aws:PrincipalOrgID\":\"o-a1b2c3d4e5\",\"aws:PrincipalOrgID\":\"*\"}",
            )),
            "duplicate key `aws:PrincipalOrgID`",
            "`invalid-policy`",
        ),
        (
            "invalid-utf8",
            Event(vec![0xff, 0xfe, b'{', b'}']),
            "not valid UTF-8",
            "invocation error",
        ),
        (
            "huge-event",
            Event(vec![b' '; 10 * 1024 * 1024]),
            "larger than 1048576 bytes",
            "`malformed-event`",
        ),
        (
            "deep-nesting",
            Event(bytes(&("[".repeat(1000) + &"]".repeat(1000)))),
            "recursion limit exceeded",
            "`malformed-event`",
        ),
        (
            "policy-too-long",
            Policy(bytes(&too_long)),
            "ECR's limit is 10240",
            "`invalid-policy`",
        ),
        (
            "number-for-string",
            Policy(policy("\"Effect\":\"Allow\"", "\"Effect\":1")),
            "`Effect` must be `Allow` or `Deny`, found number",
            "`invalid-policy`",
        ),
        (
            "number-for-string-event",
            Event(replace(
                "\"eventName\": \"SetRepositoryPolicy\"",
                "\"eventName\": 5",
            )),
            "`detail.eventName`: invalid type: integer `5`, expected a string",
            "`malformed-event`",
        ),
        (
            "empty-array",
            Policy(policy("\"Action\":\"ecr:BatchGetImage\"", "\"Action\":[]")),
            "`Action` must not be an empty array",
            "`invalid-policy`",
        ),
        (
            "unknown-key",
            Policy(policy(
                "\"Action\":\"ecr:*\"",
                "\"Action\":\"ecr:*\",\"Resource\":\"*\"",
            )),
            "`Resource` is not allowed in an ECR repository policy",
            "`invalid-policy`",
        ),
        (
            "policy-text-not-string",
            Event(bytes(&{
                let mut e: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
                e["detail"]["requestParameters"]["policyText"] = 42.into();
                e.to_string()
            })),
            "`detail.requestParameters.policyText`: invalid type: integer `42`, expected a string",
            "`malformed-event`",
        ),
    ]
}

/// The rows of the README's bad-input table, by case id.
fn readme_rows() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(crate::root().join("README.md")).unwrap();
    let section = readme
        .split("## Bad input")
        .nth(1)
        .expect("README has a `## Bad input` section");
    let section = section.split("\n## ").next().unwrap_or_default();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| (l.split('`').nth(1).unwrap().to_owned(), l.to_owned()))
        .collect()
}

#[test]
fn the_readme_table_lists_exactly_the_tested_cases_with_their_messages() {
    let rows = readme_rows();
    let ids: Vec<&str> = rows.iter().map(|(id, _)| id.as_str()).collect();
    let tested: Vec<&str> = cases().iter().map(|c| c.0).collect();
    assert_eq!(ids, tested);
    for ((_, row), (id, _, cli, lambda)) in rows.iter().zip(cases()) {
        assert!(
            row.contains(cli),
            "README row `{id}` does not quote `{cli}`"
        );
        assert!(
            row.contains(lambda),
            "README row `{id}` does not say `{lambda}`"
        );
    }
}

#[test]
fn the_cli_gives_one_line_and_exit_2_for_every_bad_input() {
    for (id, input, expected, _) in cases() {
        let (args, bytes) = match input {
            Input::Policy(b) => (["check", "-"], b),
            Input::Event(b) => (["evaluate", "-"], b),
        };
        let out = crate::run_cli(&args, &bytes);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{id}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{id}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{id}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{id}");
    }
}

#[tokio::test]
async fn the_lambda_handler_alerts_and_never_writes_for_every_bad_input() {
    let config = Config {
        mode: Mode::Revert,
        ..Config::default()
    };
    for (id, input, _, lambda) in cases() {
        let payload = match input {
            Input::Event(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                // The runtime refuses a non-UTF-8 payload before the handler (tested with the
                // real binary in tests/lambda_runtime.rs).
                Err(_) => {
                    assert_eq!(lambda, "invocation error", "{id}");
                    continue;
                }
            },
            Input::Policy(bytes) => {
                // Both copies: the guard judges ECR's stored copy when only the caller's is bad.
                let mut event: serde_json::Value = serde_json::from_str(SAMPLE).unwrap();
                let text = String::from_utf8(bytes).unwrap();
                // ECR's copy is read up to the longest ECR makes: a copy too long for the
                // caller is unreadable as ECR's only beyond that.
                let stored = match id {
                    "policy-too-long" => {
                        text.replacen("AAAA", &"A".repeat(MAX_STORED_POLICY_CHARS), 1)
                    }
                    _ => text.clone(),
                };
                event["detail"]["requestParameters"]["policyText"] = text.into();
                event["detail"]["responseElements"]["policyText"] = stored.into();
                event.to_string()
            }
        };
        // The repository exists, so a read or a write would succeed: none may happen.
        let aws = Recorded::new(Memory::new("123456789012").with_repository("team-a/web", None));
        let incident = handle(&payload, &config, Ports::all(&aws)).await.unwrap();
        let calls: Vec<&str> = aws.calls().iter().map(|c| c.operation).collect();
        assert_eq!(calls, ["sns:Publish"], "{id}");
        let alerts = aws.inner.alerts();
        assert_eq!(alerts.len(), 1, "{id}");
        match lambda {
            "`malformed-event`" => assert_eq!(incident.taken, Taken::MalformedEvent, "{id}"),
            "`invalid-policy`" => {
                assert_eq!(incident.taken, Taken::Alerted, "{id}");
                let outcome = incident.outcome.unwrap();
                assert_eq!(outcome.violations[0].rule, RuleId::InvalidPolicy, "{id}");
            }
            other => panic!("{id}: unknown expectation {other}"),
        }
        assert!(!alerts[0].subject.is_empty());
    }
}
