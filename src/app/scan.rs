//! The scheduled reconciliation: every repository of the account, judged and handled exactly as
//! an event would be (revert mode restores the derived policy or the baseline), with a summary
//! alert, bounded concurrency, backoff on throttling, and a resumable position. A fresh pass
//! first checks the registry-level doors (the registry policy, every creation template, the
//! replication configuration). The counting is the core's [`ScanReport::tally`]; this module
//! makes the calls.

use super::AppError;
use super::respond::respond;
use crate::config::Config;
use crate::ports::{History, Notifier, PortError, Ports, Registry, RepositoryRef, ScanState};
use ecr_policy_guard_core::render::alert::render;
use ecr_policy_guard_core::render::scan::render_scan;
use ecr_policy_guard_core::{Incident, PolicyEvent, ScanReport, Taken};
use futures_util::future::join_all;
use std::time::Duration;

/// Repositories handled at once.
pub const SCAN_CONCURRENCY: usize = 4;
/// Attempts per call on a transient error (the SDK has already retried each one).
const ATTEMPTS: u32 = 3;

/// Calls `f` again after a growing pause while it fails transiently.
pub(crate) async fn with_backoff<T, F, Fut>(mut f: F) -> Result<T, PortError>
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
/// `account` is the registry's (the scheduled event's account, the caller's); without it the
/// first repository's registry id stands in.
pub async fn scan<R, H, N, S>(
    config: &Config,
    account: Option<&str>,
    region: &str,
    ports: Ports<'_, R, H, N, S>,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<ScanReport, AppError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: ScanState + Sync,
{
    let report = scan_registry(config, account, region, ports, should_stop).await?;
    ports
        .notifier
        .publish(&render_scan(&report))
        .await
        .map_err(AppError::Retry)?;
    Ok(report)
}

/// [`scan`] without the summary alert: one registry's scan, as a hub's sweep runs it for each
/// account and region (and sums into one summary).
pub async fn scan_registry<R, H, N, S>(
    config: &Config,
    account: Option<&str>,
    region: &str,
    ports: Ports<'_, R, H, N, S>,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<ScanReport, AppError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: ScanState + Sync,
{
    let started_after = with_backoff(|| ports.state.load())
        .await
        .map_err(AppError::Retry)?;
    let mut all: Vec<RepositoryRef> = Vec::new();
    let mut token = None;
    loop {
        let page = with_backoff(|| ports.registry.list_repositories(token.clone()))
            .await
            .map_err(AppError::Retry)?;
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
        account: account
            .map(str::to_owned)
            .or_else(|| all.first().map(|r| r.registry_id.clone())),
        region: region.to_owned(),
        started_after: started_after.clone(),
        repositories: all.len(),
        complete: true,
        ..ScanReport::default()
    };
    // The registry-level doors once per pass: a run that resumes an earlier one skips them.
    if started_after.is_none() {
        check_doors(config, region, ports, &mut report).await;
    }
    let mut last_done = started_after;
    for chunk in todo.chunks(SCAN_CONCURRENCY) {
        if should_stop() {
            report.complete = false;
            break;
        }
        let results = join_all(chunk.iter().map(|r| check_one(r, config, region, ports))).await;
        for (repository, result) in chunk.iter().zip(results) {
            report.tally(
                &repository.name,
                result.as_ref().map_err(PortError::to_string),
            );
        }
        last_done = chunk.last().map(|r| r.name.clone());
    }
    report.resume_after = if report.complete { None } else { last_done };
    with_backoff(|| ports.state.save(report.resume_after.as_deref()))
        .await
        .map_err(AppError::Retry)?;
    tracing::info!(
        account = report.account.as_deref(),
        region,
        scanned = report.scanned,
        non_compliant = report.non_compliant,
        reverted = report.reverted,
        unchecked = report.unchecked.len(),
        complete = report.complete,
        "scheduled scan"
    );
    Ok(report)
}

/// The registry policy, each creation template and the replication configuration, judged and
/// handled as their events would be, into `report.registry`.
async fn check_doors<R, H, N, S>(
    config: &Config,
    region: &str,
    ports: Ports<'_, R, H, N, S>,
    report: &mut ScanReport,
) where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: Sync,
{
    let Some(account) = report.account.clone() else {
        // Without the account neither the registry policy's ARNs nor "the registry's own
        // account" for replication can be judged; say so rather than guess.
        report.tally_registry(
            "registry-level doors",
            Err(
                "the registry's account is unknown (no account in the event, no repository)".into(),
            ),
        );
        return;
    };
    let policy = async {
        let live = with_backoff(|| ports.registry.get_registry_policy()).await?;
        let event = PolicyEvent::observed_registry_policy(&account, region, live);
        check_observed(&event, config, ports).await
    }
    .await;
    report.tally_registry(
        "registry policy",
        policy.as_ref().map_err(PortError::to_string),
    );

    match with_backoff(|| ports.registry.list_templates()).await {
        Ok(templates) => {
            for template in templates {
                let door = format!("creation template `{}`", template.prefix);
                let event = PolicyEvent::observed_template(&account, region, template);
                let result = check_observed(&event, config, ports).await;
                report.tally_registry(&door, result.as_ref().map_err(PortError::to_string));
            }
        }
        Err(e) => report.tally_registry("creation templates", Err(e.to_string())),
    }

    let replication = async {
        let configuration = with_backoff(|| ports.registry.get_replication()).await?;
        let event = PolicyEvent::observed_replication(&account, region, configuration);
        check_observed(&event, config, ports).await
    }
    .await;
    report.tally_registry(
        "replication configuration",
        replication.as_ref().map_err(PortError::to_string),
    );
}

/// One repository: read its policy, then as [`check_observed`].
async fn check_one<R, H, N, S>(
    repository: &RepositoryRef,
    config: &Config,
    region: &str,
    ports: Ports<'_, R, H, N, S>,
) -> Result<Incident, PortError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: Sync,
{
    let live = with_backoff(|| {
        ports
            .registry
            .get_policy(&repository.registry_id, &repository.name)
    })
    .await?;
    let event = PolicyEvent::observed(&repository.name, &repository.registry_id, region, live);
    check_observed(&event, config, ports).await
}

/// One observed state: decide, act as for an event, alert on a change made.
async fn check_observed<R, H, N, S>(
    event: &PolicyEvent,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
) -> Result<Incident, PortError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: Sync,
{
    let mut incident = respond(event, config, ports)
        .await
        .map_err(|AppError::Retry(e)| e)?;
    // Changes made get the usual per-repository alert; findings alone go into the summary,
    // and say so rather than claim an alert of their own.
    match incident.taken {
        Taken::Reverted | Taken::RevertFailed => ports.notifier.publish(&render(&incident)).await?,
        Taken::Alerted => incident.taken = Taken::Reported,
        _ => {}
    }
    Ok(incident)
}
