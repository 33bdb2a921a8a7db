#!/usr/bin/env bash
# Fuzzes vcollect's parsers of untrusted input with libFuzzer (libfuzzer-sys) on the stable
# toolchain: the streaming QueryPerf reader with read sizes taken from the input, streaming
# against slice parsing, the SOAP DOM (faults, ServiceContent, property pages, inventory,
# counters), vSAN answers and the configuration. See fuzz/ and docs/architecture.md.
#   scripts/fuzz.sh [SECONDS]             every target for SECONDS (default 60) each
#   scripts/fuzz.sh --build               only build the targets (scripts/test.sh does this
#                                         early, in the background)
#   VCOLLECT_FUZZ_JOBS=N scripts/fuzz.sh  N targets at a time (default: the number of cores,
#                                         so each target still gets a core for SECONDS)
#   VCOLLECT_FUZZ_TARGETS="soap_dom config" scripts/fuzz.sh   only these targets
#
# No cargo-fuzz: it has no prebuilt package, and compiling it cost a fresh machine minutes
# for what is one `cargo build` with the instrumentation flags below (the ones `cargo fuzz
# build --sanitizer none` passes: SanitizerCoverage's 8-bit counters, PC table and compare
# tracing, `--cfg fuzzing`, in release mode without debug assertions, as cargo-fuzz's default;
# with them, the streaming targets ran a quarter as many inputs in the same minute). The
# output sits where cargo-fuzz puts it, so `cargo fuzz run TARGET` works the same for a
# developer who has it. The explicit --target keeps the flags off build scripts and proc
# macros, as cargo-fuzz does.
#
# The seed corpus is built from tests/fixtures and README.md (scripts/fuzz-corpus.py) into
# fuzz/corpus/<target>, where libFuzzer also keeps what it finds. Exits non-zero if any
# target crashes, times out (-timeout) or runs out of memory (-rss_limit_mb); the reproducer
# is left in fuzz/artifacts/<target>/. Logs: fuzz/logs/.
set -euo pipefail
build_only=0
if [ "${1:-}" = --build ]; then build_only=1; shift; fi
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
triple=x86_64-unknown-linux-gnu
targets=${VCOLLECT_FUZZ_TARGETS:-perf_stream perf_differential soap_dom config vsan}
jobs=${VCOLLECT_FUZZ_JOBS:-$(nproc)}
python3 scripts/fuzz-corpus.py fuzz/corpus
# No sanitizer: the crate is safe Rust; libFuzzer's own checks (panics, -timeout,
# -rss_limit_mb, -malloc_limit_mb) are what matter, and the build is much faster.
flags="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares"
(cd fuzz && RUSTFLAGS="$flags" cargo build --release --locked --target "$triple" --bins)
[ $build_only = 1 ] && exit 0
bin="fuzz/target/$triple/release"
mkdir -p fuzz/logs
run() {
  local t=$1
  mkdir -p "fuzz/artifacts/$t"
  # stdin from /dev/null: a config naming /dev/stdin as a secret file must not wait.
  "$bin/$t" -artifact_prefix="fuzz/artifacts/$t/" \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=32768 \
    -print_final_stats=1 "fuzz/corpus/$t" </dev/null >"fuzz/logs/$t.log" 2>&1
}
failed=0
pids=()
for t in $targets; do
  # At most $jobs at once: wait for the oldest before starting another.
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || failed=1
    pids=("${pids[@]:1}")
  fi
  run "$t" &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || failed=1; done
for t in $targets; do
  echo "== $t: $(grep -E '^Done [0-9]+ runs' "fuzz/logs/$t.log" || echo 'did not finish')"
  grep -E '^#[0-9]+.*(DONE|pulse)' "fuzz/logs/$t.log" | tail -1 || true
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "fuzz/logs/$t.log" || true
  if grep -qE 'ERROR: libFuzzer|panicked|SUMMARY' "fuzz/logs/$t.log"; then
    grep -E 'ERROR: libFuzzer|panicked|Test unit written' "fuzz/logs/$t.log" | head -5
    failed=1
  fi
done
exit $failed
