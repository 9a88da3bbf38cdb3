//! In-memory adapters: [`Memory`] holds repositories and their policies, scripted CloudTrail
//! history, the published alerts and the scan position; [`MemoryAccounts`] holds one per account
//! and region (hub mode), with spoke roles that can be made to fail, and [`MemoryPositions`] a
//! sweep's positions; [`Recorded`] wraps any adapter (these or the SDK's) with a log of every
//! call and scripted failures. Tests use them in place of AWS; the CLI's dry run uses [`Memory`]
//! to show what a revert would write.

use crate::ports::{
    Accounts, History, HistoryPage, Notifier, PortError, Ports, Positions, Registry,
    RepositoryPage, RepositoryRef, ScanState,
};
use ecr_policy_guard_core::registry::{CreationTemplate, Replication};
use ecr_policy_guard_core::render::Alert;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A lock that survives a panicked holder: these adapters hold plain data, never half-updated.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One registry (account) in one region, with everything the ports read and write.
#[derive(Debug, Default)]
pub struct Memory {
    registry_id: String,
    /// Repository name → its policy (`None`: no policy).
    policies: Mutex<BTreeMap<String, Option<String>>>,
    /// CloudTrail history pages, served in order (page `i` is asked for with token `i`).
    history: Mutex<Vec<Vec<String>>>,
    alerts: Mutex<Vec<Alert>>,
    position: Mutex<Option<String>>,
    registry_policy: Mutex<Option<String>>,
    /// Creation templates by prefix.
    templates: Mutex<BTreeMap<String, CreationTemplate>>,
    replication: Mutex<Replication>,
}

impl Memory {
    pub fn new(registry_id: &str) -> Memory {
        Memory {
            registry_id: registry_id.to_owned(),
            ..Memory::default()
        }
    }

    /// Creates a repository, with or without a policy.
    pub fn with_repository(self, name: &str, policy: Option<&str>) -> Memory {
        self.put(name, policy);
        self
    }

    /// CloudTrail history: pages of records (CloudTrail JSON, newest first).
    pub fn with_history(self, pages: Vec<Vec<String>>) -> Memory {
        *lock(&self.history) = pages;
        self
    }

    /// Adds CloudTrail records (newest first) ahead of the history's first page, as newer events.
    pub fn record_history(&self, records: Vec<String>) {
        let mut pages = lock(&self.history);
        match pages.first_mut() {
            Some(first) => {
                first.splice(0..0, records);
            }
            None => pages.push(records),
        }
    }

    /// The registry policy (`None`: none).
    pub fn with_registry_policy(self, policy: Option<&str>) -> Memory {
        *lock(&self.registry_policy) = policy.map(str::to_owned);
        self
    }

    /// Adds (or replaces) a creation template.
    pub fn with_template(self, template: CreationTemplate) -> Memory {
        lock(&self.templates).insert(template.prefix.clone(), template);
        self
    }

    pub fn with_replication(self, configuration: Replication) -> Memory {
        *lock(&self.replication) = configuration;
        self
    }

    /// The registry policy now.
    pub fn registry_policy(&self) -> Option<String> {
        lock(&self.registry_policy).clone()
    }

    /// The template for `prefix` now.
    pub fn template(&self, prefix: &str) -> Option<CreationTemplate> {
        lock(&self.templates).get(prefix).cloned()
    }

    /// The replication configuration now.
    pub fn replication(&self) -> Replication {
        lock(&self.replication).clone()
    }

    /// Creates the repository if needed and sets (or removes) its policy.
    pub fn put(&self, name: &str, policy: Option<&str>) {
        lock(&self.policies).insert(name.to_owned(), policy.map(str::to_owned));
    }

    /// The repository's policy: `None` when the repository does not exist, `Some(None)` when
    /// it has no policy.
    pub fn policy(&self, name: &str) -> Option<Option<String>> {
        lock(&self.policies).get(name).cloned()
    }

    /// Every alert published so far, in order.
    pub fn alerts(&self) -> Vec<Alert> {
        lock(&self.alerts).clone()
    }

    /// The saved scan position.
    pub fn position(&self) -> Option<String> {
        lock(&self.position).clone()
    }

