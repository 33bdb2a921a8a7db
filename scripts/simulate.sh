#!/usr/bin/env bash
# The deterministic simulation of the cluster (src/simulation, docs/architecture.md,
# "The simulation"): builds `vcollect-simulate` (feature `simulation`, profile `sim`) and runs
# it. Every argument goes to it:
#   scripts/simulate.sh --seeds N [--from S] [--jobs J]   N seeded schedules, one per core at
#                                                        a time; ends with `N schedules, V violations`
#   scripts/simulate.sh --seed S                          replays one schedule with its trace
# Exit status 1 when a schedule violated an invariant (each is printed with its seed).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --locked --profile sim --features simulation --bin vcollect-simulate
exec target/sim/vcollect-simulate "$@"
