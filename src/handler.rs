//! The guard's behaviour on one event, generic over the ports: read, decide, revert, alert.
//!
//! The Lambda and `ecr-policy-guard handle` both call [`handle`]; the decision itself is the
//! pure [`crate::decision::decide`] that `evaluate` uses.

use crate::alert::{self, Incident, Taken};
use crate::config::Config;
use crate::decision::{Action, decide};
use crate::event::{ApiCall, Change, EventError, PolicyEvent, read_event};
use crate::policy::{Policy, same_document};
use crate::ports::{History, Notifier, PortError, Registry, ScanState};
use crate::remedy::{self, Target, TargetSource, derived_target, pick_from_history};

/// How many pages of CloudTrail history (50 records each) a revert searches at most.
pub const MAX_HISTORY_PAGES: usize = 5;

/// A failure that must fail the invocation, so that Lambda retries it (and, once retries are
/// exhausted, sends it to the on-failure destination). Nothing else fails an invocation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    #[error("{0}; failing the invocation so that it is retried")]
    Retry(PortError),
}

/// The AWS side of the guard.
pub struct Ports<'a, R, H, N> {
    pub registry: &'a R,
    pub history: &'a H,
    pub notifier: &'a N,
}

/// The Lambda's entry: a scheduled event runs the reconciliation scan, anything else is handled
/// as a policy-change event. Returns the JSON the invocation answers with.
pub async fn invoke<R, H, N, S>(
    payload: &str,
    config: &Config,
    ports: &Ports<'_, R, H, N>,
    state: &S,
    should_stop: &(dyn Fn() -> bool + Sync),
) -> Result<serde_json::Value, HandlerError>
where
    R: Registry + Sync,
    H: History + Sync,
    N: Notifier + Sync,
    S: ScanState,
{
    // One read: the same event decides between the scan and the policy-change path.
    let event = read_event(payload);
    let value = match event {
        Ok(PolicyEvent {
            facts,
            change: Change::Scheduled,
        }) => {
            let region = facts.region.unwrap_or_default();
            serde_json::to_value(
                crate::scan::scan(config, &region, ports, state, should_stop).await?,
            )
        }
        read => serde_json::to_value(handle_read(read, config, ports).await?),
    };
    // Serialising these plain structs cannot fail.
    Ok(value.unwrap_or_default())
}

/// Handles one event: never panics, writes only compliant policies, and alerts at least once
/// for every violation (a failed publish fails the invocation so that the retry publishes).
pub async fn handle<R: Registry, H: History, N: Notifier>(
    event_text: &str,
    config: &Config,
    ports: &Ports<'_, R, H, N>,
) -> Result<Incident, HandlerError> {
    handle_read(read_event(event_text), config, ports).await
}

/// [`handle`] on an event already read.
async fn handle_read<R: Registry, H: History, N: Notifier>(
    read: Result<PolicyEvent, EventError>,
    config: &Config,
    ports: &Ports<'_, R, H, N>,
) -> Result<Incident, HandlerError> {
    let incident = match read {
        Err(error) => Incident {
            taken: Taken::MalformedEvent,
            outcome: None,
            detail: Some(error.to_string()),
            offending_policy: None,
            target: None,
        },
        Ok(event) => respond(&event, config, ports).await?,
    };
    log(&incident);
    if incident.taken != Taken::Nothing {
        let alert = alert::render(&incident);
        ports
            .notifier
            .publish(&alert)
            .await
            .map_err(HandlerError::Retry)?;
    }
    Ok(incident)
}

/// Decides and, in revert mode, reverts; publishes nothing (the caller does).
pub(crate) async fn respond<R: Registry, H: History, N: Notifier>(
    event: &PolicyEvent,
    config: &Config,
    ports: &Ports<'_, R, H, N>,
) -> Result<Incident, HandlerError> {
    let outcome = decide(event, config);
    let offending_policy = match &event.change {
        Change::PolicySet { policy_text } => Some(policy_text.clone()),
        Change::NoPolicy { deleted_policy, .. } => deleted_policy.clone(),
        Change::Current { policy_text } => policy_text.clone(),
        Change::Ignored { .. } | Change::Scheduled => None,
    };
    let action = outcome.action;
    let mut incident = Incident {
        taken: Taken::Nothing,
        outcome: Some(outcome),
        detail: None,
        offending_policy,
        target: None,
    };
    match action {
        Action::Ignore | Action::None => {}
        Action::Alert => incident.taken = Taken::Alerted,
        Action::Revert => revert(event, config, ports, &mut incident).await?,
    }
    Ok(incident)
}

