//! criterion benchmarks: parse + rules per policy (against the serde_json parse-only floor),
//! and `evaluate` on a sample event. `cargo bench --bench policy`.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ecr_policy_guard_core::testkit::corpus;
use ecr_policy_guard_core::{Mode, Owner, Policy, RuleConfig, evaluate};
use std::hint::black_box;

fn policies(c: &mut Criterion) {
    let rules = RuleConfig::allowing(["111122223333"]).unwrap_or_default();
    let mut all = corpus(42, 2_000);
    all.sort_by_key(String::len);
    // Three size bands of the corpus: small, median, near ECR's limit.
    let bands = [
        ("small", &all[..200]),
        ("median", &all[900..1100]),
        ("large", &all[1800..]),
    ];
    let mut group = c.benchmark_group("policy");
    for (name, band) in bands {
        let bytes: usize = band.iter().map(String::len).sum();
        group.throughput(Throughput::Bytes(bytes as u64));
        group.bench_with_input(BenchmarkId::new("parse+rules", name), band, |b, band| {
            b.iter(|| {
                for text in band {
                    let policy = Policy::parse(black_box(text)).ok();
                    black_box(policy.map(|p| rules.check(&p, Owner::Unknown)));
                }
            })
        });
        group.bench_with_input(
            BenchmarkId::new("serde_json-floor", name),
            band,
            |b, band| {
                b.iter(|| {
                    for text in band {
                        black_box(serde_json::from_str::<serde_json::Value>(black_box(text)).ok());
                    }
                })
            },
        );
    }
    group.finish();
}

fn events(c: &mut Criterion) {
    // The allowlist of events/guard.toml.
    let rules = RuleConfig::allowing(["111122223333"]).unwrap_or_default();
    let event = include_str!("../../events/set-policy-multiple-violations.json");
    c.bench_function("evaluate/set-policy-multiple-violations", |b| {
        b.iter(|| black_box(evaluate(black_box(event), &rules, Mode::Alert).ok()))
    });
}

criterion_group!(benches, policies, events);
criterion_main!(benches);
