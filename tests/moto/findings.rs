//! The findings sinks on moto through the real SDK clients: Security Hub findings created
//! `FAILED`/`ACTIVE` by a bad policy and re-imported `PASSED`/`ARCHIVED` once the repository
//! complies, and each alert put on a custom EventBridge bus, routed by a rule to SQS.

use crate::support::{self, ACCOUNT, Aws, REGION, event};
use aws_sdk_securityhub::types::{ComplianceStatus, RecordState};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::{AwsPorts, EVENT_DETAIL_TYPE, EVENT_SOURCE};
use ecr_policy_guard::app::handle;
use ecr_policy_guard_core::{Mode, Taken};
use serde_json::Value;

fn config(security_hub: bool, event_bus: Option<&str>) -> Config {
    Config {
        mode: Mode::Alert,
        security_hub,
        event_bus: event_bus.map(str::to_owned),
        ..Config::default()
    }
}

#[test]
fn a_security_hub_finding_is_created_failed_then_archived_as_passed() {
    // The test reads findings back with `GetFindings`, whose response deserializer (ASFF's
    // deeply nested types) overflows a test thread's 2 MB stack in a debug build; the guard
    // itself only imports, which runs on the default stack (the Lambda's is 8 MB).
    std::thread::Builder::new()
        .stack_size(16 << 20)
        .spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(created_then_archived())
        })
        .unwrap()
        .join()
        .unwrap();
}

async fn created_then_archived() {
    let aws = Aws::new("findings-hub", true).await;
    let repository = "t-findings/hub";
    aws.create_repository(repository).await;
    let sdk = support::moto().sdk_config(REGION).await;
    let hub = aws_sdk_securityhub::Client::new(&sdk);
    // moto accepts imports without it; a real account needs Security Hub enabled.
    let _ = hub.enable_security_hub().send().await;
    let config = config(true, None);
    let ports = AwsPorts::for_config(&sdk, &config, aws.topic_arn.clone())
        .await
        .unwrap();

    let bad = event("set-policy-cross-account-root.json", repository);
    let incident = handle(&bad.to_string(), &config, ports.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);
    let id = format!(
        "arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}/ecr-policy-guard/no-root-principal"
    );
    let find = || async {
        let all = Box::pin(hub.get_findings().max_results(100).send())
            .await
            .unwrap();
        all.findings()
            .iter()
            .find(|f| f.id() == Some(id.as_str()))
            .cloned()
    };
    let created = find().await.expect("the finding was imported");
    println!(
        "created: {}",
        serde_json::json!({
            "Id": created.id(),
            "ProductArn": created.product_arn(),
            "GeneratorId": created.generator_id(),
            "Types": created.types(),
            "Severity": created.severity().and_then(|s| s.label()).map(|l| l.as_str()),
            "Compliance": created.compliance().and_then(|c| c.status()).map(|s| s.as_str()),
            "RecordState": created.record_state().map(|s| s.as_str()),
            "Resources": created.resources().iter().map(|r| (r.r#type(), r.id())).collect::<Vec<_>>(),
        })
    );
    assert_eq!(
        created.product_arn(),
        Some(format!("arn:aws:securityhub:{REGION}:{ACCOUNT}:product/{ACCOUNT}/default").as_str())
    );
    assert_eq!(created.generator_id(), Some("no-root-principal"));
    assert_eq!(
        created.compliance().and_then(|c| c.status()),
        Some(&ComplianceStatus::Failed)
    );
    assert_eq!(created.record_state(), Some(&RecordState::Active));
    assert_eq!(created.resources()[0].r#type(), Some("AwsEcrRepository"));
    assert!(created.types()[0].starts_with("Software and Configuration Checks/"));
    let remediation = created
        .remediation()
        .and_then(|r| r.recommendation())
        .and_then(|r| r.text());
    assert!(
        remediation.is_some_and(|t| t.contains("roles")),
        "{remediation:?}"
    );

    // The repository is made compliant: the same finding is resolved.
    let good = event("set-policy-compliant-push-pull.json", repository);
    let incident = handle(&good.to_string(), &config, ports.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Nothing);
    let resolved = find().await.unwrap();
    println!(
        "resolved: {}",
        serde_json::json!({
            "Id": resolved.id(),
            "Compliance": resolved.compliance().and_then(|c| c.status()).map(|s| s.as_str()),
            "RecordState": resolved.record_state().map(|s| s.as_str()),
            "UpdatedAt": resolved.updated_at(),
        })
    );
    assert_eq!(
        resolved.compliance().and_then(|c| c.status()),
        Some(&ComplianceStatus::Passed)
    );
    assert_eq!(resolved.record_state(), Some(&RecordState::Archived));
}

#[tokio::test]
async fn each_alert_is_put_on_the_custom_bus_and_a_rule_routes_it_to_sqs() {
    let aws = Aws::new("findings-bus", true).await;
    let sdk = support::moto().sdk_config(REGION).await;
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let bus = "security-automation";
    events.create_event_bus().name(bus).send().await.unwrap();
    // A queue for the rule's target (the SNS subscription is the test topic's own).
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let url = sqs
        .create_queue()
        .queue_name("findings-bus-events")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:findings-bus-events");
    events
        .put_rule()
        .name("guard-findings")
        .event_bus_name(bus)
        .event_pattern(
            serde_json::json!({"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE], "detail": {"action": ["alerted"]}})
                .to_string(),
        )
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("guard-findings")
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();

    let config = config(false, Some(bus));
    let ports = AwsPorts::for_config(&sdk, &config, aws.topic_arn.clone())
        .await
        .unwrap();
    let repository = "t-findings/bus";
    aws.create_repository(repository).await;
    let bad = event("set-policy-cross-account-root.json", repository);
    let incident = handle(&bad.to_string(), &config, ports.ports())
        .await
        .unwrap();
    assert_eq!(incident.taken, Taken::Alerted);

    let received = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let messages = received.messages();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    println!("received from the bus: {body}");
    assert_eq!(body["source"], EVENT_SOURCE);
    assert_eq!(body["detail-type"], EVENT_DETAIL_TYPE);
    assert_eq!(body["detail"]["action"], "alerted");
    assert_eq!(body["detail"]["repository"], repository);
    assert_eq!(
        body["resources"][0],
        format!("arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{repository}")
    );
    // The SNS alert went out as well.
    assert_eq!(aws.alerts().await.len(), 1);
}

#[tokio::test]
async fn a_missing_bus_fails_the_invocation_so_that_it_is_retried() {
    let aws = Aws::new("findings-no-bus", true).await;
    let sdk = support::moto().sdk_config(REGION).await;
    let config = config(false, Some("no-such-bus"));
    let ports = AwsPorts::for_config(&sdk, &config, aws.topic_arn.clone())
        .await
        .unwrap();
    let repository = "t-findings/no-bus";
    aws.create_repository(repository).await;
    let bad = event("set-policy-cross-account-root.json", repository);
    let err = handle(&bad.to_string(), &config, ports.ports())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("events:PutEvents"), "{err}");
}
