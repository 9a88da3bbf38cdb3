//! Fuzz target: reading and deciding on an arbitrary event never panics, and errors are one line.
#![no_main]

use ecr_policy_guard::{Config, Mode, decide, read_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match read_event(text) {
        Err(error) => assert!(!error.to_string().contains('\n'), "multi-line error: {error}"),
        Ok(event) => {
            for mode in [Mode::Alert, Mode::Revert] {
                let config = Config { mode, ..Config::default() };
                let outcome = decide(&event, &config);
                assert!(!outcome.reason.is_empty());
            }
        }
    }
});
