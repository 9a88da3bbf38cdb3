//! The core's suites, in one test binary with no AWS SDK and no emulator: the table-driven
//! fixtures and samples, properties, alert snapshots, fuzz regressions, the scan tally and the
//! revert planning.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on what they did not expect"
)]

mod alerts;
mod fixtures;
mod fuzz_regressions;
mod iac;
mod json_differential;
mod json_reference;
mod properties;
mod remedy;
mod stored;
mod tally;
mod text;

use ecr_policy_guard_core::{Payload, PolicyEvent, RuleConfig, read_event};
use std::path::PathBuf;

/// The repository's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file of events/ as text.
pub fn sample(file: &str) -> String {
    std::fs::read_to_string(root().join("events").join(file)).unwrap()
}

/// The rules the samples are judged with: the allowlists of events/guard.toml (the app's tests
/// read the same file through the full config loader).
pub fn sample_rules() -> RuleConfig {
    #[derive(serde::Deserialize)]
    struct SampleConfig {
        allowed_root_accounts: Vec<String>,
        allowed_org_ids: Vec<String>,
        allowed_replication_accounts: Vec<String>,
    }
    let config: SampleConfig = toml::from_str(&sample("guard.toml")).unwrap();
    RuleConfig::allowing(config.allowed_root_accounts.iter().map(String::as_str))
        .unwrap()
        .with_orgs(config.allowed_org_ids.iter().map(String::as_str))
        .unwrap()
        .with_replication_accounts(
            config
                .allowed_replication_accounts
                .iter()
                .map(String::as_str),
        )
        .unwrap()
}

/// The policy event in a payload; panics on a scheduled event.
pub fn policy_event(text: &str) -> PolicyEvent {
    match read_event(text).unwrap() {
        Payload::Change(event) => event,
        Payload::Scheduled(_) => panic!("a scheduled event"),
    }
}

/// The boundary is the manifest: if the core could depend on the AWS SDK, an async runtime,
/// logging or the Lambda runtime, its purity would be a convention again.
#[test]
fn the_core_manifest_has_no_io_dependencies() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(root().join("src/core/Cargo.toml")).unwrap())
            .unwrap();
    let dependencies = manifest["dependencies"].as_table().unwrap();
    let names: Vec<&str> = dependencies.keys().map(String::as_str).collect();
    assert!(!names.is_empty());
    for name in &names {
        let forbidden = name.starts_with("aws-")
            || name.starts_with("aws_smithy")
            || [
                "tokio",
                "tracing",
                "lambda_runtime",
                "futures",
                "futures-util",
            ]
            .contains(name);
        assert!(!forbidden, "the core depends on `{name}`");
    }
}
