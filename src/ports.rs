//! The guard's view of AWS: three small traits the handler is generic over. The SDK adapters
//! live in `aws`; tests substitute their own.

use crate::alert::Alert;
use std::future::Future;

/// A failed call to AWS, classified by what the guard should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Throttling, a 5xx, a timeout or a dropped connection: retrying may succeed.
    #[error("{operation} failed temporarily: {message}")]
    Transient {
        operation: &'static str,
        message: String,
    },
    /// The guard's role may not do this.
    #[error("{operation} was denied: {message}")]
    Denied {
        operation: &'static str,
        message: String,
    },
    /// Anything else (not found, invalid parameter, ...): retrying will not help.
    #[error("{operation} failed: {message}")]
    Failed {
        operation: &'static str,
        message: String,
    },
}

impl PortError {
    pub fn is_transient(&self) -> bool {
        matches!(self, PortError::Transient { .. })
    }
}

/// Repository policies (ECR).
pub trait Registry {
    /// The live policy text, or `None` when the repository has no policy.
    fn get_policy(
        &self,
        registry_id: &str,
        repository: &str,
    ) -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    fn set_policy(
        &self,
        registry_id: &str,
        repository: &str,
        policy_text: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// One page of this account's repositories in this region.
    fn list_repositories(
        &self,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<RepositoryPage, PortError>> + Send;
}

/// A repository as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepositoryRef {
    pub name: String,
    pub registry_id: String,
}

/// One page of `DescribeRepositories`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepositoryPage {
    pub repositories: Vec<RepositoryRef>,
    pub next_token: Option<String>,
}

/// Where the scheduled scan keeps its position between runs (SSM Parameter Store).
pub trait ScanState {
    /// The repository name the last unfinished scan stopped after, if any.
    fn load(&self) -> impl Future<Output = Result<Option<String>, PortError>> + Send;
    /// Records the position (`None`: the last scan finished; the next starts from the top).
    fn save(&self, after: Option<&str>) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// One page of `SetRepositoryPolicy` CloudTrail records, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    /// Each record's CloudTrail JSON, as `LookupEvents` returns it.
    pub records: Vec<String>,
    pub next_token: Option<String>,
}

/// CloudTrail event history.
pub trait History {
    /// `SetRepositoryPolicy` records at or before `before` (an ISO-8601 time), newest first.
    fn policy_changes(
        &self,
        before: Option<&str>,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<HistoryPage, PortError>> + Send;
}

/// The alert topic (SNS).
pub trait Notifier {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PortError>> + Send;
}
