//! ecr-policy-guard: checks Amazon ECR repository policies against organisation rules.
//!
//! The core is pure and synchronous: [`policy`] parses, [`rules`] checks, [`event`] reads
//! CloudTrail events, [`decision`] decides, [`report`] renders. No AWS SDK, no async runtime,
//! no environment and no clock: the CLI and the Lambda wire it to the outside world.

pub mod config;
pub mod decision;
pub mod event;
pub mod json;
pub mod policy;
pub mod report;
pub mod rules;
pub mod text;

pub use config::{Config, ConfigError};
pub use decision::{Action, Mode, Outcome, decide, evaluate};
pub use event::{EventError, EventFacts, PolicyEvent, read_event};
pub use policy::{Policy, PolicyError};
pub use rules::{RuleConfig, RuleId, Violation};
