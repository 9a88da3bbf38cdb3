//! Every input a fuzzer ever crashed on, replayed through the same checks the fuzz targets
//! make (tests/fuzz/checks.rs). Add a crash as tests/fixtures/fuzz-regressions/<target>/NAME.

#[path = "../fuzz/checks.rs"]
mod checks;

fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = crate::root()
        .join("tests/fixtures/fuzz-regressions")
        .join(target);
    let mut count = 0;
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0; // no crash recorded for this target yet
    };
    for entry in entries {
        let path = entry.unwrap().path();
        check(&std::fs::read(&path).unwrap());
        count += 1;
    }
    count
}

#[test]
fn policy_parser_regressions() {
    assert!(replay("policy_parser", checks::policy_parser) >= 1);
}

#[test]
fn event_reader_regressions() {
    assert!(replay("event_reader", checks::event_reader) >= 1);
}

#[test]
fn derived_policy_regressions() {
    // No derived-policy crash so far; the policy-parser crashes are policies too, and the
    // invariant must hold on them.
    replay("derived_policy", checks::derived_policy);
    assert!(replay("policy_parser", checks::derived_policy) >= 1);
}

#[test]
fn template_reader_regressions() {
    // The small templates that once crashed or hung the template reader (issue 21).
    assert!(replay("template_reader", checks::template_reader) >= 3);
}
