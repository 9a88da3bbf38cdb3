#!/usr/bin/env bash
# Builds the Lambda deployment zip with cargo lambda (installed from PyPI into
# target/package-venv on first use, with zig as the linker) and prints its path and size.
#   infra/package.sh            # x86_64
#   infra/package.sh --arm64    # needs the aarch64-unknown-linux-gnu Rust target installed
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
venv="$root/target/package-venv"
version="1.9.2"
if [ "$(cat "$venv/.cargo-lambda" 2>/dev/null)" != "$version" ]; then
  echo "package: installing cargo-lambda==$version into target/package-venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$version"
  echo "$version" > "$venv/.cargo-lambda"
fi
export PATH="$venv/bin:$PATH"
# Only the Lambda's feature: no CLI, no demo, fewer crates in the shipped binary.
cargo lambda build --release --locked --no-default-features --features lambda \
  --bin ecr-policy-guard-lambda --output-format zip \
  --lambda-dir target/lambda "$@" >&2
zip="target/lambda/ecr-policy-guard-lambda/bootstrap.zip"
echo "$zip $(stat -c %s "$zip") bytes"
