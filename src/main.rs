//! The `ecr-policy-guard` command: check policies and dry-run events locally (no AWS needed),
//! replay an event through the real handler (`handle`), and run the local demo.

mod demo;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use ecr_policy_guard::alert::Taken;
use ecr_policy_guard::aws::AwsPorts;
use ecr_policy_guard::config::parse_allowlist;
use ecr_policy_guard::event::MAX_EVENT_BYTES;
use ecr_policy_guard::handler::handle;
use ecr_policy_guard::report::{self, BatchReport, CheckReport, CheckResult, Style};
use ecr_policy_guard::scan::{ScanReport, scan};
use ecr_policy_guard::{Config, Mode, Policy, evaluate};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

// Batch checks allocate many small strings and vectors on several threads, where mimalloc is
// markedly faster than the system allocator (measured in tests/benches/compare.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit codes; part of the interface for scripts and CI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Exit {
    /// Compliant, or nothing to judge.
    Clean = 0,
    /// Violations found.
    Violations = 1,
    /// Unreadable or invalid input, or a usage error.
    Invalid = 2,
}

#[derive(Parser)]
#[command(
    name = "ecr-policy-guard",
    version,
    about = "Check Amazon ECR repository policies against organisation rules",
    after_help = "Exit codes: 0 compliant or ignored, 1 violations, 2 invalid input."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check repository policy files (or `-` for stdin), or JSON Lines of policies
    Check {
        #[command(flatten)]
        settings: Settings,
        /// JSON Lines file (or `-`) with one policy document per line; blank lines are not
        /// inputs. Repeatable
        #[arg(long, value_name = "FILE")]
        jsonl: Vec<String>,
        /// Policy JSON files, or `-` for standard input; one file keeps the single-result output
        #[arg(required_unless_present = "jsonl")]
        policies: Vec<String>,
    },
    /// Dry-run the guard on CloudTrail events (EventBridge envelopes or bare records); no AWS calls
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
    /// (AWS_REGION, AWS_ENDPOINT_URL, credentials)
    Handle {
        #[command(flatten)]
        aws: AwsSettings,
        /// Event JSON file, or `-` for standard input
        event: String,
    },
    /// Run the reconciliation scan now, as the Lambda's schedule does: every repository of the
    /// account and region, judged and handled per mode, then one summary alert. Uses the
    /// standard AWS environment
    Scan {
        #[command(flatten)]
        aws: AwsSettings,
        /// Stop after this many seconds, saving the position for the next run [default: no limit]
        #[arg(long, value_name = "SECONDS")]
        max_seconds: Option<u64>,
    },
    /// Local demo on moto server (no AWS account): replays sample events in alert and revert
    /// mode and prints verdicts, policies before and after, and the alerts as delivered
    Demo,
}

