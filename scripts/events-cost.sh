#!/usr/bin/env bash
# What reading one vCenter's event stream costs (docs/benchmarks.md, issue 23): one
# `vcollect agent` with `events = true` and the default event set, against the simulator,
# into a real InfluxDB; no performance counter is collected (every kind's metrics excluded),
# so the agent's CPU is the event stream's plus its idle cost. It measures the process's CPU
# time (/proc/PID/stat) over SECONDS with no event posted, then over SECONDS while the
# simulator posts RATE events a second (/vcsim/event-rate: power, DRS migration and
# maintenance events, all in the default set, so every one is read and written), and prints
# both as a share of one core, and how many of the posted events reached InfluxDB.
#   scripts/events-cost.sh [RATE]
#   SECONDS_EACH=60 INTERVAL=5s BIN=target/release/vcollect scripts/events-cost.sh 100
# The simulator keeps its newest 1000 events (tests/vcsim/events.go): at RATE 100 a cycle
# longer than ~8 s would find some gone, hence the 5-s interval by default (a 20-s interval
# reads the same events in fewer, larger reads).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
rate=${1:-100}
each=${SECONDS_EACH:-60}; interval=${INTERVAL:-5s}; bin=${BIN:-target/release/vcollect}
scripts/setup.sh >/dev/null
[ -n "${BIN:-}" ] || cargo build --release --quiet
work=${WORK:-$root/.work/events-cost}; rm -rf "$work"; mkdir -p "$work"
source scripts/lib.sh

echo events > "$work/pw"
start_vcsim "$work" events -user events -cluster 2 -cluster-host 5 -vm 20
echo "simulator: $(tail -1 "$work/vcsim.log")"
start_influx "$work"
cat > "$work/vcollect.toml" <<CONF
[node]
name = "events"
data_dir = "$work/data"
[[vcenter]]
name = "vc1"
url = "$vc_url"
username = "events"
password_file = "$work/pw"
[collect]
interval = "$interval"
events = true
vm_metric_exclude = ["*"]
host_metric_exclude = ["*"]
cluster_metric_exclude = ["*"]
datastore_metric_exclude = ["*"]
resource_pool_metric_exclude = ["*"]
[output]
url = "$influx_url"
database = "vsphere"
CONF
"$bin" agent --config "$work/vcollect.toml" >/dev/null 2>"$work/vcollect.log" &
agent=$!
pids+=("$agent")
base=${vc_url%/sdk}

python3 - "$agent" "$base" "$influx_url" "$rate" "$each" <<'PY'
import json, os, sys, time, urllib.parse, urllib.request
pid, base, influx, rate, each = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    # utime and stime, fields 14 and 15 of /proc/PID/stat (after the command in parentheses)
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def get(url):
    return json.loads(urllib.request.urlopen(url, timeout=10).read().decode())

def events_in_influx():
    q = urllib.parse.urlencode({"db": "vsphere", "q": 'SELECT count("key") FROM "vsphere_event"'})
    r = get(f"{influx}/query?{q}")
    s = r["results"][0].get("series")
    return s[0]["values"][0][1] if s else 0

def measure(what):
    c0, t0 = cpu(), time.time()
    time.sleep(each)
    used, wall = cpu() - c0, time.time() - t0
    print(f"{what}: {used:.2f} CPU-s in {wall:.0f} s = {100 * used / wall:.2f} % of a core")
    return used / wall

time.sleep(15)  # login, discovery, first cycles
idle = measure("no events")
before = events_in_influx()
get(f"{base}/vcsim/event-rate?per_second={rate}")
time.sleep(10)  # the stream reaches its steady state
busy = measure(f"{rate} events/s")
posted = get(f"{base}/vcsim/event-rate?per_second=0")["posted"]
deadline = time.time() + 60
while time.time() < deadline and events_in_influx() - before < posted:
    time.sleep(1)
got = events_in_influx() - before
print(f"events posted {posted}, in InfluxDB {got}")
print(f"the stream's own cost: {100 * (busy - idle):.2f} % of a core at {rate} events/s")
PY
