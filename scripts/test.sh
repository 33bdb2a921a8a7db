#!/usr/bin/env bash
# Runs every test of vcollect: installs what the tests need (scripts/setup.sh), checks
# formatting and lints, then runs the whole suite with cargo-nextest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --all-targets --locked --no-fail-fast "$@"