#[derive(Args)]
struct Settings {
    /// TOML file with `mode` and `allowed_root_accounts`; flags override it
    #[arg(long, value_name = "FILE")]
    config: Option<String>,
    /// Account whose root may be granted (12-digit id or root ARN); repeat for more.
    /// Given at least once, these replace the config file's list
    #[arg(long = "allow-root-account", value_name = "ID")]
    allow_root_accounts: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

/// The settings of the commands that act on AWS (`handle`, `scan`).
#[derive(Args)]
struct AwsSettings {
    #[command(flatten)]
    settings: Settings,
    /// alert or revert [default: alert, or the config's]
    #[arg(long, value_parser = parse_mode)]
    mode: Option<Mode>,
    /// SNS topic for alerts [default: the config's `alert_topic_arn`]
    #[arg(long, value_name = "ARN")]
    topic_arn: Option<String>,
}

impl AwsSettings {
    /// The config with `--mode` and `--topic-arn` applied.
    fn config(&self) -> Result<Config> {
        let mut config = load_config(&self.settings, self.mode)?;
        if let Some(arn) = &self.topic_arn {
            config.alert_topic_arn = Some(arn.clone());
            config.validate()?;
        }
        Ok(config)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

fn parse_mode(s: &str) -> Result<Mode, String> {
    s.parse()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(error) => {
            // One line: the whole context chain, joined.
            eprintln!("error: {error:#}");
            ExitCode::from(Exit::Invalid as u8)
        }
    }
}

fn run(cli: Cli) -> Result<Exit> {
    let style = Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match cli.command {
        Command::Check {
            settings,
            jsonl,
            policies,
        } => {
            let config = load_config(&settings, None)?;
            match (jsonl.is_empty(), policies.as_slice()) {
                (true, [policy]) => check_one(policy, &config, settings.format, style),
                _ => check_batch(&policies, &jsonl, &config, settings.format, style),
            }
        }
        Command::Evaluate {
            settings,
            mode,
            events,
        } => {
            let config = load_config(&settings, mode)?;
            let several = events.len() > 1;
            let mut worst = Exit::Clean;
            for path in &events {
                let exit = evaluate_one(path, &config, settings.format, style, several);
                worst = worst.max(exit);
            }
            Ok(worst)
        }
        Command::Handle { aws, event } => {
            let config = aws.config()?;
            let text = read_input(&event, MAX_EVENT_BYTES)?;
            let incident = runtime()?.block_on(replay(&text, &config))?;
            let out = match aws.settings.format {
                Format::Json => report::to_json(&incident) + "\n",
                Format::Text => report::incident_text(&incident, style),
            };
            print(&out)?;
            Ok(match incident.taken {
                Taken::Nothing => Exit::Clean,
                Taken::MalformedEvent => Exit::Invalid,
                _ => Exit::Violations,
            })
        }
        Command::Scan { aws, max_seconds } => {
            let config = aws.config()?;
            let report = runtime()?.block_on(scan_now(&config, max_seconds))?;
            let out = match aws.settings.format {
                Format::Json => report::to_json(&report) + "\n",
                Format::Text => ecr_policy_guard::alert::render_scan(&report).email,
            };
            print(&out)?;
            Ok(
                if !report.unchecked.is_empty() || report.revert_failed > 0 {
                    Exit::Invalid
                } else if report.non_compliant > 0 {
                    Exit::Violations
                } else {
                    Exit::Clean
                },
            )
        }
        Command::Demo => runtime()?.block_on(demo::run(style)).map(|()| Exit::Clean),
    }
}

/// `check` on one file: invalid input is an error (exit 2), as in a pipeline step.
fn check_one(policy: &str, config: &Config, format: Format, style: Style) -> Result<Exit> {
    let text = read_input(policy, MAX_POLICY_FILE_BYTES)?;
    let parsed = Policy::parse(&text).with_context(|| display(policy))?;
    let violations = config.rules.check(&parsed);
    let out = match format {
        Format::Json => {
            report::to_json(&CheckReport {
                compliant: violations.is_empty(),
                violations: &violations,
            }) + "\n"
        }
        Format::Text => report::check_text(&violations, style),
    };
    print(&out)?;
    Ok(if violations.is_empty() {
        Exit::Clean
    } else {
        Exit::Violations
    })
}

/// `check` on several inputs: one result each (an invalid one included), then a summary; the
/// exit code is the worst of them. Inputs are judged on all cores, results kept in input order.
fn check_batch(
    files: &[String],
    jsonl: &[String],
    config: &Config,
    format: Format,
    style: Style,
) -> Result<Exit> {
    let mut report = BatchReport::default();
    for file in files {
        let text = read_input(file, MAX_POLICY_FILE_BYTES);
        report.push(judge(
            config,
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
                                judge(config, file, Some(*number), text)
                            })
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join()).collect()
        });
        // A worker only panics on a bug; fail loudly rather than lose its results.
        let results =
            results.map_err(|_| anyhow::anyhow!("internal error: a checking thread panicked"))?;
        results.into_iter().flatten().for_each(|r| report.push(r));
    }
    if report.summary.inputs == 0 {
        bail!("no policy documents in the input");
    }
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        // Compact and streamed: batch output is for machines and can be large.
        Format::Json => serde_json::to_writer(&mut stdout, &report)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(stdout)),
        Format::Text => stdout.write_all(report::batch_text(&report, style).as_bytes()),
    }
    .and_then(|()| stdout.flush())
    .context("cannot write to standard output")?;
    let s = &report.summary;
    Ok(if s.invalid > 0 {
        Exit::Invalid
    } else if s.non_compliant > 0 {
        Exit::Violations
    } else {
        Exit::Clean
    })
}

