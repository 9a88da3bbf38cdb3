//! Compliant replacements for a violating policy: the derived policy, the baseline, the choice
//! among earlier policies from CloudTrail history, and the plan for one revert ("write, already
//! in place, or superseded").
//!
//! Everything here only ever narrows access: a derived policy drops violating grants and adds a
//! deny, so it never grants any principal anything the offending policy did not.

use crate::event::{ApiCall, Change, EventFacts, Payload, PolicyEvent, Subject, read_event};
use crate::policy::{
    ActionElement, BaseOperator, ConditionBlock, ConditionValue, Effect, MAX_POLICY_CHARS,
    Operator, Policy, PolicyCopy, PolicyError, PolicyKind, Principal, PrincipalElement,
    PrincipalType, RegistryScope, Statement, Version, same_document,
};
use crate::registry::Replication;
use crate::rules::{Judge, Owner, RuleConfig};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeSet, HashSet};

/// The `Sid` of the deny-by-default statement the guard writes.
pub const DENY_BY_DEFAULT_SID: &str = "DenyByDefault";

/// Where a restored policy came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TargetSource {
    /// An earlier compliant policy of the repository, from CloudTrail event history.
    CloudtrailHistory {
        event_id: Option<String>,
        event_time: Option<String>,
    },
    /// The offending policy with its violating grants removed and a deny-by-default added.
    DerivedFromOffending,
    /// The policy a `DeleteRepositoryPolicy` removed, which passes the rules.
    DeletedPolicy,
    /// The deleted policy with its violating grants removed and a deny-by-default added.
    DerivedFromDeleted,
    /// The configured (or default) baseline.
    Baseline,
    /// No registry policy at all: the registry policy is deleted, since a registry without one
    /// grants nothing.
    NoRegistryPolicy,
}

/// The policy the guard restores (for replication: the configuration, as JSON), with its
/// provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// Empty for [`TargetSource::NoRegistryPolicy`].
    pub policy_text: String,
    pub source: TargetSource,
    /// Why a fallback was used, when one was.
    pub note: Option<String>,
}

impl Target {
    /// True when restoring means deleting the registry policy.
    pub fn is_deletion(&self) -> bool {
        self.source == TargetSource::NoRegistryPolicy
    }

    fn no_registry_policy(note: Option<String>) -> Target {
        Target {
            policy_text: String::new(),
            source: TargetSource::NoRegistryPolicy,
            note,
        }
    }
}

/// The deny-by-default statement the guard adds: deny every principal outside `account` and the
/// allowlisted accounts, leaving AWS service principals alone.
pub fn deny_by_default_statement(
    account: &str,
    rules: &RuleConfig,
    sid: String,
) -> Statement<'static> {
    let accounts: BTreeSet<&str> = std::iter::once(account)
        .chain(rules.allowed_root_accounts.iter().map(|a| a.as_str()))
        .collect();
    let string = |s: &str| ConditionValue::String(Cow::Owned(s.to_owned()));
    Statement {
        resource: None,
        sid: Some(Cow::Owned(sid)),
        effect: Effect::Deny,
        principal: PrincipalElement::Principal(Principal::Any),
        action: ActionElement::Action(vec![Cow::Borrowed("ecr:*")]),
        condition: Some(vec![
            ConditionBlock {
                operator: Cow::Borrowed("StringNotEquals"),
                op: Operator {
                    base: BaseOperator::StringNotEquals,
                    set: None,
                    if_exists: false,
                },
                entries: vec![(
                    Cow::Borrowed("aws:PrincipalAccount"),
                    accounts.into_iter().map(string).collect(),
                )],
            },
            ConditionBlock {
                operator: Cow::Borrowed("BoolIfExists"),
                op: Operator {
                    base: BaseOperator::Bool,
                    set: None,
                    if_exists: true,
                },
                entries: vec![(
                    Cow::Borrowed("aws:PrincipalIsAWSService"),
                    vec![string("false")],
                )],
            },
        ]),
    }
}

