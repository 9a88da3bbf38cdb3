//! The application services the Lambda and the CLI share: [`respond`] carries out one decision
//! through the ports, [`handle`] does so for one event and alerts, [`scan`] reconciles every
//! repository, and [`invoke`] is the Lambda's dispatch between the two; [`hub`] does the same
//! across accounts and regions (hub mode).

pub mod handle;
pub mod hub;
pub mod invoke;
pub mod respond;
pub mod scan;

pub use handle::handle;
pub use invoke::{Invocation, invoke};
pub use scan::scan;

use crate::ports::PortError;

/// A failure that must fail the invocation, so that Lambda retries it (and, once retries are
/// exhausted, sends it to the on-failure destination). Nothing else fails an invocation. Its
/// message is the failed call's; the Lambda says that it retries ([`lambda_runtime::Diagnostic`]),
/// the CLI does not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Retry(PortError),
}

#[cfg(feature = "lambda")]
impl From<AppError> for lambda_runtime::Diagnostic {
    fn from(error: AppError) -> Self {
        // A stable, descriptive type rather than the Rust type name the runtime would report.
        lambda_runtime::Diagnostic {
            error_type: "ecr-policy-guard.Retryable".into(),
            error_message: format!("{error}; failing the invocation so that it is retried"),
        }
    }
}
