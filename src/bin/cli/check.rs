//! `check`: one policy file, or a batch of files and JSON Lines (streamed through `batch`).

use crate::args::Format;
use crate::batch::{self, Input, Judge, Render};
use crate::exit::Exit;
use crate::input::{MAX_POLICY_FILE_BYTES, display, print, read_input};
use anyhow::{Context, Result};
use ecr_policy_guard::Config;
use ecr_policy_guard_core::policy::{PolicyKind, RegistryScope, document_text};
use ecr_policy_guard_core::render::text::{CheckReport, CheckResult, Style, check_text, to_json};
use ecr_policy_guard_core::{Owner, PolicyError};

/// The most threads a batch is judged on: each holds a few batches of about 1 MB in flight, so
/// this bounds the memory of a batch check.
pub const MAX_JOBS: usize = 16;

/// One `check` command: its settings, whose repository (or registry) the policies are for and
/// which kind of policy they are.
pub struct Check<'a> {
    pub config: &'a Config,
    pub owner: Owner<'a>,
    pub kind: PolicyKind,
    pub scope: RegistryScope<'a>,
    pub format: Format,
    pub style: Style,
}

impl Check<'_> {
    /// `check` on one file: invalid input is an error (exit 2), as in a pipeline step.
    pub fn one(&self, policy: &str) -> Result<Exit> {
        let text = read_input(policy, MAX_POLICY_FILE_BYTES)?;
        self.one_text(policy, &text)
    }

    /// `check` on one policy already read (`policy` names it).
    pub fn one_text(&self, policy: &str, text: &str) -> Result<Exit> {
        let (config, format, style) = (self.config, self.format, self.style);
        let violations = config
            .rules
            .check_kind(&document_text(text), self.kind, self.scope, self.owner)
            .with_context(|| display(policy))?;
        let out = match format {
            Format::Json => {
                to_json(&CheckReport {
                    compliant: violations.is_empty(),
                    violations: &violations,
                }) + "\n"
            }
            // sarif and junit never come here (`iac::run` takes them).
            Format::Text | Format::Sarif | Format::Junit => check_text(&violations, style),
        };
        print(&out)?;
        Ok(Exit::of_violations(violations.len()))
    }

    /// `check` on several inputs: one result each (an invalid one included) in input order,
    /// written as they are judged on `jobs` threads (default: every core), then a summary; the
    /// exit code is the worst of them.
    pub fn batch(&self, files: &[String], jsonl: &[String], jobs: Option<usize>) -> Result<Exit> {
        let mut inputs: Vec<Input> = files.iter().cloned().map(Input::File).collect();
        for path in jsonl {
            inputs.push(Input::lines(path)?);
        }
        let render = match self.format {
            Format::Json => Render::Json,
            Format::Text | Format::Sarif | Format::Junit => Render::Text(self.style),
        };
        let workers = jobs.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_JOBS)
        });
        let summary = batch::run(inputs, self, render, workers)?;
        Ok(Exit::of_batch(&summary))
    }
}

impl Judge for Check<'_> {
    fn judge<'a>(
        &self,
        file: &'a str,
        line: Option<usize>,
        text: Result<&str, String>,
    ) -> CheckResult<'a> {
        let checked = text.and_then(|text| {
            self.config
                .rules
                .check_kind(&document_text(text), self.kind, self.scope, self.owner)
                // A JSON Lines input is one line of its file: its errors name that line.
                .map_err(|e: PolicyError| match line {
                    Some(line) => e.on_line(line).to_string(),
                    None => e.to_string(),
                })
        });
        CheckResult::judged(file, line, checked)
    }
}
