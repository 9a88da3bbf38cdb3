//! The ports implemented with the AWS SDK (ECR, CloudTrail, SNS, SSM; for hub mode STS and
//! Organizations). The only adapters that know SDK types (the moto launcher only builds
//! clients); errors are classified here into transient, denied and failed.

use crate::ports::{
    Accounts, History, HistoryPage, Notifier, PortError, Ports, Positions, Registry,
    RepositoryPage, RepositoryRef, ScanState,
};
use aws_config::{Region, SdkConfig};
use aws_sdk_cloudtrail::primitives::{DateTime, DateTimeFormat};
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use aws_sdk_ecr::config::http::HttpResponse;
use aws_sdk_ecr::config::{Credentials, SharedCredentialsProvider};
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sns::types::MessageAttributeValue;
use ecr_policy_guard_core::registry::{
    CreationTemplate, Destination, Replication, ReplicationRule, RepositoryFilter,
};
use ecr_policy_guard_core::render::Alert;
use ecr_policy_guard_core::text::tick;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

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

    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        match self.client.get_registry_policy().send().await {
            Ok(output) => Ok(output.policy_text),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_registry_policy_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(classify("ecr:GetRegistryPolicy", &e)),
        }
    }

    async fn put_registry_policy(&self, policy_text: &str) -> Result<(), PortError> {
        self.client
            .put_registry_policy()
            .policy_text(policy_text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ecr:PutRegistryPolicy", &e))
    }

    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        match self.client.delete_registry_policy().send().await {
            Ok(_) => Ok(()),
            // Already gone: the state the guard wants.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_registry_policy_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("ecr:DeleteRegistryPolicy", &e)),
        }
    }

    async fn list_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        let mut templates = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .describe_repository_creation_templates()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("ecr:DescribeRepositoryCreationTemplates", &e))?;
            for t in out.repository_creation_templates.unwrap_or_default() {
                templates.push(CreationTemplate {
                    prefix: t.prefix.unwrap_or_default(),
                    applied_for: t
                        .applied_for
                        .iter()
                        .flatten()
                        .map(|a| a.as_str().to_owned())
                        .collect(),
                    repository_policy: t.repository_policy,
                });
            }
            token = out.next_token;
            if token.is_none() {
                return Ok(templates);
            }
        }
    }

    async fn set_template_policy(&self, prefix: &str, policy_text: &str) -> Result<(), PortError> {
        self.client
            .update_repository_creation_template()
            .prefix(prefix)
            .repository_policy(policy_text)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("ecr:UpdateRepositoryCreationTemplate", &e))
    }

    async fn get_replication(&self) -> Result<Replication, PortError> {
        let out = self
            .client
            .describe_registry()
            .send()
            .await
            .map_err(|e| classify("ecr:DescribeRegistry", &e))?;
        let rules = out
            .replication_configuration
            .map(|c| c.rules)
            .unwrap_or_default()
            .into_iter()
            .map(|rule| ReplicationRule {
                destinations: rule
                    .destinations
                    .into_iter()
                    .map(|d| Destination {
                        region: d.region,
                        registry_id: d.registry_id,
                    })
                    .collect(),
                repository_filters: rule
                    .repository_filters
                    .unwrap_or_default()
                    .into_iter()
                    .map(|f| RepositoryFilter {
                        filter: f.filter,
                        filter_type: f.filter_type.as_str().to_owned(),
                    })
                    .collect(),
            })
            .collect();
        Ok(Replication { rules })
    }

    async fn put_replication(&self, configuration: &Replication) -> Result<(), PortError> {
        use aws_sdk_ecr::types as ecr;
        let operation = "ecr:PutReplicationConfiguration";
        let invalid = |e: aws_sdk_ecr::error::BuildError| PortError::Failed {
            operation,
            message: e.to_string(),
        };
        let mut rules = Vec::new();
        for rule in &configuration.rules {
            let mut built = ecr::ReplicationRule::builder();
            for d in &rule.destinations {
                built = built.destinations(
                    ecr::ReplicationDestination::builder()
                        .region(&d.region)
                        .registry_id(&d.registry_id)
                        .build()
                        .map_err(invalid)?,
                );
            }
            for f in &rule.repository_filters {
                built = built.repository_filters(
                    ecr::RepositoryFilter::builder()
                        .filter(&f.filter)
                        .filter_type(ecr::RepositoryFilterType::from(f.filter_type.as_str()))
                        .build()
                        .map_err(invalid)?,
                );
            }
            rules.push(built.build().map_err(invalid)?);
        }
        let configuration = ecr::ReplicationConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(invalid)?;
        self.client
            .put_replication_configuration()
            .replication_configuration(configuration)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(operation, &e))
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

