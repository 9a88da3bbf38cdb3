//! The README's first command: the demo runs every scenario against its own moto server.

use crate::support::{cli_on, moto};

#[test]
fn the_demo_runs_every_scenario_against_moto() {
    let out = cli_on(moto(), &["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("\nScenario: ").count(), 4, "{stdout}");
    assert_eq!(stdout.matches("--- alert mode ---").count(), 4);
    assert_eq!(stdout.matches("--- revert mode ---").count(), 4);
    // 3 violating scenarios: one alert each in alert mode and one revert each in revert mode.
    assert_eq!(
        stdout
            .matches("Alert delivered to the SQS subscriber:")
            .count(),
        6,
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches("\"Subject\": \"ecr-policy-guard REVERTED: ")
            .count(),
        3,
        "{stdout}"
    );
    assert_eq!(stdout.matches("Live policy after:").count(), 3, "{stdout}");
    assert!(stdout.contains("The last alert as an e-mail subscriber reads it:"));
}
