#!/usr/bin/env bash
# Benchmarks ecr-policy-guard against Cloud Custodian's cross-account checker, one row per corpus:
# generated corpora of a size profile (5,000 policies each by default) and/or any JSON Lines
# files; the serde_json parse-only floor, 1 core against all cores, peak RSS, cold start, binary
# size. Needs python3 and PyPI (c7n goes into target/bench/c7n-venv). Prints Markdown tables.
#   tests/benches/compare.sh                          # the small, mixed and large profiles
#   tests/benches/compare.sh --profile large --count 20000
#   tests/benches/compare.sh --jsonl my-policies.jsonl --rss ""     # no streamed-RSS rows
# Peak RSS is also measured on 10k, 100k and 1M mixed policies streamed through a pipe (--rss).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
work="$root/target/bench"
mkdir -p "$work"
c7n_version="0.9.53"
profiles=()
files=()
count=5000
seed=42
rss=10000,100000,1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profiles+=("$2"); shift 2 ;;
    --jsonl) files+=("$2"); shift 2 ;;
    --count) count="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --rss) rss="$2"; shift 2 ;;
    *) echo "error: unknown argument \`$1\` (--profile small|mixed|large, --jsonl FILE, --count N, --seed N, --rss N,N,...)" >&2; exit 2 ;;
  esac
done
if [ ${#profiles[@]} -eq 0 ] && [ ${#files[@]} -eq 0 ]; then profiles=(small mixed large); fi

cargo build --quiet --release --locked --bin ecr-policy-guard
# The Lambda as it is shipped: its feature only, the size-optimised profile of infra/package.sh.
cargo build --quiet --profile lambda-zip --locked --no-default-features --features lambda \
  --bin ecr-policy-guard-lambda
cargo build --quiet --release --locked -p ecr-policy-guard-core --features test-util \
  --example corpus --example throughput
corpora=()
for p in "${profiles[@]+"${profiles[@]}"}"; do
  target/release/examples/corpus "$count" "$seed" "$p" > "$work/corpus-$p.jsonl"
  corpora+=("$p=$work/corpus-$p.jsonl")
done
for f in "${files[@]+"${files[@]}"}"; do corpora+=("$(basename "$f")=$f"); done
if [ "$(cat "$work/c7n-venv/.c7n-version" 2>/dev/null)" != "$c7n_version" ]; then
  echo "compare: installing c7n==$c7n_version into target/bench/c7n-venv" >&2
  rm -rf "$work/c7n-venv"
  python3 -m venv "$work/c7n-venv"
  "$work/c7n-venv/bin/pip" install --quiet --disable-pip-version-check "c7n==$c7n_version"
  echo "$c7n_version" > "$work/c7n-venv/.c7n-version"
fi
"$work/c7n-venv/bin/python" tests/benches/compare.py "$work" "--rss=$rss" "${corpora[@]}"