/// Records of one ECR call from CloudTrail event history (90 days, this region).
pub struct CloudTrailHistory {
    pub client: aws_sdk_cloudtrail::Client,
}

/// Records per `LookupEvents` page (the API's maximum).
const LOOKUP_PAGE_SIZE: i32 = 50;

impl History for CloudTrailHistory {
    async fn policy_changes(
        &self,
        event_name: &str,
        before: Option<&str>,
        next_token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        let operation = "cloudtrail:LookupEvents";
        let attribute = LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::EventName)
            .attribute_value(event_name)
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

/// The scan positions of a sweep, in SSM: the sweep's own in the parameter `base`, each target's
/// in `base/<account>/<region>` (all in the function's own account and region).
pub struct SsmPositions {
    pub client: aws_sdk_ssm::Client,
    pub base: String,
}

impl Positions for SsmPositions {
    type At<'a> = SsmScanState;

    fn at(&self, key: &str) -> SsmScanState {
        SsmScanState {
            client: self.client.clone(),
            parameter: match key {
                "" => self.base.clone(),
                key => format!("{}/{key}", self.base),
            },
        }
    }
}

/// A lock that survives a panicked holder: the caches hold plain data, never half-updated.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One account's ECR and CloudTrail clients in one region.
pub struct RegionClients {
    pub registry: EcrRegistry,
    pub history: CloudTrailHistory,
}

impl RegionClients {
    fn new(sdk: &SdkConfig) -> Arc<RegionClients> {
        Arc::new(RegionClients {
            registry: EcrRegistry {
                client: aws_sdk_ecr::Client::new(sdk),
            },
            history: CloudTrailHistory {
                client: aws_sdk_cloudtrail::Client::new(sdk),
            },
        })
    }
}

/// Credentials of one spoke role, and the clients built on them.
struct Spoke {
    credentials: Credentials,
    expires: SystemTime,
    regions: HashMap<String, Arc<RegionClients>>,
}

/// Credentials this close to expiry are replaced before the next call (a revert or a scan chunk
/// takes seconds, and the SDK retries for a while).
pub const CREDENTIALS_REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);

/// Whether credentials expiring at `expires` can still be used at `now`.
pub fn still_fresh(expires: SystemTime, now: SystemTime) -> bool {
    now + CREDENTIALS_REFRESH_MARGIN < expires
}

/// STS's limit on a role session name.
const MAX_SESSION_NAME: usize = 64;

/// A role session name naming `who` (an event id, or `scan`): `ecr-policy-guard-<who>`, with
/// every character STS does not accept (`[\w+=,.@-]`) replaced by `-`, cut to 64 characters.
pub fn session_name(who: &str) -> String {
    let mut name: String = format!("ecr-policy-guard-{who}")
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                true => c,
                false => '-',
            },
        )
        .collect();
    name.truncate(MAX_SESSION_NAME);
    name
}

/// Every account's and region's ports: the function's own credentials in its own account, and in
/// hub mode the spoke role (`arn:<partition>:iam::<account>:role/<name>`, assumed with
/// `sts:AssumeRole`) in any other. Clients are built once per account and region; a spoke's
/// credentials are kept, per account, until [`CREDENTIALS_REFRESH_MARGIN`] before they expire.
/// Without a spoke role (single-account mode) every account gets the own credentials, as before.
pub struct AwsAccounts {
    sdk: SdkConfig,
    own_account: String,
    partition: String,
    spoke_role_name: Option<String>,
    sts: aws_sdk_sts::Client,
    organizations: aws_sdk_organizations::Client,
    own: Mutex<HashMap<String, Arc<RegionClients>>>,
    spokes: Mutex<HashMap<String, Spoke>>,
    assumed: AtomicUsize,
}

impl AwsAccounts {
    /// The accounts as seen with the credentials of `sdk`, which act in `own_account` of
    /// `partition` (from `sts:GetCallerIdentity`: see [`caller_identity`]).
    pub fn new(
        sdk: &SdkConfig,
        own_account: String,
        partition: String,
        spoke_role_name: Option<String>,
    ) -> AwsAccounts {
        AwsAccounts {
            sts: aws_sdk_sts::Client::new(sdk),
            organizations: aws_sdk_organizations::Client::new(sdk),
            sdk: sdk.clone(),
            own_account,
            partition,
            spoke_role_name,
            own: Mutex::new(HashMap::new()),
            spokes: Mutex::new(HashMap::new()),
            assumed: AtomicUsize::new(0),
        }
    }

