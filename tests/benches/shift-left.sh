#!/usr/bin/env bash
# Side by side on the same templates and plans: ecr-policy-guard, Checkov (CKV_AWS_32) and Trivy
# (AVD-AWS-0032); prints Markdown tables (tests/benches/shift_left.py says what is compared).
# Installs Checkov from PyPI into target/bench/checkov-venv on first use. Trivy's PyPI package
# (trivy-py) downloads the trivy binary while it builds, which fails offline: Trivy runs only if
# a `trivy` is on PATH (or TRIVY names one).
#   tests/benches/shift-left.sh                 # builds the release binary first
#   GUARD=target/debug/ecr-policy-guard tests/benches/shift-left.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
venv="$root/target/bench/checkov-venv"
checkov_version="3.3.30"
if [ -z "${CHECKOV:-}" ] && [ "$(cat "$venv/.tools" 2>/dev/null)" != "checkov==$checkov_version" ]; then
  echo "shift-left: installing checkov==$checkov_version into target/bench/checkov-venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$checkov_version"
  echo "checkov==$checkov_version" > "$venv/.tools"
fi
if [ -z "${GUARD:-}" ]; then
  cargo build --quiet --release --bin ecr-policy-guard
  export GUARD="$root/target/release/ecr-policy-guard"
fi
export CHECKOV="${CHECKOV:-$venv/bin/checkov}"
# Offline: no Prisma Cloud platform calls, no check downloads.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
exec python3 tests/benches/shift_left.py
