//! `handle` and `scan`: the Lambda's code on real SDK clients from the standard AWS environment,
//! checked first (a region, credentials, the event's own account unless a spoke role is given)
//! so that a person at a shell gets one line saying what to set rather than an SDK error.

use crate::args::{AwsSettings, Format};
use crate::exit::Exit;
use crate::input::{print, read_input};
use anyhow::{Context, Result, anyhow, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::ProvideCredentials;
use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::{AwsAccounts, AwsPorts, SsmPositions, caller_identity};
use ecr_policy_guard::app::handle::handle_read;
use ecr_policy_guard::app::hub::{Hub, handle_in_account, sweep};
use ecr_policy_guard::app::scan;
use ecr_policy_guard::config::{scan_accounts, scan_regions};
use ecr_policy_guard_core::event::{Change, MAX_EVENT_BYTES};
use ecr_policy_guard_core::render::scan::render_scan;
use ecr_policy_guard_core::render::sweep::render_sweep;
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
/// and only with credentials of the event's own account, or (with a spoke role) through the
/// spoke role in the event's account.
pub fn handle_command(aws: &AwsSettings, event: &str, style: Style) -> Result<Exit> {
    let config = aws.config()?;
    let topic_arn = topic(&config)?;
    let text = read_input(event, MAX_EVENT_BYTES)?;
    let read = read_event(&text).map(Payload::into_policy_event);
    let incident = runtime()?.block_on(async {
        let judged = read.as_ref().ok().filter(|e| !matches!(e.change, Change::Ignored { .. }));
        let sdk = environment(judged.and_then(|e| e.facts.region.as_deref())).await?;
        let ports = AwsPorts::for_config(&sdk, &config, topic_arn).await?;
        if config.spoke_role_name.is_some() {
            let accounts = accounts(&sdk, &config).await?;
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            let hub = Hub {
                accounts: &accounts,
                notifier: &ports.notifier,
                positions: &(),
                region: &region,
            };
            return Ok(handle_in_account(read, &config, hub).await?);
        }
        if let Some(account) = judged.and_then(|e| e.facts.account.as_deref()) {
            let (acting, _) = caller_identity(&sdk).await?;
            if acting != account {
                bail!(
                    "the event is from account {account}, but the AWS credentials act in account {acting}: use credentials for account {account}, or give --spoke-role-name to act through the spoke role there"
                );
            }
        }
        Ok(handle_read(read, &config, ports.ports()).await?)
    })?;
    let out = match aws.settings.format {
        Format::Json => to_json(&incident) + "\n",
        // sarif and junit are refused before (`Format::text_or_json`).
        Format::Text | Format::Sarif | Format::Junit => incident_text(&incident, style),
    };
    print(&out)?;
    Ok(Exit::of_taken(incident.taken))
}

/// `scan`: the reconciliation now, in the environment's region, stopping after `max_seconds`
/// when given; with accounts or regions to scan (flags or config), a sweep over all of them with
/// one summary.
pub fn scan_command(
    aws: &AwsSettings,
    max_seconds: Option<u64>,
    accounts_flag: &[String],
    regions_flag: &[String],
) -> Result<Exit> {
    let mut config = aws.config()?;
    if !accounts_flag.is_empty() {
        config.scan_accounts =
            scan_accounts(accounts_flag.iter().map(String::as_str)).context("--scan-account")?;
    }
    if !regions_flag.is_empty() {
        config.scan_regions =
            scan_regions(regions_flag.iter().map(String::as_str)).context("--scan-region")?;
    }
    config.validate()?;
    let topic_arn = topic(&config)?;
    let deadline = max_seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let should_stop = move || deadline.is_some_and(|d| Instant::now() >= d);
    let runtime = runtime()?;
    let format = aws.settings.format;
    if config.sweeps() {
        let report = runtime.block_on(async {
            let sdk = environment(None).await?;
            let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
            let ports = AwsPorts::for_config(&sdk, &config, topic_arn).await?;
            let accounts = accounts(&sdk, &config).await?;
            let positions = SsmPositions {
                client: ports.state.client.clone(),
                base: config.scan_parameter().to_owned(),
            };
            let hub = Hub {
                accounts: &accounts,
                notifier: &ports.notifier,
                positions: &positions,
                region: &region,
            };
            Ok::<_, anyhow::Error>(sweep(&config, hub, "scan-cli", &should_stop).await?)
        })?;
        print(&match format {
            Format::Json => to_json(&report) + "\n",
            // sarif and junit are refused before (`Format::text_or_json`).
            Format::Text | Format::Sarif | Format::Junit => render_sweep(&report).email,
        })?;
        return Ok(Exit::of_sweep(&report));
    }
    let report = runtime.block_on(async {
        let sdk = environment(None).await?;
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let ports = AwsPorts::for_config(&sdk, &config, topic_arn).await?;
        // The registry-level doors are judged against the caller's own account.
        let (account, _) = caller_identity(&sdk).await?;
        Ok::<_, anyhow::Error>(
            scan(
                &config,
                Some(&account),
                &region,
                ports.ports(),
                &should_stop,
            )
            .await?,
        )
    })?;
    let out = match format {
        Format::Json => to_json(&report) + "\n",
        // sarif and junit are refused before (`Format::text_or_json`).
        Format::Text | Format::Sarif | Format::Junit => render_scan(&report).email,
    };
    print(&out)?;
    Ok(Exit::of_scan(&report))
}

/// Every account as the credentials see it: their own, and others through the spoke role.
async fn accounts(sdk: &SdkConfig, config: &Config) -> Result<AwsAccounts> {
    let (account, partition) = caller_identity(sdk).await?;
    Ok(AwsAccounts::new(
        sdk,
        account,
        partition,
        config.spoke_role_name.clone(),
    ))
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