    /// All four ports on this one store.
    pub fn ports(&self) -> Ports<'_, Memory, Memory, Memory, Memory> {
        Ports::all(self)
    }

    fn known(
        &self,
        operation: &'static str,
        registry_id: &str,
        name: &str,
    ) -> Result<(), PortError> {
        if registry_id == self.registry_id && lock(&self.policies).contains_key(name) {
            return Ok(());
        }
        Err(PortError::Failed {
            operation,
            message: format!(
                "RepositoryNotFoundException (HTTP 400): The repository with name '{name}' does not exist in the registry with id '{registry_id}'"
            ),
        })
    }
}

impl Registry for Memory {
    async fn get_policy(&self, registry_id: &str, name: &str) -> Result<Option<String>, PortError> {
        self.known("ecr:GetRepositoryPolicy", registry_id, name)?;
        Ok(self.policy(name).flatten())
    }

    async fn set_policy(&self, registry_id: &str, name: &str, text: &str) -> Result<(), PortError> {
        self.known("ecr:SetRepositoryPolicy", registry_id, name)?;
        self.put(name, Some(text));
        Ok(())
    }

    async fn list_repositories(&self, _: Option<String>) -> Result<RepositoryPage, PortError> {
        Ok(RepositoryPage {
            repositories: lock(&self.policies)
                .keys()
                .map(|name| RepositoryRef {
                    name: name.clone(),
                    registry_id: self.registry_id.clone(),
                })
                .collect(),
            next_token: None,
        })
    }

    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        Ok(self.registry_policy())
    }

    async fn put_registry_policy(&self, policy_text: &str) -> Result<(), PortError> {
        *lock(&self.registry_policy) = Some(policy_text.to_owned());
        Ok(())
    }

    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        *lock(&self.registry_policy) = None;
        Ok(())
    }

    async fn list_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        Ok(lock(&self.templates).values().cloned().collect())
    }

    async fn set_template_policy(&self, prefix: &str, policy_text: &str) -> Result<(), PortError> {
        match lock(&self.templates).get_mut(prefix) {
            Some(template) => {
                template.repository_policy = Some(policy_text.to_owned());
                Ok(())
            }
            None => Err(PortError::Failed {
                operation: "ecr:UpdateRepositoryCreationTemplate",
                message: format!(
                    "TemplateNotFoundException (HTTP 400): no repository creation template with prefix '{prefix}'"
                ),
            }),
        }
    }

    async fn get_replication(&self) -> Result<Replication, PortError> {
        Ok(self.replication())
    }

    async fn put_replication(&self, configuration: &Replication) -> Result<(), PortError> {
        *lock(&self.replication) = configuration.clone();
        Ok(())
    }
}

impl History for Memory {
    async fn policy_changes(
        &self,
        event_name: &str,
        _before: Option<&str>,
        next_token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        let pages = lock(&self.history);
        let index = next_token.and_then(|t| t.parse().ok()).unwrap_or(0usize);
        // As `LookupEvents` with an `EventName` attribute: only that call's records.
        let named = |record: &String| {
            serde_json::from_str::<serde_json::Value>(record)
                .ok()
                .and_then(|r| {
                    r.get("eventName")
                        .and_then(|n| n.as_str())
                        .map(|n| n == event_name)
                })
                .unwrap_or(true)
        };
        Ok(HistoryPage {
            records: pages
                .get(index)
                .map(|page| page.iter().filter(|r| named(r)).cloned().collect())
                .unwrap_or_default(),
            next_token: (index + 1 < pages.len()).then(|| (index + 1).to_string()),
        })
    }
}

impl Notifier for Memory {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        lock(&self.alerts).push(alert.clone());
        Ok(())
    }
}

impl ScanState for Memory {
    async fn load(&self) -> Result<Option<String>, PortError> {
        Ok(self.position())
    }

    async fn save(&self, after: Option<&str>) -> Result<(), PortError> {
        *lock(&self.position) = after.map(str::to_owned);
        Ok(())
    }
}

