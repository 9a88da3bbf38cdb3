//! Guard settings: mode and allowlist, from a TOML file and overrides.

use crate::decision::Mode;
use crate::rules::{AccountId, RuleConfig};
use crate::text::tick;
use serde::Deserialize;
use std::collections::BTreeSet;

/// Settings shared by the CLI and the Lambda.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    pub rules: RuleConfig,
}

/// A configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("config is not valid TOML: {0}")]
    Toml(String),
    #[error(
        "`allowed_root_accounts` entry {0} is not a 12-digit account id or an account root ARN"
    )]
    Account(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    mode: Option<Mode>,
    allowed_root_accounts: Option<Vec<String>>,
}

impl Config {
    /// Parses a TOML config file; absent settings keep their defaults.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            // toml's own rendering spans several lines; keep the message and the line number.
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
            let message = e.message().trim_end_matches('\n').replace('\n', " ");
            ConfigError::Toml(match line {
                Some(line) => format!("line {line}: {message}"),
                None => message,
            })
        })?;
        Ok(Config {
            mode: file.mode.unwrap_or_default(),
            rules: RuleConfig {
                allowed_root_accounts: parse_allowlist(
                    file.allowed_root_accounts
                        .iter()
                        .flatten()
                        .map(String::as_str),
                )?,
            },
        })
    }
}

/// Parses allowlist entries: 12-digit ids or account root ARNs, both meaning the account.
pub fn parse_allowlist<'a>(
    entries: impl IntoIterator<Item = &'a str>,
) -> Result<BTreeSet<AccountId>, ConfigError> {
    entries
        .into_iter()
        .map(|entry| AccountId::parse(entry).ok_or_else(|| ConfigError::Account(tick(entry))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mode_and_allowlist_in_both_spellings() {
        let config = Config::from_toml(
            "mode = \"revert\"\nallowed_root_accounts = [\"111122223333\", \"arn:aws:iam::987654321098:root\"]\n",
        )
        .unwrap();
        assert_eq!(config.mode, Mode::Revert);
        let ids: Vec<_> = config
            .rules
            .allowed_root_accounts
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(ids, ["111122223333", "987654321098"]);
    }

    #[test]
    fn errors_are_one_line_and_name_the_problem() {
        let err = Config::from_toml("mode = \"alert\"\nmodee = 1\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("config is not valid TOML: line 2: unknown field `modee`"),
            "{err}"
        );
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
}