/// The default baseline: the deny-by-default statement alone.
pub fn default_baseline(account: &str, rules: &RuleConfig) -> Policy<'static> {
    Policy {
        version: Some(Version::V2012_10_17),
        id: None,
        statements: vec![deny_by_default_statement(
            account,
            rules,
            DENY_BY_DEFAULT_SID.to_owned(),
        )],
    }
}

/// The baseline for a repository: the configured one, or the default for its account.
pub fn baseline(account: &str, rules: &RuleConfig, configured: Option<&str>) -> String {
    match configured {
        Some(text) => text.to_owned(),
        None => default_baseline(account, rules).to_json_text(),
    }
}

/// Why a remedy cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemedyError {
    #[error("the policy cannot be parsed: {0}")]
    Unparsable(PolicyError),
    #[error("the policy holds a condition number that cannot be written back exactly")]
    InexactNumbers,
    #[error("statement {0} grants what no statement of the original grants")]
    Widens(usize),
    #[error("no compliant policy to restore: the baseline does not pass the rules")]
    BaselineFails,
}

/// The offending policy with every violating grant removed: `Allow` + `NotPrincipal`
/// statements, wildcard principals no allowed limit restricts, non-allowlisted account roots and
/// service principals no allowed source limit scopes (the whole statement when nothing is left
/// to grant to), plus a deny-by-default statement when no statement qualifies as one.
pub fn derive<'a>(policy: &Policy<'a>, account: &str, rules: &RuleConfig) -> Policy<'a> {
    let judge = Judge::new(rules, Owner::Account(account), policy);
    let statements: Vec<Statement<'a>> = policy
        .statements
        .iter()
        .filter_map(|s| narrow(s, &judge))
        .collect();
    let mut derived = Policy {
        version: policy.version,
        id: policy.id.clone(),
        statements,
    };
    if judge.deny_by_default(&derived).is_err() {
        let sid = unique_sid(&derived.statements);
        derived
            .statements
            .push(deny_by_default_statement(account, rules, sid));
    }
    derived
}

/// A registry policy with every violating grant removed (no deny is added: a registry policy
/// only grants); `None` when no statement is left, and the registry is then safest with none.
pub fn derive_registry<'a>(
    policy: &Policy<'a>,
    account: &str,
    rules: &RuleConfig,
) -> Option<Policy<'a>> {
    let judge = Judge::new(rules, Owner::Account(account), policy);
    let statements: Vec<Statement<'a>> = policy
        .statements
        .iter()
        .filter_map(|s| narrow(s, &judge))
        .collect();
    (!statements.is_empty()).then(|| Policy {
        version: policy.version,
        id: policy.id.clone(),
        statements,
    })
}

/// A statement without its violating grants; `None` when nothing of it may stay.
fn narrow<'a>(statement: &Statement<'a>, judge: &Judge) -> Option<Statement<'a>> {
    if statement.effect == Effect::Deny {
        return Some(statement.clone());
    }
    let wildcard_ok = judge.wildcard_allowed(statement);
    let services_ok = judge.service_scoped(statement);
    let principal = match &statement.principal {
        PrincipalElement::NotPrincipal(_) => return None,
        PrincipalElement::Principal(Principal::Any) if wildcard_ok => Principal::Any,
        PrincipalElement::Principal(Principal::Any) => return None,
        PrincipalElement::Principal(Principal::Typed(entries)) => {
            let kept: Vec<(PrincipalType, Vec<Cow<'a, str>>)> = entries
                .iter()
                .map(|(kind, values)| {
                    let values = values
                        .iter()
                        .filter(|v| {
                            let wildcard = v.as_ref() == "*" && !wildcard_ok;
                            let root = *kind == PrincipalType::Aws
                                && judge.rules.forbidden_root(v).is_some();
                            let service = *kind == PrincipalType::Service
                                && v.as_ref() != "*"
                                && !services_ok;
                            !(wildcard || root || service)
                        })
                        .cloned()
                        .collect::<Vec<_>>();
                    (*kind, values)
                })
                .filter(|(_, values)| !values.is_empty())
                .collect();
            if kept.is_empty() {
                return None;
            }
            Principal::Typed(kept)
        }
    };
    Some(Statement {
        principal: PrincipalElement::Principal(principal),
        ..statement.clone()
    })
}