/// Several accounts, each with a [`Memory`] per region: what a hub reaches. An account whose
/// spoke role is [`MemoryAccounts::deny`]ed fails every call, as an `sts:AssumeRole` denial
/// would; an account or region that was never added fails like a registry that does not exist.
pub struct MemoryAccounts {
    own_account: String,
    registries: BTreeMap<(String, String), Memory>,
    organization: Vec<String>,
    denied: BTreeMap<String, PortError>,
    /// (account, region, session) of every scope handed out, in order.
    scopes: Mutex<Vec<(String, String, String)>>,
}

impl MemoryAccounts {
    /// The accounts of a hub in `own_account`.
    pub fn new(own_account: &str) -> MemoryAccounts {
        MemoryAccounts {
            own_account: own_account.to_owned(),
            registries: BTreeMap::new(),
            organization: Vec::new(),
            denied: BTreeMap::new(),
            scopes: Mutex::new(Vec::new()),
        }
    }

    /// Adds `account`'s registry in `region` (and the account to the organization).
    pub fn with(mut self, account: &str, region: &str, memory: Memory) -> MemoryAccounts {
        self.registries
            .insert((account.to_owned(), region.to_owned()), memory);
        if !self.organization.iter().any(|a| a == account) {
            self.organization.push(account.to_owned());
            self.organization.sort_unstable();
        }
        self
    }

    /// Makes every call into `account` fail with `error` (a spoke role that cannot be assumed).
    pub fn deny(mut self, account: &str, error: PortError) -> MemoryAccounts {
        self.denied.insert(account.to_owned(), error);
        self
    }

    /// The registry of `account` in `region`.
    pub fn registry(&self, account: &str, region: &str) -> Option<&Memory> {
        self.registries
            .get(&(account.to_owned(), region.to_owned()))
    }

    /// Every scope handed out: (account, region, session).
    pub fn scopes(&self) -> Vec<(String, String, String)> {
        lock(&self.scopes).clone()
    }
}

/// One account and region of [`MemoryAccounts`].
pub struct MemoryScope<'a> {
    memory: Result<&'a Memory, PortError>,
}

impl MemoryScope<'_> {
    fn reach(&self) -> Result<&Memory, PortError> {
        self.memory.clone()
    }
}

impl Registry for MemoryScope<'_> {
    async fn get_policy(&self, registry_id: &str, name: &str) -> Result<Option<String>, PortError> {
        self.reach()?.get_policy(registry_id, name).await
    }

    async fn set_policy(&self, registry_id: &str, name: &str, text: &str) -> Result<(), PortError> {
        self.reach()?.set_policy(registry_id, name, text).await
    }

    async fn list_repositories(&self, token: Option<String>) -> Result<RepositoryPage, PortError> {
        self.reach()?.list_repositories(token).await
    }

    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        self.reach()?.get_registry_policy().await
    }

    async fn put_registry_policy(&self, policy_text: &str) -> Result<(), PortError> {
        self.reach()?.put_registry_policy(policy_text).await
    }

    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        self.reach()?.delete_registry_policy().await
    }

    async fn list_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        self.reach()?.list_templates().await
    }

    async fn set_template_policy(&self, prefix: &str, policy_text: &str) -> Result<(), PortError> {
        self.reach()?.set_template_policy(prefix, policy_text).await
    }

    async fn get_replication(&self) -> Result<Replication, PortError> {
        self.reach()?.get_replication().await
    }

    async fn put_replication(&self, configuration: &Replication) -> Result<(), PortError> {
        self.reach()?.put_replication(configuration).await
    }
}

impl History for MemoryScope<'_> {
    async fn policy_changes(
        &self,
        event_name: &str,
        before: Option<&str>,
        token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        self.reach()?
            .policy_changes(event_name, before, token)
            .await
    }
}

impl Accounts for MemoryAccounts {
    type Scope<'a> = MemoryScope<'a>;

    fn own_account(&self) -> &str {
        &self.own_account
    }

    fn scope<'a>(&'a self, account: &str, region: &str, session: &str) -> MemoryScope<'a> {
        lock(&self.scopes).push((account.to_owned(), region.to_owned(), session.to_owned()));
        let memory = match self.denied.get(account) {
            Some(error) => Err(error.clone()),
            None => self
                .registry(account, region)
                .ok_or_else(|| PortError::Failed {
                    operation: "ecr:DescribeRepositories",
                    message: format!("no registry of account {account} in {region}"),
                }),
        };
        MemoryScope { memory }
    }

    async fn organization_accounts(&self) -> Result<Vec<String>, PortError> {
        Ok(self.organization.clone())
    }
}

