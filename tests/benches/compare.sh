#!/usr/bin/env bash
# Benchmarks ecr-policy-guard against Cloud Custodian's cross-account checker on one seeded
# 10,000-policy corpus, with the serde_json parse-only floor, cold start, binary size and peak
# RSS. Needs python3 and PyPI (c7n goes into target/bench/c7n-venv). Prints a Markdown table.
#   tests/benches/compare.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$root/target/bench"
mkdir -p "$work"
c7n_version="0.9.53"

cargo build --quiet --release --locked --bin ecr-policy-guard --bin ecr-policy-guard-lambda
cargo build --quiet --release --locked -p ecr-policy-guard-core --features test-util \
  --example corpus --example throughput
target/release/examples/corpus 10000 42 > "$work/corpus.jsonl"
if [ "$(cat "$work/c7n-venv/.c7n-version" 2>/dev/null)" != "$c7n_version" ]; then
  echo "compare: installing c7n==$c7n_version into target/bench/c7n-venv" >&2
  rm -rf "$work/c7n-venv"
  python3 -m venv "$work/c7n-venv"
  "$work/c7n-venv/bin/pip" install --quiet --disable-pip-version-check "c7n==$c7n_version"
  echo "$c7n_version" > "$work/c7n-venv/.c7n-version"
fi
"$work/c7n-venv/bin/python" tests/benches/compare.py "$work"
