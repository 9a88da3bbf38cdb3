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

pub(crate) fn code(out: &Output) -> i32 {
    out.status.code().unwrap()
}

pub(crate) fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub(crate) fn stderr(out: &Output) -> String {
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
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("grants the whole account")
    );
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
    assert_one_line_error(&out, "config line 2: unknown field `allowlist`");
    assert!(!stderr(&out).contains("not valid TOML"));
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
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["file"], files[0].as_str());
    assert_eq!(lines[0]["action"], "none");
    assert_eq!(lines[1]["action"], "alert");
    // The last line is the summary, with no `action` of its own.
    assert_eq!(
        lines[2],
        serde_json::json!({"summary": {"events": 3, "ignored": 0, "compliant": 1, "alert": 1, "revert": 0, "unreadable": 1}})
    );
    assert_eq!(stderr(&out).lines().count(), 1);
    assert!(stderr(&out).contains("not-json.json"));

    // Text: one block per file, then the counts.
    args.retain(|a| *a != "--format" && *a != "json");
    let out = run(&args, None);
    let text = stdout(&out);
    assert!(
        text.ends_with("3 events: 0 to revert, 1 to alert, 1 compliant, 0 ignored, 1 unreadable\n"),
        "{text}"
    );
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
pub(crate) fn tempdir() -> PathBuf {
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
fn a_large_batch_is_streamed_in_input_order_with_every_line_accounted_for() {
    // Thousands of lines across many batches and all workers: every result must come back in
    // line order, whatever finishes first. Blank lines are skipped; a line longer than any
    // policy and a line that is not UTF-8 are invalid inputs, and the lines after them still
    // count.
    let compliant = std::fs::read_to_string(path(
        "tests/fixtures/policies/mixed-push-pull-split-compliant.json",
    ))
    .unwrap();
    let compliant = serde_json::to_string(&serde_json::from_str::<Value>(&compliant).unwrap())
        .unwrap()
        .into_bytes();
    let root = ROOT_GRANT.replace('\n', "").into_bytes();
    let too_long = format!("{{\"Version\":\"{}\"}}", "x".repeat(70_000)).into_bytes();
    let mut input = Vec::new();
    let mut want = Vec::new(); // (line, verdict) for each input line
    for line in 1..=6_000usize {
        let (bytes, verdict): (&[u8], &str) = match line % 7 {
            0 => (&compliant, "true"),
            1 | 4 => (&root, "false"),
            2 if line % 1_000 == 2 => (&too_long, "long"),
            3 if line % 1_000 == 3 => (b"{\"Version\": \"\xff\"}", "utf8"),
            5 => (b"   ", "blank"),
            _ => (&compliant, "true"),
        };
        input.extend_from_slice(bytes);
        input.push(b'\n');
        if verdict != "blank" {
            want.push((line, verdict));
        }
    }
    let dir = tempdir();
    let file = dir.join("large.jsonl");
    std::fs::write(&file, &input).unwrap();
    let file = file.to_string_lossy().into_owned();

    let out = run(&["check", "--format", "json", "--jsonl", &file], None);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let report = json(&out);
    let results = report["results"].as_array().unwrap();
    let got: Vec<(usize, &str)> = results
        .iter()
        .map(|r| {
            let verdict = match (&r["compliant"], r["error"].as_str()) {
                (Value::Bool(true), _) => "true",
                (Value::Bool(false), _) => "false",
                (_, Some(e)) if e.contains("longer than 65536 bytes (70014)") => "long",
                (_, Some(e)) if e.contains("not valid UTF-8") => "utf8",
                other => panic!("unexpected result {other:?}"),
            };
            (r["line"].as_u64().unwrap() as usize, verdict)
        })
        .collect();
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    let count = |v: &str| want.iter().filter(|(_, w)| *w == v).count();
    assert_eq!(report["summary"]["inputs"], want.len());
    assert_eq!(report["summary"]["compliant"], count("true"));
    assert_eq!(report["summary"]["non_compliant"], count("false"));
    assert_eq!(report["summary"]["invalid"], count("long") + count("utf8"));

    // The text output holds the same places in the same order, then the summary.
    let out = run(&["check", "--jsonl", &file], None);
    let text = stdout(&out);
    let places: Vec<usize> = text
        .lines()
        .filter_map(|l| l.strip_prefix(&format!("{file}:")))
        .map(|l| l.split(':').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(places, want.iter().map(|(l, _)| *l).collect::<Vec<_>>());
    assert!(text.ends_with(&format!(
        "{} inputs: {} compliant, {} not compliant, {} invalid ({} violations)\n",
        want.len(),
        count("true"),
        count("false"),
        count("long") + count("utf8"),
        count("false")
    )));

    // One thread (read, judge and write in turn) and more threads than CPUs write the same
    // bytes, in both formats, with the same exit code.
    let json_out = run(&["check", "--format", "json", "--jsonl", &file], None);
    for jobs in ["1", "3"] {
        for (format, default) in [("json", &json_out), ("text", &out)] {
            let other = run(
                &[
                    "check", "--format", format, "--jobs", jobs, "--jsonl", &file,
                ],
                None,
            );
            assert_eq!(code(&other), 2, "--jobs {jobs} --format {format}");
            assert!(
                other.stdout == default.stdout,
                "--jobs {jobs} --format {format}: the output differs"
            );
        }
    }
}

#[test]
fn check_refuses_a_number_of_jobs_out_of_range() {
    for jobs in ["0", "17", "two"] {
        let out = run(&["check", "--jobs", jobs, "--jsonl", "-"], Some(b"{}\n"));
        assert_eq!(code(&out), 2, "--jobs {jobs}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("`{jobs}` is not a number of threads from 1 to 16")),
            "--jobs {jobs}: {err}"
        );
    }
}

#[test]
fn a_batch_whose_reader_goes_away_stops_quietly() {
    // `check --jsonl big.jsonl | head -c 100`: no error, and the exit code of what was written,
    // on worker threads and on the calling thread alone.
    let line = ROOT_GRANT.replace('\n', "") + "\n";
    let dir = tempdir();
    let file = dir.join("big.jsonl");
    std::fs::write(&file, line.repeat(50_000)).unwrap();
    for jobs in ["2", "1"] {
        reader_goes_away(&file, jobs);
    }
}

fn reader_goes_away(file: &std::path::Path, jobs: &str) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .args(["check", "--format", "json", "--jobs", jobs, "--jsonl"])
        .arg(file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    use std::io::Read;
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    assert!(first.starts_with(b"{\"results\":[{"), "--jobs {jobs}");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "", "--jobs {jobs}");
    assert_eq!(out.status.code(), Some(1), "--jobs {jobs}");
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

/// Runs the CLI with only the given environment (no AWS profile, no instance metadata).
fn run_env(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let home = tempdir();
    std::process::Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .args(args)
        .current_dir(crate::root())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(vars.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn a_missing_region_credentials_or_endpoint_is_one_line_saying_what_to_set() {
    let topic = "arn:aws:sns:eu-west-1:123456789012:alerts";
    let scan = ["scan", "--topic-arn", topic];
    assert_one_line_error(
        &run_env(
            &scan,
            &[
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
            ],
        ),
        "no AWS region: set AWS_REGION",
    );
    assert_one_line_error(
        &run_env(&scan, &[("AWS_REGION", "eu-west-1")]),
        "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    );
    // An endpoint that is down: the reason, not the SDK's debug dump or Lambda's retry wording.
    let down = [
        ("AWS_REGION", "eu-west-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
    ];
    let out = run_env(&scan, &down);
    assert_one_line_error(&out, "cannot connect: Connection refused");
    let err = stderr(&out);
    assert!(err.len() < 200 && !err.contains("invocation"), "{err}");
    // `handle` takes the event's region, so AWS_REGION is not needed for it.
    let event = path("events/set-policy-public-pull.json");
    let out = run_env(&["handle", "--topic-arn", topic, &event], &down[1..]);
    assert_one_line_error(
        &out,
        "sts:GetCallerIdentity failed (a retry may succeed): cannot connect",
    );
}

#[test]
fn not_json_a_byte_order_mark_and_a_policy_given_to_evaluate_are_named_plainly() {
    assert_one_line_error(
        &run(&["check", "-"], Some(b"Version: 2012-10-17\n")),
        "policy is not JSON: it starts with `Version: 2012-10-17`",
    );
    let mut bom = "\u{feff}".as_bytes().to_vec();
    bom.extend_from_slice(ROOT_GRANT.as_bytes());
    assert_one_line_error(
        &run(&["check", "-"], Some(&bom)),
        "policy starts with a UTF-8 byte order mark (BOM)",
    );
    assert_one_line_error(
        &run(&["evaluate", "-"], Some(ROOT_GRANT.as_bytes())),
        "this is a policy document (it has `Statement`), not an event; to judge a policy, use `ecr-policy-guard check`",
    );
}

#[test]
fn the_output_of_aws_ecr_get_repository_policy_is_checked_as_its_policy() {
    let output = serde_json::json!({"registryId": "123456789012",
        "repositoryName": "platform/base-images", "policyText": ROOT_GRANT});
    let out = run(&["check", "-"], Some(output.to_string().as_bytes()));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stdout(&out).contains("principal `arn:aws:iam::987654321098:root`"));
    let registry = serde_json::json!({"registryId": "123456789012", "policyText": ROOT_GRANT});
    let out = run(
        &["check", "--jsonl", "-"],
        Some(format!("{registry}\n").as_bytes()),
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
}

#[test]
fn json_lines_errors_name_the_line_of_the_file_and_standard_input_is_named_so() {
    let input = format!("{}\n\n\n{{\"Version\": }}\n", ROOT_GRANT.replace('\n', ""));
    let out = run(&["check", "--jsonl", "-"], Some(input.as_bytes()));
    assert_eq!(code(&out), 2);
    let text = stdout(&out);
    assert!(
        text.contains(
            "standard input:4: INVALID policy is not valid JSON: expected value at line 4 column 13"
        ),
        "{text}"
    );
    assert!(text.contains("standard input:1: NOT COMPLIANT"), "{text}");
    let out = run(
        &["check", "--format", "json", "--jsonl", "-"],
        Some(input.as_bytes()),
    );
    // JSON keeps the argument as given.
    assert_eq!(json(&out)["results"][1]["file"], "-");
}

#[test]
fn violation_lines_say_the_principal_once_and_stay_short() {
    let out = run(
        &[
            "check",
            &path("tests/fixtures/policies/mixed-several-violations.json"),
        ],
        None,
    );
    for line in stdout(&out).lines().filter(|l| l.starts_with("  - ")) {
        assert!(
            line.chars().count() <= 280,
            "{} chars: {line}",
            line.chars().count()
        );
        if let Some((_, principal)) = line.split_once(", principal ") {
            let principal = principal.split(':').next().unwrap_or_default();
            assert_eq!(line.matches(principal).count(), 1, "{line}");
        }
    }
}

#[test]
fn help_names_the_exit_codes_of_every_subcommand_and_what_the_config_holds() {
    for (command, codes) in [
        ("check", "0 every input compliant, 1 violations, 2"),
        ("evaluate", "0 ignored or compliant, 1"),
        ("handle", "0 nothing to do, 1"),
        ("scan", "3 stopped early"),
    ] {
        let out = run(&[command, "--help"], None);
        assert_eq!(code(&out), 0);
        let help = stdout(&out);
        assert!(
            help.contains("Exit codes: 0 ") && help.contains(codes),
            "{command}: {help}"
        );
        assert!(help.contains("`check` reads only its"), "{command}: {help}");
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // `evaluate many.json | head -1`: once the reader is gone, no error per remaining file.
    let file = path("events/set-policy-cross-account-root.json");
    let files = vec![file.as_str(); 200];
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .arg("evaluate")
        .args(&files)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    use std::io::Read;
    child
        .stdout
        .as_mut()
        .unwrap()
        .read_exact(&mut first)
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    // The worst of what was judged before the pipe closed: violations.
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn the_readmes_give_the_same_commands_and_ci_runs_the_readme_test_command() {
    let readme = std::fs::read_to_string(crate::root().join("README.md")).unwrap();
    let events = std::fs::read_to_string(crate::root().join("events/README.md")).unwrap();
    let dry_run = "cargo run -q -- evaluate --config events/guard.toml events/*.json";
    assert!(readme.contains(dry_run) && events.contains(dry_run));
    // The quick start's two commands, and CI running the second one.
    let quick = readme.split("## Quick start").nth(1).unwrap();
    let block = quick
        .split("```sh\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let commands: Vec<&str> = block
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(
        commands,
        [
            "tests/with-moto cargo run -- demo",
            "tests/with-moto cargo test --workspace --all-features"
        ]
    );
    let ci = std::fs::read_to_string(crate::root().join(".ci/run")).unwrap();
    assert!(
        ci.contains("tests/with-moto cargo test --locked --workspace --all-features"),
        "{ci}"
    );
}

#[test]
fn check_registry_judges_a_registry_policy_by_its_own_grammar_and_rules() {
    let policy = path("tests/fixtures/policies/registry-root-all-repositories.json");
    // As a repository policy it is refused: repository policies have no `Resource`.
    let out = run(&["check", &policy], None);
    assert_one_line_error(
        &out,
        "`Resource` is not allowed in an ECR repository policy",
    );
    // As the registry policy of its own account and region: the foreign root, with resources.
    let out = run(
        &[
            "check",
            "--registry",
            "--account",
            "123456789012",
            "--region",
            "eu-west-1",
            "--format",
            "json",
            &policy,
        ],
        None,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let v = &json(&out)["violations"][0];
    assert_eq!(v["rule"], "no-root-principal");
    assert_eq!(
        v["resources"][0],
        "arn:aws:ecr:eu-west-1:123456789012:repository/*"
    );
    // Another region's registry cannot hold it.
    let out = run(
        &[
            "check",
            "--registry",
            "--account",
            "123456789012",
            "--region",
            "us-east-1",
            &policy,
        ],
        None,
    );
    assert_one_line_error(&out, "covers only region `us-east-1`");
    // An allowlisted replication grant needs no deny-by-default in a registry policy.
    let ok = path("tests/fixtures/policies/registry-replication-allowlisted.json");
    let out = run(
        &[
            "check",
            "--registry",
            "--allow-root-account",
            "111122223333",
            &ok,
        ],
        None,
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    // `--region` means nothing without `--registry`.
    let out = run(&["check", "--region", "eu-west-1", &ok], None);
    assert_eq!(code(&out), 2);
}
