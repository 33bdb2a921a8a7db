#!/usr/bin/env bash
# The scale-out benchmark (docs/benchmarks.md, issue 18): a simulated vCenter of 10,000 VMs
# and 500 hosts (50 clusters x 10 hosts x 200 VMs) that costs time as a vCenter does
# (tests/vcsim/load.go: PERF_DELAY per call + PER_SERIES per series answered), collected by
# a real cluster of `vcollect agent` processes on loopback, into a real InfluxDB.
#
#   scripts/scale-out.sh nodes [N...]   one cycle's duration with N nodes (default 1 2 3 5):
#                                       each node's median cycle over MEASURE cycles after
#                                       the cluster settled, the cluster's cycle the slowest
#                                       node's; QueryPerf calls, simulated vCenter seconds,
#                                       request and response bytes per cycle; CPU seconds of
#                                       the agents and the simulator
#   scripts/scale-out.sh all [N...]    both, on one simulator
#   scripts/scale-out.sh plan           what one `vcollect once` (window LOOKBACK) costs the
#                                       simulated vCenter by batch size (max_query_entities
#                                       16, 64, 256, and 10000: Telegraf's realtime batching,
#                                       cut at 50,000 metric ids only) and format (normal,
#                                       csv): calls, request/response bytes, bytes per
#                                       sample, simulated vCenter seconds, wall time
#
# Environment: CLUSTERS HOSTS VMS (inventory, default 50 10 200), PERF_DELAY (100ms),
# PER_SERIES (100us), INTERVAL (20s), MEASURE (3 cycles), BUDGET (the vCenter's
# max_concurrent_queries, default 20: 4 calls per node for up to 5 nodes, so vCenter's
# budget is not the limit; 8 is the product's default), LOOKBACK (plan mode, 1m),
# KINDS (realtime: VMs and hosts only, the default here; all: every default kind), VCOLLECT
# (a vcollect binary; default: the release build), VCSIM_FLAGS (more simulator flags).
# Only the realtime kinds by default: the historical ones are collected every 5 minutes,
# which a few 20-s cycles would sample unevenly.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mode=${1:-nodes}
shift || true
clusters=${CLUSTERS:-50}; hosts=${HOSTS:-10}; vms=${VMS:-200}
perf_delay=${PERF_DELAY:-100ms}; per_series=${PER_SERIES:-100us}
interval=${INTERVAL:-20s}; measure=${MEASURE:-3}; budget=${BUDGET:-20}
scripts/setup.sh >/dev/null
# VCOLLECT: another build of vcollect (default: the release build, built here).
vcollect=${VCOLLECT:-target/release/vcollect}
[ -n "${VCOLLECT:-}" ] || cargo build --release --quiet
scripts/build-vcsim.sh >/dev/null
work="$root/.work/scale-out"; rm -rf "$work"; mkdir -p "$work"
source scripts/lib.sh

echo scale > "$work/pw"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
# shellcheck disable=SC2086
start_vcsim "$work" scale -user scale -cluster "$clusters" -cluster-host "$hosts" -vm "$vms" \
  -perf-delay "$perf_delay" -perf-cost-per-series "$per_series" ${VCSIM_FLAGS:-}
vcsim_pid=${pids[-1]}
echo "simulator: $(tail -1 "$work/vcsim.log"); model: $perf_delay per call + $per_series per series"
start_influx "$work"
calls_url="${vc_url%/sdk}/vcsim/calls"

kinds_conf() {
  if [ "${KINDS:-realtime}" = realtime ]; then
    printf 'cluster_metric_exclude = ["*"]\ndatastore_metric_exclude = ["*"]\nresource_pool_metric_exclude = ["*"]\n'
  fi
}

# vcenter_conf DB [EXTRA]: the [[vcenter]] and [output] tables.
vcenter_conf() {
  cat <<CONF
[[vcenter]]
name = "scale"
url = "$vc_url"
username = "scale"
password_file = "$work/pw"
max_concurrent_queries = $budget
[output]
url = "$influx_url"
database = "$1"
CONF
}

