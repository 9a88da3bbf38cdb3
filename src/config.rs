//! Guard settings: mode, allowlist, alert topic, baseline and hub mode (spoke role, the scan's
//! accounts and regions), from a TOML file, flags or the Lambda's environment (read through a
//! lookup function, so this module never touches `env`).

use ecr_policy_guard_core::rules::{AllowlistError, OrgAllowlistError, Owner};
use ecr_policy_guard_core::text::tick;
use ecr_policy_guard_core::{Mode, RuleConfig};
use serde::Deserialize;

/// Settings shared by the CLI and the Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub rules: RuleConfig,
    /// Where alerts are published (required by the Lambda and `handle`).
    pub alert_topic_arn: Option<String>,
    /// The policy restored where nothing better exists; `None` for the default baseline.
    pub baseline_policy: Option<String>,
    /// The SSM parameter holding the scan's position; `None` for [`DEFAULT_SCAN_STATE_PARAMETER`].
    pub scan_state_parameter: Option<String>,
    /// Hub mode: the role the guard assumes in an account other than its own
    /// (`arn:<partition>:iam::<account>:role/<name>`); `None` for single-account mode.
    pub spoke_role_name: Option<String>,
    /// The accounts the scheduled scan covers.
    pub scan_accounts: ScanAccounts,
    /// The regions the scheduled scan covers; empty for the function's own region.
    pub scan_regions: Vec<String>,
}

/// The accounts the scheduled scan covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ScanAccounts {
    /// The function's own account (single-account mode, and the default).
    #[default]
    Own,
    /// These accounts (12-digit ids), each through the spoke role unless it is the function's own.
    Listed(Vec<String>),
    /// Every active account of the organization (`organizations:ListAccounts`).
    Organization,
}

/// The value of `scan_accounts` that stands for every active account of the organization.
pub const ORGANIZATION: &str = "organization";

/// Where the scheduled scan keeps its position unless configured otherwise.
pub const DEFAULT_SCAN_STATE_PARAMETER: &str = "/ecr-policy-guard/scan-position";

/// Environment variables the Lambda reads at cold start (same meaning as the CLI flags).
pub mod env {
    /// A whole TOML config; the variables below override it.
    pub const CONFIG: &str = "GUARD_CONFIG";
    pub const MODE: &str = "GUARD_MODE";
    /// Comma- or space-separated account ids or root ARNs.
    pub const ALLOWED_ROOT_ACCOUNTS: &str = "GUARD_ALLOWED_ROOT_ACCOUNTS";
    /// Comma- or space-separated organization ids.
    pub const ALLOWED_ORG_IDS: &str = "GUARD_ALLOWED_ORG_IDS";
    /// Comma- or space-separated account ids replication may copy images to.
    pub const ALLOWED_REPLICATION_ACCOUNTS: &str = "GUARD_ALLOWED_REPLICATION_ACCOUNTS";
    pub const ALERT_TOPIC_ARN: &str = "GUARD_ALERT_TOPIC_ARN";
    pub const BASELINE_POLICY: &str = "GUARD_BASELINE_POLICY";
    /// The SSM parameter for the scan's position.
    pub const SCAN_STATE_PARAMETER: &str = "GUARD_SCAN_STATE_PARAMETER";
    /// Hub mode: the role name assumed in other accounts.
    pub const SPOKE_ROLE_NAME: &str = "GUARD_SPOKE_ROLE_NAME";
    /// Comma- or space-separated account ids, or `organization`.
    pub const SCAN_ACCOUNTS: &str = "GUARD_SCAN_ACCOUNTS";
    /// Comma- or space-separated region names.
    pub const SCAN_REGIONS: &str = "GUARD_SCAN_REGIONS";
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid TOML: {0}")]
    Toml(String),
    /// Valid TOML that is not a valid config: an unknown setting, a wrong type or value.
    #[error("config {0}")]
    Setting(String),
    #[error(
        "`allowed_root_accounts` entry {0} is not a 12-digit account id or an account root ARN"
    )]
    Account(String),
    #[error(
        "`allowed_org_ids` entry {0} is not an organization id (`o-` and 10 to 32 lowercase letters or digits)"
    )]
    Org(String),
    #[error("`allowed_replication_accounts` entry {0} is not a 12-digit account id")]
    ReplicationAccount(String),
    #[error("`alert_topic_arn` {0} is not an SNS topic ARN")]
    TopicArn(String),
    #[error("`baseline_policy` is not usable: {0}")]
    Baseline(String),
    #[error(
        "`spoke_role_name` {0} is not an IAM role name (1 to 64 letters, digits and `+=,.@_-`)"
    )]
    SpokeRole(String),
    #[error(
        "`scan_accounts` entry {0} is not a 12-digit account id (or give `organization` alone)"
    )]
    ScanAccount(String),
    #[error("`scan_regions` entry {0} is not an AWS region name (such as `eu-west-1`)")]
    ScanRegion(String),
    #[error(
        "`scan_accounts` needs `spoke_role_name`: the guard acts in other accounts only through the spoke role"
    )]
    ScanAccountsWithoutRole,
    #[error("environment variable `{var}`: {message}")]
    Env { var: &'static str, message: String },
}

