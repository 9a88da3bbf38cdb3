//! The scan's tally: counts by rule, offenders listed once per rule, unchecked repositories.

use ecr_policy_guard_core::incident::MAX_LISTED_OFFENDERS;
use ecr_policy_guard_core::{Incident, Mode, PolicyEvent, RuleConfig, ScanReport, Taken, decide};

fn incident(policy: Option<&str>, taken: Taken) -> Incident {
    let event = PolicyEvent::observed(
        "team/app",
        "123456789012",
        "eu-west-1",
        policy.map(str::to_owned),
    );
    Incident {
        taken,
        outcome: Some(decide(&event, &RuleConfig::default(), Mode::Revert)),
        detail: None,
        offending_policy: None,
        target: None,
    }
}

#[test]
fn an_offender_lists_each_broken_rule_once() {
    let policy = r#"{"Statement":[
        {"Effect":"Allow","Principal":{"AWS":"987654321098"},"Action":"ecr:BatchGetImage"},
        {"Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},
        {"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"ecr:BatchGetImage"}]}"#;
    let incident = incident(Some(policy), Taken::Alerted);
    assert_eq!(incident.violations().len(), 4);
    let mut report = ScanReport::default();
    report.tally("team/app", Ok(&incident));
    assert_eq!(
        report.offenders[0].rules,
        [
            "deny-by-default-required",
            "no-root-principal",
            "no-wildcard-principal"
        ]
    );
    assert_eq!(report.by_rule["no-root-principal"], 2);
    assert_eq!((report.scanned, report.non_compliant), (1, 1));
}

#[test]
fn reverts_failures_and_unchecked_repositories_are_counted_apart() {
    let mut report = ScanReport::default();
    let compliant = r#"{"Statement":{"Effect":"Deny","Principal":"*","Action":"ecr:*"}}"#;
    report.tally("a", Ok(&incident(Some(compliant), Taken::Nothing)));
    report.tally("b", Ok(&incident(None, Taken::Reverted)));
    report.tally("c", Ok(&incident(None, Taken::AlreadyReverted)));
    report.tally("d", Ok(&incident(None, Taken::RevertFailed)));
    report.tally("e", Err("ecr:GetRepositoryPolicy was denied: no".into()));
    assert_eq!(
        (report.scanned, report.compliant, report.non_compliant),
        (4, 1, 3)
    );
    assert_eq!((report.reverted, report.revert_failed), (2, 1));
    assert_eq!(report.unchecked.len(), 1);
    assert_eq!(report.unchecked[0].repository, "e");
    assert_eq!(report.by_rule["deny-by-default-required"], 3);
    let listed: Vec<&str> = report
        .offenders
        .iter()
        .map(|o| o.repository.as_str())
        .collect();
    assert_eq!(listed, ["b", "c", "d"]);
}

#[test]
fn the_offender_list_is_capped_but_the_counts_are_not() {
    let mut report = ScanReport::default();
    for i in 0..MAX_LISTED_OFFENDERS + 5 {
        report.tally(&format!("r-{i}"), Ok(&incident(None, Taken::Alerted)));
    }
    assert_eq!(report.offenders.len(), MAX_LISTED_OFFENDERS);
    assert_eq!(report.non_compliant, MAX_LISTED_OFFENDERS + 5);
}
