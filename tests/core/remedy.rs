//! Revert planning, pure: which policy to restore, the final compliance check, and whether to
//! write, find it already in place, or stand down for a newer change.

use crate::policy_event;
use ecr_policy_guard_core::event::{ApiCall, Change};
use ecr_policy_guard_core::policy::{MAX_POLICY_CHARS, same_document};
use ecr_policy_guard_core::remedy::{
    RemedyError, Target, TargetSource, WritePlan, choose_target, compliant_or_baseline,
    default_baseline, pick_from_history, plan_write, wants_history,
};
use ecr_policy_guard_core::{Owner, PolicyEvent, RuleConfig};
use serde_json::json;

const ACCOUNT: &str = "123456789012";
const PUBLIC: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Public","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},{"Sid":"Push","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci"},"Action":"ecr:PutImage"}]}"#;

fn target(text: &str) -> Target {
    Target {
        policy_text: text.to_owned(),
        source: TargetSource::Baseline,
        note: None,
    }
}

fn baseline() -> String {
    default_baseline(ACCOUNT, &RuleConfig::default()).to_json_text()
}

#[test]
fn plan_write_writes_only_while_the_event_is_still_the_live_state() {
    let t = target(&baseline());
    // Still the state the event set (ECR re-formats: compared as JSON).
    let pretty =
        serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(PUBLIC).unwrap())
            .unwrap();
    assert_eq!(
        plan_write(Some(&pretty), Some(PUBLIC), &t),
        WritePlan::Write
    );
    // A deletion or creation: still no policy.
    assert_eq!(plan_write(None, None, &t), WritePlan::Write);
    // The retry finds its own write.
    assert_eq!(
        plan_write(Some(&baseline()), Some(PUBLIC), &t),
        WritePlan::AlreadyInPlace
    );
    assert_eq!(
        plan_write(Some(&baseline()), None, &t),
        WritePlan::AlreadyInPlace
    );
    // Someone changed it again, or deleted it, or set one after a deletion.
    let newer = baseline().replace("DenyByDefault", "Newer");
    assert_eq!(
        plan_write(Some(&newer), Some(PUBLIC), &t),
        WritePlan::Superseded
    );
    assert_eq!(plan_write(None, Some(PUBLIC), &t), WritePlan::Superseded);
    assert_eq!(plan_write(Some(&newer), None, &t), WritePlan::Superseded);
}

fn set_event(policy: &str) -> PolicyEvent {
    policy_event(
        &json!({"eventSource": "ecr.amazonaws.com", "eventName": "SetRepositoryPolicy",
            "awsRegion": "eu-west-1", "recipientAccountId": ACCOUNT, "eventID": "e-1",
            "eventTime": "2026-11-20T10:00:00Z",
            "requestParameters": {"repositoryName": "team/app", "policyText": policy}})
        .to_string(),
    )
}

#[test]
fn a_set_policy_prefers_history_then_the_derived_policy_then_the_baseline() {
    let rules = RuleConfig::default();
    let event = set_event(PUBLIC);
    assert!(wants_history(&event.change));
    let from_history = Target {
        policy_text: baseline(),
        source: TargetSource::CloudtrailHistory {
            event_id: Some("old".into()),
            event_time: None,
        },
        note: None,
    };
    let chosen = choose_target(&event, Some(Ok(from_history.clone())), &rules, None);
    assert_eq!(chosen, from_history);

    let chosen = choose_target(&event, Some(Err("no history".into())), &rules, None);
    assert_eq!(chosen.source, TargetSource::DerivedFromOffending);
    assert_eq!(chosen.note.as_deref(), Some("no history"));
    assert!(!chosen.policy_text.contains("\"Public\""));
    assert!(rules.passes(&chosen.policy_text, Owner::Account(ACCOUNT)));

    // A policy with a number that cannot be written back exactly is never rewritten.
    let inexact = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"NumericLessThan":{"s3:max-keys":1.5}}}]}"#;
    let chosen = choose_target(
        &set_event(inexact),
        Some(Err("no history".into())),
        &rules,
        None,
    );
    assert_eq!(chosen.source, TargetSource::Baseline);
    assert_eq!(
        chosen.note.as_deref(),
        Some(
            "no history; no derived policy: the policy holds a condition number that cannot be written back exactly"
        )
    );
}

