//! The ports implemented with the AWS SDK (ECR, CloudTrail, SNS, SSM). The only adapters that
//! know SDK types (the moto launcher only builds clients); errors are classified here into
//! transient, denied and failed.

use crate::ports::{
    History, HistoryPage, Notifier, PortError, Ports, Registry, RepositoryPage, RepositoryRef,
    ScanState,
};
use aws_config::SdkConfig;
use aws_sdk_cloudtrail::primitives::{DateTime, DateTimeFormat};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use ecr_policy_guard_core::render::Alert;

/// Error codes AWS services use for throttling and temporary unavailability.
const TRANSIENT_CODES: [&str; 8] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServiceUnavailable",
    "InternalFailure",
    "ServerException",
];

/// Classifies an SDK error. The SDK has already retried transient errors with backoff; what
/// reaches here is returned to Lambda, which retries the whole invocation.
pub fn classify<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().unwrap_or("unknown");
            let message = format!(
                "{code} (HTTP {status}): {}",
                service.err().message().unwrap_or("no message")
            );
            if status >= 500 || status == 429 || TRANSIENT_CODES.contains(&code) {
                PortError::Transient { operation, message }
            } else if status == 403 || code.contains("AccessDenied") || code == "AuthorizationError"
            {
                PortError::Denied { operation, message }
            } else {
                PortError::Failed { operation, message }
            }
        }
        SdkError::DispatchFailure(failure) if failure.is_io() => PortError::Transient {
            operation,
            message: format!("cannot connect: {}", root_cause(err)),
        },
        SdkError::TimeoutError(_) => PortError::Transient {
            operation,
            message: "timed out".into(),
        },
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => PortError::Transient {
            operation,
            message: causes(err),
        },
        _ => PortError::Failed {
            operation,
            message: causes(err),
        },
    }
}

/// The error and its sources on one line, without the SDK's debug dump (which
/// `DisplayErrorContext` appends): what a person reads in an alert or at a shell.
fn causes(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        // Some errors repeat their source in their own text.
        if !parts.last().is_some_and(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let line = parts.join(": ");
    match line.char_indices().nth(MAX_CAUSE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

/// Longest error chain kept in a message.
const MAX_CAUSE_CHARS: usize = 300;

/// The innermost source: for a connection, the operating system's reason.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut e = err;
    while let Some(source) = e.source() {
        e = source;
    }
    e.to_string()
}

/// Repository policies through ECR.
pub struct EcrRegistry {
    pub client: aws_sdk_ecr::Client,
}

impl Registry for EcrRegistry {
    async fn get_policy(
        &self,
        registry_id: &str,
        repository: &str,
    ) -> Result<Option<String>, PortError> {
        let result = self
            .client
            .get_repository_policy()
            .registry_id(registry_id)
            .repository_name(repository)
            .send()
            .await;
        match result {
            Ok(output) => Ok(output.policy_text),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_repository_policy_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("ecr:GetRepositoryPolicy", &e)),
        }
    }

    async fn set_policy(
        &self,
        registry_id: &str,
        repository: &str,
        policy_text: &str,
    ) -> Result<(), PortError> {
        self.client
            .set_repository_policy()
            .registry_id(registry_id)
            .repository_name(repository)
            .policy_text(policy_text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ecr:SetRepositoryPolicy", &e))
    }

    async fn list_repositories(
        &self,
        next_token: Option<String>,
    ) -> Result<RepositoryPage, PortError> {
        let out = self
            .client
            .describe_repositories()
            .max_results(1000)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| classify("ecr:DescribeRepositories", &e))?;
        Ok(RepositoryPage {
            repositories: out
                .repositories
                .unwrap_or_default()
                .into_iter()
                .filter_map(|r| {
                    Some(RepositoryRef {
                        name: r.repository_name?,
                        registry_id: r.registry_id?,
                    })
                })
                .collect(),
            next_token: out.next_token,
        })
    }
}

/// The scan's position, in one SSM parameter (a String; `-` means "start from the top").
pub struct SsmScanState {
    pub client: aws_sdk_ssm::Client,
    pub parameter: String,
}

/// What the parameter holds when no scan is unfinished.
const NO_POSITION: &str = "-";

impl ScanState for SsmScanState {
    async fn load(&self) -> Result<Option<String>, PortError> {
        match self
            .client
            .get_parameter()
            .name(&self.parameter)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .parameter
                .and_then(|p| p.value)
                .filter(|v| v != NO_POSITION)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("ssm:GetParameter", &e)),
        }
    }

    async fn save(&self, after: Option<&str>) -> Result<(), PortError> {
        self.client
            .put_parameter()
            .name(&self.parameter)
            .value(after.unwrap_or(NO_POSITION))
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ssm:PutParameter", &e))
    }
}

