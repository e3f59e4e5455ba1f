#!/usr/bin/env bash
# Installs what the tests need, then runs every check CI runs: fmt, clippy, the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# Rust components for the lint steps (present on the standard machine; added when missing).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

# Node.js and the harness's npm packages for the Auth0 Action tests (tests/api/actions.rs
# runs examples/auth0/test/harness.mjs; those tests fail without them).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm"
  apt-get update
  apt-get install -y nodejs npm
fi
if [ ! -d examples/auth0/node_modules ]; then
  echo "== npm ci (examples/auth0)"
  (cd examples/auth0 && npm ci --no-audit --no-fund)
fi

# Debian's Chromium and the browser tests' npm packages (tests/api/pages.rs runs
# tests/browser/run.mjs: playwright-core drives /usr/bin/chromium, axe-core checks each page;
# no browser is ever downloaded). DejaVu fonts carry the Arabic pages' glyphs.
if [ ! -x /usr/bin/chromium ]; then
  echo "== installing chromium"
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-dejavu-core
fi
if [ ! -f tests/browser/node_modules/playwright-core/package.json ] \
  || [ ! -f tests/browser/node_modules/axe-core/axe.min.js ]; then
  echo "== npm ci (tests/browser)"
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets --locked -- -D warnings
echo "== interlude check campaigns"
cargo run --quiet --locked -- check campaigns --themes themes
echo "== cargo test"
cargo test --locked --all-targets