/// Checks that `derived` grants nothing `original` did not: every `Allow` statement of
/// `derived` has an `Allow` twin in `original` with the same actions and conditions and a
/// superset of its principals. (Deny statements only ever take access away.) The handler checks
/// this before writing a derived policy; the property test and the fuzzer check it too.
pub fn narrows(original: &Policy, derived: &Policy) -> Result<(), RemedyError> {
    let covered = |s: &Statement, o: &Statement| {
        o.effect == Effect::Allow
            && s.action == o.action
            && s.condition == o.condition
            && match (&s.principal, &o.principal) {
                (PrincipalElement::Principal(p), PrincipalElement::Principal(op)) => {
                    *op == Principal::Any
                        || (*p != Principal::Any
                            && PrincipalType::ALL.iter().all(|kind| {
                                // A set: a principal list of thousands stays linear.
                                let theirs: HashSet<&str> =
                                    op.values(*kind).iter().map(|v| v.as_ref()).collect();
                                p.values(*kind).iter().all(|v| theirs.contains(v.as_ref()))
                            }))
                }
                (a, b) => a == b,
            }
    };
    for (index, s) in derived.statements.iter().enumerate() {
        if s.effect == Effect::Allow && !original.statements.iter().any(|o| covered(s, o)) {
            return Err(RemedyError::Widens(index));
        }
    }
    Ok(())
}

fn unique_sid(statements: &[Statement]) -> String {
    let taken = |sid: &str| statements.iter().any(|s| s.sid.as_deref() == Some(sid));
    std::iter::once(DENY_BY_DEFAULT_SID.to_owned())
        .chain((2..).map(|n| format!("{DENY_BY_DEFAULT_SID}{n}")))
        .find(|sid| !taken(sid))
        .unwrap_or_default()
}

/// The derived form of a policy text (the caller's copy or ECR's stored one) as a target, or
/// why there is none: the text cannot be parsed, it holds a number that could not be written
/// back exactly, or (defensively) the derived policy would grant something new. The target is
/// written compact when pretty-printing would exceed ECR's limit on what a caller sends.
pub fn derived_target(
    text: &str,
    copy: PolicyCopy,
    account: &str,
    rules: &RuleConfig,
    source: TargetSource,
) -> Result<Target, RemedyError> {
    let policy = Policy::parse_copy(text, PolicyKind::Repository, RegistryScope::default(), copy)
        .map_err(RemedyError::Unparsable)?;
    if policy.has_inexact_numbers() {
        return Err(RemedyError::InexactNumbers);
    }
    let derived = derive(&policy, account, rules);
    narrows(&policy, &derived)?;
    Ok(Target {
        policy_text: derived.to_json_text(),
        source,
        note: None,
    })
}

