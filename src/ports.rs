//! The guard's view of AWS: four small traits the application services are generic over, and the
//! [`Ports`] bundle that carries one of each; for hub mode, [`Accounts`] (the registry and history
//! of any account and region) and [`Positions`] (one scan position per target). Adapters:
//! [`crate::adapters::aws`] (the SDK) and [`crate::adapters::memory`] (in-memory, for tests and
//! dry runs).

use ecr_policy_guard_core::registry::{CreationTemplate, Replication};
use ecr_policy_guard_core::render::Alert;
use std::future::Future;

/// A failed call to AWS, classified by what the guard should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// Throttling, a 5xx, a timeout or a dropped connection: retrying may succeed.
    #[error("{operation} failed (a retry may succeed): {message}")]
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

    /// The same error, its message preceded by `context` (what the call was about).
    pub fn in_context(self, context: &str) -> PortError {
        let with = |message: String| format!("{context}: {message}");
        match self {
            PortError::Transient { operation, message } => PortError::Transient {
                operation,
                message: with(message),
            },
            PortError::Denied { operation, message } => PortError::Denied {
                operation,
                message: with(message),
            },
            PortError::Failed { operation, message } => PortError::Failed {
                operation,
                message: with(message),
            },
        }
    }
}

/// ECR: repository policies, and the registry-level doors into every repository (the registry
/// policy, repository creation templates, replication). The registry-level calls act on the
/// adapter's own account and region, as the ECR API does.
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

    /// The registry policy (`None`: the registry has none).
    fn get_registry_policy(&self)
    -> impl Future<Output = Result<Option<String>, PortError>> + Send;

    fn put_registry_policy(
        &self,
        policy_text: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Deletes the registry policy; a registry without one is left as it is.
    fn delete_registry_policy(&self) -> impl Future<Output = Result<(), PortError>> + Send;

    /// Every repository creation template of the registry.
    fn list_templates(
        &self,
    ) -> impl Future<Output = Result<Vec<CreationTemplate>, PortError>> + Send;

    /// Sets the repository policy of the template for `prefix`.
    fn set_template_policy(
        &self,
        prefix: &str,
        policy_text: &str,
    ) -> impl Future<Output = Result<(), PortError>> + Send;

    /// The replication configuration (no rules: the registry replicates nothing).
    fn get_replication(&self) -> impl Future<Output = Result<Replication, PortError>> + Send;

    fn put_replication(
        &self,
        configuration: &Replication,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
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

/// One page of CloudTrail records of one API call, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryPage {
    /// Each record's CloudTrail JSON, as `LookupEvents` returns it.
    pub records: Vec<String>,
    pub next_token: Option<String>,
}

/// CloudTrail event history.
pub trait History {
    /// Records of `event_name` (`SetRepositoryPolicy`, `PutRegistryPolicy`) at or before
    /// `before` (an ISO-8601 time), newest first.
    fn policy_changes(
        &self,
        event_name: &str,
        before: Option<&str>,
        next_token: Option<String>,
    ) -> impl Future<Output = Result<HistoryPage, PortError>> + Send;
}

/// The alert topic (SNS).
pub trait Notifier {
    fn publish(&self, alert: &Alert) -> impl Future<Output = Result<(), PortError>> + Send;
}

/// Where the guard acts: the registry and CloudTrail history of one account in one region. In
/// hub mode an account other than the function's own is reached through the spoke role, when the
/// first call needs it: an alert that needs no ECR call never assumes a role, and a role that
/// cannot be assumed fails that call (a `revert-failed` alert, or a target the scan could not
/// reach), never silently.
pub trait Accounts: Sync {
    /// One account and region's ports.
    type Scope<'a>: Registry + History + Sync
    where
        Self: 'a;

    /// The function's own account.
    fn own_account(&self) -> &str;

    /// The ports of `account` in `region`; `session` says who asks (an event id, or the scan),
    /// for the role session's name.
    fn scope<'a>(&'a self, account: &str, region: &str, session: &str) -> Self::Scope<'a>;

    /// Every active account of the organization, sorted.
    fn organization_accounts(&self) -> impl Future<Output = Result<Vec<String>, PortError>> + Send;
}

/// Scan positions by key: the sweep's own under `""`, each target's under
/// `<account>/<region>`.
pub trait Positions: Sync {
    type At<'a>: ScanState + Sync
    where
        Self: 'a;

    fn at<'a>(&'a self, key: &str) -> Self::At<'a>;
}

/// The AWS side of the guard: one adapter per port.
pub struct Ports<'a, R, H, N, S> {
    pub registry: &'a R,
    pub history: &'a H,
    pub notifier: &'a N,
    pub state: &'a S,
}

// Manual impls: the bundle only holds references, whatever the adapters are.
impl<R, H, N, S> Clone for Ports<'_, R, H, N, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<R, H, N, S> Copy for Ports<'_, R, H, N, S> {}

impl<'a, T> Ports<'a, T, T, T, T> {
    /// Every port on one adapter that implements all four (the in-memory one, say).
    pub fn all(adapter: &'a T) -> Self {
        Ports {
            registry: adapter,
            history: adapter,
            notifier: adapter,
            state: adapter,
        }
    }
}
