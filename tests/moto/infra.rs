//! The deployment templates (the SAM template and the StackSet one): cfn-lint passes, the
//! EventBridge rule's pattern (read from each template, matched by moto's EventBridge
//! implementation) selects exactly the sample events the guard judges, the function's IAM
//! statements grant exactly what the code calls, and the packaged zip stays small.
//! Needs `cfn-lint` and moto's Python package on PATH, as `tests/with-moto` provides.

use crate::support::{package, root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

/// Runs a tool from PATH; a missing tool fails the test with what to do about it.
fn tool(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): run the tests through tests/with-moto")
        })
}

const TEMPLATES: [&str; 2] = ["template.yaml", "stackset.yaml"];

fn infra_check(template: &str, what: &str) -> Value {
    let out = tool("python3", &["tests/infra_check.py", template, what]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cfn_lint_passes_on_every_template() {
    for template in TEMPLATES {
        let out = tool("cfn-lint", &[&format!("infra/{template}")]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cfn-lint {template}:\n{text}");
        assert!(
            text.trim().is_empty(),
            "cfn-lint warnings on {template}:\n{text}"
        );
    }
}

/// The sample files the rule must deliver: EventBridge envelopes the guard does not ignore
/// (a bare CloudTrail record never reaches EventBridge rules).
fn expected_deliveries() -> (BTreeSet<String>, usize) {
    let readme = std::fs::read_to_string(root().join("events/README.md")).unwrap();
    let mut expected = BTreeSet::new();
    let mut all = 0;
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let file = cells[0].trim_matches('`');
        all += 1;
        let text = std::fs::read_to_string(root().join("events").join(file)).unwrap();
        let event: Value = serde_json::from_str(&text).unwrap();
        if cells[1] != "ignore" && event.get("detail-type").is_some() {
            expected.insert(file.to_owned());
        }
    }
    (expected, all)
}

#[test]
fn each_rule_matches_exactly_the_sample_events_the_guard_judges() {
    let (expected, all) = expected_deliveries();
    assert!(expected.len() >= 10 && expected.len() < all);
    for template in TEMPLATES {
        let matched = infra_check(template, "pattern");
        let matched = matched.as_object().unwrap();
        assert_eq!(matched.len(), all, "{template}: every sample was tried");
        let got: BTreeSet<String> = matched
            .iter()
            .filter(|(_, m)| m.as_bool() == Some(true))
            .map(|(f, _)| f.clone())
            .collect();
        assert_eq!(got, expected, "{template}");
    }
}

/// The AWS operations the adapters call, as named in src/adapters/aws.rs (`"service:Operation"`).
fn operations_in_code() -> BTreeSet<String> {
    let code = std::fs::read_to_string(root().join("src/adapters/aws.rs")).unwrap();
    code.split('"')
        .filter(|s| {
            let mut parts = s.split(':');
            matches!((parts.next(), parts.next(), parts.next()), (Some("ecr" | "sns" | "cloudtrail" | "ssm"), Some(op), None)
                if op.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && op.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_function_may_do_only_what_the_code_calls() {
    let called = operations_in_code();
    let expected: BTreeSet<String> = [
        "cloudtrail:LookupEvents",
        "ecr:DescribeRepositories",
        "ecr:GetRepositoryPolicy",
        "ecr:SetRepositoryPolicy",
        "sns:Publish",
        "ssm:GetParameter",
        "ssm:PutParameter",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        called, expected,
        "the adapters' operations changed: review the templates' IAM statements"
    );
    for template in TEMPLATES {
        let mut granted = BTreeSet::new();
        for entry in infra_check(template, "iam").as_array().unwrap() {
            let (policy, statement) = (&entry["policy"], &entry["statement"]);
            assert_eq!(statement["Effect"], "Allow", "{template}");
            let actions: Vec<String> = match &statement["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Array(list) => list
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect(),
                other => panic!("{template}: unexpected Action {other}"),
            };
            let resource = statement["Resource"].to_string();
            for action in actions {
                assert!(
                    !action.contains('*'),
                    "{template}: wildcard action `{action}`"
                );
                // The one grant the code does not call itself: Lambda delivering a failed
                // invocation to the on-failure queue (SAM adds it implicitly).
                if policy == "on-failure-destination" {
                    assert_eq!(action, "sqs:SendMessage", "{template}");
                    assert!(
                        resource.contains("FailedInvocationQueue"),
                        "{template}: {resource}"
                    );
                    continue;
                }
                assert!(
                    called.contains(&action),
                    "{template}: `{action}` is granted but the code never calls it"
                );
                if action.starts_with("ecr:") {
                    assert_ne!(
                        statement["Resource"], "*",
                        "{template}: `{action}` on every resource"
                    );
                    assert!(
                        resource.contains(":repository/"),
                        "{template}: `{action}` on {resource}"
                    );
                }
                if action.starts_with("ssm:") {
                    assert!(
                        resource.contains(":parameter/ecr-policy-guard/scan-position"),
                        "{template}: {resource}"
                    );
                }
                granted.insert(action);
            }
        }
        assert_eq!(
            granted, called,
            "{template}: every call the code makes is granted"
        );
    }
}

/// The documented ceiling for the deployment zip (README, infra/README.md).
const MAX_ZIP_BYTES: u64 = 4_000_000;

#[test]
fn the_packaging_command_builds_a_zip_under_the_documented_size() {
    // The last line the command printed is "<path> <bytes> bytes".
    let line = &package().summary;
    let mut words = line.split_whitespace();
    let (path, bytes) = (
        words.next().unwrap(),
        words.next().unwrap().parse::<u64>().unwrap(),
    );
    assert_eq!(root().join(path), package().zip, "{line}");
    let on_disk = std::fs::metadata(&package().zip).unwrap().len();
    assert_eq!(bytes, on_disk, "{line}");
    assert!(
        bytes < MAX_ZIP_BYTES,
        "the zip is {bytes} bytes; the documented ceiling is {MAX_ZIP_BYTES}"
    );
    assert!(bytes > 500_000, "suspiciously small zip: {bytes} bytes");
}
