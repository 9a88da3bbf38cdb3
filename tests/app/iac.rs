//! `check` on templates and plans through the binary: `path:line:` text, SARIF and JUnit, the
//! deployment flags, and exit codes 0 / 1 / 2. The SARIF is validated by Microsoft's SARIF
//! multitool (installed from npm into target/sarif-multitool on first use).

use crate::cli::{code, stderr, stdout};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SEED: &str = "tests/fixtures/iac/cfn-seed-push-pull-deny.yaml";
const ROOT_GRANT: &str = "tests/fixtures/iac/cfn-cross-account-root.yaml";

fn run(args: &[&str]) -> Output {
    // Relative paths, as a pipeline passes them: the output names them as given.
    let mut command = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"));
    command.args(args).current_dir(crate::root());
    command.output().unwrap()
}

fn sarif(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["check", "--format", "sarif"];
    all.extend_from_slice(args);
    let out = run(&all);
    let log = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    (code(&out), log)
}

#[test]
fn the_seed_template_passes_and_a_cross_account_root_grant_fails_at_its_line() {
    let out = run(&["check", SEED]);
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert_eq!(
        stdout(&out).lines().next(),
        Some(format!("{SEED}:37: COMPLIANT `ECRRepository` (AWS::ECR::Repository)").as_str())
    );
    let out = run(&["check", ROOT_GRANT]);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "{ROOT_GRANT}:17: `Repository`: no-root-principal at statement 0 (`allow-consumer-account`), principal `arn:aws:iam::987654321098:root`"
        )),
        "{text}"
    );
    // Every line about a place leads with `path:line:`; the summary closes.
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[..lines.len() - 1]
            .iter()
            .all(|l| l.starts_with(&format!("{ROOT_GRANT}:"))),
        "{text}"
    );
    assert_eq!(
        lines.last(),
        Some(
            &"1 file, 1 resource: 0 compliant, 1 not compliant, 0 not judged (2 violations, 1 assumption)"
        )
    );
    // `ConsumerAccount` has no `AllowedValues`: judged with its `Default`, and said so.
    assert!(
        text.contains(&format!(
            "{ROOT_GRANT}:7: `Repository`: assumed: parameter `ConsumerAccount` has no `AllowedValues`, so a deploy may give it any value: judged with `987654321098` only"
        )),
        "{text}"
    );
}

#[test]
fn sarif_has_a_descriptor_per_rule_and_results_at_the_statement_line() {
    let (code, log) = sarif(&[ROOT_GRANT, SEED]);
    assert_eq!(code, 1);
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "no-root-principal",
            "no-wildcard-principal",
            "no-allow-not-principal",
            "no-unscoped-service-principal",
            "deny-by-default-required",
            "no-unapproved-replication",
            "invalid-policy"
        ]
    );
    for rule in rules {
        assert!(rule["shortDescription"]["text"].is_string());
        assert!(rule["fullDescription"]["text"].is_string());
        assert!(rule["help"]["text"].as_str().unwrap().contains("Fix: "));
    }
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 2, "the seed template adds none: {results:?}");
    let root = &results[0];
    assert_eq!(root["ruleId"], "no-root-principal");
    assert_eq!(root["ruleIndex"], 0);
    let place = &root["locations"][0]["physicalLocation"];
    assert_eq!(place["artifactLocation"]["uri"], ROOT_GRANT);
    assert_eq!(place["region"]["startLine"], 17);
    assert_eq!(
        root["locations"][0]["logicalLocations"][0]["name"],
        "Repository"
    );
    assert_eq!(run["invocations"][0]["executionSuccessful"], true);
}

