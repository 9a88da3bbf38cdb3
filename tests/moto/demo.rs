//! The README's first command and its "try it by hand" recipe: the demo runs every scenario
//! against its own moto server, briefly by default and in full with `--verbose`, and
//! `--keep-running` leaves an emulator that `handle` and `scan` work against as the README says.

use crate::support::{cli_on, moto, root};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn the_demo_runs_every_scenario_against_moto_briefly() {
    let out = cli_on(moto(), &["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for n in 1..=4 {
        assert!(stdout.contains(&format!("\n== {n}/4: ")), "{stdout}");
    }
    assert_eq!(stdout.matches("\n-- alert mode\n").count(), 4);
    assert_eq!(stdout.matches("\n-- revert mode\n").count(), 4);
    // 3 violating scenarios: one alert each in alert mode and one revert each in revert mode.
    let received = stdout
        .matches("Alert received by the SQS subscriber: ")
        .count();
    assert_eq!(received, 6, "{stdout}");
    assert_eq!(stdout.matches("\"ecr-policy-guard REVERTED: ").count(), 3);
    assert_eq!(stdout.matches("Policy after:  {").count(), 3, "{stdout}");
    // The headline says what was done.
    assert_eq!(stdout.matches("\nREVERTED ").count(), 3, "{stdout}");
    // The demo serves its own CloudTrail history: no emulator error in the happy path, and the
    // cross-account grant goes back to the policy the repository had before.
    assert!(!stdout.contains("HTTP 500") && !stdout.contains("LookupEvents failed"));
    assert!(
        stdout.contains("restored from cloudtrail-history"),
        "{stdout}"
    );
    assert!(!stdout.contains("\"Signature\""));
    assert!(
        stdout.lines().count() < 100,
        "{} lines",
        stdout.lines().count()
    );
}

#[test]
fn the_verbose_demo_shows_the_whole_alerts_and_the_e_mail() {
    let out = cli_on(moto(), &["demo", "--verbose"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout
            .matches("\"Subject\": \"ecr-policy-guard REVERTED: ")
            .count(),
        3,
        "{stdout}"
    );
    assert!(stdout.contains("\"schema_version\": 1"));
    assert!(stdout.contains("== The last alert as an e-mail subscriber reads it"));
}

#[test]
fn keep_running_leaves_an_emulator_that_handle_and_scan_use_as_the_readme_says() {
    let mut demo = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .args(["demo", "--keep-running"])
        .current_dir(root())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(demo.stdout.take().unwrap()).lines();
    let export = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.trim_start().starts_with("export AWS_ENDPOINT_URL="))
        .expect("the demo prints the environment to use");
    let vars: Vec<(String, String)> = export
        .trim_start()
        .trim_start_matches("export ")
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let home = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("recipe-home");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
            .args(args)
            .current_dir(root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    };
    // The README's commands, verbatim but for `cargo run --`.
    let handle = run(&[
        "handle",
        "--config",
        "events/guard.toml",
        "--mode",
        "revert",
        "events/set-policy-public-pull.json",
    ]);
    let scan = run(&["scan", "--config", "events/guard.toml"]);
    demo.kill().unwrap();
    demo.wait().unwrap();
    let text = String::from_utf8_lossy(&handle.stdout);
    assert_eq!(
        handle.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&handle.stderr)
    );
    assert!(
        text.starts_with("REVERTED SetRepositoryPolicy on `oss/cli-tools`"),
        "{text}"
    );
    let summary = String::from_utf8_lossy(&scan.stdout);
    // Alert mode (the config's): the cross-account grant and the deleted policy remain. moto has
    // no `DescribeRepositoryCreationTemplates` (it answers HTTP 500), so the creation templates
    // are named as not checked and the exit code is 2, not 1.
    assert_eq!(scan.status.code(), Some(2), "{summary}");
    assert!(
        summary.contains(
            "could not check creation templates: ecr:DescribeRepositoryCreationTemplates failed"
        ),
        "{summary}"
    );
    assert!(summary.contains("4 repositories checked"), "{summary}");
    assert!(
        summary.contains("Every repository was checked"),
        "{summary}"
    );
}
