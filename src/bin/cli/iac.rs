//! `check` on templates and plans (and policy files, for SARIF and JUnit): which inputs go this
//! way, reading them, and writing the report. The judging and rendering are the core's
//! (`ecr_policy_guard_core::iac`, `render::{findings, sarif, junit}`).

use crate::args::Format;
use crate::check::Check;
use crate::exit::Exit;
use crate::input::{MAX_POLICY_FILE_BYTES, display, print, read_input};
use anyhow::{Context, Result, bail};
use ecr_policy_guard_core::iac::{self, IacSummary, Settings, Source};
use ecr_policy_guard_core::policy::PolicyKind;
use ecr_policy_guard_core::render::iac::{IacDocument, iac_text};
use ecr_policy_guard_core::render::junit::junit;
use ecr_policy_guard_core::render::sarif::sarif;
use ecr_policy_guard_core::render::text::to_json;
use std::io::Read;

/// Templates and plans larger than this are refused (CloudFormation's own limit is 1 MB; plans of
/// large configurations run to tens of megabytes).
pub const MAX_IAC_FILE_BYTES: usize = 64 << 20;
/// Enough of a file to see its first key.
const HEAD_BYTES: u64 = 4096;

/// The deployment context of `check` on templates: flags, with their documented defaults.
pub struct Deployment<'a> {
    pub account: Option<&'a str>,
    pub region: Option<&'a str>,
    pub partition: Option<&'a str>,
    pub parameters: &'a [(String, String)],
    /// `--strict`: a free parameter judged with its `Default` is a problem, not an assumption.
    pub strict: bool,
}

/// Runs `check` here when the format needs locations (`sarif`, `junit`) or an input is a
/// template or plan; `None` leaves it to the policy path (`Check::one`, `Check::batch`).
pub fn run(
    check: &Check,
    deployment: &Deployment,
    files: &[String],
    jsonl: &[String],
) -> Result<Option<Exit>> {
    let structured = matches!(check.format, Format::Sarif | Format::Junit);
    if !jsonl.is_empty() {
        if structured {
            bail!(
                "`--jsonl` is for text and json output; give policy files by name for sarif and junit"
            );
        }
        return Ok(None);
    }
    // Standard input can be read only once: when it is the only input, it is read here and
    // judged by what it holds; in a batch of several it is a policy document.
    let mut stdin_text = None;
    let mut infrastructure = structured;
    for file in files {
        let source = if file == "-" {
            if files.len() > 1 && !structured {
                continue;
            }
            let text = read_input(file, MAX_IAC_FILE_BYTES)?;
            let source = iac::classify(file, &text);
            refuse_oversized_policy(file, source, &text)?;
            stdin_text = Some(text);
            source
        } else {
            iac::classify(file, &head(file)?)
        };
        infrastructure |= source != Source::Policy;
    }
    if !infrastructure {
        // For policy files `--region` names the registry of `--registry` policies; the
        // deployment flags are for templates and plans.
        if deployment.region.is_some() && check.kind == PolicyKind::Repository {
            bail!("`--region` is for `--registry` policies and for templates and plans");
        }
        if deployment.partition.is_some() || !deployment.parameters.is_empty() {
            bail!("`--partition` and `--parameter` are for templates and plans");
        }
        return match stdin_text {
            Some(text) => check.one_text("-", &text).map(Some),
            None => Ok(None),
        };
    }
    let settings = Settings {
        rules: &check.config.rules,
        account: deployment.account.unwrap_or(iac::DEFAULT_ACCOUNT),
        account_given: deployment.account.is_some(),
        region: deployment.region.unwrap_or(iac::DEFAULT_REGION),
        region_given: deployment.region.is_some(),
        partition: deployment.partition.unwrap_or(iac::DEFAULT_PARTITION),
        stack_name: iac::DEFAULT_STACK_NAME,
        parameters: deployment.parameters,
        files_kind: check.kind,
        files_scope: check.scope,
        strict: deployment.strict,
    };
    let mut reports = Vec::with_capacity(files.len());
    for file in files {
        let text = match (file.as_str(), &stdin_text) {
            ("-", Some(text)) => text.clone(),
            _ => read_input(file, MAX_IAC_FILE_BYTES)?,
        };
        refuse_oversized_policy(file, iac::classify(file, &text), &text)?;
        reports.push(iac::check_file(file, &text, &settings));
    }
    let summary = IacSummary::of(&reports);
    let out = match check.format {
        Format::Text => iac_text(&reports, &summary, check.style),
        Format::Json => {
            to_json(&IacDocument {
                results: &reports,
                summary: &summary,
            }) + "\n"
        }
        Format::Sarif => {
            let log = sarif(&reports, env!("CARGO_PKG_VERSION"));
            serde_json::to_string_pretty(&log).context("cannot write the SARIF log")? + "\n"
        }
        Format::Junit => junit(&reports, &summary),
    };
    print(&out)?;
    Ok(Some(if summary.invalid > 0 {
        Exit::Invalid
    } else {
        Exit::of_violations(summary.non_compliant)
    }))
}

/// A policy document is held to the policy files' limit even when read with the templates' one.
fn refuse_oversized_policy(file: &str, source: Source, text: &str) -> Result<()> {
    if source == Source::Policy && text.len() > MAX_POLICY_FILE_BYTES {
        bail!(
            "{} is larger than {MAX_POLICY_FILE_BYTES} bytes",
            display(file)
        );
    }
    Ok(())
}

/// The start of a file, to tell what it is.
fn head(path: &str) -> Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(HEAD_BYTES).read_to_end(&mut bytes))
        .with_context(|| format!("cannot read {}", display(path)))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `--parameter KEY=VALUE`.
pub fn parse_parameter(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!(
            "{} is not `KEY=VALUE`",
            ecr_policy_guard_core::text::tick(s)
        )),
    }
}

/// `--region`: a region name such as `eu-west-1`.
pub fn parse_region(s: &str) -> Result<String, String> {
    let parts: Vec<&str> = s.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{} is not a region name (such as `eu-west-1`)",
            ecr_policy_guard_core::text::tick(s)
        ))
    }
}

/// `--partition`: `aws`, `aws-cn`, `aws-us-gov`, ...
pub fn parse_partition(s: &str) -> Result<String, String> {
    let ok = s == "aws"
        || s.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        });
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "{} is not a partition (`aws`, `aws-cn`, `aws-us-gov`, ...)",
            ecr_policy_guard_core::text::tick(s)
        ))
    }
}
