//! The `ecr-policy-guard` binary: exit codes, JSON output, one-line errors.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;

const ROOT_GRANT: &str = r#"{"Version":"2012-10-17","Statement":[
 {"Sid":"CrossAccountPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::987654321098:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]},
 {"Sid":"DenyByDefault","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/app-pull"}}}]}"#;

fn path(rel: &str) -> String {
    crate::root().join(rel).to_string_lossy().into_owned()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    crate::run_cli(args, stdin.unwrap_or_default())
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Asserts a failed run printed exactly one `error: ` line containing `want`.
fn assert_one_line_error(out: &Output, want: &str) {
    assert_eq!(code(out), 2, "stdout: {}", stdout(out));
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("error: ") && err.contains(want), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn check_reports_violations_as_json_and_exits_1() {
    let out = run(
        &["check", "--format", "json", "-"],
        Some(ROOT_GRANT.as_bytes()),
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["compliant"], false);
    let v = &report["violations"][0];
    assert_eq!(v["rule"], "no-root-principal");
    assert_eq!(v["statement"], 0);
    assert_eq!(v["sid"], "CrossAccountPull");
    assert_eq!(v["principal"], "arn:aws:iam::987654321098:root");
    assert!(v["message"].as_str().unwrap().contains("987654321098"));
    assert_eq!(report["violations"].as_array().unwrap().len(), 1);
}

#[test]
fn check_text_puts_the_verdict_first_without_colour_off_a_terminal() {
    let out = run(&["check", "-"], Some(ROOT_GRANT.as_bytes()));
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.starts_with("NOT COMPLIANT 1 violation\n"), "{text}");
    assert!(text.contains("no-root-principal at statement 0 (`CrossAccountPull`), principal `arn:aws:iam::987654321098:root`"));
    assert!(!text.contains('\x1b'));
}

#[test]
fn allowlisting_by_flag_or_config_makes_the_grant_compliant() {
    let out = run(
        &["check", "--allow-root-account", "987654321098", "-"],
        Some(ROOT_GRANT.as_bytes()),
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    assert!(stdout(&out).starts_with("COMPLIANT"));

    let dir = tempdir();
    let config = dir.join("guard.toml");
    std::fs::write(
        &config,
        "allowed_root_accounts = [\"arn:aws:iam::987654321098:root\"]\n",
    )
    .unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = run(
        &["check", "--config", &config, "-"],
        Some(ROOT_GRANT.as_bytes()),
    );
    assert_eq!(code(&out), 0);
    // Flags replace the file's list.
    let out = run(
        &[
            "check",
            "--config",
            &config,
            "--allow-root-account",
            "111122223333",
            "-",
        ],
        Some(ROOT_GRANT.as_bytes()),
    );
    assert_eq!(code(&out), 1);
}

#[test]
fn invalid_input_gets_one_line_and_exit_2() {
    let dup = r#"{"Statement":{"Sid":"AllowPull","Effect":"Deny","Effect":"Allow","Principal":"*","Action":"*"}}"#;
    assert_one_line_error(
        &run(&["check", "-"], Some(dup.as_bytes())),
        "duplicate key `Effect`",
    );
    let bad_effect = r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":"*"},{"Sid":"AllowPull","Effect":"allow","Principal":"*","Action":"*"}]}"#;
    assert_one_line_error(
        &run(&["check", "-"], Some(bad_effect.as_bytes())),
        "statement 1 (`AllowPull`): `Effect` must be `Allow` or `Deny`, found `allow`",
    );
    assert_one_line_error(
        &run(&["check", "-"], Some(b"\xff\xfe{}")),
        "not valid UTF-8",
    );
    assert_one_line_error(
        &run(&["check", "/nonexistent/policy.json"], None),
        "cannot read `/nonexistent/policy.json`",
    );
    assert_one_line_error(
        &run(
            &["check", "--allow-root-account", "12345", "-"],
            Some(ROOT_GRANT.as_bytes()),
        ),
        "entry `12345` is not a 12-digit account id",
    );
    let big = format!(
        "{{\"Statement\":[{}]}}",
        vec![r#"{"Effect":"Deny","Principal":"*","Action":"*"}"#; 400].join(",")
    );
    assert_one_line_error(
        &run(&["check", "-"], Some(big.as_bytes())),
        "ECR's limit is 10240",
    );
    let huge = vec![b' '; 200_000];
    assert_one_line_error(&run(&["check", "-"], Some(&huge)), "larger than");
}

#[test]
fn bad_config_files_fail_before_any_check() {
    let dir = tempdir();
    let config = dir.join("bad.toml");
    std::fs::write(&config, "mode = \"alert\"\nallowlist = []\n").unwrap();
    let config = config.to_string_lossy().into_owned();
    let out = run(
        &["check", "--config", &config, "-"],
        Some(ROOT_GRANT.as_bytes()),
    );
    assert_one_line_error(&out, "line 2: unknown field `allowlist`");
}

#[test]
fn usage_errors_exit_2() {
    let out = run(&["evaluate", "--mode", "loud", "x.json"], None);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("mode must be `alert` or `revert`, found `loud`"));
    assert_eq!(code(&run(&["frobnicate"], None)), 2);
}

#[test]
fn evaluate_prints_the_outcome_as_json_with_exit_code_by_action() {
    let event = path("events/set-policy-cross-account-root.json");
    let out = run(&["evaluate", "--format", "json", &event], None);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let o = json(&out);
    assert_eq!(o["action"], "alert");
    assert_eq!(o["event_name"], "SetRepositoryPolicy");
    assert_eq!(o["account"], "123456789012");
    assert_eq!(o["region"], "eu-west-1");
    assert_eq!(o["repository"], "platform/base-images");
    assert!(o["event_id"].is_string() && o["actor"].is_string() && o["reason"].is_string());
    assert_eq!(o["violations"][0]["rule"], "no-root-principal");

    let out = run(
        &["evaluate", "--mode", "revert", "--format", "json", &event],
        None,
    );
    assert_eq!(
        (code(&out), json(&out)["action"].clone()),
        (1, Value::from("revert"))
    );

    let compliant = path("events/set-policy-compliant-push-pull.json");
    let out = run(&["evaluate", "--format", "json", &compliant], None);
    assert_eq!(
        (code(&out), json(&out)["action"].clone()),
        (0, Value::from("none"))
    );

    let ignored = path("events/put-image.json");
    let out = run(&["evaluate", "--format", "json", &ignored], None);
    assert_eq!(
        (code(&out), json(&out)["action"].clone()),
        (0, Value::from("ignore"))
    );
}

#[test]
fn evaluate_reads_stdin_and_text_names_what_would_happen() {
    let event = std::fs::read(path("events/delete-repository-policy.json")).unwrap();
    let out = run(&["evaluate", "--mode", "revert", "-"], Some(&event));
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(
        text.starts_with("REVERT DeleteRepositoryPolicy on `team-d/reports`"),
        "{text}"
    );
    assert!(text.contains("deny-by-default-required at policy level"));
    assert!(text.contains("would: restore the last compliant policy"));
}

#[test]
fn evaluate_several_files_gives_json_lines_and_the_worst_exit_code() {
    let files = [
        path("events/set-policy-compliant-push-pull.json"),
        path("tests/fixtures/events/not-json.json"),
        path("events/set-policy-public-pull.json"),
    ];
    let mut args = vec!["evaluate", "--format", "json"];
    args.extend(files.iter().map(String::as_str));
    let out = run(&args, None);
    assert_eq!(code(&out), 2);
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["file"], files[0].as_str());
    assert_eq!(lines[0]["action"], "none");
    assert_eq!(lines[1]["action"], "alert");
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stderr(&out).contains("not-json.json"));
}

