#!/usr/bin/env bash
# Runs every test of vcollect: installs what the tests need (scripts/setup.sh), checks the
# module structure (scripts/structure.py), formatting and lints, runs the Rust suite with
# cargo-nextest (unit, property, simulator, InfluxDB and multi-process cluster tests), a short
# fuzzing pass (scripts/fuzz.sh: about a minute per target), the release artefacts
# (scripts/release.sh: the portable binary with its glibc check, the .deb and the .rpm;
# rpmlint; the two packages' layouts compared), then the container tests: the .deb installed,
# upgraded and removed in a clean container (cluster-tests/package-test.sh), the Ansible role
# deploying that .deb onto systemd containers and the failure scenarios
# (cluster-tests/run.sh --package), ending with a rolling upgrade from release 0.1 through
# the role's binary install mode.
#   VCOLLECT_SKIP_CLUSTER_TESTS=1 scripts/test.sh    skips the container stage
#   VCOLLECT_SKIP_FUZZ=1 scripts/test.sh             skips the fuzzing pass
#   VCOLLECT_FUZZ_SECONDS=N scripts/test.sh          fuzzes N seconds per target (default 60)
#   VCOLLECT_SKIP_RELEASE=1 scripts/test.sh          skips the release artefacts (the container
#                                                    stage then deploys `cargo build --release`)
#   VCOLLECT_FREE_DISK=1 scripts/test.sh             deletes each stage's build output when the
#                                                    stage is done (CI sets it: small disks)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# Free space at each stage goes in the log, so a full disk is told from a failing test.
disk() { echo "test.sh: $1: $(df -h --output=avail "$root" | tail -1 | tr -d ' ') free on $(df --output=target "$root" | tail -1), target/ $(du -sh target 2>/dev/null | cut -f1)"; }
free_stage() { if [ "${VCOLLECT_FREE_DISK:-0}" = 1 ]; then rm -rf "$@"; disk "freed $*"; fi; }
disk start
scripts/setup.sh
# Import graph acyclic, planes apart, functions <= 100 lines (scripts/structure-allow.txt
# lists the known offenders still to be split).
python3 scripts/structure.py src
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo nextest run --all-targets --locked --no-fail-fast "$@"
disk "after nextest"
free_stage target/debug
if [ "${VCOLLECT_SKIP_FUZZ:-0}" != 1 ]; then
  scripts/fuzz.sh "${VCOLLECT_FUZZ_SECONDS:-60}"
  disk "after fuzz"
  free_stage fuzz/target
fi
# The release artefacts: the portable binary (its glibc check is part of release.sh), the
# .deb and the .rpm; rpmlint passes; both packages hold the same files. The container stage
# deploys this .deb: no second release build.
deb=
if [ "${VCOLLECT_SKIP_RELEASE:-0}" != 1 ]; then
  rm -rf target/dist
  scripts/release.sh
  deb=$(ls target/dist/vcollect_*.deb)
  rpm=$(ls target/dist/vcollect-*.rpm)
  rpmlint -r packaging/rpmlintrc "$rpm"
  scripts/check-packages.sh "$deb" "$rpm"
  disk "after release"
  # target/dist keeps the artefacts; the build tree of the portable profile is not needed.
  free_stage target/x86_64-unknown-linux-gnu target/release-portable
fi
if [ "${VCOLLECT_SKIP_CLUSTER_TESTS:-0}" != 1 ]; then
  if [ -n "$deb" ]; then
    cluster-tests/package-test.sh "$deb"
    cluster-tests/run.sh --package "$deb"
  else
    cargo build --release --locked
    cluster-tests/run.sh --binary target/release/vcollect
  fi
  # The role's binary install mode (vcollect_binary_src) is covered by run.sh's
  # upgrade-from-release scenario (site.yml deploys release 0.1's binary, upgrade.yml rolls
  # this one); `cluster-tests/run.sh --stub` is its quick contract test by hand.
  disk "after cluster-tests"
fi