    /// How many times a spoke role was assumed so far (each time is logged).
    pub fn roles_assumed(&self) -> usize {
        self.assumed.load(Ordering::Relaxed)
    }

    /// The spoke role's ARN in `account`, in hub mode.
    pub fn spoke_role_arn(&self, account: &str) -> Option<String> {
        let name = self.spoke_role_name.as_deref()?;
        Some(format!("arn:{}:iam::{account}:role/{name}", self.partition))
    }

    /// The clients of `account` in `region`, assuming the spoke role when needed.
    pub async fn clients(
        &self,
        account: &str,
        region: &str,
        session: &str,
    ) -> Result<Arc<RegionClients>, PortError> {
        let role_arn = match self.spoke_role_arn(account) {
            Some(arn) if account != self.own_account => arn,
            _ => {
                let mut own = lock(&self.own);
                let clients = own
                    .entry(region.to_owned())
                    .or_insert_with(|| RegionClients::new(&configured(&self.sdk, region, None)));
                return Ok(clients.clone());
            }
        };
        if let Some(clients) = self.cached(account, region) {
            return Ok(clients);
        }
        // Two first calls at once may both assume the role; the later one's credentials are
        // kept. Nothing waits on the lock across the call.
        let (credentials, expires) = self.assume(account, &role_arn, session).await?;
        let mut spokes = lock(&self.spokes);
        let spoke = spokes.entry(account.to_owned()).or_insert_with(|| Spoke {
            credentials: credentials.clone(),
            expires,
            regions: HashMap::new(),
        });
        if spoke.expires < expires {
            *spoke = Spoke {
                credentials,
                expires,
                regions: HashMap::new(),
            };
        }
        Ok(self.region_of(spoke, region))
    }

    /// The cached clients, while their credentials are fresh.
    fn cached(&self, account: &str, region: &str) -> Option<Arc<RegionClients>> {
        let mut spokes = lock(&self.spokes);
        let spoke = spokes.get_mut(account)?;
        if !still_fresh(spoke.expires, SystemTime::now()) {
            return None;
        }
        Some(self.region_of(spoke, region))
    }

    fn region_of(&self, spoke: &mut Spoke, region: &str) -> Arc<RegionClients> {
        let credentials = &spoke.credentials;
        spoke
            .regions
            .entry(region.to_owned())
            .or_insert_with(|| {
                RegionClients::new(&configured(&self.sdk, region, Some(credentials)))
            })
            .clone()
    }

    async fn assume(
        &self,
        account: &str,
        role_arn: &str,
        session: &str,
    ) -> Result<(Credentials, SystemTime), PortError> {
        let operation = "sts:AssumeRole";
        let session = session_name(session);
        let context = format!("{} in account {account}", tick(role_arn));
        let output = self
            .sts
            .assume_role()
            .role_arn(role_arn)
            .role_session_name(&session)
            .send()
            .await
            .map_err(|e| classify(operation, &e).in_context(&context))?;
        let Some(c) = output.credentials else {
            return Err(PortError::Failed {
                operation,
                message: format!("{context}: the response has no credentials"),
            });
        };
        let expires = SystemTime::try_from(c.expiration).unwrap_or(SystemTime::UNIX_EPOCH);
        self.assumed.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            role = role_arn,
            session = session.as_str(),
            account,
            "assumed the spoke role"
        );
        let credentials = Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            Some(expires),
            "ecr-policy-guard-spoke",
        );
        Ok((credentials, expires))
    }
}

/// `sdk` in `region` (an empty region keeps the configured one), with `credentials` when given.
fn configured(sdk: &SdkConfig, region: &str, credentials: Option<&Credentials>) -> SdkConfig {
    let mut builder = sdk.to_builder();
    if !region.is_empty() {
        builder = builder.region(Region::new(region.to_owned()));
    }
    if let Some(credentials) = credentials {
        builder = builder.credentials_provider(SharedCredentialsProvider::new(credentials.clone()));
    }
    builder.build()
}

