//! The command line: subcommands, their flags, and the config they load.

use crate::input::{MAX_CONFIG_BYTES, display, read_input};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ecr_policy_guard::Config;
use ecr_policy_guard::config::{allowing, allowing_orgs, allowing_replication};
use ecr_policy_guard_core::{Date, Mode};

#[derive(Parser)]
#[command(
    name = "ecr-policy-guard",
    version,
    about = "Check Amazon ECR repository policies against organisation rules",
    after_help = "Exit codes: 0 compliant or nothing to do, 1 violations, 2 invalid input or a failure; scan: 3 stopped early (not every repository checked). Each subcommand's --help says its own."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check repository policy files (or `-` for stdin), or JSON Lines of policies. A file may
    /// also be the output of `aws ecr get-repository-policy` (its `policyText` is checked), a
    /// CloudFormation/SAM template or a Terraform plan (`terraform show -json`): every ECR
    /// policy in it is judged as deployed, each finding at its `file:line`
    #[command(
        after_help = "Exit codes: 0 every input compliant, 1 violations, 2 an input is invalid or unreadable, or a template or plan holds a value that cannot be known before deploy."
    )]
    Check {
        #[command(flatten)]
        settings: Settings,
        /// JSON Lines file (or `-`) with one policy document per line; blank lines are not
        /// inputs. Repeatable
        #[arg(long, value_name = "FILE")]
        jsonl: Vec<String>,
        /// The repository's own account (12 digits): a deny-by-default may exempt it, and an AWS
        /// service acting for it may be granted. Without it, no account counts as own in a policy
        /// file or plan, and a template's `AWS::AccountId` is whichever account deploys it (no
        /// literal account id is taken for it)
        #[arg(long, value_name = "ACCOUNT_ID", value_parser = parse_account)]
        account: Option<String>,
        /// The policies are registry policies (`PutRegistryPolicy`): `Resource` required, the
        /// principal rules on every `Allow`, no deny-by-default needed. With `--account` (and
        /// `--region`) their repository ARNs must be that registry's
        #[arg(long)]
        registry: bool,
        /// With `--registry`: the registry's region, which its repository ARNs must name.
        /// Templates and plans: the region they deploy into (`AWS::Region`) [default: every
        /// region a region-keyed mapping or condition names, else us-east-1]
        #[arg(long, value_name = "REGION", value_parser = crate::iac::parse_region)]
        region: Option<String>,
        /// Templates: a CloudFormation parameter's value (repeatable); others take their `Default`
        #[arg(long = "parameter", value_name = "KEY=VALUE", value_parser = crate::iac::parse_parameter)]
        parameters: Vec<(String, String)>,
        /// Templates: `AWS::Partition` [default: aws]
        #[arg(long, value_name = "PARTITION", value_parser = crate::iac::parse_partition)]
        partition: Option<String>,
        /// Templates: refuse (exit 2) what would otherwise be judged on an assumption, such as a
        /// parameter without `AllowedValues` whose `Default` reaches a policy
        #[arg(long)]
        strict: bool,
        /// Threads that judge a batch (several inputs or `--jsonl`), at most 16; 1 judges on the
        /// calling thread [default: the CPUs this process may run on, at most 16]
        #[arg(long, value_name = "N", value_parser = parse_jobs)]
        jobs: Option<usize>,
        /// Policy JSON files, CloudFormation/SAM templates (YAML or JSON) or Terraform plans
        /// (`terraform show -json`), or `-` for standard input; one policy file keeps the
        /// single-result output
        #[arg(required_unless_present = "jsonl")]
        policies: Vec<String>,
    },
    /// Dry-run the guard on CloudTrail events (EventBridge envelopes or bare records); no AWS calls
    #[command(
        after_help = "Exit codes: 0 ignored or compliant, 1 the guard would alert or revert, 2 an event is malformed or unreadable (the worst over all files)."
    )]
    Evaluate {
        #[command(flatten)]
        settings: Settings,
        /// alert: only alert; revert: restore a compliant policy, then alert [default: alert, or the config's]
        #[arg(long, value_parser = parse_mode)]
        mode: Option<Mode>,
        /// Event JSON files, or `-` for standard input; several files print one result each
        #[arg(required = true)]
        events: Vec<String>,
    },
    /// Replay one event through the Lambda's handler, acting on AWS for real: reads and writes
    /// the repository policy and publishes the alert. Uses the standard AWS environment
    /// (credentials, AWS_ENDPOINT_URL), in the event's own region; the credentials must be for the
    /// event's account, unless --spoke-role-name names the role to assume there
    #[command(
        after_help = "Exit codes: 0 nothing to do, 1 alerted or reverted (or tried to), 2 a malformed event, bad settings or a failed AWS call."
    )]
    Handle {
        #[command(flatten)]
        aws: AwsSettings,
        /// Event JSON file, or `-` for standard input
        event: String,
    },
    /// Run the reconciliation scan now, as the Lambda's schedule does: every repository of the
    /// account and region (or of each --scan-account and --scan-region), judged and handled per
    /// mode, then one summary alert. Uses the standard AWS environment (AWS_REGION, credentials,
    /// AWS_ENDPOINT_URL)
    #[command(
        after_help = "Exit codes: 0 every repository compliant, 1 offenders found, 2 a repository could not be checked or a revert failed, 3 stopped early (--max-seconds): not every repository was checked."
    )]
    Scan {
        #[command(flatten)]
        aws: AwsSettings,
        /// Stop after this many seconds, saving the position for the next run [default: no limit]
        #[arg(long, value_name = "SECONDS")]
        max_seconds: Option<u64>,
        /// An account to scan (12-digit id; repeatable), or `organization` for every active
        /// account of the organization; needs a spoke role [default: the config's
        /// `scan_accounts`, else the credentials' own account]
        #[arg(long = "scan-account", value_name = "ID")]
        scan_accounts: Vec<String>,
        /// A region to scan (repeatable) [default: the config's `scan_regions`, else AWS_REGION]
        #[arg(long = "scan-region", value_name = "REGION")]
        scan_regions: Vec<String>,
    },
    /// List the config's waivers: each active, expiring within 30 days, or expired
    #[command(
        after_help = "Exit codes: 0 every waiver active (or none), 1 a waiver is expiring or expired, 2 an invalid config."
    )]
    Waivers {
        #[command(flatten)]
        settings: Settings,
    },
    /// Local demo on moto server (no AWS account): replays sample events in alert and revert
    /// mode and prints what the guard did, policies before and after, and the alerts as delivered
    Demo {
        /// Print the full alert documents, the policies pretty-printed and the e-mail text
        #[arg(long)]
        verbose: bool,
        /// Afterwards, leave the emulator running with each repository as its sample event left
        /// it, to try `handle` and `scan` by hand (prints the environment to use)
        #[arg(long)]
        keep_running: bool,
    },
}

