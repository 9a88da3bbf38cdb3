//! `ecr-policy-guard demo`: the guard end to end on a local moto server, no AWS account.
//!
//! For each scenario it applies a sample event's policy change to a real (emulated) repository,
//! replays the event through the Lambda's handler in alert mode and then in revert mode, and
//! prints what the guard did, the live policy before and after, and the alert as the SQS
//! subscriber of the alert topic receives it (in full with `--verbose`). moto has no CloudTrail
//! event history, so the demo records the policy changes it makes and serves them to the guard
//! from memory, as `LookupEvents` would.

use anyhow::{Context, Result, bail};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::{EcrRegistry, SnsNotifier, SsmScanState};
use ecr_policy_guard::adapters::memory::Memory;
use ecr_policy_guard::adapters::moto::{AlertQueue, MOTO_ACCOUNT, Moto, sdk_error};
use ecr_policy_guard::app::handle;
use ecr_policy_guard::ports::{Ports, Registry};
use ecr_policy_guard_core::event::Change;
use ecr_policy_guard_core::render::alert::render;
use ecr_policy_guard_core::render::text::{Style, incident_text};
use ecr_policy_guard_core::{Incident, Mode, Payload, PolicyEvent, read_event};
use serde_json::{Value, json};

/// The region the sample events were recorded in.
const REGION: &str = "eu-west-1";
/// The alert topic, as `events/guard.toml` names it for trying `handle` and `scan` by hand.
const TOPIC: &str = "ecr-policy-guard-alerts";

struct Scenario {
    title: &'static str,
    file: &'static str,
    event: &'static str,
    /// A compliant policy the repository had before the change (in the demo's history).
    earlier: Option<&'static str>,
}

/// What `platform/base-images` allowed before the cross-account grant: push from CI only.
const EARLIER_BASE_IMAGES: &str = r#"{"Version":"2012-10-17","Statement":[{"Sid":"AllowPushFromCi","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/ci-push"},"Action":["ecr:BatchCheckLayerAvailability","ecr:CompleteLayerUpload","ecr:InitiateLayerUpload","ecr:PutImage","ecr:UploadLayerPart"]},{"Sid":"DenyEveryoneElse","Effect":"Deny","Principal":"*","Action":"ecr:*","Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::123456789012:role/ci-push"}}}]}"#;

const SCENARIOS: [Scenario; 4] = [
    Scenario {
        title: "a compliant push/pull split",
        file: "events/set-policy-compliant-push-pull.json",
        event: include_str!("../../../events/set-policy-compliant-push-pull.json"),
        earlier: None,
    },
    Scenario {
        title: "a cross-account grant to an account root",
        file: "events/set-policy-cross-account-root.json",
        event: include_str!("../../../events/set-policy-cross-account-root.json"),
        earlier: Some(EARLIER_BASE_IMAGES),
    },
    Scenario {
        title: "a public pull grant",
        file: "events/set-policy-public-pull.json",
        event: include_str!("../../../events/set-policy-public-pull.json"),
        earlier: None,
    },
    Scenario {
        title: "a deleted repository policy",
        file: "events/delete-repository-policy.json",
        event: include_str!("../../../events/delete-repository-policy.json"),
        earlier: None,
    },
];

/// What the demo shows and does besides the scenarios.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The full alert documents, the policies pretty-printed, and the e-mail text.
    pub verbose: bool,
    /// Leave the emulator running with each repository as its sample event left it.
    pub keep_running: bool,
}

struct Demo {
    ecr: aws_sdk_ecr::Client,
    queue: AlertQueue,
    registry: EcrRegistry,
    /// CloudTrail event history of the demo's own changes (moto has none).
    history: Memory,
    notifier: SnsNotifier,
    state: SsmScanState,
    base: Config,
    style: Style,
    options: Options,
}

/// The policy event of a sample (the demo's samples are all policy changes).
fn sample_event(scenario: &Scenario) -> Result<PolicyEvent> {
    match read_event(scenario.event)? {
        Payload::Change(event) => Ok(event),
        Payload::Scheduled(_) => bail!("scenario `{}` is not a policy change", scenario.file),
    }
}

