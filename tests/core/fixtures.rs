//! Table-driven tests: every sample event and fixture carries its expected outcome.

use crate::{root, sample_rules};
use ecr_policy_guard_core::event::Subject;
use ecr_policy_guard_core::policy::{PolicyKind, RegistryScope};
use ecr_policy_guard_core::registry::Replication;
use ecr_policy_guard_core::{Mode, Owner, RuleConfig, evaluate};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// The `NAME.json` files of a folder that are inputs (not `NAME.expected.json` sidecars).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.ends_with(".json") && !name.ends_with(".expected.json")
        })
        .collect();
    files.sort();
    files
}

fn sidecar(input: &Path) -> Value {
    let path = input.with_extension("expected.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} has no sidecar {}: {e}", input.display(), path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// A comparable form of a violation: (rule, statement, sid, principal, via).
type Key = (
    String,
    Option<u64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A sidecar may leave `via` out where it is the `Principal` element (principal rules) or
/// nothing (the others); the guard's output always has it.
fn key(v: &Value) -> Key {
    let rule = v["rule"].as_str().unwrap().to_owned();
    let via = match v.get("via") {
        Some(via) => via.as_str().map(str::to_owned),
        None if rule == "no-root-principal" || rule == "no-wildcard-principal" => {
            Some("principal".to_owned())
        }
        None => None,
    };
    (
        rule,
        v["statement"].as_u64(),
        v["sid"].as_str().map(str::to_owned),
        v["principal"].as_str().map(str::to_owned),
        via,
    )
}

fn sorted(mut keys: Vec<Key>) -> Vec<Key> {
    keys.sort();
    keys
}

#[test]
fn policy_fixtures_match_their_expected_outcomes() {
    let dir = root().join("tests/fixtures/policies");
    let files = inputs(&dir);
    assert!(files.len() >= 50, "only {} policy fixtures", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let expected = sidecar(file);
        let text = fs::read_to_string(file).unwrap();
        let allowlist = expected["allowed_root_accounts"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>())
            .unwrap_or_default();
        let orgs = expected["allowed_org_ids"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>())
            .unwrap_or_default();
        let rules = RuleConfig::allowing(allowlist)
            .unwrap()
            .with_orgs(orgs)
            .unwrap();
        // The repository's own account, when the fixture says it; unknown otherwise (`check`).
        let owner = match expected["account"].as_str() {
            Some(account) => Owner::Account(account),
            None => Owner::Unknown,
        };
        // `"kind": "registry"`: a registry policy of that account and region (`check --registry`).
        let kind = match expected["kind"].as_str() {
            Some("registry") => PolicyKind::Registry,
            None => PolicyKind::Repository,
            Some(other) => panic!("{}: unknown kind `{other}`", name(file)),
        };
        let scope = RegistryScope {
            account: expected["account"].as_str(),
            region: expected["region"].as_str(),
        };
        let result = rules.check_kind(&text, kind, scope, owner);
        compare(file, &result, &expected, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn replication_fixtures_match_their_expected_outcomes() {
    let dir = root().join("tests/fixtures/replication");
    let files = inputs(&dir);
    assert!(
        files.len() >= 7,
        "only {} replication fixtures",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let expected = sidecar(file);
        let allowlist = expected["allowed_replication_accounts"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect::<Vec<_>>())
            .unwrap_or_default();
        let rules = RuleConfig::default()
            .with_replication_accounts(allowlist)
            .unwrap();
        let owner = match expected["account"].as_str() {
            Some(account) => Owner::Account(account),
            None => Owner::Unknown,
        };
        let text = fs::read_to_string(file).unwrap();
        let result = Replication::parse(&text).map(|r| rules.check_replication(&r, owner));
        compare(file, &result, &expected, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Compares one fixture's result with its sidecar: the error it must contain (on one line), or
/// exactly its violations (and their resources, where the sidecar lists them).
fn compare<E: std::fmt::Display>(
    file: &Path,
    result: &Result<Vec<ecr_policy_guard_core::Violation>, E>,
    expected: &Value,
    failures: &mut Vec<String>,
) {
    {
        match (result, expected.get("error").and_then(Value::as_str)) {
            (Err(error), Some(want)) => {
                let error = error.to_string();
                if !error.contains(want) || error.contains('\n') {
                    failures.push(format!("{}: error `{error}` lacks `{want}`", name(file)));
                }
            }
            (Ok(violations), None) => {
                let got = serde_json::to_value(violations).unwrap();
                for v in got.as_array().unwrap() {
                    assert!(!v["message"].as_str().unwrap().is_empty());
                }
                for (i, want) in expected["violations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    if let Some(resources) = want.get("resources")
                        && !got.as_array().unwrap().iter().any(|v| {
                            key(v) == key(want)
                                && v.get("resources").unwrap_or(&Value::Array(vec![])) == resources
                        })
                    {
                        failures.push(format!(
                            "{}: violation {i} lacks resources {resources}",
                            name(file)
                        ));
                    }
                }
                let got = sorted(got.as_array().unwrap().iter().map(key).collect());
                let want = sorted(
                    expected["violations"]
                        .as_array()
                        .unwrap_or_else(|| {
                            panic!("{}: sidecar needs `violations` or `error`", name(file))
                        })
                        .iter()
                        .map(key)
                        .collect(),
                );
                if got != want {
                    failures.push(format!("{}: got {got:?}, want {want:?}", name(file)));
                }
            }
            (Err(error), None) => {
                failures.push(format!("{}: unexpected error: {error}", name(file)))
            }
            (Ok(v), Some(want)) => failures.push(format!(
                "{}: parsed ({} violations), want error `{want}`",
                name(file),
                v.len()
            )),
        }
    }
}

/// Rows of the table in events/README.md: file, alert-mode action, revert-mode action, rules.
fn readme_table() -> Vec<(String, String, String, Vec<String>)> {
    let readme = fs::read_to_string(root().join("events/README.md")).unwrap();
    readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 4, "bad row: {line}");
            let mut rules: Vec<String> = match cells[3] {
                "-" => vec![],
                list => list.split(',').map(|r| r.trim().to_owned()).collect(),
            };
            rules.sort();
            (
                cells[0].trim_matches('`').to_owned(),
                cells[1].to_owned(),
                cells[2].to_owned(),
                rules,
            )
        })
        .collect()
}

#[test]
fn sample_events_match_the_events_readme_exactly() {
    let dir = root().join("events");
    let table = readme_table();
    let listed: BTreeSet<String> = table.iter().map(|r| r.0.clone()).collect();
    let present: BTreeSet<String> = inputs(&dir).iter().map(|p| name(p)).collect();
    assert_eq!(listed.len(), table.len(), "a file is listed twice");
    assert_eq!(
        listed, present,
        "events/README.md must list exactly the files in events/"
    );

    let sample_rules = sample_rules();
    for (file, alert, revert, rules) in &table {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        for (mode, want) in [(Mode::Alert, alert), (Mode::Revert, revert)] {
            let outcome =
                evaluate(&text, &sample_rules, mode).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(
                outcome.action.as_str(),
                want,
                "{file} in {mode} mode: {}",
                outcome.reason
            );
            let mut got: Vec<String> = outcome
                .violations
                .iter()
                .map(|v| v.rule.to_string())
                .collect();
            got.sort();
            assert_eq!(&got, rules, "{file} in {mode} mode");
            assert!(!outcome.reason.is_empty());
            if want != "ignore" {
                let f = &outcome.facts;
                // Registry-level events name no repository; a template names its prefix.
                let named = match f.subject {
                    Subject::Repository => ("repository", &f.repository),
                    Subject::CreationTemplate => ("template_prefix", &f.template_prefix),
                    Subject::RegistryPolicy | Subject::Replication => ("account", &f.account),
                };
                for (field, value) in [
                    ("account", &f.account),
                    ("region", &f.region),
                    named,
                    ("registry_id", &f.registry_id),
                    ("event_id", &f.event_id),
                    ("event_time", &f.event_time),
                    ("actor", &f.actor),
                    ("source_ip", &f.source_ip),
                ] {
                    assert!(value.is_some(), "{file}: no {field}");
                }
            }
        }
    }
}

#[test]
fn malformed_event_fixtures_fail_with_their_expected_errors() {
    let dir = root().join("tests/fixtures/events");
    let files = inputs(&dir);
    assert!(files.len() >= 10, "only {} malformed events", files.len());
    for file in &files {
        let want = sidecar(file)["error"].as_str().unwrap().to_owned();
        let text = fs::read_to_string(file).unwrap();
        match evaluate(&text, &RuleConfig::default(), Mode::Alert) {
            Ok(outcome) => panic!("{}: accepted as {:?}", name(file), outcome.action),
            Err(error) => {
                let error = error.to_string();
                assert!(
                    error.contains(&want),
                    "{}: `{error}` lacks `{want}`",
                    name(file)
                );
                assert!(!error.contains('\n'), "{}: multi-line error", name(file));
            }
        }
    }
}

#[test]
fn both_copies_of_a_set_policy_event_are_judged() {
    let rules = sample_rules();
    let outcome = |file: &str| {
        evaluate(&crate::sample(file), &rules, Mode::Revert).unwrap_or_else(|e| panic!("{e}"))
    };
    // ECR re-formats what it stores: the same document is not "different".
    assert!(!outcome("set-policy-compliant-push-pull.json").copies_differ);
    // ECR stored the bare id as a root ARN: both copies' grants are reported.
    let differs = outcome("set-policy-stored-copy-differs.json");
    assert!(differs.copies_differ);
    let principals: Vec<_> = differs
        .violations
        .iter()
        .map(|v| v.principal.clone())
        .collect();
    assert_eq!(
        principals,
        [
            Some("987654321098".to_owned()),
            Some("arn:aws:iam::987654321098:root".to_owned())
        ]
    );
    assert!(
        differs.reason.contains("ECR stored a different document"),
        "{}",
        differs.reason
    );
    // The caller's copy cannot be read, ECR's can: it is judged, and reverted.
    let duplicate = outcome("set-policy-duplicate-keys.json");
    assert!(duplicate.copies_differ);
    assert_eq!(duplicate.action.as_str(), "revert");
    assert!(
        duplicate
            .reason
            .contains("judged on ECR's stored copy; the caller's text cannot be parsed"),
        "{}",
        duplicate.reason
    );
}
