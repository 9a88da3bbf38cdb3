//! Adapters of the ports: the AWS SDK ([`aws`]), in memory ([`memory`]: tests and dry runs), and
//! the local emulator the demo and the tests run against ([`moto`], feature `demo`).

pub mod aws;
pub mod memory;
#[cfg(feature = "demo")]
pub mod moto;
