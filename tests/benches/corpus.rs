//! Writes the benchmark corpus as JSON Lines:
//! `cargo run --release -p ecr-policy-guard-core --features test-util --example corpus -- COUNT SEED`.

use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let count = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for policy in ecr_policy_guard_core::testkit::corpus(seed, count) {
        if writeln!(out, "{policy}").is_err() {
            std::process::exit(1);
        }
    }
}
