//! The `ecr-policy-guard` command: check policies and dry-run events locally (no AWS needed),
//! replay an event or run the scan against AWS, and run the local demo. This file only parses
//! and dispatches; each subcommand has its own module, and `exit` maps outcomes to exit codes.

mod args;
mod batch;
mod check;
#[cfg(feature = "demo")]
mod demo;
mod evaluate;
mod exit;
mod iac;
mod input;
mod live;

use args::{Cli, Command};
use clap::Parser;
use ecr_policy_guard_core::Owner;
use ecr_policy_guard_core::policy::{PolicyKind, RegistryScope};
use ecr_policy_guard_core::render::text::{Style, to_json, waivers_text};
use exit::Exit;
use std::io::IsTerminal;

// Batch checks allocate many small strings and vectors on several threads, where mimalloc is
// markedly faster than the system allocator (measured in tests/benches/compare.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Exit {
    let cli = Cli::parse();
    let style = Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    match run(cli.command, style) {
        Ok(exit) => exit,
        Err(error) => {
            // One line: the whole context chain, joined.
            eprintln!("error: {error:#}");
            Exit::Invalid
        }
    }
}

fn run(command: Command, style: Style) -> anyhow::Result<Exit> {
    match command {
        Command::Check {
            settings,
            jsonl,
            account,
            registry,
            region,
            parameters,
            partition,
            strict,
            jobs,
            policies,
        } => {
            let config = settings.load(None)?;
            let owner = match &account {
                Some(account) => Owner::Account(account),
                None => Owner::Unknown,
            };
            let check = check::Check {
                config: &config,
                owner,
                kind: if registry {
                    PolicyKind::Registry
                } else {
                    PolicyKind::Repository
                },
                scope: RegistryScope {
                    account: account.as_deref(),
                    region: region.as_deref(),
                },
                format: settings.format,
                style,
            };
            let deployment = iac::Deployment {
                account: account.as_deref(),
                region: region.as_deref(),
                partition: partition.as_deref(),
                parameters: &parameters,
                strict,
            };
            if let Some(exit) = iac::run(&check, &deployment, &policies, &jsonl)? {
                return Ok(exit);
            }
            match (jsonl.is_empty(), policies.as_slice()) {
                (true, [policy]) => check.one(policy),
                _ => check.batch(&policies, &jsonl, jobs),
            }
        }
        Command::Evaluate {
            settings,
            mode,
            events,
        } => {
            settings.format.text_or_json("evaluate")?;
            let config = settings.load(mode)?;
            Ok(evaluate::evaluate_all(
                &events,
                &config,
                settings.format,
                style,
            ))
        }
        Command::Waivers { settings } => {
            let format = settings.format.text_or_json("waivers")?;
            let config = settings.load(None)?;
            let today = config.today();
            let states: Vec<_> = config.waivers.iter().map(|w| w.state(today)).collect();
            let out = match format {
                args::Format::Json => to_json(&states) + "\n",
                _ => waivers_text(&states, today, style),
            };
            input::print(&out)?;
            Ok(Exit::of_waivers(&states))
        }
        Command::Handle { aws, event } => {
            aws.settings.format.text_or_json("handle")?;
            live::handle_command(&aws, &event, style)
        }
        Command::Scan {
            aws,
            max_seconds,
            scan_accounts,
            scan_regions,
        } => {
            aws.settings.format.text_or_json("scan")?;
            live::scan_command(&aws, max_seconds, &scan_accounts, &scan_regions)
        }
        #[cfg(feature = "demo")]
        Command::Demo {
            verbose,
            keep_running,
        } => {
            let options = demo::Options {
                verbose,
                keep_running,
            };
            live::runtime()?
                .block_on(demo::run(style, options))
                .map(|()| Exit::Clean)
        }
        #[cfg(not(feature = "demo"))]
        Command::Demo { .. } => {
            anyhow::bail!("this build has no demo (built without the `demo` feature)")
        }
    }
}
