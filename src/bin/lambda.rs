//! The Lambda entry point: settings from the environment at cold start, SDK clients built
//! once, then the runtime loop handing each event's raw JSON to the shared handler.

use ecr_policy_guard::Config;
use ecr_policy_guard::adapters::aws::AwsPorts;
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
    let aws = AwsPorts::new(&sdk, topic_arn, config.scan_parameter().to_owned());
    let (config, ports) = (&config, aws.ports());
    // The payload stays raw so that the strict reader sees duplicate keys a `Value` would hide.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            // A scan stops this long before the deadline, saving its position for the next run.
            let deadline_ms = event.context.deadline;
            let should_stop = move || now_ms() + SCAN_STOP_MARGIN_MS >= deadline_ms;
            invoke(event.payload.get(), config, ports, &should_stop)
                .await
                .map_err(Diagnostic::from)
        },
    ))
    .await
}

/// Time a scan keeps in hand before the Lambda timeout: one chunk of repositories, the
/// position write and the summary alert.
const SCAN_STOP_MARGIN_MS: u64 = 15_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
