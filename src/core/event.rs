//! Reading "AWS API Call via CloudTrail" events (EventBridge envelope or bare CloudTrail record)
//! into the facts the guard reports and the change it judges: to a repository's policy, the
//! registry policy, a repository creation template or the replication configuration.

use crate::json::{Json, JsonError};
use crate::policy::PolicyCopy;
use crate::registry::{CreationTemplate, Replication};
use crate::text::tick;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest event accepted. EventBridge caps events at 256 KiB; a bare record pasted from the
/// CloudTrail console is smaller still. Anything beyond this is not a real event.
pub const MAX_EVENT_BYTES: usize = 1 << 20;

/// The `detail-type` of the events the guard judges.
pub const API_CALL_DETAIL_TYPE: &str = "AWS API Call via CloudTrail";
/// The `eventSource` of private ECR registries (ECR Public is `ecr-public.amazonaws.com`).
pub const ECR_EVENT_SOURCE: &str = "ecr.amazonaws.com";
/// The EventBridge `source` of ECR's events. EventBridge reserves `aws.` sources for AWS
/// services (`PutEvents` refuses them), so an envelope with any other source was put by
/// someone, not delivered from CloudTrail.
pub const ECR_ENVELOPE_SOURCE: &str = "aws.ecr";

/// An event the guard cannot read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("event is {bytes} bytes; the limit is {MAX_EVENT_BYTES}")]
    TooLarge { bytes: usize },
    #[error("event {0}")]
    Json(JsonError),
    #[error("event must be a JSON object, found {0}")]
    NotObject(&'static str),
    #[error(
        "event is neither an EventBridge event (no `detail`) nor a CloudTrail record (no `eventSource` or `eventName`)"
    )]
    Unrecognised,
    #[error("EventBridge event has no `detail`")]
    NoDetail,
    #[error("this is a policy document (it has `Statement`), not an event")]
    PolicyNotEvent,
    #[error("malformed event: {0}")]
    Malformed(String),
}

/// The CloudTrail call this event reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ApiCall {
    SetRepositoryPolicy,
    DeleteRepositoryPolicy,
    CreateRepository,
    PutRegistryPolicy,
    DeleteRegistryPolicy,
    CreateRepositoryCreationTemplate,
    UpdateRepositoryCreationTemplate,
    PutReplicationConfiguration,
}

impl ApiCall {
    pub const ALL: [ApiCall; 8] = [
        ApiCall::SetRepositoryPolicy,
        ApiCall::DeleteRepositoryPolicy,
        ApiCall::CreateRepository,
        ApiCall::PutRegistryPolicy,
        ApiCall::DeleteRegistryPolicy,
        ApiCall::CreateRepositoryCreationTemplate,
        ApiCall::UpdateRepositoryCreationTemplate,
        ApiCall::PutReplicationConfiguration,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiCall::SetRepositoryPolicy => "SetRepositoryPolicy",
            ApiCall::DeleteRepositoryPolicy => "DeleteRepositoryPolicy",
            ApiCall::CreateRepository => "CreateRepository",
            ApiCall::PutRegistryPolicy => "PutRegistryPolicy",
            ApiCall::DeleteRegistryPolicy => "DeleteRegistryPolicy",
            ApiCall::CreateRepositoryCreationTemplate => "CreateRepositoryCreationTemplate",
            ApiCall::UpdateRepositoryCreationTemplate => "UpdateRepositoryCreationTemplate",
            ApiCall::PutReplicationConfiguration => "PutReplicationConfiguration",
        }
    }

    /// Which door into the registry's repositories the call changes.
    pub fn subject(self) -> Subject {
        match self {
            ApiCall::SetRepositoryPolicy
            | ApiCall::DeleteRepositoryPolicy
            | ApiCall::CreateRepository => Subject::Repository,
            ApiCall::PutRegistryPolicy | ApiCall::DeleteRegistryPolicy => Subject::RegistryPolicy,
            ApiCall::CreateRepositoryCreationTemplate
            | ApiCall::UpdateRepositoryCreationTemplate => Subject::CreationTemplate,
            ApiCall::PutReplicationConfiguration => Subject::Replication,
        }
    }

    fn from_name(name: &str) -> Option<ApiCall> {
        ApiCall::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// What a change is about: one repository's policy, or a registry-level door into every
/// repository of the registry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    #[default]
    Repository,
    /// The registry policy (`PutRegistryPolicy`): with scope `V2`, ECR's default, it governs
    /// every ECR action on every repository of the registry.
    RegistryPolicy,
    /// A repository creation template: the policy of every repository ECR creates under its
    /// prefix.
    CreationTemplate,
    /// The replication configuration: where ECR copies every image.
    #[serde(rename = "replication-configuration")]
    Replication,
}

