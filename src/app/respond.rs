//! One decision carried out: decide (waivers applied), and in revert mode read the live policy, choose the target
//! (CloudTrail history first where it applies), check it, and write it unless the revert is
//! already in place or superseded. The choices are the pure [`ecr_policy_guard_core::remedy`];
//! this module only makes the calls.

use super::AppError;
use crate::config::Config;
use crate::ports::{History, Ports, Registry};
use ecr_policy_guard_core::remedy::{
    Target, WritePlan, choose_target, compliant_or_baseline, pick_from_history, plan_write,
    wants_history,
};
use ecr_policy_guard_core::{Action, Incident, PolicyEvent, Taken, decide};

/// How many pages of CloudTrail history (50 records each) a revert searches at most.
pub const MAX_HISTORY_PAGES: usize = 5;

/// Decides (with the waivers in force today) and, in revert mode, reverts; publishes nothing
/// (the caller does).
pub async fn respond<R: Registry, H: History, N, S>(
    event: &PolicyEvent,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
) -> Result<Incident, AppError> {
    let outcome = config
        .waivers
        .apply(decide(event, &config.rules, config.mode), config.today());
    let action = outcome.action;
    let mut incident = Incident {
        taken: Taken::Nothing,
        outcome: Some(outcome),
        detail: None,
        offending_policy: event.change.policy_text().map(str::to_owned),
        target: None,
    };
    match action {
        Action::Ignore | Action::None => {}
        Action::Alert => incident.taken = Taken::Alerted,
        Action::Revert => revert(event, config, ports, &mut incident).await?,
    }
    Ok(incident)
}

async fn revert<R: Registry, H: History, N, S>(
    event: &PolicyEvent,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
    incident: &mut Incident,
) -> Result<(), AppError> {
    let facts = &event.facts;
    // read_event guarantees both for the events the guard judges.
    let registry = facts.registry_id.as_deref().unwrap_or_default();
    let repository = facts.repository.as_deref().unwrap_or_default();

    let live = match ports.registry.get_policy(registry, repository).await {
        Ok(live) => live,
        Err(e) if e.is_transient() => return Err(AppError::Retry(e)),
        Err(e) => {
            incident.revert_failed(format!("could not read the live policy: {e}"));
            return Ok(());
        }
    };
    let history = match wants_history(&event.change) {
        true => Some(search_history(event, config, ports.history).await),
        false => None,
    };
    let baseline = config.baseline_policy.as_deref();
    let chosen = choose_target(event, history, &config.rules, baseline);
    let target = match compliant_or_baseline(chosen, registry, &config.rules, baseline) {
        Ok(target) => target,
        Err(e) => {
            incident.revert_failed(e.to_string());
            return Ok(());
        }
    };
    incident.target = Some(target.clone());
    let plan = plan_write(live.as_deref(), event.change.resulting_policy(), &target);
    incident.planned(plan, live.is_some());
    if plan != WritePlan::Write {
        return Ok(());
    }
    match ports
        .registry
        .set_policy(registry, repository, &target.policy_text)
        .await
    {
        Ok(()) => incident.taken = Taken::Reverted,
        Err(e) if e.is_transient() => return Err(AppError::Retry(e)),
        Err(e) => incident.revert_failed(format!("could not write the compliant policy: {e}")),
    }
    Ok(())
}

/// The most recent earlier compliant policy from CloudTrail, or why there is none.
async fn search_history<H: History>(
    event: &PolicyEvent,
    config: &Config,
    history: &H,
) -> Result<Target, String> {
    let mut token = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let page = history
            .policy_changes(event.facts.event_time.as_deref(), token)
            .await
            .map_err(|e| format!("CloudTrail history unavailable: {e}"))?;
        let records = page.records.iter().map(String::as_str);
        if let Some(target) = pick_from_history(records, &event.facts, &config.rules) {
            return Ok(target);
        }
        token = page.next_token;
        if token.is_none() {
            return Err(
                "no earlier compliant policy of this repository in CloudTrail history".into(),
            );
        }
    }
    Err(format!(
        "no earlier compliant policy of this repository in the {MAX_HISTORY_PAGES} most recent pages of CloudTrail history"
    ))
}
