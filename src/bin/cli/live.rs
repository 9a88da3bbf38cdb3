//! `handle` and `scan`: the Lambda's code on real SDK clients from the standard AWS environment,
//! checked first (a region, credentials, the event's own account) so that a person at a shell
//! gets one line saying what to set rather than an SDK error.

use crate::args::{AwsSettings, Format};
use crate::exit::Exit;
use crate::input::{print, read_input};
use anyhow::{Context, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::ProvideCredentials;
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::AwsPorts;
use ecr_policy_guard::app::handle::handle_read;
use ecr_policy_guard::app::scan;
use ecr_policy_guard_core::event::{Change, MAX_EVENT_BYTES};
use ecr_policy_guard_core::render::scan::render_scan;
use ecr_policy_guard_core::render::text::{Style, incident_text, to_json};
use ecr_policy_guard_core::{Payload, read_event};
use std::time::{Duration, Instant};

/// A single-threaded runtime: the CLI handles one event or one scan at a time.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

const NO_CREDENTIALS: &str =
    "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";

/// `handle`: one event through the Lambda's handler, acting on AWS in the event's own region,
/// and only with credentials of the event's own account.
pub fn handle_command(aws: &AwsSettings, event: &str, style: Style) -> Result<Exit> {
    let config = aws.config()?;
    let topic_arn = topic(&config)?;
    let text = read_input(event, MAX_EVENT_BYTES)?;
    let read = read_event(&text).map(Payload::into_policy_event);
    let incident = runtime()?.block_on(async {
        let judged = read.as_ref().ok().filter(|e| !matches!(e.change, Change::Ignored { .. }));
        let sdk = environment(judged.and_then(|e| e.facts.region.as_deref())).await?;
        if let Some(account) = judged.and_then(|e| e.facts.account.as_deref()) {
            let acting = caller_account(&sdk).await?;
            if acting != account {
                bail!(
                    "the event is from account {account}, but the AWS credentials act in account {acting}: use credentials for account {account}"
                );
            }
        }
        let ports = AwsPorts::new(&sdk, topic_arn, config.scan_parameter().to_owned());
        Ok(handle_read(read, &config, ports.ports()).await?)
    })?;
    let out = match aws.settings.format {
        Format::Json => to_json(&incident) + "\n",
        Format::Text => incident_text(&incident, style),
    };
    print(&out)?;
    Ok(Exit::of_taken(incident.taken))
}

/// `scan`: the reconciliation now, in the environment's region, stopping after `max_seconds`
/// when given.
pub fn scan_command(aws: &AwsSettings, max_seconds: Option<u64>) -> Result<Exit> {
    let config = aws.config()?;
    let topic_arn = topic(&config)?;
    let report = runtime()?.block_on(async {
        let sdk = environment(None).await?;
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let ports = AwsPorts::new(&sdk, topic_arn, config.scan_parameter().to_owned());
        let deadline = max_seconds.map(|s| Instant::now() + Duration::from_secs(s));
        let should_stop = move || deadline.is_some_and(|d| Instant::now() >= d);
        Ok::<_, anyhow::Error>(scan(&config, &region, ports.ports(), &should_stop).await?)
    })?;
    let out = match aws.settings.format {
        Format::Json => to_json(&report) + "\n",
        Format::Text => render_scan(&report).email,
    };
    print(&out)?;
    Ok(Exit::of_scan(&report))
}

fn topic(config: &Config) -> Result<String> {
    config
        .alert_topic_arn
        .clone()
        .context("no alert topic: pass --topic-arn or set `alert_topic_arn` in the config")
}

/// The standard AWS environment (in `region` when given), with a region and credentials.
async fn environment(region: Option<&str>) -> Result<SdkConfig> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        bail!("no AWS region: set AWS_REGION (or a region in your AWS profile)");
    }
    let provider = sdk
        .credentials_provider()
        .ok_or_else(|| anyhow!(NO_CREDENTIALS))?;
    provider
        .provide_credentials()
        .await
        .map_err(|_| anyhow!(NO_CREDENTIALS))?;
    Ok(sdk)
}

/// The account the credentials act in.
async fn caller_account(sdk: &SdkConfig) -> Result<String> {
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "{}",
                ecr_policy_guard::adapters::aws::classify("sts:GetCallerIdentity", &e)
            )
        })?;
    identity
        .account
        .context("sts:GetCallerIdentity returned no account")
}