/// The most recent earlier policy of the same repository (or of the same registry, for a
/// registry policy) that passes the rules, from CloudTrail records (newest first, as
/// `LookupEvents` returns them). Records that cannot be read, failed calls, other subjects, the
/// current event and later events are skipped.
pub fn pick_from_history<'r>(
    records: impl IntoIterator<Item = &'r str>,
    current: &EventFacts,
    rules: &RuleConfig,
) -> Option<Target> {
    let kind = kind_of(current.subject);
    let scope = scope_of(current);
    records.into_iter().find_map(|record| {
        let Ok(Payload::Change(event)) = read_event(record) else {
            return None;
        };
        let (judged, copy) = judged_text(&event.change, kind, scope)?;
        let f = &event.facts;
        let same_subject = f.subject == current.subject
            && f.repository == current.repository
            && f.registry_id == current.registry_id
            && f.region == current.region;
        let earlier = match (&f.event_time, &current.event_time) {
            // CloudTrail writes ISO-8601 UTC times of one shape, which sort as text.
            (Some(then), Some(now)) => then < now,
            _ => true,
        };
        let other_event = f.event_id.is_none() || f.event_id != current.event_id;
        if !(same_subject && earlier && other_event) {
            return None;
        }
        let registry = current.registry_id.as_deref().unwrap_or_default();
        if !passes_as(rules, judged, kind, scope, copy, Owner::Account(registry)) {
            return None;
        }
        Some(Target {
            policy_text: writable(judged, kind, scope, copy)?,
            source: TargetSource::CloudtrailHistory {
                event_id: f.event_id.clone(),
                event_time: f.event_time.clone(),
            },
            note: None,
        })
    })
}

/// A policy text the guard can write back: itself when it is within ECR's limit on what a
/// caller sends, else (a stored copy, pretty-printed by ECR) the same policy written compact;
/// `None` when even that is too long, or the policy holds a number that could not be written
/// back exactly.
fn writable(
    text: &str,
    kind: PolicyKind,
    scope: RegistryScope,
    copy: PolicyCopy,
) -> Option<String> {
    if text.len() <= MAX_POLICY_CHARS || text.chars().count() <= MAX_POLICY_CHARS {
        return Some(text.to_owned());
    }
    let policy = Policy::parse_copy(text, kind, scope, copy).ok()?;
    if policy.has_inexact_numbers() {
        return None;
    }
    let compact = policy.to_json_text();
    (compact.chars().count() <= MAX_POLICY_CHARS).then_some(compact)
}

/// The policy grammar of a subject's policies.
fn kind_of(subject: Subject) -> PolicyKind {
    match subject {
        Subject::RegistryPolicy => PolicyKind::Registry,
        _ => PolicyKind::Repository,
    }
}

fn scope_of(facts: &EventFacts) -> RegistryScope<'_> {
    RegistryScope {
        account: facts.registry_id.as_deref(),
        region: facts.region.as_deref(),
    }
}

/// True when the text is a policy of `kind`, read as `copy`, that passes every rule of that
/// kind.
fn passes_as(
    rules: &RuleConfig,
    text: &str,
    kind: PolicyKind,
    scope: RegistryScope,
    copy: PolicyCopy,
    owner: Owner,
) -> bool {
    rules
        .check_copy(text, kind, scope, copy, owner)
        .is_ok_and(|v| v.is_empty())
}

/// The text a `SetRepositoryPolicy` (or `PutRegistryPolicy`) is judged and remedied on, with
/// which copy it is: ECR's stored copy when the event has one the guard can read (it is what
/// ECR holds), else the caller's text.
pub fn judged_text<'c>(
    change: &'c Change,
    kind: PolicyKind,
    scope: RegistryScope,
) -> Option<(&'c str, PolicyCopy)> {
    match change {
        Change::PolicySet {
            caller_text,
            stored_text,
        } => {
            let stored = stored_text
                .as_deref()
                .map(|t| (t, PolicyCopy::Stored))
                .filter(|(t, copy)| Policy::parse_copy(t, kind, scope, *copy).is_ok());
            stored
                .or(caller_text.as_deref().map(|t| (t, PolicyCopy::Caller)))
                .or(stored_text.as_deref().map(|t| (t, PolicyCopy::Stored)))
        }
        _ => None,
    }
}

/// True for the changes whose revert first looks for an earlier policy in CloudTrail history
/// (`SetRepositoryPolicy`, `PutRegistryPolicy`).
pub fn wants_history(change: &Change) -> bool {
    matches!(change, Change::PolicySet { .. })
}

