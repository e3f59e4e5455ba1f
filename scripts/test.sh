#!/usr/bin/env bash
# Installs what the tests need, then runs every check CI runs: fmt, clippy, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Rust components for the lint steps (present on the standard machine; added when missing).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== interlude check campaigns"
cargo run --quiet --locked -- check campaigns --themes themes
echo "== cargo test"
cargo test --locked --all-targets
