#!/usr/bin/env bash
# Runs every test of vcollect, in stages, and prints each stage's wall time against its
# budget in a table at the end (also when a stage fails). The stages:
#   setup       apt packages, the pinned tools (prebuilt wheels into .tools/: scripts/tools.sh),
#               the vCenter simulator (scripts/setup.sh)
#   structure   the module graph is acyclic, the planes apart, functions <= 100 lines;
#               fuzz/Cargo.lock holds every crate vcollect needs (--locked)
#   fmt, clippy cargo fmt --check; clippy -D warnings on every target, without and with the
#               `simulation` feature
#   nextest     the Rust suite: unit, property, simulator, InfluxDB, multi-process cluster tests
#   release     the portable binary with its glibc check, the .deb and the .rpm, rpmlint, the
#               two packages' layouts compared (scripts/release.sh); the memory guard: a small
#               scale run of that binary under a peak-RSS bound (scripts/scale.sh MAX_RSS_MB)
#   containers  one image build, then at the same time: the .deb installed, upgraded and
#               removed in a clean container (cluster-tests/package-test.sh), the Ansible role
#               deploying that .deb onto systemd containers with the failure scenarios, and
#               in a second lane the rolling upgrade from the previous release
#               (cluster-tests/run.sh --package)
#   simulate    the deterministic simulation of the cluster (scripts/simulate.sh): the
#               regression seeds replayed twice, then a fixed number of seeded fault schedules;
#               built and run in the background during the container stage (at nice 19), so
#               the stage mostly collects their output
#   fuzz        libFuzzer on the parsers of untrusted input (scripts/fuzz.sh, 60 s per target,
#               one target per core at a time); the targets are built in the background
#               from the start, at nice 19
#
#   scripts/test.sh                  everything (the README's test command; CI runs it)
#   scripts/test.sh --quick          setup, structure, fmt, clippy and nextest without the
#                                    multi-process cluster tests (nextest profile `quick`):
#                                    minutes on a machine where the dependencies are compiled
#   scripts/test.sh [--quick] ARGS   ARGS go to cargo nextest (a filter, --no-capture ...)
#   scripts/test.sh --only LIST      only these stages (comma list; setup always runs), e.g.
#                                    --only release,containers after a packaging change
#                                    (containers alone deploys the .deb already in target/dist)
#   VCOLLECT_SKIP_CLUSTER_TESTS=1    skips the container stage
#   VCOLLECT_SKIP_FUZZ=1             skips the fuzz stage
#   VCOLLECT_SKIP_SIMULATION=1       skips the simulate stage
#   VCOLLECT_SIMULATION_SEEDS=N      schedules the simulate stage runs (default 100)
#   VCOLLECT_FUZZ_SECONDS=N          fuzzes N seconds per target (default 60)
#   VCOLLECT_SKIP_RELEASE=1          skips the release stage (the container stage then
#                                    deploys `cargo build --release`)
#   VCOLLECT_FREE_DISK=1             deletes each stage's build output when the stage is done
#                                    (CI sets it: small disks)
# A stage over its budget is flagged in the table (a warning: machines are noisy); the budgets
# add up to 45 of CI's 45 minutes and docs/deployment.md records the measured times.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
quick=0
only=""
while [ $# -gt 0 ]; do
  case $1 in
  --quick) quick=1; shift ;;
  --only) only=$2; shift 2 ;;
  *) break ;;
  esac
done
want() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }
# runs NAME SKIP-VARIABLE: whether stage NAME runs (wanted, and the variable is not 1); a
# stage the variable skips gets its line in the table.
# (`enabled NAME SKIP-VARIABLE` is the same question without the table line.)
enabled() { want "$1" && [ "${!2:-0}" != 1 ]; }
runs() {
  want "$1" || return 1
  enabled "$1" "$2" || { skip "$1" "$2"; return 1; }
}

