//! Everything that talks to moto server (a real AWS API emulator on 127.0.0.1) through the real
//! SDK clients: the adapters under the handler, the scan, the shipped Lambda binary under a fake
//! Runtime API, the templates, and the demo. Run through `tests/with-moto`, which installs moto.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on what they did not expect"
)]

mod aws;
mod demo;
mod findings;
mod hub;
mod infra;
mod lambda_runtime;
mod precommit;
mod registry;
mod scan;
mod support;