/// `scan_accounts` in a TOML file: `"organization"` or a list of account ids.
#[derive(Deserialize)]
#[serde(untagged)]
enum AccountsSetting {
    Word(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    mode: Option<Mode>,
    allowed_root_accounts: Option<Vec<String>>,
    allowed_org_ids: Option<Vec<String>>,
    allowed_replication_accounts: Option<Vec<String>>,
    alert_topic_arn: Option<String>,
    baseline_policy: Option<String>,
    scan_state_parameter: Option<String>,
    spoke_role_name: Option<String>,
    scan_accounts: Option<AccountsSetting>,
    scan_regions: Option<Vec<String>>,
}

impl Config {
    /// Parses a TOML config file; absent settings keep their defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        // toml's own rendering spans several lines; keep the message and the line number.
        let one_line = |e: toml::de::Error| {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim_end_matches('\n').replace('\n', " ");
            match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            }
        };
        // Syntax first, so that a well-formed file with a wrong setting is not called bad TOML.
        toml::from_str::<toml::Table>(text).map_err(|e| ConfigError::Toml(one_line(e)))?;
        let file: ConfigFile =
            toml::from_str(text).map_err(|e| ConfigError::Setting(one_line(e)))?;
        let config = Config {
            mode: file.mode.unwrap_or_default(),
            rules: allowing_replication(
                allowing_orgs(
                    allowing(
                        file.allowed_root_accounts
                            .iter()
                            .flatten()
                            .map(String::as_str),
                    )?,
                    file.allowed_org_ids.iter().flatten().map(String::as_str),
                )?,
                file.allowed_replication_accounts
                    .iter()
                    .flatten()
                    .map(String::as_str),
            )?,
            alert_topic_arn: file.alert_topic_arn,
            baseline_policy: file.baseline_policy,
            scan_state_parameter: file.scan_state_parameter,
            spoke_role_name: file.spoke_role_name,
            scan_accounts: match file.scan_accounts {
                None => ScanAccounts::Own,
                Some(AccountsSetting::Word(word)) => scan_accounts([word.as_str()])?,
                Some(AccountsSetting::List(list)) => {
                    scan_accounts(list.iter().map(String::as_str))?
                }
            },
            scan_regions: scan_regions(file.scan_regions.iter().flatten().map(String::as_str))?,
        };
        config.validate()?;
        Ok(config)
    }

    /// Reads the Lambda's settings through `lookup` (the environment, in the Lambda). Empty
    /// variables count as unset. Every problem names its variable; nothing falls back silently.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let in_var = |var: &'static str| {
            move |e: ConfigError| ConfigError::Env {
                var,
                message: e.to_string(),
            }
        };
        let mut config = match get(env::CONFIG) {
            Some(text) => Config::from_toml(&text).map_err(in_var(env::CONFIG))?,
            None => Config::default(),
        };
        if let Some(mode) = get(env::MODE) {
            config.mode = mode.trim().parse().map_err(|message| ConfigError::Env {
                var: env::MODE,
                message,
            })?;
        }
        if let Some(list) = get(env::ALLOWED_ROOT_ACCOUNTS) {
            config.rules.allowed_root_accounts = allowing(list_entries(&list))
                .map_err(in_var(env::ALLOWED_ROOT_ACCOUNTS))?
                .allowed_root_accounts;
        }
        if let Some(list) = get(env::ALLOWED_ORG_IDS) {
            config.rules = allowing_orgs(config.rules, list_entries(&list))
                .map_err(in_var(env::ALLOWED_ORG_IDS))?;
        }
        if let Some(list) = get(env::ALLOWED_REPLICATION_ACCOUNTS) {
            config.rules = allowing_replication(config.rules, list_entries(&list))
                .map_err(in_var(env::ALLOWED_REPLICATION_ACCOUNTS))?;
        }
        if let Some(arn) = get(env::ALERT_TOPIC_ARN) {
            config.alert_topic_arn = Some(arn.trim().to_owned());
        }
        if let Some(policy) = get(env::BASELINE_POLICY) {
            config.baseline_policy = Some(policy);
        }
        if let Some(parameter) = get(env::SCAN_STATE_PARAMETER) {
            config.scan_state_parameter = Some(parameter.trim().to_owned());
        }
        if let Some(name) = get(env::SPOKE_ROLE_NAME) {
            config.spoke_role_name = Some(name.trim().to_owned());
        }
        if let Some(list) = get(env::SCAN_ACCOUNTS) {
            config.scan_accounts =
                scan_accounts(list_entries(&list)).map_err(in_var(env::SCAN_ACCOUNTS))?;
        }
        if let Some(list) = get(env::SCAN_REGIONS) {
            config.scan_regions =
                scan_regions(list_entries(&list)).map_err(in_var(env::SCAN_REGIONS))?;
        }
        config.validate().map_err(|e| {
            let var = match e {
                ConfigError::TopicArn(_) => env::ALERT_TOPIC_ARN,
                ConfigError::SpokeRole(_) => env::SPOKE_ROLE_NAME,
                ConfigError::ScanAccountsWithoutRole => env::SCAN_ACCOUNTS,
                _ => env::BASELINE_POLICY,
            };
            ConfigError::Env {
                var,
                message: e.to_string(),
            }
        })?;
        Ok(config)
    }

    /// The SSM parameter holding the scan's position, configured or default.
    pub fn scan_parameter(&self) -> &str {
        self.scan_state_parameter
            .as_deref()
            .unwrap_or(DEFAULT_SCAN_STATE_PARAMETER)
    }

    /// Whether the scheduled scan covers more than the function's own account and region: then
    /// it is a sweep over targets with one summary (hub mode, or several regions).
    pub fn sweeps(&self) -> bool {
        self.spoke_role_name.is_some() || !self.scan_regions.is_empty()
    }

    /// Checks settings that depend on each other: the topic ARN's shape, that a configured
    /// baseline parses and passes the rules (the guard never writes a policy breaking them), the
    /// spoke role's name, and that other accounts are scanned only through the spoke role.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(name) = &self.spoke_role_name
            && !is_role_name(name)
        {
            return Err(ConfigError::SpokeRole(tick(name)));
        }
        if self.scan_accounts != ScanAccounts::Own && self.spoke_role_name.is_none() {
            return Err(ConfigError::ScanAccountsWithoutRole);
        }
        if let Some(arn) = &self.alert_topic_arn {
            let parts: Vec<&str> = arn.split(':').collect();
            if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" || parts[5].is_empty() {
                return Err(ConfigError::TopicArn(tick(arn)));
            }
        }
        if let Some(text) = &self.baseline_policy {
            let violations = self
                .rules
                .check_text(text, Owner::Any)
                .map_err(|e| ConfigError::Baseline(e.to_string()))?;
            if let Some(v) = violations.first() {
                return Err(ConfigError::Baseline(format!(
                    "it breaks `{}`: {}",
                    v.rule, v.message
                )));
            }
        }
        Ok(())
    }
}