async fn revert<R: Registry, H: History, N: Notifier>(
    event: &PolicyEvent,
    config: &Config,
    ports: &Ports<'_, R, H, N>,
    incident: &mut Incident,
) -> Result<(), HandlerError> {
    let facts = &event.facts;
    // read_event guarantees both for the events the guard judges.
    let registry = facts.registry_id.as_deref().unwrap_or_default();
    let repository = facts.repository.as_deref().unwrap_or_default();
    let failed = |incident: &mut Incident, detail: String| {
        incident.taken = Taken::RevertFailed;
        incident.detail = Some(detail);
    };

    let live = match ports.registry.get_policy(registry, repository).await {
        Ok(live) => live,
        Err(e) if e.is_transient() => return Err(HandlerError::Retry(e)),
        Err(e) => {
            failed(incident, format!("could not read the live policy: {e}"));
            return Ok(());
        }
    };
    let target = match compliant(
        choose_target(event, config, ports.history).await,
        registry,
        config,
    ) {
        Ok(target) => target,
        Err(detail) => {
            failed(incident, detail);
            return Ok(());
        }
    };
    incident.target = Some(target.clone());

    // A retried invocation finds its own earlier write: alert again, write nothing.
    if live
        .as_deref()
        .is_some_and(|l| same_document(l, &target.policy_text))
    {
        incident.taken = Taken::AlreadyReverted;
        incident.detail = Some(
            "the live policy already equals the compliant policy (restored by an earlier attempt or by someone else), so nothing was written".into(),
        );
        return Ok(());
    }
    let event_state = match &event.change {
        Change::PolicySet { policy_text }
        | Change::Current {
            policy_text: Some(policy_text),
        } => Some(policy_text.as_str()),
        _ => None,
    };
    let still_current = match (live.as_deref(), event_state) {
        (None, None) => true,
        (Some(live), Some(set)) => same_document(live, set),
        _ => false,
    };
    if !still_current {
        incident.taken = Taken::RevertSuperseded;
        incident.detail = Some(match live {
            Some(_) => "the repository's policy changed after this event; the guard does not overwrite a newer change".into(),
            None => "the repository has had no policy since a later change; the guard does not overwrite a newer change".into(),
        });
        return Ok(());
    }
    match ports
        .registry
        .set_policy(registry, repository, &target.policy_text)
        .await
    {
        Ok(()) => incident.taken = Taken::Reverted,
        Err(e) if e.is_transient() => return Err(HandlerError::Retry(e)),
        Err(e) => failed(
            incident,
            format!("could not write the compliant policy: {e}"),
        ),
    }
    Ok(())
}

/// The policy to restore, before the final compliance check.
async fn choose_target<H: History>(event: &PolicyEvent, config: &Config, history: &H) -> Target {
    let account = event.facts.registry_id.as_deref().unwrap_or_default();
    let baseline = |note: Option<String>| Target {
        policy_text: remedy::baseline(account, config),
        source: TargetSource::Baseline,
        note,
    };
    match &event.change {
        Change::PolicySet { policy_text } => {
            let note = match search_history(event, config, history).await {
                Ok(target) => return target,
                Err(note) => note,
            };
            match derived_target(
                policy_text,
                account,
                config,
                TargetSource::DerivedFromOffending,
            ) {
                Ok(target) => Target {
                    note: Some(note),
                    ..target
                },
                Err(why) => baseline(Some(format!("{note}; no derived policy: {why}"))),
            }
        }
        Change::NoPolicy {
            call: ApiCall::DeleteRepositoryPolicy,
            deleted_policy: Some(text),
        } => match Policy::parse(text) {
            Ok(policy) if config.rules.check(&policy).is_empty() => Target {
                policy_text: text.clone(),
                source: TargetSource::DeletedPolicy,
                note: None,
            },
            Ok(_) => derived_target(text, account, config, TargetSource::DerivedFromDeleted)
                .unwrap_or_else(|why| baseline(Some(format!("no derived policy: {why}")))),
            Err(e) => baseline(Some(format!("the deleted policy cannot be parsed: {e}"))),
        },
        Change::NoPolicy {
            call: ApiCall::DeleteRepositoryPolicy,
            deleted_policy: None,
        } => baseline(Some("the event does not carry the deleted policy".into())),
        // The scheduled scan: no history, the live policy's derived form or the baseline.
        Change::Current {
            policy_text: Some(text),
        } => derived_target(text, account, config, TargetSource::DerivedFromOffending)
            .unwrap_or_else(|why| baseline(Some(format!("no derived policy: {why}")))),
        Change::NoPolicy { .. }
        | Change::Current { .. }
        | Change::Ignored { .. }
        | Change::Scheduled => baseline(None),
    }
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

/// The target if it passes the rules; otherwise the baseline. The guard never writes a policy
/// that breaks its own rules, which is also what keeps its own write from triggering a revert.
fn compliant(target: Target, account: &str, config: &Config) -> Result<Target, String> {
    let passes = |text: &str| {
        Policy::parse(text)
            .map(|p| config.rules.check(&p).is_empty())
            .unwrap_or(false)
    };
    if passes(&target.policy_text) {
        return Ok(target);
    }
    let baseline = remedy::baseline(account, config);
    if passes(&baseline) {
        return Ok(Target {
            policy_text: baseline,
            source: TargetSource::Baseline,
            note: Some("the first choice of policy did not pass the rules".into()),
        });
    }
    Err("no compliant policy to restore: the baseline does not pass the rules".into())
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
    let rules: Vec<&str> = outcome.violations.iter().map(|v| v.rule.as_str()).collect();
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
        detail = incident.detail.as_deref(),
        "{}",
        outcome.reason
    );
}
