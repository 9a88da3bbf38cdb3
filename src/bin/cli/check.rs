//! `check`: one policy file, or a batch of files and JSON Lines judged on every core.

use crate::args::Format;
use crate::exit::Exit;
use crate::input::{
    MAX_JSONL_BYTES, MAX_POLICY_FILE_BYTES, display, print, read_bytes, read_input, write_stdout,
};
use anyhow::{Context, Result, bail};
use ecr_policy_guard::Config;
use ecr_policy_guard_core::policy::document_text;
use ecr_policy_guard_core::render::text::{
    BatchReport, CheckReport, CheckResult, Style, batch_text, check_text, to_json,
};
use ecr_policy_guard_core::{Owner, Policy, PolicyError};

/// One `check` command: its settings and whose repository the policies are for.
pub struct Check<'a> {
    pub config: &'a Config,
    pub owner: Owner<'a>,
    pub format: Format,
    pub style: Style,
}

impl Check<'_> {
    /// `check` on one file: invalid input is an error (exit 2), as in a pipeline step.
    pub fn one(&self, policy: &str) -> Result<Exit> {
        let (config, format, style) = (self.config, self.format, self.style);
        let text = read_input(policy, MAX_POLICY_FILE_BYTES)?;
        let document = document_text(&text);
        let parsed = Policy::parse(&document).with_context(|| display(policy))?;
        let violations = config.rules.check(&parsed, self.owner);
        let out = match format {
            Format::Json => {
                to_json(&CheckReport {
                    compliant: violations.is_empty(),
                    violations: &violations,
                }) + "\n"
            }
            Format::Text => check_text(&violations, style),
        };
        print(&out)?;
        Ok(Exit::of_violations(violations.len()))
    }

    /// `check` on several inputs: one result each (an invalid one included), then a summary; the
    /// exit code is the worst of them. Inputs are judged on all cores, results kept in input order.
    pub fn batch(&self, files: &[String], jsonl: &[String]) -> Result<Exit> {
        let (config, format, style, owner) = (self.config, self.format, self.style, self.owner);
        let mut report = BatchReport::default();
        for file in files {
            let text = read_input(file, MAX_POLICY_FILE_BYTES);
            report.push(judge(
                config,
                owner,
                file,
                None,
                text.as_deref().map_err(|e| format!("{e:#}")),
            ));
        }
        for file in jsonl {
            let bytes = read_bytes(file, MAX_JSONL_BYTES)?;
            let lines: Vec<(usize, &[u8])> = bytes
                .split(|b| *b == b'\n')
                .enumerate()
                .filter(|(_, line)| !line.iter().all(u8::is_ascii_whitespace))
                .map(|(index, line)| (index + 1, line))
                .collect();
            let threads = std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(16);
            let chunk = lines.len().div_ceil(threads).max(1);
            let results: Result<Vec<Vec<CheckResult>>, _> = std::thread::scope(|scope| {
                let workers: Vec<_> = lines
                    .chunks(chunk)
                    .map(|part| {
                        scope.spawn(move || {
                            part.iter()
                                .map(|(number, line)| {
                                    let text = std::str::from_utf8(line).map_err(|e| {
                                        format!(
                                            "line is not valid UTF-8 (invalid byte at offset {})",
                                            e.valid_up_to()
                                        )
                                    });
                                    judge(config, owner, file, Some(*number), text)
                                })
                                .collect()
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join()).collect()
            });
            // A worker only panics on a bug; fail loudly rather than lose its results.
            let results = results
                .map_err(|_| anyhow::anyhow!("internal error: a checking thread panicked"))?;
            results.into_iter().flatten().for_each(|r| report.push(r));
        }
        if report.summary.inputs == 0 {
            bail!("no policy documents in the input");
        }
        write_stdout(|stdout| match format {
            // Compact and streamed: batch output is for machines and can be large.
            Format::Json => serde_json::to_writer(&mut *stdout, &report)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(stdout)),
            Format::Text => stdout.write_all(batch_text(&report, style).as_bytes()),
        })?;
        Ok(Exit::of_batch(&report))
    }
}

/// Judges one input of a batch.
fn judge(
    config: &Config,
    owner: Owner,
    file: &str,
    line: Option<usize>,
    text: Result<&str, String>,
) -> CheckResult {
    let checked = text.and_then(|text| {
        config
            .rules
            .check_text(&document_text(text), owner)
            // A JSON Lines input is one line of its file: its errors name that line.
            .map_err(|e: PolicyError| match line {
                Some(line) => e.on_line(line).to_string(),
                None => e.to_string(),
            })
    });
    let (compliant, violations, error) = match checked {
        Ok(violations) => (Some(violations.is_empty()), violations, None),
        Err(error) => (None, Vec::new(), Some(error)),
    };
    CheckResult {
        file: file.to_owned(),
        line,
        compliant,
        violations,
        error,
    }
}
