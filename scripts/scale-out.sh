#!/usr/bin/env bash
# The scale-out benchmark (docs/benchmarks.md, issue 18): a simulated vCenter of 10,000 VMs
# and 500 hosts (50 clusters x 10 hosts x 200 VMs) that costs time as a vCenter does
# (tests/vcsim/load.go: PERF_DELAY per call + PER_SERIES per series answered), collected by
# a real cluster of `vcollect agent` processes on loopback (the lines to /dev/null: see
# vcenter_conf).
#
#   scripts/scale-out.sh nodes [N...]   one cycle's duration with N nodes (default 1 2 3 5):
#                                       each node's mean cycle (its /metrics) over MEASURE
#                                       intervals after the cluster settled, the cluster's
#                                       cycle the slowest node's; QueryPerf calls, simulated vCenter seconds,
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
calls_url="${vc_url%/sdk}/vcsim/calls"

kinds_conf() {
  if [ "${KINDS:-realtime}" = realtime ]; then
    printf 'cluster_metric_exclude = ["*"]\ndatastore_metric_exclude = ["*"]\nresource_pool_metric_exclude = ["*"]\n'
  fi
}

# vcenter_conf: the [[vcenter]] and [output] tables. The sink is stdout, thrown away: an
# InfluxDB on the same two cores took 40 s of writes per cycle of 1.4 M samples, which
# would measure InfluxDB, not vCenter or the collector (and a run to stdout never moves a
# watermark, so every cycle asks the same length of window: a steady state).
vcenter_conf() {
  cat <<CONF
[[vcenter]]
name = "scale"
url = "$vc_url"
username = "scale"
password_file = "$work/pw"
max_concurrent_queries = $budget
[output]
url = "-"
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
  local n=$1 token="$work/token" i
  echo "benchmark-token-0123456789" > "$token"
  local ports=() mports=() peers=""
  for i in $(seq "$n"); do ports+=("$(free_port)"); mports+=("$(free_port)"); done
  for p in "${ports[@]}"; do peers+="\"127.0.0.1:$p\", "; done
  local agent_pids=()
  for i in $(seq "$n"); do
    local cfg="$work/n$n-node$i.toml"
    cat > "$cfg" <<CONF
[node]
name = "node$i"
listen = "127.0.0.1:${ports[$((i - 1))]}"
data_dir = "$work/n$n-node$i"
$(vcenter_conf)
[collect]
interval = "$interval"
lookback = "$interval"
$(kinds_conf)
[metrics]
listen = "127.0.0.1:${mports[$((i - 1))]}"
[cluster]
peers = [${peers%, }]
bootstrap_expect = $n
token_file = "$token"
CONF
    RUST_LOG=warn "$vcollect" agent --config "$cfg" >/dev/null 2>"$work/n$n-node$i.log" &
    pids+=($!); agent_pids+=($!)
  done
  # /metrics needs the cluster token.
  # Settled: every node owns entities, together all of them, unchanged over two scrapes an
  # interval apart, and each ran two cycles since (a moved bucket's first window is a
  # catch-up, not a steady cycle).
  local metrics_urls=()
  for p in "${mports[@]}"; do metrics_urls+=("http://127.0.0.1:$p/metrics"); done
  python3 - "$interval" "$token" "${metrics_urls[@]}" <<'PY'
import re, sys, time, urllib.request
secs = int(sys.argv[1].rstrip("s"))
token = open(sys.argv[2]).read().strip()
urls = sys.argv[3:]
def scrape(u):
    try:
        req = urllib.request.Request(u, headers={"Authorization": f"Bearer {token}"})
        t = urllib.request.urlopen(req, timeout=5).read().decode()
    except OSError:
        return None
    get = lambda name: sum(float(m) for m in re.findall(r"^" + name + r"\{[^}]*\} (\S+)$", t, re.M))
    return get("vcollect_entities_owned"), get("vcollect_cycle_duration_seconds_count")
deadline = time.time() + 900
prev = None
while time.time() < deadline:
    now = [scrape(u) for u in urls]
    if all(now) and prev and all(prev):
        owned = [e for e, _ in now]
        if owned == [e for e, _ in prev] and all(o > 0 for o in owned):
            # two more cycles each from here
            base = [c for _, c in now]
            while time.time() < deadline:
                cur = [scrape(u) for u in urls]
                if all(cur) and all(c[1] >= b + 2 for c, b in zip(cur, base)):
                    sys.exit(0)
                time.sleep(1)
    prev = now
    time.sleep(secs)
sys.exit("the cluster did not settle in 15 minutes")
PY
  local c0 cpu0 vcpu0 m0 secs=${interval%s}
  m0=$(for u in "${metrics_urls[@]}"; do curl -sf -H "Authorization: Bearer $(cat "$token")" "$u" | grep -E '^vcollect_(cycle_duration_seconds_(sum|count)|samples_total)\{' | sed "s|^|$u |"; done)
  c0=$(curl -sf "$calls_url")
  cpu0=$(cpu_seconds "${agent_pids[@]}"); vcpu0=$(cpu_seconds "$vcsim_pid")
  sleep $((secs * measure))
  local c1 cpu1 vcpu1 m1
  m1=$(for u in "${metrics_urls[@]}"; do curl -sf -H "Authorization: Bearer $(cat "$token")" "$u" | grep -E '^vcollect_(cycle_duration_seconds_(sum|count)|samples_total)\{' | sed "s|^|$u |"; done)
  c1=$(curl -sf "$calls_url")
  cpu1=$(cpu_seconds "${agent_pids[@]}"); vcpu1=$(cpu_seconds "$vcsim_pid")
  python3 - "$n" "$c0" "$c1" "$secs" "$measure" "$cpu0" "$cpu1" "$vcpu0" "$vcpu1" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$m0" "$m1" <<'PY'
import json, sys
n, c0, c1, secs, measure, a0, a1, v0, v1, load, m0, m1 = sys.argv[1:]
n, secs, measure = int(n), int(secs), int(measure)
def parse(text):
    out = {}
    for line in text.splitlines():
        url, series, value = line.split(" ")
        out[(url, series.split("{")[0])] = float(value)
    return out
m0, m1 = parse(m0), parse(m1)
nodes = sorted({u for u, _ in m1})
per_node, cycles, samples = {}, [], 0.0
for u in nodes:
    d = lambda k: m1.get((u, k), 0) - m0.get((u, k), 0)
    count = d("vcollect_cycle_duration_seconds_count")
    per_node[u] = d("vcollect_cycle_duration_seconds_sum") / max(count, 1)
    cycles.append(count)
    samples += d("vcollect_samples_total")
k = max(sum(cycles) / n, 1)  # cycles per node in the window
c0, c1 = json.loads(c0), json.loads(c1)
d = lambda sec, key: (c1.get(sec, {}).get(key, 0) - c0.get(sec, {}).get(key, 0)) / k
print(f"nodes {n}: cycle {max(per_node.values()):.1f} s (mean per node: "
      + ", ".join(f"{v:.1f}" for v in per_node.values()) + f"; {k:.1f} cycles each)"
      f"; per cycle: {d('Cost', 'calls'):.0f} calls, {d('Cost', 'busy_ms') / 1000:.1f} s simulated vCenter time, "
      f"{d('Cost', 'series'):.0f} series, {samples / k:.0f} samples, "
      f"request {d('Front', 'request_bytes') / 1e6:.2f} MB, response {d('Front', 'response_bytes') / 1e6:.2f} MB"
      f" ({d('Front', 'response_bytes') / max(samples / k, 1):.0f} B/sample); "
      f"CPU per cycle: agents {(float(a1) - float(a0)) / k:.2f} s, simulator {(float(v1) - float(v0)) / k:.2f} s; "
      f"503s {d('Front', 'refused_503') * k:.0f}; load average {load}")
PY
  for p in "${agent_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${agent_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}

run_plan() {
  local entities=$1 format=$2 db="plan_${1}_$2"
  local cfg="$work/$db.toml"
  cat > "$cfg" <<CONF
[node]
data_dir = "$work/$db"
$(vcenter_conf)
[collect]
lookback = "${LOOKBACK:-1m}"
max_query_entities = $entities
format = "$format"
$(kinds_conf)
CONF
  local c0 c1 start end
  c0=$(curl -sf "$calls_url"); start=$(date +%s.%N)
  # The lines go to /dev/null, the summary (JSON) to stderr.
  RUST_LOG=error "$vcollect" once --config "$cfg" --json >/dev/null 2>"$work/$db.json" ||
    { tail -5 "$work/$db.json"; exit 1; }
  end=$(date +%s.%N); c1=$(curl -sf "$calls_url")
  python3 - "$entities" "$format" "$c0" "$c1" "$start" "$end" "$work/$db.json" <<'PY'
import json, sys
entities, fmt, c0, c1, start, end, summary = sys.argv[1:]
c0, c1 = json.loads(c0), json.loads(c1)
d = lambda sec, k: c1.get(sec, {}).get(k, 0) - c0.get(sec, {}).get(k, 0)
text = open(summary).read()
s = json.loads(text[text.index("["):])[0]
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

# PLANS: "ENTITIES:FORMAT ..." (default: 16, 64, 256 and 10000 entities, each format).
all_plans() {
  local p
  for p in ${PLANS:-16:normal 64:normal 256:normal 10000:normal 16:csv 64:csv 256:csv 10000:csv}; do
    run_plan "${p%%:*}" "${p##*:}"
  done
}

case $mode in
  nodes) all_nodes "$@" ;;
  plan) all_plans ;;
  all) all_nodes "$@"; all_plans ;;
  *) echo "usage: $0 nodes [N...] | plan | all [N...]" >&2; exit 2 ;;
esac
echo "machine: load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