/// The policy to restore for an event, before the final compliance check. `history` is the
/// result of the CloudTrail search (`None` where none was made); the choice among fallbacks is:
/// `SetRepositoryPolicy` → history, else the derived policy, else the baseline; a deletion → the
/// deleted policy when it passes, else its derived form, else the baseline; the scan's observed
/// policy → its derived form, else the baseline; a new repository → the baseline.
pub fn choose_target(
    event: &PolicyEvent,
    history: Option<Result<Target, String>>,
    rules: &RuleConfig,
    configured_baseline: Option<&str>,
) -> Target {
    let account = event.facts.registry_id.as_deref().unwrap_or_default();
    match (event.facts.subject, &event.change) {
        (Subject::RegistryPolicy, _) => return registry_policy_target(event, history, rules),
        (_, Change::Replication { .. }) => {
            let configuration = event.change.replication().cloned().unwrap_or_default();
            let derived = rules.derive_replication(&configuration, Owner::Account(account));
            return Target {
                policy_text: derived.to_json_text(),
                source: TargetSource::DerivedFromOffending,
                note: None,
            };
        }
        _ => {}
    }
    let baseline = |note: Option<String>| Target {
        policy_text: baseline(account, rules, configured_baseline),
        source: TargetSource::Baseline,
        note,
    };
    let derived_or_baseline = |text: &str, copy, source, note: Option<String>| match derived_target(
        text, copy, account, rules, source,
    ) {
        Ok(target) => Target { note, ..target },
        Err(why) => baseline(Some(match note {
            Some(note) => format!("{note}; no derived policy: {why}"),
            None => format!("no derived policy: {why}"),
        })),
    };
    match &event.change {
        Change::PolicySet { .. } => {
            let (policy_text, copy) = judged_text(
                &event.change,
                PolicyKind::Repository,
                RegistryScope::default(),
            )
            .unwrap_or_default();
            let note = match history {
                Some(Ok(target)) => return target,
                Some(Err(note)) => note,
                None => "CloudTrail history was not searched".into(),
            };
            derived_or_baseline(
                policy_text,
                copy,
                TargetSource::DerivedFromOffending,
                Some(note),
            )
        }
        // The deleted policy is ECR's stored copy (the response's): written back as it is when
        // it passes and fits what a caller may send, else in its derived (compact) form.
        Change::NoPolicy {
            call: ApiCall::DeleteRepositoryPolicy,
            deleted_policy: Some(text),
        } => {
            let stored = PolicyCopy::Stored;
            let scope = RegistryScope::default();
            let owner = Owner::Account(account);
            match rules.check_copy(text, PolicyKind::Repository, scope, stored, owner) {
                Ok(violations)
                    if violations.is_empty() && text.chars().count() <= MAX_POLICY_CHARS =>
                {
                    Target {
                        policy_text: text.clone(),
                        source: TargetSource::DeletedPolicy,
                        note: None,
                    }
                }
                Ok(_) => derived_or_baseline(text, stored, TargetSource::DerivedFromDeleted, None),
                Err(e) => baseline(Some(format!("the deleted policy cannot be parsed: {e}"))),
            }
        }
        Change::NoPolicy {
            call: ApiCall::DeleteRepositoryPolicy,
            deleted_policy: None,
        } => baseline(Some("the event does not carry the deleted policy".into())),
        // The scheduled scan: no history, the live policy's derived form or the baseline.
        Change::Observed {
            policy_text: Some(text),
        } => derived_or_baseline(
            text,
            PolicyCopy::Stored,
            TargetSource::DerivedFromOffending,
            None,
        ),
        // A template: its policy's derived form, else the baseline.
        Change::Template { template, copy } => match template
            .repository_policy
            .as_deref()
            .filter(|p| !p.trim().is_empty())
        {
            Some(text) => {
                derived_or_baseline(text, *copy, TargetSource::DerivedFromOffending, None)
            }
            None => baseline(None),
        },
        Change::NoPolicy { .. }
        | Change::Observed { .. }
        | Change::Ignored { .. }
        | Change::Replication { .. } => baseline(None),
    }
}

