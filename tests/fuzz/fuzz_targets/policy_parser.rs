//! Fuzz target: the policy parser and the rules never panic, errors are one line, and what
//! the guard would write parses back to the same policy.
#![no_main]

use ecr_policy_guard::policy::MAX_POLICY_CHARS;
use ecr_policy_guard::{Policy, RuleConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::parse(text) {
        Err(error) => assert!(!error.to_string().contains('\n'), "multi-line error: {error}"),
        Ok(policy) => {
            let _ = RuleConfig::default().check(&policy);
            let written = policy.to_json_text();
            if written.chars().count() <= MAX_POLICY_CHARS {
                assert_eq!(Policy::parse(&written).as_ref(), Ok(&policy), "{written}");
            }
        }
    }
});
