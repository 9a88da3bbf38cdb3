//! The properties the fuzz targets check, shared with the regression test that replays every
//! input the fuzzers ever crashed on (tests/fixtures/fuzz-regressions/).

#![allow(dead_code, reason = "each fuzz target uses one of these")]

use ecr_policy_guard_core::iac::{self, FileReport, Settings};
use ecr_policy_guard_core::policy::{MAX_POLICY_CHARS, PolicyKind, RegistryScope};
use ecr_policy_guard_core::remedy::{derive, narrows};
use ecr_policy_guard_core::{Mode, Owner, Payload, Policy, RuleConfig, decide, read_event};

/// Parsing and the rules never panic, errors are one line, and what the guard would write
/// parses back to the same policy (where the guard would write it at all).
pub fn policy_parser(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text) {
        Err(error) => assert!(
            !error.to_string().contains('\n'),
            "multi-line error: {error}"
        ),
        Ok(policy) => {
            let _ = RuleConfig::default().check(&policy, Owner::Unknown);
            let written = policy.to_json_text();
            if !policy.has_inexact_numbers() && written.chars().count() <= MAX_POLICY_CHARS {
                assert_eq!(Policy::parse(&written).as_ref(), Ok(&policy), "{written}");
            }
        }
    }
}

/// Reading and deciding on any event never panics, and errors are one line.
pub fn event_reader(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match read_event(text) {
        Err(error) => assert!(
            !error.to_string().contains('\n'),
            "multi-line error: {error}"
        ),
        Ok(Payload::Scheduled(_)) => {}
        Ok(Payload::Change(event)) => {
            for mode in [Mode::Alert, Mode::Revert] {
                assert!(
                    !decide(&event, &RuleConfig::default(), mode)
                        .reason
                        .is_empty()
                );
            }
        }
    }
}

/// For any parsable policy, the derived policy passes the rules and grants nothing new.
pub fn derived_policy(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(original) = Policy::parse(text) else {
        return;
    };
    for allow in [&[][..], &["111122223333", "987654321098"][..]] {
        let rules = RuleConfig::allowing(allow.iter().copied()).unwrap_or_default();
        let derived = derive(&original, "123456789012", &rules);
        let violations = rules.check(&derived, Owner::Account("123456789012"));
        assert!(
            violations.is_empty(),
            "derived policy breaks {violations:?}"
        );
        assert_eq!(narrows(&original, &derived), Ok(()));
    }
}

/// Reading and judging any template or plan never panics, and every error, problem, finding and
/// assumption is one line. The first byte picks how the rest is named (YAML template, JSON, plan),
/// so every reader is reached.
pub fn template_reader(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let rules = RuleConfig::default();
    let parameters = vec![("Stage".to_owned(), "dev".to_owned())];
    let settings = Settings {
        rules: &rules,
        account: iac::DEFAULT_ACCOUNT,
        account_given: pick & 1 == 1,
        region: iac::DEFAULT_REGION,
        region_given: pick & 2 == 2,
        partition: iac::DEFAULT_PARTITION,
        stack_name: iac::DEFAULT_STACK_NAME,
        files_kind: PolicyKind::Repository,
        files_scope: RegistryScope::default(),
        parameters: if pick & 4 == 4 { &parameters } else { &[] },
        strict: pick & 8 == 8,
    };
    let name = match pick % 3 {
        0 => "template.yaml",
        1 => "template.json",
        _ => "plan.json",
    };
    one_line_report(&iac::check_file(name, text, &settings));
}

fn one_line_report(report: &FileReport) {
    let one_line = |what: &str, text: &str| {
        assert!(!text.is_empty() && !text.contains('\n'), "{what}: {text:?}");
    };
    if let Some(error) = &report.error {
        one_line("file error", &error.message);
    }
    for resource in &report.resources {
        for finding in &resource.findings {
            one_line("finding", &finding.violation.message);
        }
        for problem in &resource.problems {
            one_line("problem", &problem.message);
        }
        for assumption in &resource.assumptions {
            one_line("assumption", &assumption.message);
        }
    }
}
