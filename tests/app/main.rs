//! The shell's offline suites, in one test binary: the handler on in-memory ports, every row of
//! the README's bad-input table, and the `ecr-policy-guard` command. No emulator needed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on what they did not expect"
)]

mod bad_input;
mod cli;
mod handle;
mod hostile;
mod hub;
mod iac;
mod registry;
mod waivers;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The repository's root folder.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file of events/ as text.
pub fn sample(file: &str) -> String {
    std::fs::read_to_string(root().join("events").join(file)).unwrap()
}

/// Runs the `ecr-policy-guard` binary with `stdin` as its standard input.
pub fn run_cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ecr-policy-guard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The guard stops reading past its size limit, so a broken pipe here is expected.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}
