//! ecr-policy-guard's shell: settings ([`config`]), the clock ([`clock`]), the ports the guard acts through
//! ([`ports`]) with their AWS and in-memory adapters ([`adapters`]), and the application services
//! the Lambda and the CLI share ([`app`]). Everything the guard decides and renders is in the
//! pure core, [`ecr_policy_guard_core`]; this crate only carries those decisions out.

pub mod adapters;
pub mod app;
pub mod clock;
pub mod config;
pub mod ports;

pub use config::{Config, ConfigError};