#[derive(Args)]
pub struct Settings {
    /// TOML config (README, "Configuration"); flags override it. `check` reads only its
    /// allowlists; the other commands also `mode` and, for handle and scan,
    /// `alert_topic_arn`
    #[arg(long, value_name = "FILE")]
    pub config: Option<String>,
    /// Account whose root may be granted (12-digit id or root ARN); repeat for more.
    /// Given at least once, these replace the config file's list
    #[arg(long = "allow-root-account", value_name = "ID")]
    pub allow_root_accounts: Vec<String>,
    /// Organization whose every member may be granted (`o-...`); repeat for more. Given at least
    /// once, these replace the config file's `allowed_org_ids`
    #[arg(long = "allow-org", value_name = "ORG_ID")]
    pub allow_orgs: Vec<String>,
    /// Account (12-digit id) replication may copy images to, besides the registry's own; repeat
    /// for more. Given at least once, these replace the config file's
    /// `allowed_replication_accounts`
    #[arg(long = "allow-replication-account", value_name = "ID")]
    pub allow_replication_accounts: Vec<String>,
    /// Judge waivers as on this day (YYYY-MM-DD), and load the config on it [default: today,
    /// UTC]
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub today: Option<Date>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// The settings of the commands that act on AWS (`handle`, `scan`).
#[derive(Args)]
pub struct AwsSettings {
    #[command(flatten)]
    pub settings: Settings,
    /// alert or revert [default: alert, or the config's]
    #[arg(long, value_parser = parse_mode)]
    pub mode: Option<Mode>,
    /// SNS topic for alerts [default: the config's `alert_topic_arn`]
    #[arg(long, value_name = "ARN")]
    pub topic_arn: Option<String>,
    /// Hub mode: the role assumed in an account other than the credentials' own
    /// (arn:<partition>:iam::<account>:role/<NAME>) [default: the config's `spoke_role_name`;
    /// without one, only the credentials' own account]
    #[arg(long, value_name = "NAME")]
    pub spoke_role_name: Option<String>,
}

impl AwsSettings {
    /// The config with `--mode`, `--topic-arn` and `--spoke-role-name` applied.
    pub fn config(&self) -> Result<Config> {
        let mut config = self.settings.load(self.mode)?;
        if let Some(arn) = &self.topic_arn {
            config.alert_topic_arn = Some(arn.clone());
        }
        if let Some(name) = &self.spoke_role_name {
            config.spoke_role_name = Some(name.clone());
        }
        config.validate()?;
        Ok(config)
    }
}

impl Settings {
    /// The config file (if any) with the flags applied: the allowlist and `mode`.
    pub fn load(&self, mode: Option<Mode>) -> Result<Config> {
        let mut config = match &self.config {
            Some(path) => {
                let text = read_input(path, MAX_CONFIG_BYTES)?;
                let loaded_on = self.today.unwrap_or_else(ecr_policy_guard::clock::today);
                Config::from_toml_on(&text, loaded_on).with_context(|| display(path))?
            }
            None => Config::default(),
        };
        config.today = self.today;
        if !self.allow_root_accounts.is_empty() {
            config.rules.allowed_root_accounts =
                allowing(self.allow_root_accounts.iter().map(String::as_str))
                    .context("--allow-root-account")?
                    .allowed_root_accounts;
        }
        if !self.allow_orgs.is_empty() {
            config.rules = allowing_orgs(config.rules, self.allow_orgs.iter().map(String::as_str))
                .context("--allow-org")?;
        }
        if !self.allow_replication_accounts.is_empty() {
            config.rules = allowing_replication(
                config.rules,
                self.allow_replication_accounts.iter().map(String::as_str),
            )
            .context("--allow-replication-account")?;
        }
        if let Some(mode) = mode {
            config.mode = mode;
        }
        config.validate()?;
        Ok(config)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    /// SARIF 2.1.0, for code scanning (`check` only)
    Sarif,
    /// JUnit XML, for CI test reports (`check` only)
    Junit,
}

impl Format {
    /// The commands other than `check` write text or JSON only.
    pub fn text_or_json(self, command: &str) -> Result<Format> {
        match self {
            Format::Text | Format::Json => Ok(self),
            Format::Sarif | Format::Junit => {
                anyhow::bail!(
                    "`--format sarif` and `--format junit` are for `check`, not `{command}`"
                )
            }
        }
    }
}

fn parse_account(s: &str) -> Result<String, String> {
    if ecr_policy_guard_core::policy::is_account_id(s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{} is not a 12-digit account id",
            ecr_policy_guard_core::text::tick(s)
        ))
    }
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n @ 1..=crate::check::MAX_JOBS) => Ok(n),
        _ => Err(format!(
            "{} is not a number of threads from 1 to {}",
            ecr_policy_guard_core::text::tick(s),
            crate::check::MAX_JOBS
        )),
    }
}

fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse(s).ok_or_else(|| {
        format!(
            "{} is not a date (YYYY-MM-DD)",
            ecr_policy_guard_core::text::tick(s)
        )
    })
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}