pub async fn run(style: Style, options: Options) -> Result<()> {
    println!("Starting moto server (a local AWS emulator) ...");
    let moto = Moto::start()?;
    let sdk = moto.sdk_config(REGION).await;
    let topic_arn = aws_sdk_sns::Client::new(&sdk)
        .create_topic()
        .name(TOPIC)
        .send()
        .await
        .map_err(sdk_error("sns:CreateTopic"))?
        .topic_arn
        .context("sns:CreateTopic returned no ARN")?;
    let queue = AlertQueue::subscribe(&sdk, &topic_arn, "security-team").await?;
    println!(
        "moto server at {}; alert topic {topic_arn} -> SQS queue `security-team`",
        moto.endpoint
    );
    println!(
        "moto has no CloudTrail event history: the demo records the policy changes it makes and serves them to the guard as `LookupEvents` would.\n"
    );

    let base = Config::from_toml(include_str!("../../../events/guard.toml"))?;
    let demo = Demo {
        ecr: aws_sdk_ecr::Client::new(&sdk),
        queue,
        registry: EcrRegistry {
            client: aws_sdk_ecr::Client::new(&sdk),
        },
        history: Memory::new(MOTO_ACCOUNT),
        notifier: SnsNotifier::new(&sdk, topic_arn),
        state: SsmScanState {
            client: aws_sdk_ssm::Client::new(&sdk),
            parameter: "/ecr-policy-guard/demo-scan-position".into(),
        },
        base,
        style,
        options,
    };
    let mut last_alert = None;
    for (n, scenario) in SCENARIOS.iter().enumerate() {
        println!(
            "== {}/{}: {} ({})",
            n + 1,
            SCENARIOS.len(),
            scenario.title,
            scenario.file
        );
        demo.apply(scenario, true).await?;
        for mode in [Mode::Alert, Mode::Revert] {
            if let Some(incident) = demo.replay(scenario, mode).await? {
                last_alert = Some(incident);
            }
        }
    }
    if let (Some(incident), true) = (last_alert, options.verbose) {
        let alert = render(&incident);
        println!("== The last alert as an e-mail subscriber reads it");
        println!("Subject: {}\n\n{}", alert.subject, alert.email);
    }
    if !options.verbose {
        println!("Run `ecr-policy-guard demo --verbose` for the full alerts and policies.");
    }
    if options.keep_running {
        for scenario in &SCENARIOS {
            demo.apply(scenario, false).await?;
        }
        println!(
            "\nThe emulator keeps running, each repository as its sample event left it (Ctrl-C stops it). In another shell:\n  export AWS_ENDPOINT_URL={} AWS_REGION={REGION} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test\n  cargo run -- handle --config events/guard.toml --mode revert events/set-policy-public-pull.json\n  cargo run -- scan --config events/guard.toml",
            moto.endpoint
        );
        loop {
            std::thread::park();
        }
    }
    Ok(())
}

impl Demo {
    /// Puts the repository in the state the event left it in, through the ECR API, and records
    /// the policies set in the demo's CloudTrail history.
    async fn apply(&self, scenario: &Scenario, create: bool) -> Result<()> {
        let event = sample_event(scenario)?;
        let repository = event
            .facts
            .repository
            .clone()
            .context("event names no repository")?;
        if create {
            self.ecr
                .create_repository()
                .repository_name(&repository)
                .send()
                .await
                .map_err(sdk_error("ecr:CreateRepository"))?;
        }
        let (text, delete) = match &event.change {
            // What the caller sent, as the scenario's caller would send it again.
            Change::PolicySet {
                caller_text: Some(text),
                ..
            } => (text.clone(), false),
            Change::NoPolicy {
                deleted_policy: Some(text),
                ..
            } => (text.clone(), true),
            _ => bail!("scenario `{}` is not a policy change", scenario.file),
        };
        self.ecr
            .set_repository_policy()
            .repository_name(&repository)
            .policy_text(&text)
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
        if create {
            self.record(&event, scenario.earlier, &text);
            let name = event.facts.event_name.unwrap_or_default();
            println!("Applied {name} to `{repository}` through the ECR API.\n");
        }
        Ok(())
    }

