//! The CLI's text renderings: headlines say what was done, counts close a batch.

use crate::{policy_event, sample, sample_rules};
use ecr_policy_guard_core::policy::{PolicyKind, RegistryScope};
use ecr_policy_guard_core::render::text::{
    CheckResult, EvaluateSummary, Style, incident_text, outcome_text, result_json,
};
use ecr_policy_guard_core::rules::{RuleId, Violation};
use ecr_policy_guard_core::waiver::{Date, WaiverMark, WaiverNote, WaiverStatus};
use ecr_policy_guard_core::{Action, Incident, Mode, Owner, Taken, decide};

const PLAIN: Style = Style { color: false };

fn incident(taken: Taken, mode: Mode) -> Incident {
    let event = policy_event(&sample("set-policy-cross-account-root.json"));
    Incident {
        taken,
        outcome: Some(decide(&event, &sample_rules(), mode)),
        detail: Some("ecr:SetRepositoryPolicy was denied: AccessDeniedException".into()),
        offending_policy: None,
        target: None,
    }
}

#[test]
fn handle_leads_with_what_was_done_and_evaluate_with_what_would_be() {
    for (taken, headline) in [
        (Taken::Reverted, "REVERTED "),
        (Taken::AlreadyReverted, "REVERTED "),
        (Taken::RevertFailed, "REVERT FAILED "),
        (Taken::RevertSuperseded, "REVERT SUPERSEDED "),
        (Taken::Alerted, "ALERT "),
    ] {
        let text = incident_text(&incident(taken, Mode::Revert), PLAIN);
        assert!(text.starts_with(headline), "{taken:?}: {text}");
        assert!(text.contains("\n  did: "), "{text}");
        assert!(!text.contains("would:"), "{text}");
    }
    let text = incident_text(&incident(Taken::RevertFailed, Mode::Revert), PLAIN);
    assert!(
        text.contains("did: could not revert (ecr:SetRepositoryPolicy was denied"),
        "{text}"
    );
    let outcome = incident(Taken::Nothing, Mode::Revert).outcome.unwrap();
    let text = outcome_text(&outcome, PLAIN);
    assert!(text.starts_with("REVERT SetRepositoryPolicy"), "{text}");
    assert!(text.contains("\n  would: restore"), "{text}");
}

#[test]
fn the_evaluate_summary_counts_every_event_once() {
    let mut summary = EvaluateSummary::default();
    for action in [
        Some(Action::Revert),
        Some(Action::Alert),
        Some(Action::None),
        None,
        Some(Action::Ignore),
        Some(Action::Alert),
    ] {
        summary.count(action);
    }
    assert_eq!(
        summary.text(),
        "6 events: 1 to revert, 2 to alert, 1 compliant, 1 ignored, 1 unreadable\n"
    );
}

/// The batch `check`'s hand-written JSON against serde_json's, byte for byte.
fn assert_result_json_is_serde_json(result: &CheckResult) {
    let mut fast = Vec::new();
    result_json(&mut fast, result);
    let serde = serde_json::to_vec(result).unwrap();
    assert_eq!(
        String::from_utf8(fast).unwrap(),
        String::from_utf8(serde).unwrap()
    );
}

#[test]
fn a_batch_result_is_written_as_serde_json_writes_it_for_every_fixture() {
    let rules = sample_rules();
    let dir = crate::root().join("tests/fixtures/policies");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.ends_with(".expected.json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for kind in [PolicyKind::Repository, PolicyKind::Registry] {
            let checked_policy =
                rules.check_kind(&text, kind, RegistryScope::default(), Owner::Unknown);
            let checked_policy = checked_policy.map_err(|e| e.on_line(7).to_string());
            assert_result_json_is_serde_json(&CheckResult::judged(
                &name,
                Some(checked),
                checked_policy,
            ));
            checked += 1;
        }
    }
    assert!(checked > 400, "only {checked} fixtures");
}

proptest::proptest! {
    #[test]
    fn any_batch_result_is_written_as_serde_json_writes_it(
        file in "\\PC{0,12}|[\"\\\\\\x00-\\x1f\\x7f/é☃]{0,6}",
        line in proptest::option::of(0usize..=usize::MAX),
        sid in proptest::option::of("[a-z\"\\\\\\x00-\\x1f\\u{2028}]{0,6}"),
        principal in proptest::option::of("\\PC{0,8}"),
        message in "\\PC{0,20}|[\\x00-\\x1f\"\\\\]{1,4}",
        error in proptest::option::of("\\PC{0,10}"),
        statement in proptest::option::of(0usize..100_000),
        shape in 0u8..4,
    ) {
        let violation = Violation {
            rule: RuleId::ALL[usize::from(shape) % RuleId::ALL.len()],
            statement,
            sid,
            principal: principal.clone(),
            via: principal.map(|p| format!("aws:{p}")),
            message: message.into(),
            resources: if shape == 1 { vec!["arn:aws:ecr:eu-west-1:123456789012:repository/*".into()] } else { Vec::new() },
            waiver: (shape == 2).then(|| Box::new(WaiverMark {
                waived: true,
                waiver: WaiverNote {
                    number: 3,
                    reason: "migration \"ticket\" SEC-1".into(),
                    expires: Date::from_unix_days(20_000),
                    status: WaiverStatus::Expiring,
                },
            })),
        };
        let result = CheckResult {
            file: &file,
            line,
            compliant: error.is_none().then_some(shape == 3),
            violations: vec![violation.clone(), violation],
            error,
        };
        assert_result_json_is_serde_json(&result);
    }
}