#[test]
fn the_scan_and_new_repositories_never_ask_for_history() {
    let rules = RuleConfig::default();
    let observed = PolicyEvent::observed("team/app", ACCOUNT, "eu-west-1", Some(PUBLIC.into()));
    assert!(!wants_history(&observed.change));
    let chosen = choose_target(&observed, None, &rules, None);
    assert_eq!(
        (chosen.source, chosen.note),
        (TargetSource::DerivedFromOffending, None)
    );
    let empty = PolicyEvent::observed("team/app", ACCOUNT, "eu-west-1", None);
    assert!(matches!(
        empty.change,
        Change::Observed { policy_text: None }
    ));
    assert_eq!(
        choose_target(&empty, None, &rules, None).policy_text,
        baseline()
    );
    let configured = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Mine","Effect":"Deny","Principal":"*","Action":"ecr:*"}]}"#;
    assert_eq!(
        choose_target(&empty, None, &rules, Some(configured)).policy_text,
        configured
    );
}

#[test]
fn the_final_check_falls_back_to_the_baseline_and_never_returns_a_violating_policy() {
    let rules = RuleConfig::default();
    let kept = compliant_or_baseline(target(&baseline()), ACCOUNT, &rules, None).unwrap();
    assert_eq!(kept.policy_text, baseline());
    let replaced = compliant_or_baseline(target(PUBLIC), ACCOUNT, &rules, None).unwrap();
    assert_eq!(replaced.policy_text, baseline());
    assert_eq!(
        replaced.note.as_deref(),
        Some("the first choice of policy did not pass the rules")
    );
    let bad_baseline = Some(PUBLIC);
    assert_eq!(
        compliant_or_baseline(target(PUBLIC), ACCOUNT, &rules, bad_baseline),
        Err(RemedyError::BaselineFails)
    );
}

/// A compliant policy of 45 role grants and the baseline deny, pretty-printed: longer than a
/// caller may send, as ECR may store it.
fn long_stored_compliant() -> String {
    let mut statements: Vec<serde_json::Value> = (0..45)
        .map(|i| {
            json!({"Sid": format!("AllowPullForService{i:03}"), "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:role/service-{i:03}-pull")},
                "Action": ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]})
        })
        .collect();
    let deny: serde_json::Value = serde_json::from_str(&baseline()).unwrap();
    statements.push(deny["Statement"][0].clone());
    let text =
        serde_json::to_string_pretty(&json!({"Version": "2012-10-17", "Statement": statements}))
            .unwrap();
    assert!(text.chars().count() > MAX_POLICY_CHARS);
    text
}

#[test]
fn a_stored_copy_too_long_to_write_back_is_restored_compact() {
    let long = long_stored_compliant();
    let rules = RuleConfig::default();
    // From history: the record holds ECR's long copy; the guard writes the same policy compact.
    let record = json!({"eventSource": "ecr.amazonaws.com", "eventName": "SetRepositoryPolicy",
        "eventID": "earlier", "eventTime": "2026-11-19T08:00:00Z", "awsRegion": "eu-west-1",
        "recipientAccountId": ACCOUNT,
        "requestParameters": {"repositoryName": "team/app", "policyText": "{\"not\": \"read\"}"},
        "responseElements": {"repositoryName": "team/app", "policyText": long}})
    .to_string();
    let current = set_event(PUBLIC).facts;
    let hit = pick_from_history([record.as_str()], &current, &rules).unwrap();
    assert!(hit.policy_text.chars().count() <= MAX_POLICY_CHARS);
    assert!(rules.passes(&hit.policy_text, Owner::Account(ACCOUNT)));
    assert!(same_document(
        &hit.policy_text,
        &serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&long).unwrap()).unwrap()
    ));
    // A deleted policy as long: passes, but is restored in its derived, compact form.
    let deleted = PolicyEvent {
        facts: current.clone(),
        change: Change::NoPolicy {
            call: ApiCall::DeleteRepositoryPolicy,
            deleted_policy: Some(long.clone()),
        },
    };
    let chosen = choose_target(&deleted, None, &rules, None);
    assert_eq!(chosen.source, TargetSource::DerivedFromDeleted);
    assert!(chosen.policy_text.chars().count() <= MAX_POLICY_CHARS);
    assert!(rules.passes(&chosen.policy_text, Owner::Account(ACCOUNT)));
}