impl Subject {
    pub fn as_str(self) -> &'static str {
        match self {
            Subject::Repository => "repository",
            Subject::RegistryPolicy => "registry-policy",
            Subject::CreationTemplate => "creation-template",
            Subject::Replication => "replication-configuration",
        }
    }
}

/// What the event tells about who changed what, where and when. Fields are absent when the
/// event does not carry them (only possible for ignored events: judged ones require
/// account, region and repository).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EventFacts {
    pub event_source: Option<String>,
    pub event_name: Option<String>,
    pub account: Option<String>,
    pub region: Option<String>,
    /// What the change is about; `repository` names the repository when it is one.
    pub subject: Subject,
    pub repository: Option<String>,
    /// A creation template's prefix, for changes to one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template_prefix: Option<String>,
    pub registry_id: Option<String>,
    pub event_id: Option<String>,
    pub event_time: Option<String>,
    pub actor: Option<String>,
    pub invoked_by: Option<String>,
    pub source_ip: Option<String>,
    pub error_code: Option<String>,
}

impl EventFacts {
    /// What the change is about, for sentences: "`team/app`", "the registry policy", ...
    pub fn subject_text(&self) -> String {
        let unknown = || "?".to_owned();
        match self.subject {
            Subject::Repository => self.repository.as_deref().map_or_else(unknown, tick),
            Subject::RegistryPolicy => "the registry policy".into(),
            Subject::CreationTemplate => format!(
                "creation template {}",
                self.template_prefix.as_deref().map_or_else(unknown, tick)
            ),
            Subject::Replication => "the replication configuration".into(),
        }
    }

    /// The repository an alert is about, for filters: its name, or `*` for a registry-level
    /// change, which concerns every repository.
    pub fn repository_attribute(&self) -> &str {
        match self.subject {
            Subject::Repository => self.repository.as_deref().unwrap_or("unknown"),
            _ => "*",
        }
    }
}

/// What a payload is: EventBridge's scheduled event (the trigger of the reconciliation scan), or
/// an event that may change a repository policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// EventBridge's scheduled event; its facts carry the envelope's account, region and id.
    Scheduled(EventFacts),
    Change(PolicyEvent),
}

impl Payload {
    /// The policy event to judge; a scheduled event, which changes no policy, as an ignored one
    /// (the Lambda routes it to the scan before this).
    pub fn into_policy_event(self) -> PolicyEvent {
        match self {
            Payload::Change(event) => event,
            Payload::Scheduled(facts) => PolicyEvent {
                facts,
                change: Change::Ignored {
                    reason: "a scheduled event starts the reconciliation scan; it is not a policy change".into(),
                },
            },
        }
    }
}

/// The change an event made to a repository's policy, or why it is not one to judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The event is not a policy change the guard judges.
    Ignored { reason: String },
    /// `SetRepositoryPolicy` (or `PutRegistryPolicy`): the policy text as the caller sent it
    /// (`requestParameters.policyText`) and ECR's stored copy (`responseElements.policyText`),
    /// each where the event carries it; at least one is there.
    PolicySet {
        caller_text: Option<String>,
        stored_text: Option<String>,
    },
    /// `DeleteRepositoryPolicy` or `CreateRepository`: the repository has no policy now.
    /// For a deletion, the deleted text when the event carries it (ECR's stored copy, from
    /// `responseElements`).
    NoPolicy {
        call: ApiCall,
        deleted_policy: Option<String>,
    },
    /// Not an event: a repository's (or the registry's) live policy, or none, as the scheduled
    /// scan observes it (ECR's stored copy).
    Observed { policy_text: Option<String> },
    /// A creation template as created or updated (or as the scan observes it), with which copy
    /// its policy is: ECR's (the response's template, the scan) or the caller's (the request).
    Template {
        template: CreationTemplate,
        copy: PolicyCopy,
    },
    /// A replication configuration as put: the caller's copy (`requestParameters`) and ECR's
    /// (`responseElements`, or what the scan observes), each read or why it cannot be, where
    /// present; at least one is readable.
    Replication {
        requested: Option<Result<Replication, String>>,
        stored: Option<Result<Replication, String>>,
    },
}

