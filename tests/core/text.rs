//! The CLI's text renderings: headlines say what was done, counts close a batch.

use crate::{policy_event, sample, sample_rules};
use ecr_policy_guard_core::render::text::{EvaluateSummary, Style, incident_text, outcome_text};
use ecr_policy_guard_core::{Action, Incident, Mode, Taken, decide};

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
