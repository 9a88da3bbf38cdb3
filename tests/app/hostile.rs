//! Small templates built to crash or hang a template reader, each run through the binary under a
//! 1 GiB address-space limit (and a generous time-out, so that a hang fails the test instead of
//! the suite): each must end as exit 2 with a one-line error naming the problem, never as an
//! abort, a stack overflow or memory exhaustion. No timing is asserted.

use crate::cli::{code, stderr, stdout};
use std::fmt::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Writes a generated template under target/ and checks it in a child process with limits.
fn check_limited(name: &str, template: &str) -> Output {
    let dir = crate::root().join("target/hostile-templates");
    std::fs::create_dir_all(&dir).unwrap();
    let file: PathBuf = dir.join(name);
    std::fs::write(&file, template).unwrap();
    Command::new("timeout")
        .args(["300", "prlimit", "--as=1073741824", "--"])
        .arg(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .arg("check")
        .arg(&file)
        .output()
        .unwrap()
}

/// Exit 2 and one `path:line: INVALID ...` or `... : message` line naming `want`.
fn refused(out: &Output, want: &str) {
    let text = stdout(out);
    assert_eq!(code(out), 2, "{text}{}", stderr(out));
    let hits: Vec<&str> = text.lines().filter(|l| l.contains(want)).collect();
    assert_eq!(
        hits.len(),
        1,
        "want one line with `{want}`:\n{text}{}",
        stderr(out)
    );
    assert!(hits[0].len() < 1_000, "{}", hits[0]);
}

const DENY: &str = r#"
          - Effect: Deny
            Principal: "*"
            Action: ecr:*
            Condition:
              StringNotEquals:
                aws:PrincipalAccount: !Ref AWS::AccountId"#;

fn repository(principal: &str, condition: Option<&str>) -> String {
    let condition = condition.map_or(String::new(), |c| format!("    Condition: {c}\n"));
    format!(
        "  Repository:\n    Type: AWS::ECR::Repository\n{condition}    Properties:\n      RepositoryPolicyText:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal:\n              AWS: {principal}\n            Action: ecr:BatchGetImage{DENY}\n"
    )
}

#[test]
fn two_role_names_that_refer_to_each_other_are_a_circle_cloudformation_refuses() {
    let template = format!(
        "Resources:\n  A:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Ref B\n  B:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Ref A\n{}",
        repository("!GetAtt A.Arn", None)
    );
    let out = check_limited("role-name-circle.yaml", &template);
    refused(&out, "circular reference: `A` → `B` → `A`");
}

#[test]
fn a_chain_of_thousands_of_conditions_ends_in_an_error_not_a_stack_overflow() {
    let mut template = String::from("Conditions:\n");
    let n = 25_000;
    for i in 0..n {
        let _ = writeln!(template, "  C{i}: !Condition C{}", i + 1);
    }
    let _ = writeln!(template, "  C{n}: !Equals [a, a]");
    template.push_str("Resources:\n");
    template.push_str(&repository(
        "arn:aws:iam::123456789012:role/app",
        Some("C0"),
    ));
    let out = check_limited("condition-chain.yaml", &template);
    refused(&out, "conditions nested too deeply");
}

#[test]
fn mapping_values_that_look_each_other_up_are_refused_as_cloudformation_refuses_them() {
    // Each value would look up the next one twice: rendered, 24 levels fan out into 2^24 lookups
    // (shallow enough for the old depth bound of 64, which counted only nesting, not work).
    let mut template = String::from("Mappings:\n  M:\n");
    for i in 0..24 {
        let _ = writeln!(
            template,
            "    K{i}:\n      V: [!FindInMap [M, K{0}, V], !FindInMap [M, K{0}, V]]",
            i + 1
        );
    }
    template.push_str("    K24:\n      V: x\nResources:\n");
    template.push_str(&repository("!FindInMap [M, K0, V]", None));
    let out = check_limited("mapping-fan-out.yaml", &template);
    refused(&out, "`Mappings` hold literal values only");
}

#[test]
fn a_mapping_of_200_000_keys_is_read_and_a_repeated_key_is_named() {
    let mut template = String::from("Metadata:\n  Keys:\n");
    for i in 0..200_000 {
        let _ = writeln!(template, "    k{i}: {i}");
    }
    template.push_str("    k7: again\nResources:\n");
    template.push_str(&repository("arn:aws:iam::123456789012:role/app", None));
    let out = check_limited("many-keys.yaml", &template);
    refused(&out, "duplicate key `k7`");
}

#[test]
fn a_long_default_joined_sixty_thousand_times_is_an_amplification_error() {
    let long = "a".repeat(4_000);
    let mut refs = String::new();
    for _ in 0..60_000 {
        refs.push_str("!Ref Long, ");
    }
    let template = format!(
        "Parameters:\n  Long:\n    Type: String\n    Default: {long}\nResources:\n{}",
        repository(&format!("!Join [\"\", [{refs}]]"), None)
    );
    let out = check_limited("join-amplification.yaml", &template);
    refused(&out, "grows past the guard's bound");
}
