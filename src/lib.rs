//! ecr-policy-guard: checks Amazon ECR repository policies against organisation rules.
//!
//! The core is pure and synchronous: [`policy`] parses, [`rules`] checks, [`event`] reads
//! CloudTrail events, [`decision`] decides, [`remedy`] builds compliant replacements,
//! [`report`] and [`alert`] render. No AWS SDK, no async runtime, no environment and no clock.
//!
//! The shell is thin: [`handler`] carries out a decision through the traits in [`ports`], and
//! [`aws`] implements those traits with the AWS SDK. The CLI and the Lambda only wire them.
//!
//! ```
//! use ecr_policy_guard::{Policy, RuleConfig, RuleId};
//!
//! let text = r#"{"Version": "2012-10-17", "Statement": [
//!   {"Sid": "CrossAccountPull", "Effect": "Allow",
//!    "Principal": {"AWS": "arn:aws:iam::987654321098:root"}, "Action": "ecr:BatchGetImage"},
//!   {"Sid": "DenyByDefault", "Effect": "Deny", "Principal": "*", "Action": "ecr:*",
//!    "Condition": {"ArnNotEquals": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/app"}}}]}"#;
//! let violations = RuleConfig::default().check(&Policy::parse(text)?);
//! assert_eq!(violations.len(), 1);
//! assert_eq!(violations[0].rule, RuleId::NoRootPrincipal);
//! assert_eq!(violations[0].sid.as_deref(), Some("CrossAccountPull"));
//! assert_eq!(violations[0].principal.as_deref(), Some("arn:aws:iam::987654321098:root"));
//!
//! let duplicate = r#"{"Statement": {"Effect": "Deny", "Effect": "Allow", "Principal": "*", "Action": "*"}}"#;
//! assert!(Policy::parse(duplicate).unwrap_err().to_string().contains("duplicate key `Effect`"));
//! # Ok::<(), ecr_policy_guard::PolicyError>(())
//! ```

pub mod alert;
pub mod aws;
pub mod config;
pub mod corpus;
pub mod decision;
pub mod event;
pub mod handler;
pub mod json;
pub mod local;
pub mod policy;
pub mod ports;
pub mod remedy;
pub mod report;
pub mod rules;
pub mod scan;
pub mod text;

pub use config::{Config, ConfigError};
pub use decision::{Action, Mode, Outcome, decide, evaluate};
pub use event::{EventError, EventFacts, PolicyEvent, read_event};
pub use policy::{Policy, PolicyError};
pub use rules::{RuleConfig, RuleId, Violation};
