//! Hub mode: one function acting in every account of the organization. An event is handled in
//! its own account and region ([`handle_in_account`]); the scheduled scan sweeps the configured
//! accounts and regions ([`sweep`]), each target with its own resume position, into one summary
//! alert. What is reached where is the [`Accounts`] port's business; this module only routes.

use super::AppError;
use super::handle::handle_read;
use super::scan::{scan_registry, with_backoff};
use crate::config::{Config, ScanAccounts};
use crate::ports::{Accounts, Notifier, Ports, Positions, ScanState};
use ecr_policy_guard_core::render::sweep::render_sweep;
use ecr_policy_guard_core::sweep::{SweepReport, target_key};
use ecr_policy_guard_core::{EventError, Incident, Payload, PolicyEvent, read_event};

/// What a hub acts through: every account's registry and history, the alert topic and the
/// sweep's positions (both in the hub's own account), and the hub's own region.
pub struct Hub<'a, A, N, P> {
    pub accounts: &'a A,
    pub notifier: &'a N,
    pub positions: &'a P,
    /// Where an event that names no region, and a scan without `scan_regions`, acts.
    pub region: &'a str,
}

impl<A, N, P> Clone for Hub<'_, A, N, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A, N, P> Copy for Hub<'_, A, N, P> {}

/// One Lambda invocation in hub mode: the scheduled event sweeps, any other payload is handled
/// in its own account and region.
pub async fn invoke_hub<A, N, P>(
    payload: &str,
    config: &Config,
    hub: Hub<'_, A, N, P>,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<super::Invocation, AppError>
where
    A: Accounts,
    N: Notifier + Sync,
    P: Positions,
{
    match read_event(payload) {
        Ok(Payload::Scheduled(facts)) => {
            let session = format!("scan-{}", facts.event_id.as_deref().unwrap_or("scheduled"));
            sweep(config, hub, &session, should_stop)
                .await
                .map(super::Invocation::Sweep)
        }
        Ok(Payload::Change(event)) => handle_in_account(Ok(event), config, hub)
            .await
            .map(super::Invocation::Event),
        Err(error) => handle_in_account(Err(error), config, hub)
            .await
            .map(super::Invocation::Event),
    }
}

/// One event, handled in the event's own account and region: its ECR and CloudTrail calls go to
/// that account (through the spoke role when it is not the hub's own), the alert to the hub's
/// topic. In alert mode no ECR call is made, so no role is assumed: the alert is published from
/// the hub. A role that cannot be assumed makes the revert's first call fail: a `revert-failed`
/// alert with the reason.
pub async fn handle_in_account<A, N, P>(
    read: Result<PolicyEvent, EventError>,
    config: &Config,
    hub: Hub<'_, A, N, P>,
) -> Result<Incident, AppError>
where
    A: Accounts,
    N: Notifier,
{
    let (account, region, session) = match &read {
        Ok(event) => {
            let f = &event.facts;
            (
                f.account.as_deref().unwrap_or(hub.accounts.own_account()),
                f.region.as_deref().unwrap_or(hub.region),
                f.event_id.as_deref().unwrap_or("event"),
            )
        }
        Err(_) => (hub.accounts.own_account(), hub.region, "event"),
    };
    let scope = hub.accounts.scope(account, region, session);
    let ports = Ports {
        registry: &scope,
        history: &scope,
        notifier: hub.notifier,
        state: &(),
    };
    handle_read(read, config, ports).await
}

/// The accounts and regions a sweep covers, as (account, region) in scan order: accounts in
/// id order, each in the regions in the order configured.
pub async fn sweep_targets<A: Accounts>(
    config: &Config,
    accounts: &A,
    own_region: &str,
) -> Result<Vec<(String, String)>, AppError> {
    let ids = match &config.scan_accounts {
        ScanAccounts::Own => vec![accounts.own_account().to_owned()],
        ScanAccounts::Listed(ids) => ids.clone(),
        ScanAccounts::Organization => with_backoff(|| accounts.organization_accounts())
            .await
            .map_err(AppError::Retry)?,
    };
    let regions = match config.scan_regions.as_slice() {
        [] => vec![own_region.to_owned()],
        regions => regions.to_vec(),
    };
    Ok(ids
        .iter()
        .flat_map(|a| regions.iter().map(move |r| (a.clone(), r.clone())))
        .collect())
}

/// The scheduled scan over several accounts and regions. It continues with the target the last
/// unfinished run stopped in (the sweep's position, key `""`), and each target resumes after
/// its own saved repository (key `<account>/<region>`), exactly as the single-account scan does.
/// A target that cannot be scanned (its role cannot be assumed, its repositories cannot be
/// listed) is listed in the summary and the sweep goes on. One summary alert per run.
pub async fn sweep<A, N, P>(
    config: &Config,
    hub: Hub<'_, A, N, P>,
    session: &str,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<SweepReport, AppError>
where
    A: Accounts,
    N: Notifier + Sync,
    P: Positions,
{
    let targets = sweep_targets(config, hub.accounts, hub.region).await?;
    let position = hub.positions.at("");
    let cursor = with_backoff(|| position.load())
        .await
        .map_err(AppError::Retry)?;
    let keys: Vec<String> = targets.iter().map(|(a, r)| target_key(a, r)).collect();
    // A target no longer swept (an account left the organization, say): start from the first.
    let start = cursor
        .as_deref()
        .and_then(|c| keys.iter().position(|k| k == c));
    let mut report = SweepReport {
        mode: config.mode,
        started_at: start.map(|i| keys[i].clone()),
        targets: keys.clone(),
        complete: true,
        ..SweepReport::default()
    };
    for ((account, region), key) in targets.iter().zip(&keys).skip(start.unwrap_or(0)) {
        if should_stop() {
            report.complete = false;
            report.resume_at = Some(key.clone());
            break;
        }
        let scope = hub.accounts.scope(account, region, session);
        let state = hub.positions.at(key);
        let ports = Ports {
            registry: &scope,
            history: &scope,
            notifier: hub.notifier,
            state: &state,
        };
        match scan_registry(config, Some(account), region, ports, should_stop).await {
            Ok(mut target) => {
                target.account.get_or_insert_with(|| account.clone());
                let done = target.complete;
                report.add(target);
                if !done {
                    report.complete = false;
                    report.resume_at = Some(key.clone());
                    break;
                }
            }
            Err(AppError::Retry(error)) => {
                tracing::warn!(account, region, error = %error, "cannot scan this account and region");
                report.unreachable(account, region, error.to_string());
            }
        }
    }
    with_backoff(|| position.save(report.resume_at.as_deref()))
        .await
        .map_err(AppError::Retry)?;
    hub.notifier
        .publish(&render_sweep(&report))
        .await
        .map_err(AppError::Retry)?;
    Ok(report)
}
