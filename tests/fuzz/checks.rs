//! The properties the fuzz targets check, shared with the regression test that replays every
//! input the fuzzers ever crashed on (tests/fixtures/fuzz-regressions/).

#![allow(dead_code, reason = "each fuzz target uses one of these")]

use ecr_policy_guard_core::policy::MAX_POLICY_CHARS;
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
