//! The repository's `.pre-commit-hooks.yaml`, run by pre-commit itself (`pre-commit try-repo`,
//! as a user tries a hook before adding it) in a scratch repository holding templates. Needs
//! pre-commit on PATH, as `tests/with-moto` provides; the hook runs the binary under test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scratch_repository() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("pre-commit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("infra")).unwrap();
    let fixtures = crate::support::root().join("tests/fixtures/iac");
    for (from, to) in [
        ("cfn-seed-push-pull-deny.yaml", "infra/seed.yaml"),
        ("cfn-cross-account-root.yaml", "infra/root.yaml"),
    ] {
        std::fs::copy(fixtures.join(from), dir.join(to)).unwrap();
    }
    // Not a template, and outside the hook's `files`: never handed to the guard.
    std::fs::write(dir.join("package.json"), "{}").unwrap();
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    dir
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

fn try_repo(dir: &Path, files: &[&str]) -> Output {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_ecr-policy-guard"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut args = vec![
        "try-repo".to_owned(),
        crate::support::root().to_str().unwrap().to_owned(),
        "ecr-policy-guard-system".to_owned(),
    ];
    match files {
        [] => args.push("--all-files".to_owned()),
        files => {
            args.push("--files".to_owned());
            args.extend(files.iter().map(|f| (*f).to_owned()));
        }
    }
    Command::new("pre-commit")
        .args(&args)
        .current_dir(dir)
        .env("PATH", path)
        .env("PRE_COMMIT_HOME", dir.join(".pre-commit-home"))
        .output()
        .expect("pre-commit on PATH (run through tests/with-moto)")
}

#[test]
fn the_hook_passes_the_seed_template_and_fails_a_root_grant_at_its_line() {
    let dir = scratch_repository();
    let out = try_repo(&dir, &["infra/seed.yaml", "package.json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ecr-policy-guard (installed)") && text.contains("Passed"),
        "{text}"
    );
    let out = try_repo(&dir, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("Failed") && text.contains("- exit code: 1"),
        "{text}"
    );
    assert!(
        text.contains("infra/root.yaml:17: `Repository`: no-root-principal at statement 0"),
        "{text}"
    );
    assert!(text.contains("infra/seed.yaml:37: COMPLIANT"), "{text}");
    assert!(!text.contains("package.json"), "{text}");
}

#[test]
fn both_hooks_run_the_same_check_on_the_same_files() {
    let hooks =
        std::fs::read_to_string(crate::support::root().join(".pre-commit-hooks.yaml")).unwrap();
    let field = |name: &str| -> Vec<String> {
        hooks
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix(&format!("{name}: "))
                    .map(str::to_owned)
            })
            .collect()
    };
    assert_eq!(
        field("- id"),
        ["ecr-policy-guard", "ecr-policy-guard-system"]
    );
    assert_eq!(field("language"), ["rust", "system"]);
    let (entries, files) = (field("entry"), field("files"));
    assert_eq!(entries, ["ecr-policy-guard check"; 2]);
    assert_eq!(files.len(), 2);
    assert_eq!(files[0], files[1]);
}
