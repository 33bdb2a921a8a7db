#!/usr/bin/env bash
# vcollect against a Go collector on govmomi, Telegraf's library (docs/benchmarks.md, issue 19).
# One simulated vCenter of 2,000 VMs and 100 hosts (10 clusters x 10 hosts x 200 VMs,
# instances expanded as the simulator serves them) and one InfluxDB; Telegraf's default
# counters (34 for VMs, 46 for hosts), realtime 20-s samples, the same window (LOOKBACK back
# from vCenter's time on the 20-s grid), format `normal` as Telegraf asks. The Go collector
# (scripts/gocollect, built from Debian's govmomi like the simulator) and `vcollect once`
# run alternately, RUNS times each, each run into its own database. For each run: samples,
# lines, CPU seconds and peak RSS of the process (/usr/bin/time -v), samples per CPU-second;
# at the end the medians and one line `vcollect/go: N.Nx` (ratio of the median samples per
# CPU-second).
#   scripts/compare-go.sh [CLUSTERS HOSTS_PER_CLUSTER VMS_PER_CLUSTER]
#   RUNS=2 LOOKBACK=5m FORMAT=normal BIN=/path/to/vcollect scripts/compare-go.sh
#   FORMAT=csv        vcollect asks for csv (its default); the Go collector always asks
#                     `normal` (govmomi's ToMetricSeries reads nothing else)
#   GO_FLAGS="-cpuprofile .work/go.prof -gzip=false"   extra flags for scripts/gocollect
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
clusters=${1:-10}; hosts=${2:-10}; vms=${3:-200}
runs=${RUNS:-2}; lookback=${LOOKBACK:-5m}; format=${FORMAT:-normal}
bin=${BIN:-target/release/vcollect}
scripts/build-vcsim.sh >/dev/null
scripts/build-gocollect.sh >/dev/null
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
[ -n "${BIN:-}" ] || cargo build --release --quiet
work="$root/.work/compare-go"; rm -rf "$work"; mkdir -p "$work"
source scripts/lib.sh

# Telegraf's sample.conf lists (research/telegraf_vsphere.md §3).
vm_counters=(cpu.demand.average cpu.idle.summation cpu.latency.average cpu.readiness.average
  cpu.ready.summation cpu.run.summation cpu.usagemhz.average cpu.used.summation
  cpu.wait.summation mem.active.average mem.granted.average mem.latency.average
  mem.swapin.average mem.swapinRate.average mem.swapout.average mem.swapoutRate.average
  mem.usage.average mem.vmmemctl.average net.bytesRx.average net.bytesTx.average
  net.droppedRx.summation net.droppedTx.summation net.usage.average power.power.average
  virtualDisk.numberReadAveraged.average virtualDisk.numberWriteAveraged.average
  virtualDisk.read.average virtualDisk.readOIO.latest virtualDisk.throughput.usage.average
  virtualDisk.totalReadLatency.average virtualDisk.totalWriteLatency.average
  virtualDisk.write.average virtualDisk.writeOIO.latest sys.uptime.latest)
host_counters=(cpu.coreUtilization.average cpu.costop.summation cpu.demand.average
  cpu.idle.summation cpu.latency.average cpu.readiness.average cpu.ready.summation
  cpu.swapwait.summation cpu.usage.average cpu.usagemhz.average cpu.used.summation
  cpu.utilization.average cpu.wait.summation disk.deviceReadLatency.average
  disk.deviceWriteLatency.average disk.kernelReadLatency.average
  disk.kernelWriteLatency.average disk.numberReadAveraged.average
  disk.numberWriteAveraged.average disk.read.average disk.totalReadLatency.average
  disk.totalWriteLatency.average disk.write.average mem.active.average mem.latency.average
  mem.state.latest mem.swapin.average mem.swapinRate.average mem.swapout.average
  mem.swapoutRate.average mem.totalCapacity.average mem.usage.average mem.vmmemctl.average
  net.bytesRx.average net.bytesTx.average net.droppedRx.summation net.droppedTx.summation
  net.errorsRx.summation net.errorsTx.summation net.usage.average power.power.average
  storageAdapter.numberReadAveraged.average storageAdapter.numberWriteAveraged.average
  storageAdapter.read.average storageAdapter.write.average sys.uptime.latest)
