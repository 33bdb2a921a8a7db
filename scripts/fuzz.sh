#!/usr/bin/env bash
# Fuzzes vcollect's parsers of untrusted input with cargo-fuzz (libFuzzer) on the stable
# toolchain (RUSTC_BOOTSTRAP=1): the streaming QueryPerf reader with read sizes taken from the
# input, streaming against slice parsing, the SOAP DOM (faults, ServiceContent, property
# pages, inventory, counters) and the configuration. See fuzz/ and docs/architecture.md.
#   scripts/fuzz.sh [SECONDS]             every target for SECONDS (default 60) each, in turn
#   VCOLLECT_FUZZ_PARALLEL=1 scripts/fuzz.sh 1800   all targets at once (a long run)
#   VCOLLECT_FUZZ_TARGETS="soap_dom config" scripts/fuzz.sh   only these targets
# Installs cargo-fuzz if missing. The seed corpus is built from tests/fixtures and README.md
# (scripts/fuzz-corpus.py) into fuzz/corpus/<target>, where libFuzzer also keeps what it
# finds. Exits non-zero if any target crashes, times out (-timeout) or runs out of memory
# (-rss_limit_mb); the reproducer is left in fuzz/artifacts/<target>/. Logs: fuzz/logs/.
set -euo pipefail
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
targets=${VCOLLECT_FUZZ_TARGETS:-perf_stream perf_differential soap_dom config}
python3 scripts/fuzz-corpus.py fuzz/corpus
# No sanitizer: the crate is safe Rust; libFuzzer's own checks (panics, -timeout,
# -rss_limit_mb, -malloc_limit_mb) are what matter, and the build is much faster.
(cd fuzz && cargo fuzz build --sanitizer none)
mkdir -p fuzz/logs
run() {
  local t=$1
  # stdin from /dev/null: a config naming /dev/stdin as a secret file must not wait.
  (cd fuzz && cargo fuzz run --sanitizer none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=32768 \
    -print_final_stats=1 </dev/null >"logs/$t.log" 2>&1)
}
failed=0
if [ "${VCOLLECT_FUZZ_PARALLEL:-0}" = 1 ]; then
  pids=()
  for t in $targets; do run "$t" & pids+=($!); done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed=1; done
else
  for t in $targets; do run "$t" || failed=1; done
fi
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
