//! Fuzz target: for any parsable policy, the derived policy passes the rules and never grants
//! anything the original did not.
#![no_main]

use ecr_policy_guard::config::parse_allowlist;
use ecr_policy_guard::remedy::{derive, narrows};
use ecr_policy_guard::{Policy, RuleConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(original) = Policy::parse(text) else { return };
    for allow in [&[][..], &["111122223333", "987654321098"][..]] {
        let rules = RuleConfig { allowed_root_accounts: parse_allowlist(allow.iter().copied()).unwrap() };
        let derived = derive(&original, "123456789012", &rules);
        let violations = rules.check(&derived);
        assert!(violations.is_empty(), "derived policy breaks {violations:?}");
        assert_eq!(narrows(&original, &derived), Ok(()));
    }
});
