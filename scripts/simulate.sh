#!/usr/bin/env bash
# The deterministic simulation of the cluster (src/simulation, docs/architecture.md,
# "The simulation"): builds `vcollect-simulate` (feature `simulation`, profile `sim`) and runs
# it. Every argument goes to it:
#   scripts/simulate.sh --seeds N [--from S] [--jobs J]   N seeded schedules, one per core at
#                                                        a time; ends with `N schedules, V violations`
#   scripts/simulate.sh --regressions --seeds N          the regression schedules first, twice
#   scripts/simulate.sh --seed S                          replays one schedule with its trace
#   scripts/simulate.sh --build                           only builds it
# Exit status 1 when a schedule violated an invariant (each is printed with its seed).
#
# `--cfg tokio_unstable` lets turmoil seed each simulated host's tokio runtime, whose
# `select!` otherwise picks among ready branches at random: without it a replay may differ.
# Only this profile is built with it.
#
# VCOLLECT_SIM_STALL=<steps>:<ms> makes the driver sleep ms of real time every steps steps (20 ms
# of simulated time each), as a loaded machine would: a replay's trace must not change.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTFLAGS="${RUSTFLAGS:-} --cfg tokio_unstable"
cargo build --quiet --locked --profile sim --features simulation --bin vcollect-simulate
if [ "${1:-}" = --build ]; then exit 0; fi
exec target/sim/vcollect-simulate "$@"
