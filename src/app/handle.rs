//! One event: read it, respond, log one structured line, publish the alert and record the
//! findings. Never panics, writes only compliant policies, and alerts (and records) at least once
//! for every violation (a failed publish fails the invocation, so that the retry publishes).

use super::AppError;
use super::respond::respond;
use crate::config::Config;
use crate::ports::{History, Notifier, Ports, Registry};
use ecr_policy_guard_core::render::alert::render;
use ecr_policy_guard_core::render::findings::judged;
use ecr_policy_guard_core::{EventError, Incident, Payload, PolicyEvent, Taken, read_event};

/// Handles one event given as JSON text (`ecr-policy-guard handle`). A scheduled event is not a
/// policy change: it is reported as ignored (the Lambda routes it to the scan instead).
pub async fn handle<R: Registry, H: History, N: Notifier, S>(
    event_text: &str,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
) -> Result<Incident, AppError> {
    let read = read_event(event_text).map(Payload::into_policy_event);
    handle_read(read, config, ports).await
}

/// [`handle`] on an event already read.
pub async fn handle_read<R: Registry, H: History, N: Notifier, S>(
    read: Result<PolicyEvent, EventError>,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
) -> Result<Incident, AppError> {
    let incident = match read {
        Err(error) => Incident::malformed(error.to_string()),
        Ok(event) => respond(&event, config, ports).await?,
    };
    log(&incident);
    if incident.taken != Taken::Nothing {
        ports
            .notifier
            .publish(&render(&incident))
            .await
            .map_err(AppError::Retry)?;
    }
    // Compliant and waived verdicts too: they resolve what an earlier one found.
    if config.security_hub && judged(&incident) {
        ports
            .notifier
            .record(&[&incident])
            .await
            .map_err(AppError::Retry)?;
    }
    Ok(incident)
}

/// One structured log line per event.
fn log(incident: &Incident) {
    let Some(outcome) = &incident.outcome else {
        tracing::error!(
            taken = incident.taken.as_str(),
            error = incident.detail.as_deref().unwrap_or_default(),
            "malformed event"
        );
        return;
    };
    let f = &outcome.facts;
    let rules: Vec<&str> = incident.counted().map(|v| v.rule.as_str()).collect();
    let waived = outcome.violations.len() - rules.len();
    tracing::info!(
        action = outcome.action.as_str(),
        taken = incident.taken.as_str(),
        mode = outcome.mode.as_str(),
        event_name = f.event_name.as_deref(),
        event_id = f.event_id.as_deref(),
        account = f.account.as_deref(),
        region = f.region.as_deref(),
        repository = f.repository.as_deref(),
        actor = f.actor.as_deref(),
        rules = rules.join(","),
        waived,
        detail = incident.detail.as_deref(),
        "{}",
        outcome.reason
    );
}