/// The entries of a list given in one variable or flag: separated by commas, spaces or newlines.
pub fn list_entries(list: &str) -> impl Iterator<Item = &str> {
    list.split([',', ' ', '\n']).filter(|e| !e.is_empty())
}

/// `scan_accounts` from its entries: `organization` alone, or 12-digit account ids (sorted,
/// without repeats); no entry at all means the function's own account.
pub fn scan_accounts<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<ScanAccounts, ConfigError> {
    let entries: Vec<&str> = entries.into_iter().map(str::trim).collect();
    match entries.as_slice() {
        [] => Ok(ScanAccounts::Own),
        [word] if *word == ORGANIZATION => Ok(ScanAccounts::Organization),
        _ => {
            let mut ids = Vec::with_capacity(entries.len());
            for entry in entries {
                if !ecr_policy_guard_core::policy::is_account_id(entry) {
                    return Err(ConfigError::ScanAccount(tick(entry)));
                }
                ids.push(entry.to_owned());
            }
            ids.sort_unstable();
            ids.dedup();
            Ok(ScanAccounts::Listed(ids))
        }
    }
}

/// `scan_regions` from its entries, each a region name, in the order given without repeats.
pub fn scan_regions<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<String>, ConfigError> {
    let mut regions: Vec<String> = Vec::new();
    for entry in entries.into_iter().map(str::trim) {
        if !is_region(entry) {
            return Err(ConfigError::ScanRegion(tick(entry)));
        }
        if !regions.iter().any(|r| r == entry) {
            regions.push(entry.to_owned());
        }
    }
    Ok(regions)
}