/// The account and partition the credentials of `sdk` act in (`sts:GetCallerIdentity`).
pub async fn caller_identity(sdk: &SdkConfig) -> Result<(String, String), PortError> {
    let operation = "sts:GetCallerIdentity";
    let identity = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| classify(operation, &e))?;
    let account = identity.account.ok_or_else(|| PortError::Failed {
        operation,
        message: "the response names no account".into(),
    })?;
    let partition = identity
        .arn
        .as_deref()
        .and_then(|arn| arn.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
        .to_owned();
    Ok((account, partition))
}

/// One account and region, reached when a call first needs it.
pub struct AccountScope<'a> {
    accounts: &'a AwsAccounts,
    account: String,
    region: String,
    session: String,
}

impl AccountScope<'_> {
    async fn clients(&self) -> Result<Arc<RegionClients>, PortError> {
        self.accounts
            .clients(&self.account, &self.region, &self.session)
            .await
    }
}

impl Registry for AccountScope<'_> {
    async fn get_policy(
        &self,
        registry_id: &str,
        repository: &str,
    ) -> Result<Option<String>, PortError> {
        let clients = self.clients().await?;
        clients.registry.get_policy(registry_id, repository).await
    }

    async fn set_policy(
        &self,
        registry_id: &str,
        repository: &str,
        policy_text: &str,
    ) -> Result<(), PortError> {
        let clients = self.clients().await?;
        clients
            .registry
            .set_policy(registry_id, repository, policy_text)
            .await
    }

    async fn list_repositories(
        &self,
        next_token: Option<String>,
    ) -> Result<RepositoryPage, PortError> {
        let clients = self.clients().await?;
        clients.registry.list_repositories(next_token).await
    }

    async fn get_registry_policy(&self) -> Result<Option<String>, PortError> {
        self.clients().await?.registry.get_registry_policy().await
    }

    async fn put_registry_policy(&self, policy_text: &str) -> Result<(), PortError> {
        let clients = self.clients().await?;
        clients.registry.put_registry_policy(policy_text).await
    }

    async fn delete_registry_policy(&self) -> Result<(), PortError> {
        self.clients()
            .await?
            .registry
            .delete_registry_policy()
            .await
    }

    async fn list_templates(&self) -> Result<Vec<CreationTemplate>, PortError> {
        self.clients().await?.registry.list_templates().await
    }

    async fn set_template_policy(&self, prefix: &str, policy_text: &str) -> Result<(), PortError> {
        let clients = self.clients().await?;
        clients
            .registry
            .set_template_policy(prefix, policy_text)
            .await
    }

    async fn get_replication(&self) -> Result<Replication, PortError> {
        self.clients().await?.registry.get_replication().await
    }

    async fn put_replication(&self, configuration: &Replication) -> Result<(), PortError> {
        let clients = self.clients().await?;
        clients.registry.put_replication(configuration).await
    }
}

impl History for AccountScope<'_> {
    async fn policy_changes(
        &self,
        event_name: &str,
        before: Option<&str>,
        next_token: Option<String>,
    ) -> Result<HistoryPage, PortError> {
        let clients = self.clients().await?;
        clients
            .history
            .policy_changes(event_name, before, next_token)
            .await
    }
}

impl Accounts for AwsAccounts {
    type Scope<'a> = AccountScope<'a>;

    fn own_account(&self) -> &str {
        &self.own_account
    }

    fn scope<'a>(&'a self, account: &str, region: &str, session: &str) -> AccountScope<'a> {
        AccountScope {
            accounts: self,
            account: account.to_owned(),
            region: region.to_owned(),
            session: session.to_owned(),
        }
    }

    async fn organization_accounts(&self) -> Result<Vec<String>, PortError> {
        use aws_sdk_organizations::types::{AccountState, AccountStatus};
        let operation = "organizations:ListAccounts";
        let mut accounts = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .organizations
                .list_accounts()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify(operation, &e))?;
            for account in page.accounts.unwrap_or_default() {
                // `State` replaces `Status` (retired in September 2026); either may be present.
                let active = match (&account.state, &account.status) {
                    (Some(state), _) => *state == AccountState::Active,
                    (None, status) => *status == Some(AccountStatus::Active),
                };
                if active && let Some(id) = account.id {
                    accounts.push(id);
                }
            }
            token = page.next_token;
            if token.is_none() {
                break;
            }
        }
        accounts.sort_unstable();
        accounts.dedup();
        Ok(accounts)
    }
}
