//! Single-threaded, in-process throughput over a JSON Lines corpus, best of 5 passes:
//! `floor` parses each line into a `serde_json::Value` and nothing else; `guard` parses it as a
//! policy and runs the rules; `parse` only parses it as a policy (the rules' share is the rest);
//! `json` only builds its strict JSON tree (`Json::parse`, the syntax share of `parse`);
//! `render` is `guard` plus each result rendered as the batch `check` writes it in JSON (the
//! output's share is the difference).
//! `cargo run --release --example throughput -- FILE` prints `floor <seconds>`,
//! `guard <seconds>`, `parse <seconds>`, `json <seconds>` and `render <seconds>`, one line each.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a benchmark tool: its output is its result"
)]

use ecr_policy_guard_core::json::Json;
use ecr_policy_guard_core::render::text::{CheckResult, result_json};
use ecr_policy_guard_core::{Owner, Policy, RuleConfig};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn best_of_5(mut pass: impl FnMut()) -> Duration {
    (0..5)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("error: usage: throughput FILE");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        eprintln!("error: cannot read `{path}`: {e}");
        std::process::exit(2);
    });
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let rules = RuleConfig::allowing(["111122223333"]).unwrap_or_default();
    let floor = best_of_5(|| {
        for line in &lines {
            black_box(serde_json::from_str::<serde_json::Value>(black_box(line)).ok());
        }
    });
    let parse = best_of_5(|| {
        for line in &lines {
            black_box(Policy::parse(black_box(line)).ok());
        }
    });
    let json = best_of_5(|| {
        for line in &lines {
            black_box(Json::parse(black_box(line)).ok());
        }
    });
    let guard = best_of_5(|| {
        for line in &lines {
            black_box(
                Policy::parse(black_box(line))
                    .map(|p| rules.check(&p, Owner::Unknown))
                    .ok(),
            );
        }
    });
    let mut out = Vec::new();
    let render = best_of_5(|| {
        for (number, line) in lines.iter().enumerate() {
            out.clear();
            let checked = Policy::parse(black_box(line))
                .map(|p| rules.check(&p, Owner::Unknown))
                .map_err(|e| e.to_string());
            result_json(
                &mut out,
                &CheckResult::judged(&path, Some(number + 1), checked),
            );
            black_box(&out);
        }
    });
    println!("floor {:.6}", floor.as_secs_f64());
    println!("guard {:.6}", guard.as_secs_f64());
    println!("parse {:.6}", parse.as_secs_f64());
    println!("json {:.6}", json.as_secs_f64());
    println!("render {:.6}", render.as_secs_f64());
}