# --- stages, their times and the table ------------------------------------------------------
names=() budgets=() times=() results=()
declare -A bg_pid=() bg_start=()
current="" current_budget=0 current_start=0 run_start=$SECONDS
begin() { # begin NAME BUDGET-SECONDS
  current=$1 current_budget=$2 current_start=$SECONDS
  echo "=== test.sh: $current (budget $(fmt_secs "$current_budget")) at $(date +%T); $(disk)"
}
end() { # end [RESULT]: closes the current stage
  names+=("$current") budgets+=("$current_budget") times+=($((SECONDS - current_start)))
  results+=("${1:-ok}")
  current=""
}
fmt_secs() { printf '%d:%02d' $(($1 / 60)) $(($1 % 60)); }
disk() { echo "$(df -h --output=avail "$root" | tail -1 | tr -d ' ') free, target/ $(du -sh target 2>/dev/null | cut -f1)"; }
summary() {
  local rc=$? i over=0 flag
  # A failure elsewhere leaves nothing running behind.
  for i in "${bg_pid[@]}"; do kill -0 "$i" 2>/dev/null && kill_tree "$i"; done
  # A failed test stage still counts what it ran.
  if [ "$current" = nextest ] && [ -f target/nextest.out ]; then count target/nextest.out; fi
  if [ -n "$current" ]; then end FAILED; fi
  echo
  echo "test.sh: stage times (wall; budget; a stage over budget is flagged, not failed)"
  printf '  %-11s %7s %7s  %s\n' stage time budget result
  for i in "${!names[@]}"; do
    flag=""
    if [ "${times[$i]}" -gt "${budgets[$i]}" ]; then flag="  OVER BUDGET by $(fmt_secs $((times[i] - budgets[i])))"; over=1; fi
    printf '  %-11s %7s %7s  %s%s\n' "${names[$i]}" "$(fmt_secs "${times[$i]}")" \
      "$(fmt_secs "${budgets[$i]}")" "${results[$i]}" "$flag"
  done
  printf '  %-11s %7s %7s\n' total "$(fmt_secs $((SECONDS - run_start)))" "$(fmt_secs "$total_budget")"
  [ $over = 1 ] && echo "test.sh: WARNING: a stage overran its budget (see above)"
  [ $((SECONDS - run_start)) -gt "$total_budget" ] && echo "test.sh: WARNING: the run overran its total budget"
  if [ $rc = 0 ]; then echo "test.sh: all stages passed"; else echo "test.sh: FAILED (exit $rc)"; fi
  # One closing line for every test counted above (nextest, package test, cluster tests).
  echo "total: $passed passed, $failed failed"
}
kill_tree() { # kill_tree PID: PID and every process below it
  local c
  for c in $(pgrep -P "$1" 2>/dev/null); do kill_tree "$c"; done
  kill "$1" 2>/dev/null || true
}
# count FILE: adds the last "N passed" / "M failed" of FILE's summary line to the totals.
passed=0 failed=0
count() {
  local line p f
  line=$(grep -E '([0-9]+ tests run: )?[0-9]+ passed' "$1" | tail -n1 || true)
  p=$(echo "$line" | grep -oE '[0-9]+ passed' | head -n1 | cut -d' ' -f1 || true)
  f=$(echo "$line" | grep -oE '[0-9]+ failed' | head -n1 | cut -d' ' -f1 || true)
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
}
trap summary EXIT
free_stage() { if [ "${VCOLLECT_FREE_DISK:-0}" = 1 ]; then rm -rf "$@"; echo "test.sh: freed $*; $(disk)"; fi; }
skip() { # skip NAME WHY
  names+=("$1") budgets+=(0) times+=(0) results+=("skipped ($2)")
}

# Budgets (seconds) for a fresh 2-core machine: the stages' add up to CI's 45 minutes
# (the simulate stage's 2 took the slack; setup gave a minute to clippy's second pass and the
# fuzz stage's start-up); measured times: docs/deployment.md, "CI".
total_budget=2700
[ $quick = 1 ] && total_budget=600

begin setup 180
scripts/setup.sh
. scripts/tools.sh # its PATH: the pinned cargo-nextest and the release tools
end

# Two things that need little of this machine's CPU, or only what the stages in between leave,
# start now in the background and are waited for where they are needed (`await`):
# - the container stage's images (debootstrap: downloads and unpacking) and Ansible venv;
# - the fuzz targets' build (their own optimised, instrumented build: minutes of CPU), at
#   nice 19, so that it takes only what clippy, the tests and the release build leave idle
#   (the tests mostly wait for 20-s samples and timeouts).
background() { # background NAME COMMAND...: output in target/NAME.out
  local name=$1
  shift
  echo "=== test.sh: $name starts in the background (output: target/$name.out)"
  "$@" >"target/$name.out" 2>&1 &
  bg_pid[$name]=$!
  bg_start[$name]=$SECONDS
}
await() { # await NAME: waits for it; fails the current stage if it failed
  local name=$1 rc=0
  [ -n "${bg_pid[$name]:-}" ] || return 0
  wait "${bg_pid[$name]}" || rc=$?
  echo "=== test.sh: $name (background) done after $(fmt_secs $((SECONDS - bg_start[$name]))), exit $rc"
  unset "bg_pid[$name]"
  if [ $rc != 0 ]; then tail -n 40 "target/$name.out"; return $rc; fi
}
mkdir -p target
if [ $quick = 0 ] && enabled containers VCOLLECT_SKIP_CLUSTER_TESTS; then
  background container_prepare cluster-tests/run.sh --prepare
fi
if [ $quick = 0 ] && enabled fuzz VCOLLECT_SKIP_FUZZ; then
  background fuzz_build nice -n 19 scripts/fuzz.sh --build
fi
# simulate_run: the simulation's optimised build (profile `sim`: minutes of CPU) and its seeds,
# in the background at nice 19, started where the machine waits most (the container stage):
# started earlier, it slowed the CPU-bound stages (clippy, nextest's build, release) by as
# much as it took.
simulate_run() {
  background simulate_run nice -n 19 scripts/simulate.sh --regressions \
    --seeds "${VCOLLECT_SIMULATION_SEEDS:-100}"
}

if want structure; then
  begin structure 15
  python3 scripts/structure.py src
  # fuzz/ builds with --locked at the end of the run: a crate added to vcollect without
  # `cd fuzz && cargo fetch` fails here in seconds instead (it once failed the fuzz stage).
  (cd fuzz && cargo metadata --locked --format-version 1 >/dev/null)
  end
