//! The Lambda's dispatch: EventBridge's scheduled event runs the reconciliation scan, any other
//! payload is handled as a policy-change event. One read of the payload decides both.

use super::handle::handle_read;
use super::{AppError, scan};
use crate::config::Config;
use crate::ports::{History, Notifier, Ports, Registry, ScanState};
use ecr_policy_guard_core::{Incident, Payload, ScanReport, SweepReport, read_event};
use serde::Serialize;

/// What one invocation did; the Lambda answers with it as JSON (the incident, or the scan
/// report, or in hub mode the sweep's, unwrapped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per invocation, returned once and never stored"
)]
pub enum Invocation {
    Event(Incident),
    Scan(ScanReport),
    Sweep(SweepReport),
}

/// Runs one invocation; `should_stop` tells a scan when to stop and save its position.
pub async fn invoke<R, H, N, S>(
    payload: &str,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<Invocation, AppError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: ScanState + Sync,
{
    match read_event(payload) {
        Ok(Payload::Scheduled(facts)) => {
            let region = facts.region.unwrap_or_default();
            scan(
                config,
                facts.account.as_deref(),
                &region,
                ports,
                should_stop,
            )
            .await
            .map(Invocation::Scan)
        }
        Ok(Payload::Change(event)) => handle_read(Ok(event), config, ports)
            .await
            .map(Invocation::Event),
        Err(error) => handle_read(Err(error), config, ports)
            .await
            .map(Invocation::Event),
    }
}