#[test]
fn sarif_fingerprints_survive_edits_elsewhere_in_the_file() {
    let dir = crate::cli::tempdir();
    let original = std::fs::read_to_string(crate::root().join(ROOT_GRANT)).unwrap();
    let (a, b) = (dir.join("a.yaml"), dir.join("b.yaml"));
    std::fs::write(&a, &original).unwrap();
    // Three comment lines above the resources: every line moves, no finding changes.
    let moved = original.replacen("Resources:", "# one\n# two\n# three\nResources:", 1);
    std::fs::write(&b, moved).unwrap();
    let fingerprints = |path: &Path| {
        std::fs::copy(path, dir.join("t.yaml")).unwrap();
        let (_, log) = sarif(&[dir.join("t.yaml").to_str().unwrap()]);
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["partialFingerprints"]["ecrPolicyGuard/v1"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    r["locations"][0]["physicalLocation"]["region"]["startLine"]
                        .as_u64()
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let (before, after) = (fingerprints(&a), fingerprints(&b));
    assert_eq!(before.len(), 2);
    for ((fa, la), (fb, lb)) in before.iter().zip(&after) {
        assert_eq!(fa, fb);
        assert_eq!(la + 3, *lb);
    }
    assert_ne!(before[0].0, before[1].0);
}

#[test]
fn junit_has_a_case_per_resource_and_a_failure_per_violation() {
    let out = run(&["check", "--format", "junit", ROOT_GRANT, SEED]);
    assert_eq!(code(&out), 1);
    let xml = stdout(&out);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"));
    assert!(
        xml.contains(r#"<testsuites name="ecr-policy-guard" tests="2" failures="1" errors="0">"#),
        "{xml}"
    );
    assert_eq!(xml.matches("<failure type=").count(), 2, "{xml}");
    assert!(xml.contains(&format!("{ROOT_GRANT}:17: no-root-principal")));
    assert!(
        xml.contains("repository&apos;s own account"),
        "escaped: {xml}"
    );
}

#[test]
fn what_cannot_be_rendered_before_deploy_exits_2_naming_it() {
    let out = run(&[
        "check",
        "tests/fixtures/iac/tf-unknown-after-apply.plan.json",
    ]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out).contains(
            "tf-unknown-after-apply.plan.json:62: `aws_ecr_repository_policy.app`: `aws_ecr_repository_policy.app` `policy` is known only after apply"
        ),
        "{}",
        stdout(&out)
    );
    let out = run(&["check", "tests/fixtures/iac/cfn-import-value.yaml"]);
    assert_eq!(code(&out), 2);
    assert!(
        stdout(&out)
            .contains(":12: `Repository`: cannot render `Fn::ImportValue` `shared-ci-role-arn`")
    );
    let (code, log) = sarif(&["tests/fixtures/iac/cfn-parameter-no-default.yaml"]);
    assert_eq!(code, 2);
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert!(
        invocation["toolExecutionNotifications"][0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("parameter `PullerArn` has no `Default`")
    );
}

#[test]
fn parameters_and_pseudo_parameters_come_from_the_flags() {
    let template = "tests/fixtures/iac/cfn-parameter-override.yaml";
    assert_eq!(code(&run(&["check", template])), 0);
    let out = run(&[
        "check",
        "--parameter",
        "Consumer=arn:aws:iam::987654321098:root",
        template,
    ]);
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    // The registry policy names `${AWS::Region}`: deployed into eu-west-1, it covers eu-west-1.
    let registry = "tests/fixtures/iac/cfn-registry-policy.yaml";
    let out = run(&[
        "check",
        "--region",
        "eu-west-1",
        "--format",
        "json",
        registry,
    ]);
    assert_eq!(code(&out), 1);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let finding = &report["results"][0]["resources"][0]["findings"][0];
    assert_eq!(finding["rule"], "no-root-principal");
    // Without `--account` the deploying account is whoever deploys: named as the template does.
    assert_eq!(
        finding["resources"][0],
        "arn:aws:ecr:eu-west-1:${AWS::AccountId}:repository/*"
    );
    let out = run(&[
        "check",
        "--region",
        "eu-west-1",
        "--account",
        "123456789012",
        "--format",
        "json",
        registry,
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["results"][0]["resources"][0]["findings"][0]["resources"][0],
        "arn:aws:ecr:eu-west-1:123456789012:repository/*"
    );
    let out = run(&[
        "check",
        "--partition",
        "aws-cn",
        "--format",
        "json",
        registry,
    ]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["results"][0]["resources"][0]["findings"][0]["resources"][0]
            .as_str()
            .unwrap()
            .starts_with("arn:aws-cn:ecr:us-east-1:")
    );
    // On plain policy files the deployment flags mean nothing: refused, not ignored.
    let out = run(&[
        "check",
        "--parameter",
        "A=b",
        "tests/fixtures/policies/registry-no-resource.json",
    ]);
    assert_eq!(code(&out), 2);
    assert_eq!(
        stderr(&out),
        "error: `--partition` and `--parameter` are for templates and plans\n"
    );
    let out = run(&["check", "--parameter", "nokey", template]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("`nokey` is not `KEY=VALUE`"),
        "{}",
        stderr(&out)
    );
}

/// The multitool, installed once into target/ (npm's package ships the .NET tool prebuilt).
fn multitool() -> PathBuf {
    let prefix = crate::root().join("target/sarif-multitool");
    let tool = prefix.join("node_modules/@microsoft/sarif-multitool-linux/Sarif.Multitool");
    if !tool.exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&prefix)
            .arg("@microsoft/sarif-multitool@5.7.0")
            .status()
            .expect("npm is needed to install the SARIF multitool");
        assert!(
            status.success(),
            "npm install of the SARIF multitool failed"
        );
    }
    // Its postinstall step only makes the binary executable; npm may skip install scripts.
    let status = Command::new("chmod")
        .arg("u+x")
        .arg(&tool)
        .status()
        .unwrap();
    assert!(status.success());
    tool
}

#[test]
fn the_sarif_of_every_fixture_passes_the_sarif_multitool() {
    let dir = crate::cli::tempdir();
    let fixtures = crate::root().join("tests/fixtures/iac");
    let mut files: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with(".expected.json"))
        .map(|p| {
            p.strip_prefix(crate::root())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (code, log) = sarif(&args);
    assert_eq!(code, 2, "some fixtures cannot be rendered");
    assert!(log["runs"][0]["results"].as_array().unwrap().len() > 20);
    // A control the multitool must reject: `startLine` 0 is below the schema's minimum.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    let rejected = validate(&dir, "broken", &broken);
    assert!(rejected.contains(&"JSON1008".to_owned()), "{rejected:?}");
    // It warns only that the tool names no web page (`informationUri`; the guard has none):
    // the warning shows that the log was read, and it is the only one.
    assert_eq!(validate(&dir, "fixtures", &log), ["SARIF2005"]);
}

/// The multitool's errors and warnings on a SARIF log, by rule id, read from its output file
/// (it exits 0 either way, and reads nothing at all from a log it cannot deserialize).
fn validate(dir: &Path, name: &str, log: &Value) -> Vec<String> {
    let input = dir.join(format!("{name}.sarif"));
    std::fs::write(&input, serde_json::to_string_pretty(log).unwrap()).unwrap();
    let output = dir.join(format!("{name}.validation.sarif"));
    let out = Command::new(multitool())
        .arg("validate")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(["--log", "ForceOverwrite"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let verdict: Value = serde_json::from_str(&std::fs::read_to_string(&output).unwrap()).unwrap();
    verdict["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_deploy_is_counted_and_an_assumption_is_named_in_every_format_or_refused_with_strict() {
    let branches = "tests/fixtures/iac/cfn-findinmap-parameter-key.yaml";
    let out = run(&["check", branches]);
    assert_eq!(code(&out), 1);
    assert!(
        stdout(&out).contains(&format!(
            "{branches}:18: NOT COMPLIANT 1 violation `Repository` (AWS::ECR::Repository), judged over 2 deploys"
        )),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("(when `Stage` = `dev`)"));

    let free = "tests/fixtures/iac/cfn-free-parameter-strict.yaml";
    let out = run(&["check", "--format", "json", free]);
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let resource = &report["results"][0]["resources"][0];
    assert_eq!(resource["deploys"], 1);
    assert_eq!(resource["assumptions"][0]["parameter"], "Consumer");
    assert_eq!(
        resource["assumptions"][0]["values"][0],
        "arn:aws:iam::123456789012:role/ci-pull"
    );
    assert_eq!(report["summary"]["assumptions"], 1);
    // SARIF: a warning, and the run is still successful (it was judged).
    let (code_sarif, log) = sarif(&[free]);
    assert_eq!(code_sarif, 0);
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], true);
    let note = &invocation["toolExecutionNotifications"][0];
    assert_eq!(note["level"], "warning");
    assert!(
        note["message"]["text"]
            .as_str()
            .unwrap()
            .contains("`Consumer`")
    );
    // JUnit: said in the test case's output.
    let out = run(&["check", "--format", "junit", free]);
    assert!(
        stdout(&out).contains("assumed: parameter `Consumer`"),
        "{}",
        stdout(&out)
    );
    // `--strict`: the assumption is a problem, exit 2.
    let out = run(&["check", "--strict", free]);
    assert_eq!(code(&out), 2, "{}", stdout(&out));
    assert!(stdout(&out).contains("(`--strict`)"), "{}", stdout(&out));
}