    /// CloudTrail records of the changes, newest first: the event itself, and the compliant
    /// policy the repository had before it, a day earlier.
    fn record(&self, event: &PolicyEvent, earlier: Option<&str>, text: &str) {
        let f = &event.facts;
        let record = |id: &str, time: &str, policy: &str| {
            json!({"eventVersion": "1.08", "eventSource": "ecr.amazonaws.com",
                "eventName": "SetRepositoryPolicy", "eventID": id, "eventTime": time,
                "awsRegion": f.region, "recipientAccountId": f.account,
                "userIdentity": {"arn": f.actor},
                "requestParameters": {"repositoryName": f.repository, "policyText": policy}})
            .to_string()
        };
        let mut records = vec![record(
            f.event_id.as_deref().unwrap_or_default(),
            f.event_time.as_deref().unwrap_or_default(),
            text,
        )];
        if let Some(earlier) = earlier {
            // The day before the event (sample times are ISO-8601 UTC).
            let time = f
                .event_time
                .as_deref()
                .unwrap_or_default()
                .replacen("-20T", "-19T", 1);
            records.push(record("demo-earlier-compliant-policy", &time, earlier));
        }
        self.history.record_history(records);
    }

    /// Replays the event in one mode; returns the incident when an alert was published.
    async fn replay(&self, scenario: &Scenario, mode: Mode) -> Result<Option<Incident>> {
        let config = Config {
            mode,
            ..self.base.clone()
        };
        let repository = sample_event(scenario)?.facts.repository.unwrap_or_default();
        let before = self.live_policy(&repository).await?;
        println!("-- {mode} mode");
        let ports = Ports {
            registry: &self.registry,
            history: &self.history,
            notifier: &self.notifier,
            state: &self.state,
        };
        let incident = handle(scenario.event, &config, ports).await?;
        print!("{}", incident_text(&incident, self.style));
        let after = self.live_policy(&repository).await?;
        if before != after {
            println!("Policy before: {}", self.show(&before));
            println!("Policy after:  {}", self.show(&after));
        } else {
            println!("Policy unchanged: {}", self.show(&before));
        }
        let delivered = self.queue.drain(1).await?;
        if delivered.is_empty() {
            println!("No alert was published.\n");
            return Ok(None);
        }
        for body in &delivered {
            println!(
                "Alert received by the SQS subscriber: {}\n",
                self.summary(body)
            );
        }
        Ok(Some(incident))
    }

    async fn live_policy(&self, repository: &str) -> Result<Option<String>> {
        Ok(self.registry.get_policy(MOTO_ACCOUNT, repository).await?)
    }

    /// A policy in one formatting whoever wrote it (ECR keeps the caller's text, the guard
    /// writes pretty JSON): compact, or pretty with `--verbose`.
    fn show(&self, policy: &Option<String>) -> String {
        let Some(text) = policy else {
            return "(no policy)".into();
        };
        match serde_json::from_str::<Value>(text) {
            Ok(value) if self.options.verbose => {
                format!(
                    "\n{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                )
            }
            Ok(value) => value.to_string(),
            Err(_) => text.clone(),
        }
    }

    /// The SNS notification as SQS delivers it: its subject and a few fields, or (verbose) the
    /// whole notification with the alert document unfolded and the signature fields left out.
    fn summary(&self, body: &str) -> String {
        let Ok(mut notification) = serde_json::from_str::<Value>(body) else {
            return body.to_owned();
        };
        let document = notification["Message"]
            .as_str()
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .unwrap_or_default();
        if self.options.verbose {
            if let Some(map) = notification.as_object_mut() {
                for noise in [
                    "Signature",
                    "SignatureVersion",
                    "SigningCertURL",
                    "UnsubscribeURL",
                ] {
                    map.remove(noise);
                }
                map.insert("Message".into(), document);
            }
            return format!(
                "\n{}",
                serde_json::to_string_pretty(&notification).unwrap_or_else(|_| body.to_owned())
            );
        }
        let attribute = |name: &str| notification["MessageAttributes"][name]["Value"].clone();
        let mut fields = format!(
            "{} (action {}, severity {}, rules {}",
            notification["Subject"],
            attribute("action").as_str().unwrap_or("?"),
            attribute("severity").as_str().unwrap_or("?"),
            attribute("rules").as_str().unwrap_or("?"),
        );
        if let Some(kind) = document["restored_from"]["kind"].as_str() {
            fields.push_str(&format!(", restored from {kind}"));
        }
        fields.push(')');
        fields
    }
}
