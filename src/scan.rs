//! The scheduled reconciliation: every repository of the account, judged and handled exactly as
//! an event would be (revert mode restores the derived policy or the baseline), with a summary
//! alert, bounded concurrency, backoff on throttling, and a resumable position.

use crate::alert::{self, Incident, Taken};
use crate::config::Config;
use crate::decision::Mode;
use crate::event::{Change, EventFacts, PolicyEvent};
use crate::handler::{HandlerError, Ports, respond};
use crate::ports::{History, Notifier, PortError, Registry, RepositoryRef, ScanState};
use futures_util::future::join_all;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Repositories handled at once.
pub const SCAN_CONCURRENCY: usize = 4;
/// Offenders named in the summary; the counts cover all of them.
pub const MAX_LISTED_OFFENDERS: usize = 20;
/// Attempts per call on a transient error (the SDK has already retried each one).
const ATTEMPTS: u32 = 3;

/// A repository that could not be checked or handled, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unchecked {
    pub repository: String,
    pub error: String,
}

/// A non-compliant repository and what the scan did about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Offender {
    pub repository: String,
    pub rules: Vec<String>,
    pub taken: Taken,
}

/// The result of one scan run; also the summary alert's document.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ScanReport {
    pub mode: Mode,
    pub account: Option<String>,
    pub region: String,
    /// Where this run started (the previous run stopped after this repository).
    pub started_after: Option<String>,
    /// Repositories in the account and region.
    pub repositories: usize,
    /// Repositories checked by this run.
    pub scanned: usize,
    pub compliant: usize,
    pub non_compliant: usize,
    /// Violations by rule id.
    pub by_rule: BTreeMap<String, usize>,
    pub reverted: usize,
    pub revert_failed: usize,
    /// The first offenders, in name order.
    pub offenders: Vec<Offender>,
    /// Repositories that could not be checked: never skipped silently.
    pub unchecked: Vec<Unchecked>,
    /// False when the run stopped early (before the Lambda's deadline).
    pub complete: bool,
    /// Where the next run continues, when this one stopped early.
    pub resume_after: Option<String>,
}

