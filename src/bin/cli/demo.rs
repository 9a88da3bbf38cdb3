//! `ecr-policy-guard demo`: the guard end to end on a local moto server, no AWS account.
//!
//! For each scenario it applies a sample event's policy change to a real (emulated) repository,
//! replays the event through the Lambda's handler in alert mode and then in revert mode, and
//! prints the verdict, the live policy before and after, and the alert as the SQS subscriber of
//! the alert topic receives it.

use anyhow::{Context, Result, bail};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::AwsPorts;
use ecr_policy_guard::adapters::moto::{AlertQueue, MOTO_ACCOUNT, Moto, sdk_error};
use ecr_policy_guard::app::handle;
use ecr_policy_guard::ports::Registry;
use ecr_policy_guard_core::event::Change;
use ecr_policy_guard_core::render::alert::render;
use ecr_policy_guard_core::render::text::{Style, incident_text};
use ecr_policy_guard_core::{Incident, Mode, Payload, PolicyEvent, read_event};

/// The region the sample events were recorded in.
const REGION: &str = "eu-west-1";

struct Scenario {
    title: &'static str,
    file: &'static str,
    event: &'static str,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        title: "a compliant push/pull split",
        file: "events/set-policy-compliant-push-pull.json",
        event: include_str!("../../../events/set-policy-compliant-push-pull.json"),
    },
    Scenario {
        title: "a cross-account grant to an account root",
        file: "events/set-policy-cross-account-root.json",
        event: include_str!("../../../events/set-policy-cross-account-root.json"),
    },
    Scenario {
        title: "a public pull grant",
        file: "events/set-policy-public-pull.json",
        event: include_str!("../../../events/set-policy-public-pull.json"),
    },
    Scenario {
        title: "a deleted repository policy",
        file: "events/delete-repository-policy.json",
        event: include_str!("../../../events/delete-repository-policy.json"),
    },
];

struct Demo {
    ecr: aws_sdk_ecr::Client,
    queue: AlertQueue,
    aws: AwsPorts,
    base: Config,
    style: Style,
}

/// The policy event of a sample (the demo's samples are all policy changes).
fn sample_event(scenario: &Scenario) -> Result<PolicyEvent> {
    match read_event(scenario.event)? {
        Payload::Change(event) => Ok(event),
        Payload::Scheduled(_) => bail!("scenario `{}` is not a policy change", scenario.file),
    }
}

pub async fn run(style: Style) -> Result<()> {
    println!("Starting moto server (a local AWS emulator) ...");
    let moto = Moto::start()?;
    let sdk = moto.sdk_config(REGION).await;
    let topic_arn = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name("ecr-policy-guard-alerts")
        .send()
        .await
        .map_err(sdk_error("sns:CreateTopic"))?
        .topic_arn
        .context("sns:CreateTopic returned no ARN")?;
    let queue = AlertQueue::subscribe(&sdk, &topic_arn, "security-team").await?;
    println!(
        "moto server at {}; alert topic {topic_arn} -> SQS queue `security-team`\n",
        moto.endpoint
    );

    let base = Config::from_toml(include_str!("../../../events/guard.toml"))?;
    let demo = Demo {
        ecr: aws_sdk_ecr::Client::new(&sdk),
        queue,
        aws: AwsPorts::new(
            &sdk,
            topic_arn,
            "/ecr-policy-guard/demo-scan-position".into(),
        ),
        base,
        style,
    };
    let mut last_alert = None;
    for scenario in &SCENARIOS {
        println!("==================================================================");
        println!("Scenario: {} ({})", scenario.title, scenario.file);
        println!("==================================================================");
        demo.apply(scenario).await?;
        for mode in [Mode::Alert, Mode::Revert] {
            if let Some(incident) = demo.replay(scenario, mode).await? {
                last_alert = Some(incident);
            }
        }
    }
    if let Some(incident) = last_alert {
        println!("==================================================================");
        println!("The last alert as an e-mail subscriber reads it:");
        println!("==================================================================");
        let alert = render(&incident);
        println!("Subject: {}\n\n{}", alert.subject, alert.email);
    }
    Ok(())
}

