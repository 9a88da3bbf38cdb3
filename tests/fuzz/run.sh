#!/usr/bin/env bash
# Runs the fuzz targets (policy parser, event reader, derived-policy invariant, template and plan
# reader) side by side for SECONDS each (default 600), seeded with the sample events, the policy
# and template fixtures and the benchmark corpus. A crash stops its target and leaves the input in
# tests/fuzz/artifacts/<target>/; turn each one into a regression test.
#   tests/fuzz/run.sh [SECONDS [TARGET...]]   (default: every target)
# cargo-fuzz needs nightly-only compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain
# accept them.
set -euo pipefail
seconds="${1:-600}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
seeds="$root/target/fuzz-corpus"
mkdir -p "$seeds/policy_parser" "$seeds/derived_policy" "$seeds/event_reader" "$seeds/template_reader"
for f in tests/fixtures/policies/*.json; do
  case "$f" in *.expected.json) continue ;; esac
  cp "$f" "$seeds/policy_parser/"; cp "$f" "$seeds/derived_policy/"
done
cp events/*.json tests/fixtures/events/*.json "$seeds/event_reader/" 2>/dev/null || true
rm -f "$seeds"/event_reader/*.expected.json
cargo run --quiet --release -p ecr-policy-guard-core --features test-util --example corpus -- 300 7 | split -l 1 - "$seeds/policy_parser/corpus-"
cp "$seeds"/policy_parser/corpus-* "$seeds/derived_policy/"
# The template reader's first byte picks the file name: 0 a YAML template, 1 JSON, 2 a plan.
for f in tests/fixtures/iac/*; do
  case "$f" in *.expected.json) continue ;; *.plan.json) pick='\002' ;; *.json) pick='\001' ;; *) pick='\000' ;; esac
  { printf "$pick"; cat "$f"; } > "$seeds/template_reader/$(basename "$f")"
done
cp tests/fixtures/fuzz-regressions/template_reader/* "$seeds/template_reader/"

targets=(policy_parser event_reader derived_policy template_reader)
if [ $# -gt 1 ]; then targets=("${@:2}"); fi
cargo fuzz build --fuzz-dir tests/fuzz -O
pids=()
for t in "${targets[@]}"; do
  cargo fuzz run --fuzz-dir tests/fuzz -O "$t" "$seeds/$t" -- \
    -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -print_final_stats=1 \
    > "$root/target/fuzz-$t.log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!targets[@]}"; do
  log="$root/target/fuzz-${targets[$i]}.log"
  if wait "${pids[$i]}"; then
    runs=$(grep -a -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || echo "?")
    echo "${targets[$i]}: no crash in ${seconds}s, $runs inputs"
  else
    echo "${targets[$i]}: CRASH, see $log and tests/fuzz/artifacts/${targets[$i]}/"
    status=1
  fi
done
exit $status
