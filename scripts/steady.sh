#!/usr/bin/env bash
# The agent's steady state (docs/benchmarks.md, issue 19): one node running `vcollect agent`
# against a simulated vCenter of 2,000 VMs and 100 hosts (10 clusters x 10 hosts x 200 VMs),
# the default counters, 20-s cycles, into a real InfluxDB. After WARM cycles (the first one
# is the lookback's catch-up) it reads the process's CPU time from /proc/PID/stat and the
# samples from its /metrics, waits CYCLES more cycles and prints samples per CPU-second of
# those cycles, the CPU time per cycle and the peak RSS (VmHWM). The end of a cycle is read
# from the agent's log ("cycle done"), and /metrics only at the start and the end of the
# measured cycles: a scrape costs the agent CPU too (read 20 times a second it was 8 % of
# the profile, once a second still 8-9 %, which the benchmark then charged to collection).
#   scripts/steady.sh [CLUSTERS HOSTS_PER_CLUSTER VMS_PER_CLUSTER]
#   CYCLES=5 WARM=2 BIN=target/release/vcollect KINDS=realtime scripts/steady.sh
#   COLLECT_EXTRA='max_query_entities = 256' scripts/steady.sh
#                                     more [collect] keys, one TOML line each
#   FORMAT=normal scripts/steady.sh   (the QueryPerf format, csv by default as the agent's own
#                                     default; also prints answer bytes per sample)
#   VSAN=on VCSIM_FLAGS=-vsan scripts/steady.sh
#                                     vSAN on at its defaults (the simulator's vSAN: every
#                                     cluster vSAN-enabled); with CYCLES=15 the cycles span one
#                                     vsan_interval (5 min) of 20-s cycles
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
clusters=${1:-10}; hosts=${2:-10}; vms=${3:-200}
cycles=${CYCLES:-5}; warm=${WARM:-2}; bin=${BIN:-target/release/vcollect}
scripts/setup.sh >/dev/null
[ -n "${BIN:-}" ] || cargo build --release --quiet
work=${WORK:-$root/.work/steady}; rm -rf "$work"; mkdir -p "$work"
source scripts/lib.sh

echo steady > "$work/pw"
# shellcheck disable=SC2086
start_vcsim "$work" steady -user steady -cluster "$clusters" -cluster-host "$hosts" -vm "$vms" ${VCSIM_FLAGS:-}
echo "simulator: $(tail -1 "$work/vcsim.log")"
start_influx "$work"
metrics_port=$(free_port)
cat > "$work/vcollect.toml" <<CONF
[node]
name = "steady"
data_dir = "$work/data"
[[vcenter]]
name = "steady"
url = "$vc_url"
username = "steady"
password_file = "$work/pw"
[collect]
interval = "20s"
format = "${FORMAT:-csv}"
${COLLECT_EXTRA:-}
$(if [ "${KINDS:-all}" = realtime ]; then
  printf 'cluster_metric_exclude = ["*"]\ndatastore_metric_exclude = ["*"]\nresource_pool_metric_exclude = ["*"]\n'
fi)
$(if [ "${VSAN:-off}" = on ]; then printf 'vsan_metric_exclude = []\n'; fi)
[metrics]
listen = "127.0.0.1:$metrics_port"
[output]
url = "$influx_url"
database = "vsphere"
CONF
"$bin" agent --config "$work/vcollect.toml" >/dev/null 2>"$work/vcollect.log" &
agent=$!
pids+=("$agent")

python3 - "$agent" "http://127.0.0.1:$metrics_port/metrics" "$warm" "$cycles" "$work/vcollect.log" <<'PY'
import os, re, sys, time, urllib.request
pid, url, warm, cycles = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
log = sys.argv[5]
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    # utime and stime, fields 14 and 15 of /proc/PID/stat (after the command in parentheses)
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def total(text, name):
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.M))

def scrape():
    try:
        return urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return ""

def logged_cycles():
    # The agent logs every cycle's end, done or with errors; reading its log costs it nothing.
    with open(log, errors="replace") as f:
        return sum(1 for l in f if "cycle done" in l or "cycle had errors" in l)

def wait_cycles(n, limit):
    deadline = time.time() + limit
    while time.time() < deadline:
        if logged_cycles() >= n:
            # The cycle's metrics and self-monitoring line follow its log line: let them
            # land (the next cycle starts 20 s later), read the CPU time, then scrape once.
            time.sleep(1)
            c = cpu()
            t = scrape()
            if total(t, "vcollect_cycles_total") >= n:
                return t, c
        time.sleep(0.2)
    sys.exit(f"fewer than {n} cycles within {limit} s: see the agent's log")

t0, c0 = wait_cycles(warm, 300)
n0 = total(t0, "vcollect_cycles_total")
t1, c1 = wait_cycles(n0 + cycles, 30 * cycles + 60)
n1 = total(t1, "vcollect_cycles_total")
samples = total(t1, "vcollect_samples_total") - total(t0, "vcollect_samples_total")
received = total(t1, "vcollect_queryperf_received_bytes_total") - total(t0, "vcollect_queryperf_received_bytes_total")
errors = total(t1, "vcollect_errors_total")
hwm = re.search(r"VmHWM:\s*(\d+)", open(f"/proc/{pid}/status").read()).group(1)
used = c1 - c0
print(f"cycles {n1 - n0:.0f}, samples {samples:.0f} ({samples / (n1 - n0):.0f} per cycle), errors {errors:.0f}")
print(f"cpu {used:.2f} s ({used / (n1 - n0):.3f} s per cycle), peak RSS {int(hwm) / 1024:.0f} MB")
print(f"{samples / used / 1e6:.2f} M samples per CPU-second")
if samples:
    print(f"QueryPerf answers: {received / samples:.1f} bytes per sample")
PY