/// A registry policy's target: an earlier compliant one from CloudTrail history, else the
/// policy without its violating statements and principals, else none at all.
fn registry_policy_target(
    event: &PolicyEvent,
    history: Option<Result<Target, String>>,
    rules: &RuleConfig,
) -> Target {
    let account = event.facts.registry_id.as_deref().unwrap_or_default();
    let scope = scope_of(&event.facts);
    let note = match history {
        Some(Ok(target)) => return target,
        Some(Err(note)) => Some(note),
        None => None,
    };
    let text = judged_text(&event.change, PolicyKind::Registry, scope).or_else(|| {
        event
            .change
            .resulting_policy()
            .map(|t| (t, PolicyCopy::Stored))
    });
    let derived = text.map(|(text, copy)| {
        let policy = Policy::parse_copy(text, PolicyKind::Registry, scope, copy)
            .map_err(RemedyError::Unparsable)?;
        if policy.has_inexact_numbers() {
            return Err(RemedyError::InexactNumbers);
        }
        let derived = derive_registry(&policy, account, rules);
        if let Some(derived) = &derived {
            narrows(&policy, derived)?;
        }
        Ok(derived)
    });
    let join = |why: String| match &note {
        Some(note) => format!("{note}; {why}"),
        None => why,
    };
    match derived {
        Some(Ok(Some(derived))) => Target {
            policy_text: derived.to_json_text(),
            source: TargetSource::DerivedFromOffending,
            note,
        },
        Some(Ok(None)) => Target::no_registry_policy(Some(join(
            "no statement is left once the violating grants are removed".into(),
        ))),
        Some(Err(why)) => {
            Target::no_registry_policy(Some(join(format!("no derived policy: {why}"))))
        }
        None => Target::no_registry_policy(note),
    }
}

/// The target of a revert if it passes the rules of its subject; otherwise the safe fallback:
/// the baseline for a repository or a template (if that passes), no registry policy at all for
/// a registry policy. The guard never writes what breaks its own rules.
pub fn compliant_target(
    event: &PolicyEvent,
    target: Target,
    rules: &RuleConfig,
    configured_baseline: Option<&str>,
) -> Result<Target, RemedyError> {
    let account = event.facts.registry_id.as_deref().unwrap_or_default();
    let owner = Owner::Account(account);
    match (event.facts.subject, &event.change) {
        (Subject::RegistryPolicy, _) => {
            let scope = scope_of(&event.facts);
            if target.is_deletion()
                || passes_as(
                    rules,
                    &target.policy_text,
                    PolicyKind::Registry,
                    scope,
                    PolicyCopy::Caller,
                    owner,
                )
            {
                Ok(target)
            } else {
                Ok(Target::no_registry_policy(Some(
                    "the first choice of registry policy did not pass the rules".into(),
                )))
            }
        }
        (_, Change::Replication { .. }) => {
            // Derived by removing destinations only; checked again all the same.
            match Replication::parse(&target.policy_text) {
                Ok(config) if rules.check_replication(&config, owner).is_empty() => Ok(target),
                _ => Err(RemedyError::Widens(0)),
            }
        }
        _ => compliant_or_baseline(target, account, rules, configured_baseline),
    }
}

/// The target if it passes the rules; otherwise the baseline, if that passes. The guard never
/// writes a policy that breaks its own rules, which is also what keeps its own write from
/// triggering a revert.
pub fn compliant_or_baseline(
    target: Target,
    account: &str,
    rules: &RuleConfig,
    configured_baseline: Option<&str>,
) -> Result<Target, RemedyError> {
    let owner = Owner::Account(account);
    if rules.passes(&target.policy_text, owner) {
        return Ok(target);
    }
    let baseline = baseline(account, rules, configured_baseline);
    if rules.passes(&baseline, owner) {
        return Ok(Target {
            policy_text: baseline,
            source: TargetSource::Baseline,
            note: Some("the first choice of policy did not pass the rules".into()),
        });
    }
    Err(RemedyError::BaselineFails)
}