impl Demo {
    /// Puts the repository in the state the event left it in, through the ECR API.
    async fn apply(&self, scenario: &Scenario) -> Result<()> {
        let event = sample_event(scenario)?;
        let repository = event
            .facts
            .repository
            .clone()
            .context("event names no repository")?;
        self.ecr
            .create_repository()
            .repository_name(&repository)
            .send()
            .await
            .map_err(sdk_error("ecr:CreateRepository"))?;
        let (text, delete) = match &event.change {
            Change::PolicySet { policy_text } => (policy_text.clone(), false),
            Change::NoPolicy {
                deleted_policy: Some(text),
                ..
            } => (text.clone(), true),
            _ => bail!("scenario `{}` is not a policy change", scenario.file),
        };
        self.ecr
            .set_repository_policy()
            .repository_name(&repository)
            .policy_text(text)
            .send()
            .await
            .map_err(sdk_error("ecr:SetRepositoryPolicy"))?;
        if delete {
            self.ecr
                .delete_repository_policy()
                .repository_name(&repository)
                .send()
                .await
                .map_err(sdk_error("ecr:DeleteRepositoryPolicy"))?;
        }
        println!(
            "Applied {} to `{repository}` through the ECR API.\n",
            event.facts.event_name.unwrap_or_default()
        );
        Ok(())
    }

    /// Replays the event in one mode; returns the incident when an alert was published.
    async fn replay(&self, scenario: &Scenario, mode: Mode) -> Result<Option<Incident>> {
        let config = Config {
            mode,
            ..self.base.clone()
        };
        let repository = sample_event(scenario)?.facts.repository.unwrap_or_default();
        let before = self.live_policy(&repository).await?;
        println!("--- {mode} mode ---");
        if mode == Mode::Alert {
            println!("Live policy: {}\n", show(&before));
        }
        let incident = handle(scenario.event, &config, self.aws.ports()).await?;
        print!("{}", incident_text(&incident, self.style));
        let after = self.live_policy(&repository).await?;
        if before != after {
            println!("\nLive policy before: {}", show(&before));
            println!("Live policy after:  {}", show(&after));
        } else {
            println!("\nLive policy unchanged.");
        }
        let delivered = self.queue.drain(1).await?;
        if delivered.is_empty() {
            println!("\nNo alert was published.\n");
            return Ok(None);
        }
        for body in &delivered {
            println!(
                "\nAlert delivered to the SQS subscriber:\n{}\n",
                show_notification(body)
            );
        }
        Ok(Some(incident))
    }

    async fn live_policy(&self, repository: &str) -> Result<Option<String>> {
        Ok(self
            .aws
            .registry
            .get_policy(MOTO_ACCOUNT, repository)
            .await?)
    }
}

/// A policy as ECR stores it (the guard writes pretty JSON; callers often send one line).
fn show(policy: &Option<String>) -> String {
    match policy {
        None => "(no policy)".into(),
        Some(text) if text.contains('\n') => format!("\n{text}"),
        Some(text) => text.clone(),
    }
}

/// The SNS notification as SQS delivers it, with its `Message` (the alert document) unfolded
/// and the signature fields left out.
fn show_notification(body: &str) -> String {
    let Ok(mut notification) = serde_json::from_str::<serde_json::Value>(body) else {
        return body.to_owned();
    };
    if let Some(map) = notification.as_object_mut() {
        for noise in [
            "Signature",
            "SignatureVersion",
            "SigningCertURL",
            "UnsubscribeURL",
        ] {
            map.remove(noise);
        }
        if let Some(message) = map.get("Message").and_then(|m| m.as_str())
            && let Ok(document) = serde_json::from_str::<serde_json::Value>(message)
        {
            map.insert("Message".into(), document);
        }
    }
    serde_json::to_string_pretty(&notification).unwrap_or_else(|_| body.to_owned())
}
