//! The Lambda entry point: settings from the environment at cold start, SDK clients built
//! once (in hub mode, per account and region on first use), then the runtime loop handing each
//! event's raw JSON to the shared handler.

use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::{AwsAccounts, AwsPorts, SsmPositions, caller_identity};
use ecr_policy_guard::app::hub::{Hub, invoke_hub};
use ecr_policy_guard::app::invoke;
use ecr_policy_guard::config::env;
use lambda_runtime::{Diagnostic, Error, LambdaEvent, service_fn};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Invalid settings fail the cold start with the variable's name; nothing falls back.
    let config = Config::from_env(|var| std::env::var(var).ok()).inspect_err(|e| {
        tracing::error!(error = %e, "invalid configuration");
    })?;
    let Some(topic_arn) = config.alert_topic_arn.clone() else {
        let message = format!(
            "environment variable `{}` is required",
            env::ALERT_TOPIC_ARN
        );
        tracing::error!(error = %message, "invalid configuration");
        return Err(message.into());
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // The findings sinks the settings ask for (Security Hub needs the function's own account).
    let aws = AwsPorts::for_config(&sdk, &config, topic_arn)
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot set up the findings sinks"))?;
    let config = &config;
    if !config.sweeps() {
        // Single-account mode: every call with the function's own clients, as always.
        let ports = aws.ports();
        // The payload stays raw so that the strict reader sees duplicate keys a `Value` would hide.
        return lambda_runtime::run(service_fn(
            move |event: LambdaEvent<Box<RawValue>>| async move {
                let should_stop = stop_before(event.context.deadline);
                invoke(event.payload.get(), config, ports, &should_stop)
                    .await
                    .map_err(Diagnostic::from)
            },
        ))
        .await;
    }
    // Hub mode (or a scan over several regions): each event in its own account and region.
    let (account, partition) = caller_identity(&sdk).await.inspect_err(|e| {
        tracing::error!(error = %e, "cannot tell the function's own account");
    })?;
    let accounts = AwsAccounts::new(&sdk, account, partition, config.spoke_role_name.clone());
    let positions = SsmPositions {
        client: aws.state.client.clone(),
        base: config.scan_parameter().to_owned(),
    };
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let hub = Hub {
        accounts: &accounts,
        notifier: &aws.notifier,
        positions: &positions,
        region: &region,
    };
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            let should_stop = stop_before(event.context.deadline);
            invoke_hub(event.payload.get(), config, hub, &should_stop)
                .await
                .map_err(Diagnostic::from)
        },
    ))
    .await
}

/// A scan stops this long before the deadline, saving its position for the next run.
fn stop_before(deadline_ms: u64) -> impl Fn() -> bool + Sync {
    move || now_ms() + SCAN_STOP_MARGIN_MS >= deadline_ms
}

/// Time a scan keeps in hand before the Lambda timeout: one chunk of repositories, the
/// position write and the summary alert.
const SCAN_STOP_MARGIN_MS: u64 = 15_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
