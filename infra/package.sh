#!/usr/bin/env bash
# Builds the Lambda deployment zip with cargo lambda (installed from PyPI into
# target/package-venv on first use, with zig as the linker) and prints the architecture it
# built, then the zip's path and size (the last line, "<path> <bytes> bytes").
#   infra/package.sh            # x86_64, the templates' default Architecture
#   infra/package.sh --arm64    # arm64 (Architecture=arm64); needs the aarch64-unknown-linux-gnu
#                               # Rust target (rustup target add aarch64-unknown-linux-gnu)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

fail() {
  echo "package: $*" >&2
  exit 1
}

architecture=""
choose() {
  if [ -n "$architecture" ] && [ "$architecture" != "$1" ]; then
    fail "both $architecture and $1 asked for: one zip holds one architecture"
  fi
  architecture="$1"
}
for arg in "$@"; do
  case "$arg" in
    --arm64) choose arm64 ;;
    --x86-64 | --x86_64) choose x86_64 ;;
    -h | --help)
      sed -n '2,7p' "$0"
      exit 0
      ;;
    *) fail "unsupported option \`$arg\` (only --arm64 or --x86-64): the zip must match a template's Architecture" ;;
  esac
done
architecture="${architecture:-x86_64}"
case "$architecture" in
  x86_64) target="x86_64-unknown-linux-gnu" flag="--x86-64" elf_machine=62 ;;
  arm64) target="aarch64-unknown-linux-gnu" flag="--arm64" elf_machine=183 ;;
esac

# cargo lambda cross-compiles with zig, but the Rust standard library of the target must be
# installed; say so now rather than after a long failed build.
if command -v rustup > /dev/null 2>&1; then
  if ! rustup target list --installed | grep -qx "$target"; then
    fail "cannot build $architecture: the Rust target $target is not installed (rustup target add $target)"
  fi
else
  echo "package: rustup not found; assuming the $target standard library is installed" >&2
fi

venv="$root/target/package-venv"
version="1.9.2"
if [ "$(cat "$venv/.cargo-lambda" 2> /dev/null)" != "$version" ]; then
  echo "package: installing cargo-lambda==$version into target/package-venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$version"
  echo "$version" > "$venv/.cargo-lambda"
fi
export PATH="$venv/bin:$PATH"
echo "package: building $architecture ($target)" >&2
# Only the Lambda's feature: no CLI, no demo, fewer crates in the shipped binary; the `lambda`
# profile (Cargo.toml) optimises for size.
cargo lambda build --profile lambda --locked --no-default-features --features lambda \
  --bin ecr-policy-guard-lambda --output-format zip --lambda-dir target/lambda "$flag" >&2
zip="target/lambda/ecr-policy-guard-lambda/bootstrap.zip"

# The binary inside must be for the architecture asked for (ELF e_machine: 62 x86-64, 183 AArch64).
built="$("$venv/bin/python" - "$zip" << 'EOF'
import struct, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    header = z.open("bootstrap").read(20)
print(struct.unpack("<H", header[18:20])[0] if header[:4] == b"\x7fELF" else "not-elf")
EOF
)"
if [ "$built" != "$elf_machine" ]; then
  fail "$zip holds a bootstrap for ELF machine $built, not $architecture ($elf_machine)"
fi
echo "architecture $architecture (deploy with Architecture=$architecture)"
echo "$zip $(stat -c %s "$zip") bytes"
