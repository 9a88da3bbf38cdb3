//! Table-driven: every template and plan in tests/fixtures/iac/ against its `NAME.expected.json`
//! (resources in order, each with its line, kind, violations at their lines, or the problem that
//! kept it from being judged; or the error that kept the whole file from being read).

use crate::root;
use ecr_policy_guard_core::RuleConfig;
use ecr_policy_guard_core::iac::{self, FileReport, ResourceReport, Settings};
use ecr_policy_guard_core::policy::{PolicyKind, RegistryScope};
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("tests/fixtures/iac"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            !name.ends_with(".expected.json") && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    files
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Runs a fixture as its sidecar says (`parameters`, `account`, `region`, `partition`,
/// `allowed_root_accounts`, `allowed_org_ids`, `allowed_replication_accounts`).
pub fn run(file: &Path, expected: &Value) -> FileReport {
    let strings = |key: &str| -> Vec<String> {
        expected[key]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let rules = RuleConfig::allowing(strings("allowed_root_accounts").iter().map(String::as_str))
        .unwrap()
        .with_orgs(strings("allowed_org_ids").iter().map(String::as_str))
        .unwrap()
        .with_replication_accounts(
            strings("allowed_replication_accounts")
                .iter()
                .map(String::as_str),
        )
        .unwrap();
    let parameters: Vec<(String, String)> = expected["parameters"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let settings = Settings {
        rules: &rules,
        account: expected["account"].as_str().unwrap_or(iac::DEFAULT_ACCOUNT),
        account_given: expected["account"].is_string(),
        region: expected["region"].as_str().unwrap_or(iac::DEFAULT_REGION),
        region_given: expected["region"].is_string(),
        partition: expected["partition"]
            .as_str()
            .unwrap_or(iac::DEFAULT_PARTITION),
        stack_name: iac::DEFAULT_STACK_NAME,
        parameters: &parameters,
        files_kind: PolicyKind::Repository,
        files_scope: RegistryScope::default(),
        strict: expected["strict"].as_bool().unwrap_or(false),
    };
    let text = fs::read_to_string(file).unwrap();
    iac::check_file(&name(file), &text, &settings)
}

/// A finding as the sidecars write it: (line, rule, statement, sid, principal, when).
fn finding_key(v: &Value) -> Value {
    json!([
        v["line"],
        v["rule"],
        v.get("statement").cloned().unwrap_or(Value::Null),
        v.get("sid").cloned().unwrap_or(Value::Null),
        v.get("principal").cloned().unwrap_or(Value::Null),
        v.get("when").cloned().unwrap_or(Value::Null),
    ])
}

fn sorted(mut keys: Vec<Value>) -> Vec<Value> {
    keys.sort_by_key(|k| k.to_string());
    keys
}

/// What is wrong with one resource's report against its expectation (`None`: it matches).
fn compare(got: &ResourceReport, want: &Value) -> Option<String> {
    let mut wrong = Vec::new();
    if let Some(line) = want["line"].as_u64()
        && got.line as u64 != line
    {
        wrong.push(format!("line {} (want {line})", got.line));
    }
    if let Some(kind) = want["kind"].as_str()
        && got.kind.as_str() != kind
    {
        wrong.push(format!("kind {} (want {kind})", got.kind.as_str()));
    }
    let findings = serde_json::to_value(&got.findings).unwrap();
    for f in findings.as_array().unwrap() {
        let message = f["message"].as_str().unwrap();
        if message.is_empty() || message.contains('\n') {
            wrong.push(format!("bad message {message:?}"));
        }
    }
    let got_keys = sorted(
        findings
            .as_array()
            .unwrap()
            .iter()
            .map(finding_key)
            .collect(),
    );
    let want_keys = sorted(
        want["violations"]
            .as_array()
            .map(|a| a.iter().map(finding_key).collect())
            .unwrap_or_default(),
    );
    if got_keys != want_keys {
        wrong.push(format!("findings {got_keys:?}, want {want_keys:?}"));
    }
    if let Some(deploys) = want["deploys"].as_u64()
        && got.deploys as u64 != deploys
    {
        wrong.push(format!("{} deploys judged (want {deploys})", got.deploys));
    }
    // Every assumption a resource was judged on is in its sidecar (none when absent).
    let assumed: Vec<&str> = got
        .assumptions
        .iter()
        .map(|a| a.parameter.as_str())
        .collect();
    let want_assumed: Vec<&str> = want["assumptions"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if assumed != want_assumed {
        wrong.push(format!("assumptions {assumed:?} (want {want_assumed:?})"));
    }
    for a in &got.assumptions {
        if a.message.is_empty() || a.message.contains('\n') || !a.message.contains(&a.parameter) {
            wrong.push(format!("bad assumption message {:?}", a.message));
        }
    }
    match (want["problem"].as_str(), got.problems.as_slice()) {
        (None, []) => {}
        (Some(text), problems) => {
            let line = want["problem_line"].as_u64();
            let hit = problems.iter().any(|p| {
                p.message.contains(text)
                    && !p.message.contains('\n')
                    && line.is_none_or(|l| p.line as u64 == l)
            });
            if !hit {
                wrong.push(format!("problems {problems:?} lack `{text}` at {line:?}"));
            }
        }
        (None, problems) => wrong.push(format!("unexpected problems {problems:?}")),
    }
    (!wrong.is_empty()).then(|| wrong.join("; "))
}

#[test]
fn template_and_plan_fixtures_match_their_expected_outcomes() {
    let files = fixtures();
    assert!(files.len() >= 25, "only {} iac fixtures", files.len());
    let (mut failures, mut judged) = (Vec::new(), 0);
    for file in &files {
        let sidecar = file.with_extension("expected.json");
        let expected: Value = serde_json::from_str(
            &fs::read_to_string(&sidecar)
                .unwrap_or_else(|e| panic!("{} has no sidecar: {e}", name(file))),
        )
        .unwrap_or_else(|e| panic!("{}: {e}", sidecar.display()));
        let report = run(file, &expected);
        let fixture = name(file);
        if let Some(want) = expected["error"].as_str() {
            match &report.error {
                Some(e) if e.message.contains(want) && !e.message.contains('\n') => {
                    if let Some(line) = expected["error_line"].as_u64()
                        && e.line as u64 != line
                    {
                        failures.push(format!("{fixture}: error at line {}, want {line}", e.line));
                    }
                }
                other => failures.push(format!("{fixture}: error {other:?}, want `{want}`")),
            }
            judged += 1;
            continue;
        }
        if let Some(e) = &report.error {
            failures.push(format!("{fixture}: unexpected file error {e:?}"));
            continue;
        }
        let wanted = expected["resources"]
            .as_array()
            .unwrap_or_else(|| panic!("{fixture}: the sidecar needs `resources` or `error`"));
        let got_ids: Vec<&str> = report
            .resources
            .iter()
            .map(|r| r.resource.as_str())
            .collect();
        let want_ids: Vec<&str> = wanted
            .iter()
            .map(|w| w["resource"].as_str().unwrap())
            .collect();
        if got_ids != want_ids {
            failures.push(format!(
                "{fixture}: resources {got_ids:?}, want {want_ids:?}"
            ));
            continue;
        }
        for (got, want) in report.resources.iter().zip(wanted) {
            match compare(got, want) {
                Some(wrong) => failures.push(format!("{fixture} `{}`: {wrong}", got.resource)),
                None => judged += 1,
            }
        }
    }
    // Every fixture file and every resource in them was judged (none skipped).
    assert!(
        judged >= files.len(),
        "{judged} judged of {} files",
        files.len()
    );
    assert!(
        failures.is_empty(),
        "{} iac fixture checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The verdict on a template is the verdict on the policy CloudFormation renders: judged as a
/// policy file, the rendered text gets the same violations.
#[test]
fn a_rendered_template_policy_judges_like_the_policy_file() {
    let expected = json!({});
    let template = run(
        &root().join("tests/fixtures/iac/cfn-cross-account-root.yaml"),
        &expected,
    );
    let policy = r#"{"Version": "2008-10-17", "Statement": [
      {"Sid": "allow-consumer-account", "Effect": "Allow",
       "Principal": {"AWS": "arn:aws:iam::987654321098:root"},
       "Action": ["ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage", "ecr:BatchCheckLayerAvailability"]},
      {"Sid": "DenyOutsideTheAccounts", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
       "Condition": {"StringNotEquals": {"aws:PrincipalAccount": ["123456789012", "987654321098"]}}}]}"#;
    let rules = RuleConfig::default();
    let direct = rules
        .check_text(
            policy,
            ecr_policy_guard_core::Owner::Account("123456789012"),
        )
        .unwrap();
    let from_template: Vec<_> = template.resources[0]
        .findings
        .iter()
        .map(|f| f.violation.clone())
        .collect();
    assert_eq!(from_template, direct);
    assert_eq!(direct.len(), 2, "{direct:?}");
}
