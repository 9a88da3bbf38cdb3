//! `handle` and `scan`: the Lambda's code on real SDK clients from the standard AWS environment.

use crate::args::{AwsSettings, Format};
use crate::exit::Exit;
use crate::input::{print, read_input};
use anyhow::{Context, Result, bail};
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::AwsPorts;
use ecr_policy_guard::app::{handle, scan};
use ecr_policy_guard_core::event::MAX_EVENT_BYTES;
use ecr_policy_guard_core::render::scan::render_scan;
use ecr_policy_guard_core::render::text::{Style, incident_text, to_json};
use std::time::{Duration, Instant};

/// A single-threaded runtime: the CLI handles one event or one scan at a time.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// `handle`: one event through the Lambda's handler, acting on AWS.
pub fn handle_command(aws: &AwsSettings, event: &str, style: Style) -> Result<Exit> {
    let config = aws.config()?;
    let text = read_input(event, MAX_EVENT_BYTES)?;
    let incident = runtime()?.block_on(async {
        let (ports, _) = connect(&config).await?;
        Ok::<_, anyhow::Error>(handle(&text, &config, ports.ports()).await?)
    })?;
    let out = match aws.settings.format {
        Format::Json => to_json(&incident) + "\n",
        Format::Text => incident_text(&incident, style),
    };
    print(&out)?;
    Ok(Exit::of_taken(incident.taken))
}

/// `scan`: the reconciliation now, stopping after `max_seconds` when given.
pub fn scan_command(aws: &AwsSettings, max_seconds: Option<u64>) -> Result<Exit> {
    let config = aws.config()?;
    let report = runtime()?.block_on(async {
        let (ports, region) = connect(&config).await?;
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

/// The SDK-backed ports from the standard AWS environment, and the region they act in.
async fn connect(config: &Config) -> Result<(AwsPorts, String)> {
    let Some(topic_arn) = config.alert_topic_arn.clone() else {
        bail!("no alert topic: pass --topic-arn or set `alert_topic_arn` in the config");
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let aws = AwsPorts::new(&sdk, topic_arn, config.scan_parameter().to_owned());
    Ok((aws, region))
}