/// What a revert does once the live policy is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WritePlan {
    /// The repository is still in the state the event left it in: write the target.
    Write,
    /// The live policy already equals the target (a retried invocation, or someone else fixed
    /// it): write nothing.
    AlreadyInPlace,
    /// The live policy changed after the event: write nothing, never overwrite a newer change.
    Superseded,
}

/// Compares the live policy (`None`: no policy) with the target and with the state the event
/// left (`None`: no policy), as parsed JSON, since ECR re-formats what it stores.
pub fn plan_write(live: Option<&str>, event_state: Option<&str>, target: &Target) -> WritePlan {
    plan_states(live, event_state, Some(&target.policy_text), same_document)
}

/// [`plan_write`] for any subject: the live state (a policy, or a replication configuration as
/// JSON) against the state the event left and the target (a deletion wants no registry policy).
pub fn plan_revert(event: &PolicyEvent, live: Option<&str>, target: &Target) -> WritePlan {
    let target_state = (!target.is_deletion()).then_some(target.policy_text.as_str());
    match &event.change {
        Change::Replication { .. } => {
            let same = |a: &str, b: &str| match (Replication::parse(a), Replication::parse(b)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            // The state the event left: ECR's copy when readable, else the caller's.
            let event_state = event.change.replication().map(Replication::to_json_text);
            plan_states(live, event_state.as_deref(), target_state, same)
        }
        change => plan_states(live, change.resulting_policy(), target_state, same_document),
    }
}

fn plan_states(
    live: Option<&str>,
    event_state: Option<&str>,
    target: Option<&str>,
    same: impl Fn(&str, &str) -> bool,
) -> WritePlan {
    let equal = |a: Option<&str>, b: Option<&str>| match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => same(a, b),
        _ => false,
    };
    if equal(live, target) {
        WritePlan::AlreadyInPlace
    } else if equal(live, event_state) {
        WritePlan::Write
    } else {
        WritePlan::Superseded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str]) -> RuleConfig {
        RuleConfig::allowing(allow.iter().copied()).unwrap()
    }

    #[test]
    fn the_default_baseline_denies_outsiders_and_passes_the_rules() {
        let r = rules(&["111122223333"]);
        let text = default_baseline("123456789012", &r).to_json_text();
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        let s = &parsed["Statement"][0];
        assert_eq!(s["Sid"], "DenyByDefault");
        assert_eq!(s["Effect"], "Deny");
        assert_eq!(s["Principal"], "*");
        assert_eq!(s["Action"], "ecr:*");
        assert_eq!(
            s["Condition"]["StringNotEquals"]["aws:PrincipalAccount"],
            serde_json::json!(["111122223333", "123456789012"])
        );
        assert_eq!(
            s["Condition"]["BoolIfExists"]["aws:PrincipalIsAWSService"],
            "false"
        );
        assert!(
            r.check(
                &Policy::parse(&text).unwrap(),
                Owner::Account("123456789012")
            )
            .is_empty()
        );
    }

    #[test]
    fn derive_drops_only_the_violating_grants() {
        let text = r#"{"Version":"2012-10-17","Statement":[
          {"Sid":"Mixed","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::987654321098:root","arn:aws:iam::123456789012:role/app","111122223333","*"]},"Action":"ecr:BatchGetImage"},
          {"Sid":"Public","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
          {"Sid":"Org","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"}}},
          {"Sid":"OtherOrg","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-f6g7h8i9j0"}}},
          {"Sid":"AllBut","Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::123456789012:role/x"},"Action":"ecr:*"},
          {"Sid":"OnlyRoot","Effect":"Allow","Principal":{"AWS":"987654321098"},"Action":"ecr:*"},
          {"Sid":"DenyByDefault","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::123456789012:role/y"},"Action":"ecr:PutImage"}]}"#;
        let r = rules(&["111122223333"])
            .with_orgs(["o-a1b2c3d4e5"])
            .unwrap();
        let policy = Policy::parse(text).unwrap();
        let derived = derive(&policy, "123456789012", &r);
        let sids: Vec<_> = derived
            .statements
            .iter()
            .map(|s| s.sid.as_deref().unwrap())
            .collect();
        assert_eq!(sids, ["Mixed", "Org", "DenyByDefault", "DenyByDefault2"]);
        assert_eq!(
            derived.statements[0].principal,
            PrincipalElement::Principal(Principal::Typed(vec![(
                PrincipalType::Aws,
                vec![
                    "arn:aws:iam::123456789012:role/app".into(),
                    "111122223333".into()
                ]
            )]))
        );
        let own = Owner::Account("123456789012");
        assert!(
            r.check(&derived, own).is_empty(),
            "{:?}",
            r.check(&derived, own)
        );
    }

    #[test]
    fn narrows_rejects_any_widening() {
        let parse = |t: &'static str| Policy::parse(t).unwrap();
        let original = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:role/a","arn:aws:iam::111122223333:role/b"]},"Action":"ecr:BatchGetImage"}}"#,
        );
        let fewer = parse(
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/a"},"Action":"ecr:BatchGetImage"}}"#,
        );
        assert_eq!(narrows(&original, &fewer), Ok(()));
        for wider in [
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/c"},"Action":"ecr:BatchGetImage"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/a"},"Action":"ecr:*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/a"},"NotAction":"ecr:PutImage"}}"#,
        ] {
            assert!(narrows(&original, &parse(wider)).is_err(), "{wider}");
        }
    }

    #[test]
    fn history_picks_the_newest_earlier_compliant_policy_of_the_same_repository() {
        let record = |id: &str, time: &str, repo: &str, policy: &str, error: Option<&str>| {
            let mut r = serde_json::json!({
                "eventSource": "ecr.amazonaws.com", "eventName": "SetRepositoryPolicy",
                "eventID": id, "eventTime": time, "awsRegion": "eu-west-1",
                "recipientAccountId": "123456789012",
                "requestParameters": {"repositoryName": repo, "policyText": policy}});
            if let Some(code) = error {
                r["errorCode"] = code.into();
            }
            r.to_string()
        };
        let good = default_baseline("123456789012", &RuleConfig::default()).to_json_text();
        let bad = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#;
        let records = [
            record("now", "2026-11-20T10:00:00Z", "team/app", bad, None),
            record("later", "2026-11-20T11:00:00Z", "team/app", &good, None),
            record(
                "other-repo",
                "2026-11-20T09:00:00Z",
                "team/other",
                &good,
                None,
            ),
            record(
                "failed",
                "2026-11-20T08:30:00Z",
                "team/app",
                &good,
                Some("AccessDenied"),
            ),
            record("violating", "2026-11-20T08:00:00Z", "team/app", bad, None),
            // The same name in another region is another repository.
            record(
                "other-region",
                "2026-11-19T09:00:00Z",
                "team/app",
                &good,
                None,
            )
            .replace("eu-west-1", "us-east-1"),
            record("compliant", "2026-11-19T08:00:00Z", "team/app", &good, None),
            record("older", "2026-11-18T08:00:00Z", "team/app", &good, None),
        ];
        let current = EventFacts {
            repository: Some("team/app".into()),
            registry_id: Some("123456789012".into()),
            region: Some("eu-west-1".into()),
            event_id: Some("now".into()),
            event_time: Some("2026-11-20T10:00:00Z".into()),
            ..EventFacts::default()
        };
        let hit = pick_from_history(
            records.iter().map(String::as_str),
            &current,
            &RuleConfig::default(),
        )
        .unwrap();
        assert_eq!(
            hit.source,
            TargetSource::CloudtrailHistory {
                event_id: Some("compliant".into()),
                event_time: Some("2026-11-19T08:00:00Z".into())
            }
        );
        assert_eq!(hit.policy_text, good);
    }
}
