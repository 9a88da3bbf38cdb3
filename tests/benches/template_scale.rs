//! How long the template reader takes as a template grows: generates YAML templates of
//! increasing size (96,000 resources at about 50 MB, most of them not ECR, a repository with a
//! policy every 100th), reads and judges each, and prints the time per megabyte, which stays flat
//! when reading is linear. Run: `cargo run --release -p ecr-policy-guard-core --example
//! template_scale [MAX_MB]`. Measures; asserts nothing.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark tool: its output is its result"
)]

use ecr_policy_guard_core::RuleConfig;
use ecr_policy_guard_core::iac::{self, Settings};
use ecr_policy_guard_core::policy::{PolicyKind, RegistryScope};
use std::fmt::Write;
use std::time::Instant;

fn template(resources: usize) -> String {
    let mut out = String::from(
        "AWSTemplateFormatVersion: \"2010-09-09\"\nParameters:\n  Stage:\n    Type: String\n    Default: prod\n    AllowedValues: [prod, dev]\nResources:\n",
    );
    for i in 0..resources {
        if i % 100 == 0 {
            let _ = write!(
                out,
                "  Repo{i}:\n    Type: AWS::ECR::Repository\n    Properties:\n      RepositoryName: !Sub \"app-{i}-${{Stage}}\"\n      RepositoryPolicyText:\n        Version: \"2012-10-17\"\n        Statement:\n          - Sid: Pull\n            Effect: Allow\n            Principal:\n              AWS: !GetAtt Role{}.Arn\n            Action: [ecr:BatchGetImage, ecr:GetDownloadUrlForLayer]\n          - Sid: DenyByDefault\n            Effect: Deny\n            Principal: \"*\"\n            Action: ecr:*\n            Condition:\n              StringNotEquals:\n                aws:PrincipalAccount: !Ref AWS::AccountId\n",
                i + 1
            );
        } else {
            let _ = write!(
                out,
                "  Role{i}:\n    Type: AWS::IAM::Role\n    Properties:\n      RoleName: !Sub \"role-{i}-${{Stage}}\"\n      Path: /app/\n      Description: a role of the platform, with a description long enough to look like one\n      AssumeRolePolicyDocument:\n        Version: \"2012-10-17\"\n        Statement:\n          - Effect: Allow\n            Principal: {{Service: ecs-tasks.amazonaws.com}}\n            Action: sts:AssumeRole\n      Tags:\n        - Key: team\n          Value: platform-{}\n        - Key: cost-centre\n          Value: \"{:06}\"\n",
                i % 17,
                i
            );
        }
    }
    out
}

fn main() {
    let max_mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let rules = RuleConfig::default();
    let settings = Settings {
        rules: &rules,
        account: iac::DEFAULT_ACCOUNT,
        account_given: false,
        region: iac::DEFAULT_REGION,
        region_given: false,
        partition: iac::DEFAULT_PARTITION,
        stack_name: iac::DEFAULT_STACK_NAME,
        files_kind: PolicyKind::Repository,
        files_scope: RegistryScope::default(),
        parameters: &[],
        strict: false,
    };
    println!("| resources | MB | seconds | s per MB | ECR resources judged | deploys |");
    println!("|---|---|---|---|---|---|");
    for resources in [1_250, 2_500, 5_000, 10_000, 20_000, 40_000, 60_000, 96_000] {
        let text = template(resources);
        let mb = text.len() as f64 / 1e6;
        if mb > max_mb as f64 * 1.05 {
            break;
        }
        let start = Instant::now();
        let report = iac::check_file("scale.yaml", &text, &settings);
        let seconds = start.elapsed().as_secs_f64();
        assert!(report.error.is_none(), "{:?}", report.error);
        let deploys: usize = report.resources.iter().map(|r| r.deploys).sum();
        println!(
            "| {resources} | {mb:.1} | {seconds:.2} | {:.3} | {} | {deploys} |",
            seconds / mb,
            report.resources.len()
        );
    }
}
