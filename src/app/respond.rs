//! One decision carried out: decide, and in revert mode read the live state of what the event
//! changed (a repository policy, the registry policy, a creation template or the replication
//! configuration), choose the target (CloudTrail history first where it applies), check it, and
//! write it unless the revert is already in place or superseded. The choices are the pure [`ecr_policy_guard_core::remedy`];
//! this module only makes the calls.

use super::AppError;
use crate::config::Config;
use crate::ports::{History, PortError, Ports, Registry};
use ecr_policy_guard_core::event::{ApiCall, Subject};
use ecr_policy_guard_core::registry::Replication;
use ecr_policy_guard_core::remedy::{
    Target, WritePlan, choose_target, compliant_target, pick_from_history, plan_revert,
    wants_history,
};
use ecr_policy_guard_core::{Action, Incident, PolicyEvent, Taken, decide};

/// How many pages of CloudTrail history (50 records each) a revert searches at most.
pub const MAX_HISTORY_PAGES: usize = 5;

/// Decides and, in revert mode, reverts; publishes nothing (the caller does).
pub async fn respond<R: Registry, H: History, N, S>(
    event: &PolicyEvent,
    config: &Config,
    ports: Ports<'_, R, H, N, S>,
) -> Result<Incident, AppError> {
    let outcome = decide(event, &config.rules, config.mode);
    let action = outcome.action;
    let mut incident = Incident {
        taken: Taken::Nothing,
        outcome: Some(outcome),
        detail: None,
        offending_policy: event.change.policy_text(),
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
    let subject = event.facts.subject;
    let live = match read_live(event, ports.registry).await {
        Ok(Some(live)) => live,
        Ok(None) => {
            // The template the event changed is gone: a newer change the guard never undoes.
            incident.planned(WritePlan::Superseded, false);
            return Ok(());
        }
        Err(e) if e.is_transient() => return Err(AppError::Retry(e)),
        Err(e) => {
            incident.revert_failed(format!("could not read the live {}: {e}", noun(subject)));
            return Ok(());
        }
    };
    let history = match wants_history(&event.change) {
        true => Some(search_history(event, config, ports.history).await),
        false => None,
    };
    let baseline = config.baseline_policy.as_deref();
    let chosen = choose_target(event, history, &config.rules, baseline);
    let target = match compliant_target(event, chosen, &config.rules, baseline) {
        Ok(target) => target,
        Err(e) => {
            incident.revert_failed(e.to_string());
            return Ok(());
        }
    };
    incident.target = Some(target.clone());
    let plan = plan_revert(event, live.as_deref(), &target);
    incident.planned(plan, live.is_some());
    if plan != WritePlan::Write {
        return Ok(());
    }
    match write(event, ports.registry, &target).await {
        Ok(()) => incident.taken = Taken::Reverted,
        Err(e) if e.is_transient() => return Err(AppError::Retry(e)),
        Err(e) => incident.revert_failed(format!(
            "could not write the compliant {}: {e}",
            noun(subject)
        )),
    }
    Ok(())
}

/// What a subject's live state is called in messages.
fn noun(subject: Subject) -> &'static str {
    match subject {
        Subject::Repository => "policy",
        Subject::RegistryPolicy => "registry policy",
        Subject::CreationTemplate => "template policy",
        Subject::Replication => "replication configuration",
    }
}

/// The live state of what the event changed (`Some(None)`: no policy); `None` when the creation
/// template itself no longer exists.
async fn read_live<R: Registry>(
    event: &PolicyEvent,
    registry: &R,
) -> Result<Option<Option<String>>, PortError> {
    let facts = &event.facts;
    // read_event guarantees what each subject needs for the events the guard judges.
    let registry_id = facts.registry_id.as_deref().unwrap_or_default();
    match facts.subject {
        Subject::Repository => {
            let repository = facts.repository.as_deref().unwrap_or_default();
            registry.get_policy(registry_id, repository).await.map(Some)
        }
        Subject::RegistryPolicy => registry.get_registry_policy().await.map(Some),
        Subject::CreationTemplate => {
            let prefix = facts.template_prefix.as_deref().unwrap_or_default();
            let templates = registry.list_templates().await?;
            Ok(templates
                .into_iter()
                .find(|t| t.prefix == prefix)
                .map(|t| t.repository_policy))
        }
        Subject::Replication => Ok(Some(Some(registry.get_replication().await?.to_json_text()))),
    }
}

/// Writes the target where the event changed something.
async fn write<R: Registry>(
    event: &PolicyEvent,
    registry: &R,
    target: &Target,
) -> Result<(), PortError> {
    let facts = &event.facts;
    let registry_id = facts.registry_id.as_deref().unwrap_or_default();
    match facts.subject {
        Subject::Repository => {
            let repository = facts.repository.as_deref().unwrap_or_default();
            registry
                .set_policy(registry_id, repository, &target.policy_text)
                .await
        }
        Subject::RegistryPolicy if target.is_deletion() => registry.delete_registry_policy().await,
        Subject::RegistryPolicy => registry.put_registry_policy(&target.policy_text).await,
        Subject::CreationTemplate => {
            let prefix = facts.template_prefix.as_deref().unwrap_or_default();
            registry
                .set_template_policy(prefix, &target.policy_text)
                .await
        }
        Subject::Replication => {
            // The target was derived from a configuration and checked: it always reads back.
            let configuration =
                Replication::parse(&target.policy_text).map_err(|e| PortError::Failed {
                    operation: "ecr:PutReplicationConfiguration",
                    message: e.to_string(),
                })?;
            registry.put_replication(&configuration).await
        }
    }
}

/// The most recent earlier compliant policy from CloudTrail, or why there is none.
async fn search_history<H: History>(
    event: &PolicyEvent,
    config: &Config,
    history: &H,
) -> Result<Target, String> {
    let event_name = match event.facts.subject {
        Subject::RegistryPolicy => ApiCall::PutRegistryPolicy,
        _ => ApiCall::SetRepositoryPolicy,
    }
    .as_str();
    let of = match event.facts.subject {
        Subject::RegistryPolicy => "registry policy",
        _ => "policy of this repository",
    };
    let mut token = None;
    for _ in 0..MAX_HISTORY_PAGES {
        let page = history
            .policy_changes(event_name, event.facts.event_time.as_deref(), token)
            .await
            .map_err(|e| format!("CloudTrail history unavailable: {e}"))?;
        let records = page.records.iter().map(String::as_str);
        if let Some(target) = pick_from_history(records, &event.facts, &config.rules) {
            return Ok(target);
        }
        token = page.next_token;
        if token.is_none() {
            return Err(format!("no earlier compliant {of} in CloudTrail history"));
        }
    }
    Err(format!(
        "no earlier compliant {of} in the {MAX_HISTORY_PAGES} most recent pages of CloudTrail history"
    ))
}
