//! Writes a benchmark corpus as JSON Lines, one policy at a time (so a million costs no memory):
//! `cargo run --release -p ecr-policy-guard-core --features test-util --example corpus -- COUNT SEED [small|mixed|large]`.

#![allow(
    clippy::print_stderr,
    reason = "a benchmark tool: its errors go to stderr"
)]

use ecr_policy_guard_core::testkit::{Profile, Rng, policy_of};
use std::io::Write;

fn main() {
    let mut args = std::env::args().skip(1);
    let count = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(42);
    let profile: Profile = match args.next().map(|p| p.parse()) {
        None => Profile::Mixed,
        Some(Ok(profile)) => profile,
        Some(Err(e)) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let mut rng = Rng::new(seed);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        if writeln!(out, "{}", policy_of(&mut rng, profile)).is_err() {
            std::process::exit(1);
        }
    }
}