# cpu_seconds PID...: user+system CPU seconds of the processes so far.
cpu_seconds() {
  python3 - "$@" <<'PY'
import os, sys
tck = os.sysconf("SC_CLK_TCK")
total = 0
for pid in sys.argv[1:]:
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        total += (int(f[11]) + int(f[12])) / tck
    except OSError:
        pass
print(f"{total:.2f}")
PY
}

run_nodes() {
  local n=$1 db="n$1" token="$work/token" i
  echo "benchmark-token-0123456789" > "$token"
  curl -sf -XPOST "$influx_url/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
  local ports=() peers=""
  for i in $(seq "$n"); do ports+=("$(free_port)"); done
  for p in "${ports[@]}"; do peers+="\"127.0.0.1:$p\", "; done
  local agent_pids=()
  for i in $(seq "$n"); do
    local cfg="$work/$db-node$i.toml"
    cat > "$cfg" <<CONF
[node]
name = "node$i"
listen = "127.0.0.1:${ports[$((i - 1))]}"
data_dir = "$work/$db-node$i"
$(vcenter_conf "$db")
[collect]
interval = "$interval"
lookback = "1m"
$(kinds_conf)
[cluster]
peers = [${peers%, }]
bootstrap_expect = $n
token_file = "$token"
CONF
    RUST_LOG=warn "$vcollect" agent --config "$cfg" 2>"$work/$db-node$i.log" &
    pids+=($!); agent_pids+=($!)
  done
  # Settled: every node ran a cycle with entities after the last bucket move; then two
  # more cycles each (the first window of a moved bucket is a catch-up, not a steady cycle).
  python3 - "$influx_url" "$db" "$n" "$interval" <<'PY'
import json, sys, time, urllib.parse, urllib.request
url, db, n, interval = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
def rows():
    q = "SELECT entities, duration_seconds FROM vcollect WHERE entities > 0 GROUP BY node"
    u = f"{url}/query?db={db}&epoch=s&q=" + urllib.parse.quote(q)
    r = json.load(urllib.request.urlopen(u))["results"][0].get("series", [])
    return {s["tags"]["node"]: s["values"] for s in r}
deadline = time.time() + 900
while time.time() < deadline:
    r = rows()
    if len(r) == n:
        # the newest entity count of each node; settled once they stopped changing
        stable = all(len(v) >= 3 and v[-1][1] == v[-2][1] == v[-3][1] for v in r.values())
        if stable:
            sys.exit(0)
    time.sleep(2)
sys.exit("the cluster did not settle in 15 minutes")
PY
  local t0 c0 cpu0 vcpu0
  t0=$(date +%s); c0=$(curl -sf "$calls_url")
  cpu0=$(cpu_seconds "${agent_pids[@]}"); vcpu0=$(cpu_seconds "$vcsim_pid")
  local secs=${interval%s}
  sleep $((secs * measure))
  local t1 c1 cpu1 vcpu1
  t1=$(date +%s); c1=$(curl -sf "$calls_url")
  cpu1=$(cpu_seconds "${agent_pids[@]}"); vcpu1=$(cpu_seconds "$vcsim_pid")
  python3 - "$influx_url" "$db" "$n" "$t0" "$t1" "$c0" "$c1" "$secs" \
    "$cpu0" "$cpu1" "$vcpu0" "$vcpu1" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, statistics, sys, urllib.parse, urllib.request
url, db, n, t0, t1, c0, c1, secs, a0, a1, v0, v1, load = sys.argv[1:]
n, t0, t1, secs = int(n), int(t0), int(t1), int(secs)
q = (f"SELECT entities, samples, duration_seconds FROM vcollect WHERE time >= {t0}s "
     f"AND time <= {t1}s AND entities > 0 GROUP BY node")
u = f"{url}/query?db={db}&epoch=s&q=" + urllib.parse.quote(q)
series = json.load(urllib.request.urlopen(u))["results"][0].get("series", [])
per_node = {s["tags"]["node"]: s["values"] for s in series}
med = {k: statistics.median(r[3] for r in v) for k, v in per_node.items()}
samples = sum(r[2] for v in per_node.values() for r in v)
cycles = (t1 - t0) / secs
c0, c1 = json.loads(c0), json.loads(c1)
d = lambda sec, k: (c1.get(sec, {}).get(k, 0) - c0.get(sec, {}).get(k, 0)) / cycles
print(f"nodes {n}: cycle {max(med.values()):.1f} s (median per node: "
      + ", ".join(f"{k} {v:.1f}" for k, v in sorted(med.items())) + ")"
      f"; per cycle: {d('Cost', 'calls'):.0f} calls, {d('Cost', 'busy_ms') / 1000:.1f} s simulated vCenter time, "
      f"{d('Cost', 'series'):.0f} series, {samples / cycles:.0f} samples, "
      f"request {d('Front', 'request_bytes') / 1e6:.2f} MB, response {d('Front', 'response_bytes') / 1e6:.2f} MB"
      f" ({d('Front', 'response_bytes') / max(samples / cycles, 1):.0f} B/sample); "
      f"CPU per cycle: agents {(float(a1) - float(a0)) / cycles:.2f} s, simulator {(float(v1) - float(v0)) / cycles:.2f} s; "
      f"503s {d('Front', 'refused_503') * cycles:.0f}; load average {load}")
PY
  for p in "${agent_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

run_plan() {
  local entities=$1 format=$2 db="plan_${1}_$2"
  curl -sf -XPOST "$influx_url/query" --data-urlencode "q=CREATE DATABASE $db" >/dev/null
  local cfg="$work/$db.toml"
  cat > "$cfg" <<CONF
[node]
data_dir = "$work/$db"
$(vcenter_conf "$db")
[collect]
lookback = "${LOOKBACK:-1m}"
max_query_entities = $entities
format = "$format"
$(kinds_conf)
CONF
  local c0 c1 start end
  c0=$(curl -sf "$calls_url"); start=$(date +%s.%N)
  "$vcollect" once --config "$cfg" --json >"$work/$db.json" 2>"$work/$db.log" ||
    { tail -5 "$work/$db.log"; exit 1; }
  end=$(date +%s.%N); c1=$(curl -sf "$calls_url")
  python3 - "$entities" "$format" "$c0" "$c1" "$start" "$end" "$work/$db.json" <<'PY'
import json, sys
entities, fmt, c0, c1, start, end, summary = sys.argv[1:]
c0, c1 = json.loads(c0), json.loads(c1)
d = lambda sec, k: c1.get(sec, {}).get(k, 0) - c0.get(sec, {}).get(k, 0)
s = json.load(open(summary))[0]
samples = max(s["samples"], 1)
print(f"max_query_entities {entities:>5} {fmt:6}: {d('Cost', 'calls'):4} calls, "
      f"{d('Cost', 'busy_ms') / 1000:6.1f} s simulated vCenter time, "
      f"request {d('Front', 'request_bytes') / 1e6:5.2f} MB, response {d('Front', 'response_bytes') / 1e6:6.2f} MB, "
      f"{d('Front', 'response_bytes') / samples:5.1f} B/sample, {s['samples']} samples, "
      f"most elements in a request so far {c1.get('Front', {}).get('max_elements', 0)}, "
      f"wall {float(end) - float(start):.1f} s, errors {len(s['errors'])}")
PY
}

all_nodes() {
  local n
  # shellcheck disable=SC2048,SC2086
  for n in ${*:-1 2 3 5}; do run_nodes "$n"; done
}

all_plans() {
  local f e
  for f in normal csv; do
    for e in 16 64 256 10000; do run_plan "$e" "$f"; done
  done
}

case $mode in
  nodes) all_nodes "$@" ;;
  plan) all_plans ;;
  all) all_nodes "$@"; all_plans ;;
  *) echo "usage: $0 nodes [N...] | plan | all [N...]" >&2; exit 2 ;;
esac
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