/// `SetRepositoryPolicy` records from CloudTrail event history (90 days, this region).
pub struct CloudTrailHistory {
    pub client: aws_sdk_cloudtrail::Client,
}

/// Records per `LookupEvents` page (the API's maximum).
const LOOKUP_PAGE_SIZE: i32 = 50;

impl History for CloudTrailHistory {
    async fn policy_changes(
        &self,
        before: Option<&str>,
        next_token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        let operation = "cloudtrail:LookupEvents";
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value("SetRepositoryPolicy")
            .build()
            .map_err(|e| PortError::Failed {
                operation,
                message: e.to_string(),
            })?;
        let end_time = before.and_then(|t| DateTime::from_str(t, DateTimeFormat::DateTime).ok());
        let output = self
            .client
            .lookup_events()
            .lookup_attributes(attribute)
            .set_end_time(end_time)
            .max_results(LOOKUP_PAGE_SIZE)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| classify(operation, &e))?;
        Ok(HistoryPage {
            records: output
                .events
                .unwrap_or_default()
                .into_iter()
                .filter_map(|e| e.cloud_trail_event)
                .collect(),
            next_token: output.next_token,
        })
    }
}

/// Alerts through one SNS topic.
pub struct SnsNotifier {
    pub client: aws_sdk_sns::Client,
    pub topic_arn: String,
}

impl SnsNotifier {
    /// A notifier for `topic_arn`, with a client in the topic's own region: SNS only accepts a
    /// publish in the topic's region, and a central topic may live in another one.
    pub fn new(sdk: &SdkConfig, topic_arn: String) -> SnsNotifier {
        let topic_region = topic_arn.split(':').nth(3).filter(|r| !r.is_empty());
        let client = match topic_region {
            Some(region) if sdk.region().is_none_or(|r| r.as_ref() != region) => {
                let config = aws_sdk_sns::config::Builder::from(sdk)
                    .region(aws_config::Region::new(region.to_owned()))
                    .build();
                aws_sdk_sns::Client::from_conf(config)
            }
            _ => aws_sdk_sns::Client::new(sdk),
        };
        SnsNotifier { client, topic_arn }
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, alert: &Alert) -> Result<(), PortError> {
        let operation = "sns:Publish";
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.topic_arn)
            .subject(&alert.subject)
            .message_structure("json")
            .message(alert.message());
        for (name, data_type, value) in &alert.attributes {
            let value = MessageAttributeValue::builder()
                .data_type(*data_type)
                .string_value(value)
                .build()
                .map_err(|e| PortError::Failed {
                    operation,
                    message: e.to_string(),
                })?;
            request = request.message_attributes(*name, value);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(operation, &e))
    }
}

/// The four SDK-backed ports, built once from one SDK configuration.
pub struct AwsPorts {
    pub registry: EcrRegistry,
    pub history: CloudTrailHistory,
    pub notifier: SnsNotifier,
    pub state: SsmScanState,
}

impl AwsPorts {
    pub fn new(sdk: &SdkConfig, topic_arn: String, scan_state_parameter: String) -> AwsPorts {
        AwsPorts {
            state: SsmScanState {
                client: aws_sdk_ssm::Client::new(sdk),
                parameter: scan_state_parameter,
            },
            registry: EcrRegistry {
                client: aws_sdk_ecr::Client::new(sdk),
            },
            history: CloudTrailHistory {
                client: aws_sdk_cloudtrail::Client::new(sdk),
            },
            notifier: SnsNotifier::new(sdk, topic_arn),
        }
    }

    pub fn ports(&self) -> Ports<'_, EcrRegistry, CloudTrailHistory, SnsNotifier, SsmScanState> {
        Ports {
            registry: &self.registry,
            history: &self.history,
            notifier: &self.notifier,
            state: &self.state,
        }
    }
}