/// A sweep's scan positions by key, in memory.
#[derive(Debug, Default)]
pub struct MemoryPositions {
    positions: Mutex<BTreeMap<String, String>>,
}

impl MemoryPositions {
    /// Every saved position: key → repository (or target) it stopped after.
    pub fn saved(&self) -> BTreeMap<String, String> {
        lock(&self.positions).clone()
    }

    /// Sets a position, as an earlier run would have left it.
    pub fn set(&self, key: &str, value: &str) {
        lock(&self.positions).insert(key.to_owned(), value.to_owned());
    }
}

/// One key of [`MemoryPositions`].
pub struct PositionAt<'a> {
    store: &'a MemoryPositions,
    key: String,
}

impl ScanState for PositionAt<'_> {
    async fn load(&self) -> Result<Option<String>, PortError> {
        Ok(lock(&self.store.positions).get(&self.key).cloned())
    }

    async fn save(&self, after: Option<&str>) -> Result<(), PortError> {
        let mut positions = lock(&self.store.positions);
        match after {
            Some(after) => positions.insert(self.key.clone(), after.to_owned()),
            None => positions.remove(&self.key),
        };
        Ok(())
    }
}

impl Positions for MemoryPositions {
    type At<'a> = PositionAt<'a>;

    fn at<'a>(&'a self, key: &str) -> PositionAt<'a> {
        PositionAt {
            store: self,
            key: key.to_owned(),
        }
    }
}

/// One call through a [`Recorded`] adapter: the AWS operation and what it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub operation: &'static str,
    /// The repository for ECR calls, the topic subject for SNS, empty otherwise.
    pub target: String,
}

/// Any adapter with a log of the calls made through it, and failures scripted per operation
/// (the next call of that operation fails instead of reaching the adapter).
pub struct Recorded<T> {
    pub inner: T,
    calls: Mutex<Vec<Call>>,
    failures: Mutex<VecDeque<(&'static str, PortError)>>,
}

impl<T> Recorded<T> {
    pub fn new(inner: T) -> Recorded<T> {
        Recorded {
            inner,
            calls: Mutex::new(Vec::new()),
            failures: Mutex::new(VecDeque::new()),
        }
    }

    /// Makes the next call of `operation` (e.g. `ecr:SetRepositoryPolicy`) fail with `error`.
    pub fn fail_next(&self, operation: &'static str, error: PortError) {
        lock(&self.failures).push_back((operation, error));
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        lock(&self.calls).clone()
    }

    /// How many calls of `operation` were made.
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.calls)
            .iter()
            .filter(|c| c.operation == operation)
            .count()
    }

    /// Logs a call, and returns its scripted failure if one is due.
    fn record(&self, operation: &'static str, target: &str) -> Result<(), PortError> {
        lock(&self.calls).push(Call {
            operation,
            target: target.to_owned(),
        });
        let mut failures = lock(&self.failures);
        match failures.iter().position(|(op, _)| *op == operation) {
            Some(i) => {
                Err(failures
                    .remove(i)
                    .map(|(_, e)| e)
                    .unwrap_or_else(|| PortError::Failed {
                        operation,
                        message: "scripted failure".into(),
                    }))
            }
            None => Ok(()),
        }
    }
}

impl<T: Registry + Sync> Registry for Recorded<T> {
    async fn get_policy(&self, registry_id: &str, name: &str) -> Result<Option<String>, PortError> {
        self.record("ecr:GetRepositoryPolicy", name)?;
        self.inner.get_policy(registry_id, name).await
    }

    async fn set_policy(&self, registry_id: &str, name: &str, text: &str) -> Result<(), PortError> {
        self.record("ecr:SetRepositoryPolicy", name)?;
        self.inner.set_policy(registry_id, name, text).await
    }

