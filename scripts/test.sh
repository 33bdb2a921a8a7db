#!/usr/bin/env bash
# Runs every test of vcollect: installs what the tests need (scripts/setup.sh), checks
# formatting and lints, runs the Rust suite with cargo-nextest (unit, property, simulator,
# InfluxDB and multi-process cluster tests), then the container cluster-tests: the Ansible
# role deploys the release binary onto systemd containers and the failure scenarios run.
# After the Rust suite, a short fuzzing pass (scripts/fuzz.sh: about a minute per target).
#   VCOLLECT_SKIP_CLUSTER_TESTS=1 scripts/test.sh    skips the container stage
#   VCOLLECT_SKIP_FUZZ=1 scripts/test.sh             skips the fuzzing pass
#   VCOLLECT_FUZZ_SECONDS=N scripts/test.sh          fuzzes N seconds per target (default 60)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --all-targets --locked --no-fail-fast "$@"
if [ "${VCOLLECT_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh "${VCOLLECT_FUZZ_SECONDS:-60}"
fi
if [ "${VCOLLECT_SKIP_CLUSTER_TESTS:-0}" != 1 ]; then
  cargo build --release --locked
  cluster-tests/run.sh --binary target/release/vcollect
fi