impl Change {
    /// The policy text the change is about: the one set (as the caller sent it, else as ECR
    /// stored it), the one deleted, the one observed, a template's, or a replication
    /// configuration as JSON.
    pub fn policy_text(&self) -> Option<String> {
        match self {
            Change::PolicySet {
                caller_text,
                stored_text,
            } => caller_text.clone().or_else(|| stored_text.clone()),
            Change::NoPolicy { deleted_policy, .. } => deleted_policy.clone(),
            Change::Observed { policy_text } => policy_text.clone(),
            Change::Template { template, .. } => template.repository_policy.clone(),
            Change::Replication { .. } => self.replication().map(|r| r.to_json_text()),
            Change::Ignored { .. } => None,
        }
    }

    /// Every policy text the change carries, with which copy it is: the caller's first, then
    /// ECR's.
    pub fn policy_copies(&self) -> Vec<(&str, PolicyCopy)> {
        match self {
            Change::PolicySet {
                caller_text,
                stored_text,
            } => caller_text
                .as_deref()
                .map(|t| (t, PolicyCopy::Caller))
                .into_iter()
                .chain(stored_text.as_deref().map(|t| (t, PolicyCopy::Stored)))
                .collect(),
            Change::NoPolicy { deleted_policy, .. } => deleted_policy
                .as_deref()
                .map(|t| (t, PolicyCopy::Stored))
                .into_iter()
                .collect(),
            Change::Observed { policy_text } => policy_text
                .as_deref()
                .map(|t| (t, PolicyCopy::Stored))
                .into_iter()
                .collect(),
            Change::Template { template, copy } => template
                .repository_policy
                .as_deref()
                .map(|t| (t, *copy))
                .into_iter()
                .collect(),
            Change::Replication { .. } | Change::Ignored { .. } => Vec::new(),
        }
    }

    /// A replication change's configuration as ECR holds it: its readable stored copy, else
    /// the caller's.
    pub fn replication(&self) -> Option<&Replication> {
        match self {
            Change::Replication { requested, stored } => stored
                .as_ref()
                .and_then(|r| r.as_ref().ok())
                .or_else(|| requested.as_ref().and_then(|r| r.as_ref().ok())),
            _ => None,
        }
    }

    /// The policy the repository has after the change (`None`: no policy), where known: for a
    /// `SetRepositoryPolicy`, ECR's stored copy when the event has it.
    pub fn resulting_policy(&self) -> Option<&str> {
        match self {
            Change::PolicySet {
                caller_text,
                stored_text,
            } => stored_text.as_deref().or(caller_text.as_deref()),
            Change::Observed { policy_text } => policy_text.as_deref(),
            Change::Template { template, .. } => template.repository_policy.as_deref(),
            Change::NoPolicy { .. } | Change::Ignored { .. } | Change::Replication { .. } => None,
        }
    }
}

/// The event name the scheduled scan's per-repository incidents carry.
pub const SCAN_EVENT_NAME: &str = "ScheduledScan";

impl PolicyEvent {
    /// A repository's live policy as the scheduled scan observes it, judged like an event.
    pub fn observed(
        repository: &str,
        registry_id: &str,
        region: &str,
        policy_text: Option<String>,
    ) -> PolicyEvent {
        PolicyEvent {
            facts: EventFacts {
                repository: Some(repository.to_owned()),
                ..scan_facts(Subject::Repository, registry_id, region)
            },
            change: Change::Observed { policy_text },
        }
    }

    /// The registry's live policy (or none) as the scan observes it.
    pub fn observed_registry_policy(
        registry_id: &str,
        region: &str,
        policy_text: Option<String>,
    ) -> PolicyEvent {
        PolicyEvent {
            facts: scan_facts(Subject::RegistryPolicy, registry_id, region),
            change: Change::Observed { policy_text },
        }
    }

    /// A creation template as the scan observes it.
    pub fn observed_template(
        registry_id: &str,
        region: &str,
        template: CreationTemplate,
    ) -> PolicyEvent {
        PolicyEvent {
            facts: EventFacts {
                template_prefix: Some(template.prefix.clone()),
                ..scan_facts(Subject::CreationTemplate, registry_id, region)
            },
            change: Change::Template {
                template,
                copy: PolicyCopy::Stored,
            },
        }
    }