/// An IAM role name: 1 to 64 of letters, digits and `+=,.@_-`.
fn is_role_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b))
}

/// An AWS region name: lowercase words joined by `-`, the last one a number (`eu-west-1`,
/// `us-gov-west-1`).
fn is_region(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    let Some((number, words)) = parts.split_last() else {
        return false;
    };
    words.len() >= 2
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// The same rules allowing these organizations instead of the ones they allowed; a bad entry is
/// named as an `allowed_org_ids` entry.
pub fn allowing_orgs<'a>(
    rules: RuleConfig,
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<RuleConfig, ConfigError> {
    rules
        .with_orgs(entries)
        .map_err(|OrgAllowlistError(entry)| ConfigError::Org(tick(&entry)))
}

/// The same rules allowing replication to these accounts instead of the ones they allowed; a bad
/// entry is named as an `allowed_replication_accounts` entry.
pub fn allowing_replication<'a>(
    rules: RuleConfig,
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<RuleConfig, ConfigError> {
    rules
        .with_replication_accounts(entries)
        .map_err(|AllowlistError(entry)| ConfigError::ReplicationAccount(tick(&entry)))
}

/// The rules allowing these entries (12-digit ids or account root ARNs, both meaning the
/// account); a bad entry is named as an `allowed_root_accounts` entry.
pub fn allowing<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<RuleConfig, ConfigError> {
    RuleConfig::allowing(entries)
        .map_err(|AllowlistError(entry)| ConfigError::Account(tick(&entry)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(config: &Config) -> Vec<&str> {
        let accounts = &config.rules.allowed_root_accounts;
        accounts.iter().map(|a| a.as_str()).collect()
    }

    #[test]
    fn reads_mode_and_allowlist_in_both_spellings() {
        let config = Config::from_toml(
            "mode = \"revert\"\nallowed_root_accounts = [\"111122223333\", \"arn:aws:iam::987654321098:root\"]\n",
        )
        .unwrap();
        assert_eq!(config.mode, Mode::Revert);
        assert_eq!(ids(&config), ["111122223333", "987654321098"]);
    }

    #[test]
    fn environment_overrides_the_toml_and_names_the_bad_variable() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let config = Config::from_env(vars(&[
            (
                env::CONFIG,
                "mode = \"revert\"\nallowed_root_accounts = [\"111122223333\"]",
            ),
            (
                env::ALLOWED_ROOT_ACCOUNTS,
                "987654321098, arn:aws:iam::444455556666:root",
            ),
            (
                env::ALERT_TOPIC_ARN,
                "arn:aws:sns:eu-west-1:123456789012:guard-alerts",
            ),
            (env::MODE, ""),
        ]))
        .unwrap();
        assert_eq!(config.mode, Mode::Revert);
        assert_eq!(ids(&config), ["444455556666", "987654321098"]);

        let err = Config::from_env(vars(&[(env::MODE, "loud")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable `GUARD_MODE`: mode must be `alert` or `revert`, found `loud`"
        );
        let err = Config::from_env(vars(&[(env::ALERT_TOPIC_ARN, "guard-alerts")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "environment variable `GUARD_ALERT_TOPIC_ARN`: `alert_topic_arn` `guard-alerts`"
            ),
            "{err}"
        );
        let err = Config::from_env(vars(&[(
            env::BASELINE_POLICY,
            r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"*"}}"#,
        )]))
        .unwrap_err()
        .to_string();
        assert!(err.starts_with("environment variable `GUARD_BASELINE_POLICY`: `baseline_policy` is not usable: it breaks `no-wildcard-principal`"), "{err}");
        let err = Config::from_env(vars(&[(env::CONFIG, "mode = 1")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("environment variable `GUARD_CONFIG`: config line 1"),
            "{err}"
        );
    }

    #[test]
    fn organizations_are_allowlisted_from_the_file_or_the_environment() {
        let config = Config::from_toml("allowed_org_ids = [\"o-a1b2c3d4e5\"]").unwrap();
        assert_eq!(config.rules.allowed_org_ids.len(), 1);
        let err = Config::from_toml("allowed_org_ids = [\"o-1\"]")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`allowed_org_ids` entry `o-1` is not an organization id (`o-` and 10 to 32 lowercase letters or digits)"
        );
        let env = |k: &str| match k {
            env::CONFIG => Some("allowed_org_ids = [\"o-a1b2c3d4e5\"]".to_owned()),
            env::ALLOWED_ORG_IDS => Some("o-f6g7h8i9j0, o-k1l2m3n4o5".to_owned()),
            env::ALLOWED_ROOT_ACCOUNTS => Some("111122223333".to_owned()),
            _ => None,
        };
        let config = Config::from_env(env).unwrap();
        let orgs: Vec<&str> = config
            .rules
            .allowed_org_ids
            .iter()
            .map(|o| o.as_str())
            .collect();
        assert_eq!(orgs, ["o-f6g7h8i9j0", "o-k1l2m3n4o5"]);
        assert_eq!(config.rules.allowed_root_accounts.len(), 1);
        let err = Config::from_env(|k: &str| (k == env::ALLOWED_ORG_IDS).then(|| "o-X".to_owned()))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "environment variable `GUARD_ALLOWED_ORG_IDS`: `allowed_org_ids` entry `o-X`"
            ),
            "{err}"
        );
    }

    #[test]
    fn hub_settings_come_from_the_file_or_the_environment_and_name_the_bad_variable() {
        let config = Config::from_toml(
            "spoke_role_name = \"ecr-policy-guard-spoke\"\nscan_accounts = [\"222222222222\", \"111111111111\", \"222222222222\"]\nscan_regions = [\"eu-west-1\", \"us-gov-west-1\"]",
        )
        .unwrap();
        assert_eq!(
            config.scan_accounts,
            ScanAccounts::Listed(vec!["111111111111".into(), "222222222222".into()])
        );
        assert_eq!(config.scan_regions, ["eu-west-1", "us-gov-west-1"]);
        assert!(config.sweeps());
        let config =
            Config::from_toml("spoke_role_name = \"spoke\"\nscan_accounts = \"organization\"")
                .unwrap();
        assert_eq!(config.scan_accounts, ScanAccounts::Organization);

        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let config = Config::from_env(env(&[
            (env::SPOKE_ROLE_NAME, " spoke "),
            (env::SCAN_ACCOUNTS, "organization"),
            (env::SCAN_REGIONS, "eu-west-1, eu-central-1 eu-west-1"),
        ]))
        .unwrap();
        assert_eq!(config.spoke_role_name.as_deref(), Some("spoke"));
        assert_eq!(config.scan_accounts, ScanAccounts::Organization);
        assert_eq!(config.scan_regions, ["eu-west-1", "eu-central-1"]);
        // Unset, single-account mode: nothing else changes.
        let plain = Config::from_env(env(&[])).unwrap();
        assert_eq!(plain, Config::default());
        assert!(!plain.sweeps());

        for (pairs, expected) in [
            (
                &[(env::SPOKE_ROLE_NAME, "spoke/role")][..],
                "environment variable `GUARD_SPOKE_ROLE_NAME`: `spoke_role_name` `spoke/role` is not an IAM role name (1 to 64 letters, digits and `+=,.@_-`)",
            ),
            (
                &[
                    (env::SPOKE_ROLE_NAME, "spoke"),
                    (env::SCAN_ACCOUNTS, "111111111111, organization"),
                ][..],
                "environment variable `GUARD_SCAN_ACCOUNTS`: `scan_accounts` entry `organization` is not a 12-digit account id (or give `organization` alone)",
            ),
            (
                &[(env::SCAN_ACCOUNTS, "111111111111")][..],
                "environment variable `GUARD_SCAN_ACCOUNTS`: `scan_accounts` needs `spoke_role_name`: the guard acts in other accounts only through the spoke role",
            ),
            (
                &[(env::SCAN_REGIONS, "eu-west-1,Eu-West-2")][..],
                "environment variable `GUARD_SCAN_REGIONS`: `scan_regions` entry `Eu-West-2` is not an AWS region name (such as `eu-west-1`)",
            ),
        ] {
            let lookup = move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            };
            assert_eq!(Config::from_env(lookup).unwrap_err().to_string(), expected);
        }
        for bad in ["eu-west", "west-1", "eu--1", "eu-west-x", ""] {
            assert!(!is_region(bad), "{bad}");
        }
        assert!(is_role_name(&"r".repeat(64)) && !is_role_name(&"r".repeat(65)));
    }

    #[test]
    fn errors_are_one_line_and_name_the_problem() {
        let err = Config::from_toml("mode = \"alert\"\nmodee = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config line 2: unknown field `modee`"),
            "{err}"
        );
        let err = Config::from_toml("mode = \"alert\"\nmodee 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config is not valid TOML: line 2"), "{err}");
        assert!(!err.contains('\n'));
        let err = Config::from_toml("mode = \"loud\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1") && err.contains("loud"), "{err}");
        let err = Config::from_toml("allowed_root_accounts = [\"1234\"]")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "`allowed_root_accounts` entry `1234` is not a 12-digit account id or an account root ARN"
        );
    }

    #[test]
    fn replication_accounts_come_from_the_file_or_the_variable_and_each_list_stays_its_own() {
        let config = Config::from_toml(
            "allowed_root_accounts = [\"111122223333\"]\nallowed_replication_accounts = [\"444455556666\"]\n",
        )
        .unwrap();
        let ids = |set: &std::collections::BTreeSet<_>| {
            set.iter()
                .map(|a: &ecr_policy_guard_core::rules::AccountId| a.as_str().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            ids(&config.rules.allowed_replication_accounts),
            ["444455556666"]
        );
        // The root allowlist from the environment keeps the file's replication list.
        let file = "allowed_replication_accounts = [\"444455556666\"]";
        let config = Config::from_env(|k| match k {
            env::CONFIG => Some(file.to_owned()),
            env::ALLOWED_ROOT_ACCOUNTS => Some("111122223333".to_owned()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            ids(&config.rules.allowed_replication_accounts),
            ["444455556666"]
        );
        assert_eq!(ids(&config.rules.allowed_root_accounts), ["111122223333"]);
        let config = Config::from_env(|k| {
            (k == env::ALLOWED_REPLICATION_ACCOUNTS)
                .then(|| "555566667777, 666677778888".to_owned())
        })
        .unwrap();
        assert_eq!(
            ids(&config.rules.allowed_replication_accounts),
            ["555566667777", "666677778888"]
        );
        let err = Config::from_env(|k| {
            (k == env::ALLOWED_REPLICATION_ACCOUNTS)
                .then(|| "arn:aws:iam::555566667777:root".to_owned())
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "environment variable `GUARD_ALLOWED_REPLICATION_ACCOUNTS`: `allowed_replication_accounts` entry `arn:aws:iam::555566667777:root` is not a 12-digit account id"
        );
    }
}