/// Judges one input of a batch.
fn judge(
    config: &Config,
    file: &str,
    line: Option<usize>,
    text: Result<&str, String>,
) -> CheckResult {
    let checked = text.and_then(|text| {
        Policy::parse(text)
            .map(|policy| config.rules.check(&policy))
            .map_err(|e| e.to_string())
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

/// JSON Lines input is read whole; beyond this it is refused rather than exhaust memory.
const MAX_JSONL_BYTES: usize = 1 << 30;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// The SDK-backed ports from the standard AWS environment, and the region they act in.
async fn connect(config: &Config) -> Result<(AwsPorts, String)> {
    let Some(topic_arn) = config.alert_topic_arn.clone() else {
        bail!("no alert topic: pass --topic-arn or set `alert_topic_arn` in the config");
    };
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let aws = AwsPorts::new(&sdk, topic_arn, config.scan_parameter().to_owned());
    Ok((aws, region))
}

/// Runs the scan, stopping after `max_seconds` when given.
async fn scan_now(config: &Config, max_seconds: Option<u64>) -> Result<ScanReport> {
    let (aws, region) = connect(config).await?;
    let deadline =
        max_seconds.map(|s| std::time::Instant::now() + std::time::Duration::from_secs(s));
    let should_stop = move || deadline.is_some_and(|d| std::time::Instant::now() >= d);
    Ok(scan(config, &region, &aws.ports(), &aws.state, &should_stop).await?)
}

/// Runs the Lambda's handler on one event.
async fn replay(text: &str, config: &Config) -> Result<ecr_policy_guard::alert::Incident> {
    let (aws, _) = connect(config).await?;
    Ok(handle(text, config, &aws.ports()).await?)
}

/// Evaluates one event file and prints its result (or its one-line error); several files
/// continue past a bad one so that every file gets a verdict.
fn evaluate_one(path: &str, config: &Config, format: Format, style: Style, several: bool) -> Exit {
    let result = read_input(path, MAX_EVENT_BYTES)
        .and_then(|text| evaluate(&text, config).with_context(|| display(path)));
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("error: {error:#}");
            return Exit::Invalid;
        }
    };
    let out = match format {
        // Several files: JSON Lines, one object per file, each naming its file.
        Format::Json if several => {
            let mut value = serde_json::to_value(&outcome).unwrap_or_default();
            if let Some(map) = value.as_object_mut() {
                map.insert("file".into(), path.into());
            }
            format!("{value}\n")
        }
        Format::Json => report::to_json(&outcome) + "\n",
        Format::Text if several => format!(
            "{}\n{}\n",
            file_header(path),
            report::outcome_text(&outcome, style)
        ),
        Format::Text => report::outcome_text(&outcome, style),
    };
    if let Err(error) = print(&out) {
        eprintln!("error: {error:#}");
        return Exit::Invalid;
    }
    if outcome.action.is_violation() {
        Exit::Violations
    } else {
        Exit::Clean
    }
}

fn file_header(path: &str) -> String {
    format!("== {path}")
}

/// Policy files larger than this cannot be ECR policies (10,240 characters of at most 4 bytes);
/// reading stops there so a huge file costs no memory.
const MAX_POLICY_FILE_BYTES: usize = 64 * 1024;

fn load_config(settings: &Settings, mode: Option<Mode>) -> Result<Config> {
    let mut config = match &settings.config {
        Some(path) => {
            let text = read_input(path, 1 << 20)?;
            Config::from_toml(&text).with_context(|| display(path))?
        }
        None => Config::default(),
    };
    if !settings.allow_root_accounts.is_empty() {
        config.rules.allowed_root_accounts =
            parse_allowlist(settings.allow_root_accounts.iter().map(String::as_str))
                .context("--allow-root-account")?;
    }
    if let Some(mode) = mode {
        config.mode = mode;
    }
    config.validate()?;
    Ok(config)
}

/// Reads a file (or stdin for `-`), refusing more than `limit` bytes.
fn read_bytes(path: &str, limit: usize) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let read = if path == "-" {
        std::io::stdin()
            .lock()
            .take(limit as u64 + 1)
            .read_to_end(&mut bytes)
    } else {
        std::fs::File::open(Path::new(path))
            .and_then(|f| f.take(limit as u64 + 1).read_to_end(&mut bytes))
    };
    read.with_context(|| format!("cannot read {}", display(path)))?;
    if bytes.len() > limit {
        bail!("{} is larger than {limit} bytes", display(path));
    }
    Ok(bytes)
}

/// Reads a file (or stdin for `-`) as UTF-8, refusing more than `limit` bytes.
fn read_input(path: &str, limit: usize) -> Result<String> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|e| {
        anyhow::anyhow!(
            "{} is not valid UTF-8 (invalid byte at offset {})",
            display(path),
            e.utf8_error().valid_up_to()
        )
    })
}

fn display(path: &str) -> String {
    if path == "-" {
        "standard input".into()
    } else {
        ecr_policy_guard::text::tick(path)
    }
}

fn print(out: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .context("cannot write to standard output")
}