#[test]
fn malformed_events_get_one_line_and_exit_2() {
    for (fixture, want) in [
        (
            "tests/fixtures/events/envelope-without-detail.json",
            "EventBridge event has no `detail`",
        ),
        (
            "tests/fixtures/events/policy-text-number.json",
            "`detail.requestParameters.policyText`",
        ),
        (
            "tests/fixtures/events/duplicate-key-in-envelope.json",
            "duplicate key",
        ),
    ] {
        assert_one_line_error(&run(&["evaluate", &path(fixture)], None), want);
    }
    let deep = "[".repeat(1000) + &"]".repeat(1000);
    assert_one_line_error(
        &run(&["evaluate", "-"], Some(deep.as_bytes())),
        "recursion limit",
    );
    let huge = vec![b' '; 10 * 1024 * 1024];
    assert_one_line_error(
        &run(&["evaluate", "-"], Some(&huge)),
        "larger than 1048576 bytes",
    );
}

/// A fresh directory under the target dir (no extra crates for one temp folder).
fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cli-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn check_judges_several_files_and_json_lines_with_a_summary_and_the_worst_exit_code() {
    let dir = tempdir();
    let jsonl = dir.join("policies.jsonl");
    let compliant = path("tests/fixtures/policies/mixed-push-pull-split-compliant.json");
    let compliant_line = serde_json::to_string(
        &serde_json::from_str::<Value>(&std::fs::read_to_string(&compliant).unwrap()).unwrap(),
    )
    .unwrap();
    let root_line = ROOT_GRANT.replace('\n', "");
    std::fs::write(
        &jsonl,
        format!("{compliant_line}\n\n{root_line}\n{{\"Statement\": []}}\n\u{a0}{{}}\n"),
    )
    .unwrap();
    let jsonl = jsonl.to_string_lossy().into_owned();

    let out = run(
        &["check", "--format", "json", "--jsonl", &jsonl, &compliant],
        None,
    );
    assert_eq!(
        code(&out),
        2,
        "an invalid line makes the worst exit code: {}",
        stderr(&out)
    );
    let report = json(&out);
    let results = report["results"].as_array().unwrap();
    // Files first, then the lines of the JSON Lines file; the blank line 2 is not an input.
    let places: Vec<(Value, Value)> = results
        .iter()
        .map(|r| (r["file"].clone(), r["line"].clone()))
        .collect();
    assert_eq!(
        places,
        [
            (Value::from(compliant.as_str()), Value::Null),
            (Value::from(jsonl.as_str()), Value::from(1)),
            (Value::from(jsonl.as_str()), Value::from(3)),
            (Value::from(jsonl.as_str()), Value::from(4)),
            (Value::from(jsonl.as_str()), Value::from(5)),
        ]
    );
    assert_eq!(results[0]["compliant"], true);
    assert_eq!(results[2]["compliant"], false);
    assert_eq!(results[2]["violations"][0]["rule"], "no-root-principal");
    assert_eq!(results[3]["compliant"], Value::Null);
    assert!(
        results[3]["error"]
            .as_str()
            .unwrap()
            .contains("`Statement` must not be an empty array")
    );
    assert!(
        results[4]["error"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
    assert_eq!(
        report["summary"],
        serde_json::json!({"inputs": 5, "compliant": 2, "non_compliant": 1, "invalid": 2, "violations": 1})
    );

    // Without the invalid lines the worst is a violation: exit 1; the text names each place.
    let valid = dir.join("valid.jsonl");
    std::fs::write(&valid, format!("{compliant_line}\n{root_line}\n")).unwrap();
    let valid = valid.to_string_lossy().into_owned();
    let out = run(&["check", "--jsonl", &valid], None);
    assert_eq!(code(&out), 1);
    let text = stdout(&out);
    assert!(text.contains(&format!("{valid}:1: COMPLIANT\n")), "{text}");
    assert!(
        text.contains(&format!("{valid}:2: NOT COMPLIANT 1 violation\n")),
        "{text}"
    );
    assert!(
        text.ends_with("2 inputs: 1 compliant, 1 not compliant, 0 invalid (1 violation)\n"),
        "{text}"
    );
    let out = run(
        &["check", "--jsonl", "-"],
        Some(format!("{compliant_line}\n").as_bytes()),
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
}

#[test]
fn check_refuses_an_input_without_any_policy() {
    let out = run(&["check", "--jsonl", "-"], Some(b"\n  \n"));
    assert_one_line_error(&out, "no policy documents in the input");
    assert_eq!(
        code(&run(&["check"], None)),
        2,
        "no input at all is a usage error"
    );
}