    /// The replication configuration as the scan observes it (empty: none).
    pub fn observed_replication(
        registry_id: &str,
        region: &str,
        configuration: Replication,
    ) -> PolicyEvent {
        PolicyEvent {
            facts: scan_facts(Subject::Replication, registry_id, region),
            change: Change::Replication {
                requested: None,
                stored: Some(Ok(configuration)),
            },
        }
    }
}

fn scan_facts(subject: Subject, registry_id: &str, region: &str) -> EventFacts {
    EventFacts {
        event_name: Some(SCAN_EVENT_NAME.into()),
        account: Some(registry_id.to_owned()),
        region: Some(region.to_owned()),
        registry_id: Some(registry_id.to_owned()),
        subject,
        ..EventFacts::default()
    }
}

/// A read event: facts plus the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEvent {
    pub facts: EventFacts,
    pub change: Change,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Record {
    event_source: Option<String>,
    event_name: Option<String>,
    error_code: Option<String>,
    aws_region: Option<String>,
    event_time: Option<String>,
    #[serde(rename = "eventID")]
    event_id: Option<String>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<String>,
    recipient_account_id: Option<String>,
    user_identity: Option<UserIdentity>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UserIdentity {
    arn: Option<String>,
    invoked_by: Option<String>,
}

/// The ECR-specific parts, read only for the calls the guard judges.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcrCall {
    request_parameters: Option<EcrElements>,
    response_elements: Option<EcrElements>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EcrElements {
    repository_name: Option<String>,
    registry_id: Option<String>,
    policy_text: Option<String>,
    repository: Option<RepositoryElement>,
    /// Creation templates: the request's fields, and the response's whole template.
    prefix: Option<String>,
    repository_policy: Option<String>,
    applied_for: Option<Vec<String>>,
    repository_creation_template: Option<TemplateElement>,
    replication_configuration: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TemplateElement {
    prefix: Option<String>,
    repository_policy: Option<String>,
    applied_for: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RepositoryElement {
    repository_name: Option<String>,
    registry_id: Option<String>,
}

/// The `detail-type` and `source` of EventBridge's scheduled events (the reconciliation scan).
pub const SCHEDULED_DETAIL_TYPE: &str = "Scheduled Event";
pub const SCHEDULED_SOURCE: &str = "aws.events";

/// Reads an event from its JSON text.
pub fn read_event(text: &str) -> Result<Payload, EventError> {
    if text.len() > MAX_EVENT_BYTES {
        return Err(EventError::TooLarge { bytes: text.len() });
    }
    // The strict tree rejects duplicate keys anywhere, which serde_json's typed parse would
    // resolve silently for fields it ignores.
    let tree = Json::parse(text).map_err(EventError::Json)?;
    if tree.as_object().is_none() {
        return Err(EventError::NotObject(tree.kind()));
    }
    let has = |key: &str| tree.get(key).is_some();
    if has("detail") || has("detail-type") {
        if !has("detail") {
            return Err(EventError::NoDetail);
        }
        let envelope: EventBridgeEvent<Value> = deserialize_text(text)?;
        let facts = EventFacts {
            account: envelope.account.clone(),
            region: envelope.region.clone(),
            event_id: envelope.id.clone(),
            ..EventFacts::default()
        };
        if envelope.detail_type == SCHEDULED_DETAIL_TYPE && envelope.source == SCHEDULED_SOURCE {
            return Ok(Payload::Scheduled(facts));
        }
        if envelope.detail_type != API_CALL_DETAIL_TYPE {
            return Ok(Payload::Change(PolicyEvent {
                facts,
                change: Change::Ignored {
                    reason: format!(
                        "`detail-type` {} is not {}",
                        tick(&envelope.detail_type),
                        tick(API_CALL_DETAIL_TYPE)
                    ),
                },
            }));
        }
        // Only ECR's own events are acted on: what `detail` claims is worth nothing in an
        // envelope anyone could have put.
        if envelope.source != ECR_ENVELOPE_SOURCE {
            return Ok(Payload::Change(PolicyEvent {
                facts,
                change: Change::Ignored {
                    reason: format!(
                        "`source` {} is not {}: ECR's API calls arrive from EventBridge with that source, which only AWS can publish, so this event was not delivered by ECR",
                        tick(&envelope.source),
                        tick(ECR_ENVELOPE_SOURCE)
                    ),
                },
            }));
        }
        if let Some(detail) = tree.get("detail").filter(|d| d.as_object().is_none()) {
            return Err(EventError::Malformed(format!(
                "`detail` must be an object, found {}",
                detail.kind()
            )));
        }
        read_record(&envelope.detail, "detail.", facts).map(Payload::Change)
    } else if has("eventSource") || has("eventName") {
        // The strict parse above succeeded, so this one cannot fail on syntax.
        let record: Value = deserialize_text(text)?;
        read_record(&record, "", EventFacts::default()).map(Payload::Change)
    } else if has("Statement") {
        Err(EventError::PolicyNotEvent)
    } else {
        Err(EventError::Unrecognised)
    }
}

/// Reads the CloudTrail record; its own fields win over the envelope's where both exist.
fn read_record(
    detail: &Value,
    prefix: &str,
    envelope: EventFacts,
) -> Result<PolicyEvent, EventError> {
    let record: Record = deserialize_value(detail, prefix)?;
    let missing =
        |field: &str| EventError::Malformed(format!("CloudTrail record has no `{prefix}{field}`"));
    let event_source = record.event_source.ok_or_else(|| missing("eventSource"))?;
    let event_name = record.event_name.ok_or_else(|| missing("eventName"))?;
    let identity = record.user_identity;
    let mut facts = EventFacts {
        account: record.recipient_account_id.or(envelope.account),
        region: record.aws_region.or(envelope.region),
        event_id: record.event_id.or(envelope.event_id),
        event_time: record.event_time,
        actor: identity.as_ref().and_then(|i| i.arn.clone()),
        invoked_by: identity.and_then(|i| i.invoked_by),
        source_ip: record.source_ip_address,
        error_code: record.error_code,
        event_source: Some(event_source.clone()),
        event_name: Some(event_name.clone()),
        ..EventFacts::default()
    };
    // Ignored events keep the repository name when it is there, for the report; judged
    // events read it strictly below.
    facts.repository = detail
        .get("requestParameters")
        .and_then(|r| r.get("repositoryName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let ignored = |facts, reason| {
        Ok(PolicyEvent {
            facts,
            change: Change::Ignored { reason },
        })
    };
    if event_source != ECR_EVENT_SOURCE {
        let reason = format!(
            "`eventSource` {} is not private ECR ({})",
            tick(&event_source),
            tick(ECR_EVENT_SOURCE)
        );
        return ignored(facts, reason);
    }
    let Some(call) = ApiCall::from_name(&event_name) else {
        let reason = format!(
            "{} does not change who may reach a repository (a repository policy, the registry policy, a creation template or replication)",
            tick(&event_name)
        );
        return ignored(facts, reason);
    };
    if let Some(code) = &facts.error_code {
        let reason = format!(
            "the {} call failed with {}, so nothing changed",
            tick(&event_name),
            tick(code)
        );
        return ignored(facts, reason);
    }

    let ecr: EcrCall = deserialize_value(detail, prefix)?;
    let request = ecr.request_parameters;
    let response = ecr.response_elements;
    let response_repo = response.as_ref().and_then(|r| r.repository.as_ref());
    let subject = call.subject();
    facts.subject = subject;
    facts.repository = match subject {
        Subject::Repository => request
            .as_ref()
            .and_then(|r| r.repository_name.clone())
            .or_else(|| response.as_ref().and_then(|r| r.repository_name.clone()))
            .or_else(|| response_repo.and_then(|r| r.repository_name.clone())),
        _ => None,
    };
    facts.registry_id = request
        .as_ref()
        .and_then(|r| r.registry_id.clone())
        .or_else(|| response.as_ref().and_then(|r| r.registry_id.clone()))
        .or_else(|| response_repo.and_then(|r| r.registry_id.clone()))
        .or_else(|| facts.account.clone());
    let response_template = response
        .as_ref()
        .and_then(|r| r.repository_creation_template.as_ref());
    if subject == Subject::CreationTemplate {
        facts.template_prefix = request
            .as_ref()
            .and_then(|r| r.prefix.clone())
            .or_else(|| response_template.and_then(|t| t.prefix.clone()));
    }
    let required = [
        (
            subject == Subject::Repository && facts.repository.is_none(),
            "requestParameters.repositoryName",
        ),
        (
            subject == Subject::CreationTemplate && facts.template_prefix.is_none(),
            "requestParameters.prefix",
        ),
        (facts.account.is_none(), "recipientAccountId"),
        (facts.region.is_none(), "awsRegion"),
    ];
    if let Some((_, field)) = required.into_iter().find(|(absent, _)| *absent) {
        return Err(EventError::Malformed(format!(
            "{} event has no `{prefix}{field}`",
            tick(call.as_str())
        )));
    }
    let malformed =
        |what: &str| EventError::Malformed(format!("{} event has no {what}", tick(call.as_str())));
    let change = match call {
        ApiCall::SetRepositoryPolicy | ApiCall::PutRegistryPolicy => {
            let caller_text = request.as_ref().and_then(|r| r.policy_text.clone());
            let stored_text = response.and_then(|r| r.policy_text);
            if caller_text.is_none() && stored_text.is_none() {
                return Err(malformed(&format!(
                    "`{prefix}requestParameters.policyText` or `{prefix}responseElements.policyText`"
                )));
            }
            Change::PolicySet {
                caller_text,
                stored_text,
            }
        }
        ApiCall::DeleteRepositoryPolicy | ApiCall::DeleteRegistryPolicy => Change::NoPolicy {
            call,
            deleted_policy: response.and_then(|r| r.policy_text),
        },
        ApiCall::CreateRepository => Change::NoPolicy {
            call,
            deleted_policy: None,
        },
        ApiCall::CreateRepositoryCreationTemplate | ApiCall::UpdateRepositoryCreationTemplate => {
            // The response holds the whole template as ECR stored it: the state after the call,
            // even for an update that did not send a policy. Without one, only a create says
            // what the template holds (what it does not send, it does not have).
            let (repository_policy, copy) = match (response_template, &request) {
                (Some(stored), _) => (stored.repository_policy.clone(), PolicyCopy::Stored),
                (None, Some(r)) if r.repository_policy.is_some() => {
                    (r.repository_policy.clone(), PolicyCopy::Caller)
                }
                (None, _) if call == ApiCall::CreateRepositoryCreationTemplate => {
                    (None, PolicyCopy::Caller)
                }
                (None, _) => {
                    return Err(malformed(&format!(
                        "`{prefix}responseElements.repositoryCreationTemplate` or `{prefix}requestParameters.repositoryPolicy`: it does not say which policy the template now holds"
                    )));
                }
            };
            let applied_for = response_template
                .and_then(|t| t.applied_for.clone())
                .or_else(|| request.as_ref().and_then(|r| r.applied_for.clone()))
                .unwrap_or_default();
            Change::Template {
                template: CreationTemplate {
                    prefix: facts.template_prefix.clone().unwrap_or_default(),
                    applied_for,
                    repository_policy,
                },
                copy,
            }
        }
        ApiCall::PutReplicationConfiguration => {
            // Both copies, as for policies: each read on its own, judged where readable.
            let read = |value: Option<Value>, place: &str| {
                value.map(|v| {
                    Replication::from_value(&v)
                        .map_err(|e| format!("`{prefix}{place}.replicationConfiguration`: {e}"))
                })
            };
            let requested = read(
                request.and_then(|r| r.replication_configuration),
                "requestParameters",
            );
            let stored = read(
                response.and_then(|r| r.replication_configuration),
                "responseElements",
            );
            let readable = |copy: &Option<Result<Replication, String>>| {
                copy.as_ref().is_some_and(Result::is_ok)
            };
            if !readable(&requested) && !readable(&stored) {
                return Err(match requested.or(stored) {
                    Some(Err(e)) => EventError::Malformed(e),
                    _ => malformed(&format!(
                        "`{prefix}requestParameters.replicationConfiguration`"
                    )),
                });
            }
            Change::Replication { requested, stored }
        }
    };
    Ok(PolicyEvent { facts, change })
}

fn deserialize_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, EventError> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| malformed(e, ""))
}

fn deserialize_value<T: serde::de::DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, EventError> {
    serde_path_to_error::deserialize(value).map_err(|e| malformed(e, prefix))
}

fn malformed(e: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> EventError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if path == "." {
        EventError::Malformed(inner.to_string())
    } else {
        EventError::Malformed(format!("`{prefix}{path}`: {inner}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The policy event a payload holds; panics on a scheduled event.
    fn policy_event(text: &str) -> PolicyEvent {
        match read_event(text).unwrap() {
            Payload::Change(event) => event,
            Payload::Scheduled(_) => panic!("a scheduled event"),
        }
    }

    fn record(name: &str, extra: Value) -> Value {
        let mut r = json!({
            "eventSource": "ecr.amazonaws.com", "eventName": name, "awsRegion": "eu-west-1",
            "recipientAccountId": "123456789012", "eventID": "e-1", "eventTime": "2026-11-20T09:14:03Z",
            "sourceIPAddress": "203.0.113.9",
            "userIdentity": {"arn": "arn:aws:iam::123456789012:user/alice"},
            "requestParameters": {"repositoryName": "team/app"}
        });
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }

    #[test]
    fn other_detail_types_are_ignored_with_the_reason() {
        let event = json!({"version": "0", "id": "x", "detail-type": "ECR Image Action",
            "source": "aws.ecr", "account": "123456789012", "region": "eu-west-1", "detail": {}});
        let read = policy_event(&event.to_string());
        assert_eq!(read.facts.account.as_deref(), Some("123456789012"));
        let Change::Ignored { reason } = read.change else {
            panic!("not ignored")
        };
        assert!(reason.contains("`ECR Image Action`"), "{reason}");
    }

    #[test]
    fn scheduled_events_are_recognised_only_from_eventbridge_itself() {
        let scheduled = json!({"version": "0", "id": "x", "detail-type": "Scheduled Event",
            "source": "aws.events", "account": "123456789012", "region": "eu-west-1", "detail": {}});
        let Payload::Scheduled(facts) = read_event(&scheduled.to_string()).unwrap() else {
            panic!("not recognised as scheduled")
        };
        assert_eq!(facts.region.as_deref(), Some("eu-west-1"));
        let mut forged = scheduled.clone();
        forged["source"] = "custom.app".into();
        let read = policy_event(&forged.to_string());
        assert!(matches!(read.change, Change::Ignored { .. }));
    }

    #[test]
    fn failed_deletes_are_ignored_and_successful_ones_keep_the_deleted_text() {
        let failed = record(
            "DeleteRepositoryPolicy",
            json!({"errorCode": "RepositoryPolicyNotFoundException"}),
        );
        let read = policy_event(&failed.to_string());
        assert!(
            matches!(read.change, Change::Ignored { ref reason } if reason.contains("RepositoryPolicyNotFoundException"))
        );

        let ok = record(
            "DeleteRepositoryPolicy",
            json!({"responseElements": {"policyText": "{}"}}),
        );
        let read = policy_event(&ok.to_string());
        assert_eq!(
            read.change,
            Change::NoPolicy {
                call: ApiCall::DeleteRepositoryPolicy,
                deleted_policy: Some("{}".into())
            }
        );
        assert_eq!(read.facts.registry_id.as_deref(), Some("123456789012"));
    }

    #[test]
    fn both_copies_are_kept_and_ecrs_copy_is_the_fallback() {
        let both = record(
            "SetRepositoryPolicy",
            json!({
            "requestParameters": {"repositoryName": "team/app", "policyText": "caller"},
            "responseElements": {"policyText": "ecr copy"}}),
        );
        let read = policy_event(&both.to_string());
        assert_eq!(
            read.change,
            Change::PolicySet {
                caller_text: Some("caller".into()),
                stored_text: Some("ecr copy".into())
            }
        );
        assert_eq!(
            read.change.policy_copies(),
            [
                ("caller", PolicyCopy::Caller),
                ("ecr copy", PolicyCopy::Stored)
            ]
        );
        assert_eq!(read.change.resulting_policy(), Some("ecr copy"));
        let copy_only = record(
            "SetRepositoryPolicy",
            json!({
            "responseElements": {"repositoryName": "team/app", "policyText": "ecr copy"}}),
        );
        let read = policy_event(&copy_only.to_string());
        assert_eq!(
            read.change,
            Change::PolicySet {
                caller_text: None,
                stored_text: Some("ecr copy".into())
            }
        );
        // ECR's copy alone is still ECR's copy, read with its own bound.
        assert_eq!(
            read.change.policy_copies(),
            [("ecr copy", PolicyCopy::Stored)]
        );
        assert_eq!(read.change.policy_text().as_deref(), Some("ecr copy"));
    }

    #[test]
    fn only_envelopes_from_ecr_are_judged() {
        let detail = record(
            "SetRepositoryPolicy",
            json!({"requestParameters": {"repositoryName": "team/app", "policyText": "{}"}}),
        );
        let envelope = |source: &str| {
            json!({"version": "0", "id": "x", "detail-type": API_CALL_DETAIL_TYPE,
                "source": source, "account": "123456789012", "region": "eu-west-1",
                "detail": detail})
            .to_string()
        };
        let real = policy_event(&envelope("aws.ecr"));
        assert!(matches!(real.change, Change::PolicySet { .. }));
        for forged in ["com.attacker.app", "aws.ecr-public", "AWS.ECR", "aws.ecr "] {
            let read = policy_event(&envelope(forged));
            let Change::Ignored { reason } = read.change else {
                panic!("{forged}: not ignored")
            };
            assert!(
                reason.contains(&format!("`source` {}", tick(forged))),
                "{reason}"
            );
        }
        // A bare CloudTrail record has no envelope to check.
        assert!(matches!(
            policy_event(&detail.to_string()).change,
            Change::PolicySet { .. }
        ));
    }

    #[test]
    fn both_copies_of_a_replication_configuration_are_kept() {
        let config = |account: &str| json!({"rules": [{"destinations": [{"region": "us-east-1", "registryId": account}]}]});
        let event = |request: Value, response: Value| {
            record(
                "PutReplicationConfiguration",
                json!({"requestParameters": {"replicationConfiguration": request},
                    "responseElements": {"replicationConfiguration": response}}),
            )
            .to_string()
        };
        let read = policy_event(&event(config("444455556666"), config("555566667777")));
        let Change::Replication { requested, stored } = &read.change else {
            panic!("not a replication change")
        };
        assert_eq!(
            requested.as_ref().unwrap().as_ref().unwrap().rules[0].destinations[0].registry_id,
            "444455556666"
        );
        assert_eq!(
            read.change.replication().unwrap().rules[0].destinations[0].registry_id,
            "555566667777",
            "ECR's copy is the state"
        );
        assert!(stored.as_ref().unwrap().is_ok());
        // An unreadable caller copy beside a readable one of ECR's: kept, with why.
        let read = policy_event(&event(json!({"rules": 5}), config("555566667777")));
        let Change::Replication { requested, .. } = &read.change else {
            panic!("not a replication change")
        };
        assert!(
            requested
                .as_ref()
                .unwrap()
                .as_ref()
                .unwrap_err()
                .contains("requestParameters.replicationConfiguration"),
            "{requested:?}"
        );
        // Neither readable: malformed, naming the caller's copy.
        let err = read_event(&event(json!({"rules": 5}), json!({"rules": 6})))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`requestParameters.replicationConfiguration`"),
            "{err}"
        );
    }

    #[test]
    fn envelope_fields_fill_in_what_the_record_lacks() {
        let mut detail = record("CreateRepository", json!({}));
        detail.as_object_mut().unwrap().remove("awsRegion");
        let event = json!({"detail-type": API_CALL_DETAIL_TYPE, "source": "aws.ecr",
            "region": "ap-northeast-1", "account": "123456789012", "detail": detail});
        let read = policy_event(&event.to_string());
        assert_eq!(read.facts.region.as_deref(), Some("ap-northeast-1"));
        assert_eq!(
            read.facts.actor.as_deref(),
            Some("arn:aws:iam::123456789012:user/alice")
        );
    }

    #[test]
    fn judged_events_need_account_region_and_repository() {
        let mut r = record("CreateRepository", json!({}));
        r.as_object_mut().unwrap().remove("recipientAccountId");
        let err = read_event(&r.to_string()).unwrap_err().to_string();
        assert_eq!(
            err,
            "malformed event: `CreateRepository` event has no `recipientAccountId`"
        );
    }

    #[test]
    fn oversized_events_are_refused_before_parsing() {
        let text = " ".repeat(MAX_EVENT_BYTES + 1);
        assert_eq!(
            read_event(&text),
            Err(EventError::TooLarge {
                bytes: MAX_EVENT_BYTES + 1
            })
        );
    }
}
