//! The deployment template: cfn-lint passes, the EventBridge rule's pattern (read from the
//! template, matched by moto's EventBridge implementation) selects exactly the sample events
//! the guard judges, and the function's IAM statements grant only what the code calls.
//! Needs `cfn-lint` and moto's Python package on PATH, as `tests/with-moto` provides.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

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

fn infra_check(what: &str) -> Value {
    let out = tool("python3", &["tests/infra_check.py", what]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn cfn_lint_passes_on_the_template() {
    let out = tool("cfn-lint", &["infra/template.yaml"]);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cfn-lint:\n{text}");
    assert!(text.trim().is_empty(), "cfn-lint warnings:\n{text}");
}

#[test]
fn the_rule_matches_exactly_the_sample_events_the_guard_judges() {
    let matched = infra_check("pattern");
    let readme = std::fs::read_to_string(root().join("events/README.md")).unwrap();
    let mut expected = BTreeSet::new();
    let mut all = BTreeSet::new();
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
        let file = cells[0].trim_matches('`');
        all.insert(file.to_owned());
        let event: Value = serde_json::from_str(
            &std::fs::read_to_string(root().join("events").join(file)).unwrap(),
        )
        .unwrap();
        // Only EventBridge deliveries reach the rule; a bare CloudTrail record never does.
        if cells[1] != "ignore" && event.get("detail-type").is_some() {
            expected.insert(file.to_owned());
        }
    }
    let got: BTreeSet<String> = matched
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, m)| m.as_bool() == Some(true))
        .map(|(f, _)| f.clone())
        .collect();
    assert_eq!(
        matched.as_object().unwrap().len(),
        all.len(),
        "every sample was matched"
    );
    assert_eq!(got, expected);
    assert!(expected.len() >= 10 && expected.len() < all.len());
}

/// The AWS operations the adapters call, as named in src/aws.rs (`"service:Operation"`).
fn operations_in_code() -> BTreeSet<String> {
    let code = std::fs::read_to_string(root().join("src/aws.rs")).unwrap();
    code.split('"')
        .filter(|s| {
            let mut parts = s.split(':');
            matches!((parts.next(), parts.next(), parts.next()), (Some("ecr" | "sns" | "cloudtrail"), Some(op), None)
                if op.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && op.chars().all(|c| c.is_ascii_alphanumeric()))
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_function_may_do_only_what_the_code_calls() {
    let called = operations_in_code();
    assert_eq!(
        called,
        [
            "cloudtrail:LookupEvents",
            "ecr:GetRepositoryPolicy",
            "ecr:SetRepositoryPolicy",
            "sns:Publish"
        ]
        .map(String::from)
        .into(),
        "the adapters' operations changed: review the template's IAM statements"
    );
    let mut granted = BTreeSet::new();
    for statement in infra_check("iam").as_array().unwrap() {
        assert_eq!(statement["Effect"], "Allow");
        let actions: Vec<String> = match &statement["Action"] {
            Value::String(a) => vec![a.clone()],
            Value::Array(list) => list
                .iter()
                .map(|a| a.as_str().unwrap().to_owned())
                .collect(),
            other => panic!("unexpected Action {other}"),
        };
        for action in actions {
            assert!(!action.contains('*'), "wildcard action `{action}`");
            assert!(
                called.contains(&action),
                "`{action}` is granted but the code never calls it"
            );
            if action.starts_with("ecr:") {
                assert_ne!(statement["Resource"], "*", "`{action}` on every resource");
                let resource = statement["Resource"].to_string();
                assert!(
                    resource.contains(":repository/"),
                    "`{action}` on {resource}"
                );
            }
            granted.insert(action);
        }
    }
    assert_eq!(granted, called, "every call the code makes is granted");
}

/// The documented ceiling for the deployment zip (README, infra/README.md).
const MAX_ZIP_BYTES: u64 = 4_000_000;

#[test]
fn the_packaging_command_builds_a_zip_under_the_documented_size() {
    let out = tool("infra/package.sh", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last line is "<path> <bytes> bytes".
    let line = stdout.lines().last().unwrap_or_default();
    let mut words = line.split_whitespace();
    let (path, bytes) = (
        words.next().unwrap(),
        words.next().unwrap().parse::<u64>().unwrap(),
    );
    let on_disk = std::fs::metadata(root().join(path)).unwrap().len();
    assert_eq!(bytes, on_disk, "{line}");
    assert!(
        bytes < MAX_ZIP_BYTES,
        "the zip is {bytes} bytes; the documented ceiling is {MAX_ZIP_BYTES}"
    );
    assert!(bytes > 500_000, "suspiciously small zip: {bytes} bytes");
}