toml_list() { printf '"%s", ' "$@" | sed 's/, $//'; }
csv_list() { local IFS=,; echo "$*"; }

echo compare > "$work/pw"
# shellcheck disable=SC2086
start_vcsim "$work" compare -user compare -cluster "$clusters" -cluster-host "$hosts" -vm "$vms" ${VCSIM_FLAGS:-}
echo "simulator: $(tail -1 "$work/vcsim.log")"
echo "window: the last $lookback; vcollect format: $format"
start_influx "$work"
go_url=${vc_url/:\/\//://compare:compare@}

run_vcollect() {
  local i=$1 db="vcollect_$1"
  curl -sf -XPOST "$influx_url/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
  cat > "$work/vcollect-$i.toml" <<CONF
[node]
data_dir = "$work/data-$i"
[[vcenter]]
url = "$vc_url"
username = "compare"
password_file = "$work/pw"
[collect]
lookback = "$lookback"
format = "$format"
vm_counters = [$(toml_list "${vm_counters[@]}")]
host_counters = [$(toml_list "${host_counters[@]}")]
cluster_metric_exclude = ["*"]
datastore_metric_exclude = ["*"]
resource_pool_metric_exclude = ["*"]
[output]
url = "$influx_url"
database = "$db"
CONF
  /usr/bin/time -v -o "$work/time-vcollect-$i.txt" "$bin" once --config "$work/vcollect-$i.toml" --json \
    >"$work/out-vcollect-$i.json" 2>"$work/log-vcollect-$i.txt" || { tail -5 "$work/log-vcollect-$i.txt"; exit 1; }
}

run_go() {
  local i=$1 db="go_$1"
  curl -sf -XPOST "$influx_url/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
  # shellcheck disable=SC2086
  /usr/bin/time -v -o "$work/time-go-$i.txt" target/gocollect/gocollect -url "$go_url" \
    -influx "$influx_url" -db "$db" -lookback "$lookback" \
    -vm-counters "$(csv_list "${vm_counters[@]}")" -host-counters "$(csv_list "${host_counters[@]}")" \
    ${GO_FLAGS:-} \
    >"$work/out-go-$i.json" 2>"$work/log-go-$i.txt" || { tail -5 "$work/log-go-$i.txt"; exit 1; }
}

for i in $(seq "$runs"); do
  run_go "$i"
  run_vcollect "$i"
done

python3 - "$work" "$runs" <<'PY'
import json, re, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])

def timing(path):
    t = open(path).read()
    get = lambda k: re.search(re.escape(k) + r":\s*(.+)", t).group(1)
    cpu = float(get("User time (seconds)")) + float(get("System time (seconds)"))
    return cpu, int(get("Maximum resident set size (kbytes)")) / 1024

def summary(who, i):
    text = open(f"{work}/out-{who}-{i}.json").read()
    if who == "go":
        s = json.loads(text.strip().splitlines()[-1])
    else:
        s = json.loads(text)[0]
        if s["errors"]:
            sys.exit(f"vcollect run {i} failed: {s['errors'][:3]}")
    return s["samples"], s["lines"]

rates = {"go": [], "vcollect": []}
for i in range(1, runs + 1):
    counts = {}
    for who in ("go", "vcollect"):
        samples, lines = summary(who, i)
        counts[who] = samples
        cpu, rss = timing(f"{work}/time-{who}-{i}.txt")
        rates[who].append(samples / cpu)
        print(f"{who:8} run {i}: samples {samples}, lines {lines}, cpu {cpu:.2f} s, "
              f"peak RSS {rss:.0f} MB, {samples / cpu / 1e6:.3f} M samples per CPU-second")
    # The two must have collected the same work for the ratio to mean anything.
    if abs(counts["go"] - counts["vcollect"]) > 0.03 * max(counts.values()):
        sys.exit(f"run {i}: the two collected different samples ({counts}): not comparable")
go, vc = statistics.median(rates["go"]), statistics.median(rates["vcollect"])
print(f"median samples per CPU-second: go {go / 1e6:.3f} M, vcollect {vc / 1e6:.3f} M")
print(f"vcollect/go: {vc / go:.1f}x")
PY