fi

if want fmt; then
  begin fmt 15
  cargo fmt --check
  end
fi

if want clippy; then
  begin clippy 300
  cargo clippy --all-targets --locked -- -D warnings
  # The simulation's code (src/simulation, the seams it opens) builds only with its feature:
  # linted by a second pass, which rechecks this crate alone.
  cargo clippy --all-targets --features simulation --locked -- -D warnings
  end
fi

# --quick: the nextest profile without the multi-process cluster tests, and nothing after it.
profile=default budget=480
[ $quick = 1 ] && profile=quick budget=300
if want nextest; then
  begin nextest $budget
  cargo nextest run --profile $profile --all-targets --locked --no-fail-fast "$@" 2>&1 |
    tee target/nextest.out
  count target/nextest.out
  end
  if [ $quick = 0 ]; then free_stage target/debug; fi
fi
[ $quick = 1 ] && exit 0

# The release artefacts: the portable binary (its glibc check is part of release.sh), the
# .deb and the .rpm; rpmlint passes; both packages hold the same files. The container stage
# deploys this .deb: no second release build.
deb=
if ! want release; then
  deb=$(ls target/dist/vcollect_*.deb 2>/dev/null | head -n1 || true)
fi
if runs release VCOLLECT_SKIP_RELEASE; then
  begin release 480
  rm -rf target/dist
  scripts/release.sh
  deb=$(ls target/dist/vcollect_*.deb)
  rpm=$(ls target/dist/vcollect-*.rpm)
  rpmlint -r packaging/rpmlintrc "$rpm"
  scripts/check-packages.sh "$deb" "$rpm"
  # The memory guard (docs/benchmarks.md, "The memory guard"): the released binary collects
  # 2,000 VMs and 100 hosts with instances expanded; a peak RSS over the bound (measured
  # 30-33 MB since the property pages are read into compact values, 35-37 MB before, 48 MB
  # before issue 19's first fix) fails the stage. Its CPU figure is printed beside it.
  BIN=$(ls target/dist/vcollect-*-x86_64-linux) KINDS=realtime SINK=stdout MAX_RSS_MB=40 \
    scripts/scale.sh 10 10 200
  # target/dist keeps the artefacts; the build tree of the portable profile is not needed.
  free_stage target/x86_64-unknown-linux-gnu target/release-portable
  end
fi

simulating=0
if [ $quick = 0 ] && enabled simulate VCOLLECT_SKIP_SIMULATION && want containers; then
  simulate_run
  simulating=1
fi

if runs containers VCOLLECT_SKIP_CLUSTER_TESTS; then
  begin containers 900
  # One image build and one venv for everything below (started after setup).
  await container_prepare
  if [ -n "$deb" ]; then
    # The package test has its own network and names: it runs beside run.sh's two lanes.
    cluster-tests/package-test.sh "$deb" >target/package-test.out 2>&1 &
    pkg=$!
    cluster_rc=0
    cluster-tests/run.sh --package "$deb" 2>&1 | tee target/cluster-tests.out || cluster_rc=$?
    pkg_rc=0
    wait $pkg || pkg_rc=$?
    echo "--- cluster-tests/package-test.sh (run at the same time) ---"
    cat target/package-test.out
    count target/cluster-tests.out
    count target/package-test.out
    # (Not `[ a ] && [ b ]`: set -e ignores a failure before the last && of a list.)
    if [ $cluster_rc != 0 ] || [ $pkg_rc != 0 ]; then exit 1; fi
  else
    cargo build --release --locked
    cluster-tests/run.sh --binary target/release/vcollect 2>&1 | tee target/cluster-tests.out
    count target/cluster-tests.out
  fi
  # The role's binary install mode (vcollect_binary_src) is covered by run.sh's
  # upgrade-from-release scenario (site.yml deploys the previous release's binary, upgrade.yml
  # rolls this one); `cluster-tests/run.sh --stub` is its quick contract test by hand.
  end
fi

# The simulate stage: its seeds ran in the background during the container stage (or run now,
# when that stage did not run); a violation fails it, a regression replay that differs is only
# reported (a server's h2 still reads the real clock: docs/architecture.md, "The simulation").
if runs simulate VCOLLECT_SKIP_SIMULATION; then
  begin simulate 120
  if [ $simulating = 0 ]; then simulate_run; fi
  await simulate_run
  tail -n 12 target/simulate_run.out
  free_stage target/sim
  end
fi

# The fuzz stage: its build was started in the background after setup; now the fuzzers run,
# one target per core, at full priority, on a machine that has nothing else to do. Its
# budget: five targets two at a time are three rounds of 60 s, plus each round's start and
# the last build's wait (3:03-3:05 in clean-clone runs, over a budget of exactly 3:00).
if runs fuzz VCOLLECT_SKIP_FUZZ; then
  begin fuzz 210
  await fuzz_build
  scripts/fuzz.sh "${VCOLLECT_FUZZ_SECONDS:-60}"
  free_stage fuzz/target
  end
fi
