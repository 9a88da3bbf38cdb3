//! ecr-policy-guard's pure core: everything the guard decides, and every output it renders.
//!
//! Data flows one way: event bytes → [`event`] → [`policy`] → [`rules`] → [`decision`] →
//! [`waiver`] → [`remedy`] → (the shell's effects) → [`incident`] → [`render`]. No AWS SDK, no
//! async runtime, no environment, no clock and no printing: this crate's manifest does not even
//! have them (today's date is a [`Date`] the shell passes in).
//!
//! ```
//! use ecr_policy_guard_core::{Owner, Policy, RuleConfig, RuleId};
//!
//! let text = r#"{"Version": "2012-10-17", "Statement": [
//!   {"Sid": "CrossAccountPull", "Effect": "Allow",
//!    "Principal": {"AWS": "arn:aws:iam::987654321098:root"}, "Action": "ecr:BatchGetImage"},
//!   {"Sid": "DenyByDefault", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
//!    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app"}}}]}"#;
//! let violations = RuleConfig::default().check(&Policy::parse(text)?, Owner::Account("123456789012"));
//! assert_eq!(violations.len(), 1);
//! assert_eq!(violations[0].rule, RuleId::NoRootPrincipal);
//! assert_eq!(violations[0].sid.as_deref(), Some("CrossAccountPull"));
//! assert_eq!(violations[0].principal.as_deref(), Some("arn:aws:iam::987654321098:root"));
//!
//! let duplicate = r#"{"Statement": {"Effect": "Deny", "Effect": "Allow", "Principal": "*", "Action": "*"}}"#;
//! assert!(Policy::parse(duplicate).unwrap_err().to_string().contains("duplicate key `Effect`"));
//! # Ok::<(), ecr_policy_guard_core::PolicyError>(())
//! ```

pub mod decision;
pub mod event;
pub mod iac;
pub mod incident;
pub mod json;
pub mod policy;
pub mod registry;
pub mod remedy;
pub mod render;
pub mod rules;
pub mod sweep;
#[cfg(feature = "test-util")]
pub mod testkit;
pub mod text;
pub mod waiver;

pub use decision::{Action, Mode, Outcome, decide, evaluate};
pub use event::{EventError, EventFacts, Payload, PolicyEvent, read_event};
pub use incident::{Incident, ScanReport, Taken};
pub use policy::{Policy, PolicyError};
pub use rules::{Owner, RuleConfig, RuleId, Violation};
pub use sweep::SweepReport;
pub use waiver::{Date, Waiver, WaiverStatus, Waivers};