    async fn list_repositories(&self, token: Option<String>) -> Result<RepositoryPage, PortError> {
        self.record("ecr:DescribeRepositories", "")?;
        self.inner.list_repositories(token).await
    }

    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        self.record("ecr:GetRegistryPolicy", "")?;
        self.inner.get_registry_policy().await
    }

    async fn put_registry_policy(&self, policy_text: &str) -> Result<(), PortError> {
        self.record("ecr:PutRegistryPolicy", "")?;
        self.inner.put_registry_policy(policy_text).await
    }

    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        self.record("ecr:DeleteRegistryPolicy", "")?;
        self.inner.delete_registry_policy().await
    }

    async fn list_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        self.record("ecr:DescribeRepositoryCreationTemplates", "")?;
        self.inner.list_templates().await
    }

    async fn set_template_policy(&self, prefix: &str, policy_text: &str) -> Result<(), PortError> {
        self.record("ecr:UpdateRepositoryCreationTemplate", prefix)?;
        self.inner.set_template_policy(prefix, policy_text).await
    }

    async fn get_replication(&self) -> Result<Replication, PortError> {
        self.record("ecr:DescribeRegistry", "")?;
        self.inner.get_replication().await
    }

    async fn put_replication(&self, configuration: &Replication) -> Result<(), PortError> {
        self.record("ecr:PutReplicationConfiguration", "")?;
        self.inner.put_replication(configuration).await
    }
}

impl<T: History + Sync> History for Recorded<T> {
    async fn policy_changes(
        &self,
        event_name: &str,
        before: Option<&str>,
        token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        self.record("cloudtrail:LookupEvents", event_name)?;
        self.inner.policy_changes(event_name, before, token).await
    }
}

impl<T: Notifier + Sync> Notifier for Recorded<T> {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        self.record("sns:Publish", &alert.subject)?;
        self.inner.publish(alert).await
    }
}

impl<T: ScanState + Sync> ScanState for Recorded<T> {
    async fn load(&self) -> Result<Option<String>, PortError> {
        self.record("ssm:GetParameter", "")?;
        self.inner.load().await
    }

    async fn save(&self, after: Option<&str>) -> Result<(), PortError> {
        self.record("ssm:PutParameter", after.unwrap_or("-"))?;
        self.inner.save(after).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_store_behaves_like_a_registry_and_the_recorder_logs_and_fails_on_cue() {
        let memory = Recorded::new(Memory::new("123456789012").with_repository("team/app", None));
        block_on(async {
            assert_eq!(
                memory.get_policy("123456789012", "team/app").await,
                Ok(None)
            );
            memory
                .set_policy("123456789012", "team/app", "{}")
                .await
                .unwrap();
            assert_eq!(memory.inner.policy("team/app"), Some(Some("{}".into())));
            let missing = memory
                .get_policy("123456789012", "team/none")
                .await
                .unwrap_err();
            assert!(
                missing.to_string().contains("RepositoryNotFoundException"),
                "{missing}"
            );
            memory.fail_next(
                "ecr:SetRepositoryPolicy",
                PortError::Denied {
                    operation: "ecr:SetRepositoryPolicy",
                    message: "no".into(),
                },
            );
            assert!(
                memory
                    .set_policy("123456789012", "team/app", "x")
                    .await
                    .is_err()
            );
            assert_eq!(memory.inner.policy("team/app"), Some(Some("{}".into())));
        });
        assert_eq!(memory.count("ecr:SetRepositoryPolicy"), 2);
        assert_eq!(memory.count("ecr:GetRepositoryPolicy"), 2);
        assert_eq!(memory.calls()[0].target, "team/app");
    }

    #[test]
    fn history_pages_are_served_in_order_with_tokens() {
        let memory = Memory::new("1").with_history(vec![vec!["a".into()], vec!["b".into()]]);
        block_on(async {
            let first = memory
                .policy_changes("SetRepositoryPolicy", None, None)
                .await
                .unwrap();
            assert_eq!(
                (first.records, first.next_token.clone()),
                (vec!["a".to_owned()], Some("1".into()))
            );
            let second = memory
                .policy_changes("SetRepositoryPolicy", None, first.next_token)
                .await
                .unwrap();
            assert_eq!(
                (second.records, second.next_token),
                (vec!["b".to_owned()], None)
            );
        });
    }
}