/// Calls `f` again after a growing pause while it fails transiently.
async fn with_backoff<T, F, Fut>(mut f: F) -> Result<T, PortError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, PortError>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Err(e) if e.is_transient() && attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Scans every repository after the saved position, in name order, until done or until
/// `should_stop` says the time is up; saves the position and publishes the summary alert.
pub async fn scan<R, H, N, S>(
    config: &Config,
    region: &str,
    ports: &Ports<'_, R, H, N>,
    state: &S,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<ScanReport, HandlerError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: ScanState,
{
    let started_after = with_backoff(|| state.load())
        .await
        .map_err(HandlerError::Retry)?;
    let mut all: Vec<RepositoryRef> = Vec::new();
    let mut token = None;
    loop {
        let page = with_backoff(|| ports.registry.list_repositories(token.clone()))
            .await
            .map_err(HandlerError::Retry)?;
        all.extend(page.repositories);
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    // Name order makes the position meaningful across runs.
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.dedup_by(|a, b| a.name == b.name);
    let todo: Vec<&RepositoryRef> = all
        .iter()
        .filter(|r| {
            started_after
                .as_deref()
                .is_none_or(|after| r.name.as_str() > after)
        })
        .collect();

    let mut report = ScanReport {
        mode: config.mode,
        account: all.first().map(|r| r.registry_id.clone()),
        region: region.to_owned(),
        started_after: started_after.clone(),
        repositories: all.len(),
        complete: true,
        ..ScanReport::default()
    };
    let mut last_done = started_after;
    for chunk in todo.chunks(SCAN_CONCURRENCY) {
        if should_stop() {
            report.complete = false;
            break;
        }
        let results = join_all(chunk.iter().map(|r| check_one(r, config, region, ports))).await;
        for (repository, result) in chunk.iter().zip(results) {
            tally(&mut report, repository, result);
        }
        last_done = chunk.last().map(|r| r.name.clone());
    }
    report.resume_after = if report.complete { None } else { last_done };
    with_backoff(|| state.save(report.resume_after.as_deref()))
        .await
        .map_err(HandlerError::Retry)?;
    tracing::info!(
        scanned = report.scanned,
        non_compliant = report.non_compliant,
        reverted = report.reverted,
        unchecked = report.unchecked.len(),
        complete = report.complete,
        "scheduled scan"
    );
    ports
        .notifier
        .publish(&alert::render_scan(&report))
        .await
        .map_err(HandlerError::Retry)?;
    Ok(report)
}

fn tally(report: &mut ScanReport, repository: &RepositoryRef, result: Result<Incident, PortError>) {
    let incident = match result {
        Ok(incident) => incident,
        Err(e) => {
            report.unchecked.push(Unchecked {
                repository: repository.name.clone(),
                error: e.to_string(),
            });
            return;
        }
    };
    report.scanned += 1;
    let violations = incident
        .outcome
        .as_ref()
        .map(|o| o.violations.as_slice())
        .unwrap_or_default();
    if violations.is_empty() {
        report.compliant += 1;
        return;
    }
    report.non_compliant += 1;
    for v in violations {
        *report.by_rule.entry(v.rule.to_string()).or_default() += 1;
    }
    match incident.taken {
        Taken::Reverted | Taken::AlreadyReverted => report.reverted += 1,
        Taken::RevertFailed => report.revert_failed += 1,
        _ => {}
    }
    if report.offenders.len() < MAX_LISTED_OFFENDERS {
        // Violations come in statement order, so one rule can recur apart: sort, then dedup.
        let mut rules: Vec<String> = violations.iter().map(|v| v.rule.to_string()).collect();
        rules.sort_unstable();
        rules.dedup();
        report.offenders.push(Offender {
            repository: repository.name.clone(),
            rules,
            taken: incident.taken,
        });
    }
}

/// One repository: read its policy, decide, act as for an event, alert on a change made.
async fn check_one<R, H, N>(
    repository: &RepositoryRef,
    config: &Config,
    region: &str,
    ports: &Ports<'_, R, H, N>,
) -> Result<Incident, PortError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
{
    let live = with_backoff(|| {
        ports
            .registry
            .get_policy(&repository.registry_id, &repository.name)
    })
    .await?;
    let event = PolicyEvent {
        facts: EventFacts {
            event_name: Some("ScheduledScan".into()),
            account: Some(repository.registry_id.clone()),
            region: Some(region.to_owned()),
            repository: Some(repository.name.clone()),
            registry_id: Some(repository.registry_id.clone()),
            ..EventFacts::default()
        },
        change: Change::Current { policy_text: live },
    };
    let incident = respond(&event, config, ports)
        .await
        .map_err(|HandlerError::Retry(e)| e)?;
    // Changes made get the usual per-repository alert; findings alone go into the summary.
    if matches!(incident.taken, Taken::Reverted | Taken::RevertFailed) {
        ports.notifier.publish(&alert::render(&incident)).await?;
    }
    Ok(incident)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::decide;

    #[test]
    fn an_offender_lists_each_broken_rule_once() {
        let policy = r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":"987654321098"},"Action":"ecr:BatchGetImage"},
            {"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
            {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"ecr:BatchGetImage"}]}"#;
        let event = PolicyEvent {
            facts: EventFacts {
                repository: Some("team/app".into()),
                ..EventFacts::default()
            },
            change: Change::Current {
                policy_text: Some(policy.into()),
            },
        };
        let outcome = decide(&event, &Config::default());
        assert_eq!(outcome.violations.len(), 4);
        let incident = Incident {
            taken: Taken::Alerted,
            outcome: Some(outcome),
            detail: None,
            offending_policy: None,
            target: None,
        };
        let repository = RepositoryRef {
            name: "team/app".into(),
            registry_id: "123456789012".into(),
        };
        let mut report = ScanReport::default();
        tally(&mut report, &repository, Ok(incident));
        assert_eq!(
            report.offenders[0].rules,
            [
                "deny-by-default-required",
                "no-root-principal",
                "no-wildcard-principal"
            ]
        );
        assert_eq!(report.by_rule["no-root-principal"], 2);
    }
}
