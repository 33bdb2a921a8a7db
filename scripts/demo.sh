#!/usr/bin/env bash
# The main job on an embedded default: starts a local vCenter simulator and a local InfluxDB,
# runs a three-node vcollect cluster on loopback against them, and shows the cluster's status
# and samples arriving in InfluxDB.
#   scripts/demo.sh [CYCLES]     (default 3 cycles of 20 s; everything stops afterwards)
# Files (config, logs, InfluxDB data) go to .work/demo/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cycles=${1:-3}
scripts/setup.sh
cargo build --release --quiet
work="$root/.work/demo"
rm -rf "$work" && mkdir -p "$work"
source scripts/lib.sh

# 1. A simulated vCenter: 2 clusters x 4 hosts, 25 VMs per cluster (3 powered off).
echo demo-password > "$work/vc.password"
start_vcsim "$work" demo-password -user demo@vsphere.local -cluster 2 -cluster-host 4 -vm 25 -poweroff 3
echo "vCenter simulator: $vc_url"

# 2. InfluxDB 1.x on free loopback ports, data under .work/demo/influxdb.
start_influx "$work"
echo "InfluxDB: $influx_url (database vsphere)"

# 3. Three vcollect nodes on loopback, identical configuration but for [node]: they form one
#    Raft cluster, the leader spreads the inventory's buckets, each collects its share.
head -c 32 /dev/urandom | base64 > "$work/cluster.token"
ports=($(free_port) $(free_port) $(free_port))
peers=$(printf '"127.0.0.1:%s", ' "${ports[@]}"); peers="[${peers%, }]"
for i in 1 2 3; do
  port=${ports[$((i - 1))]}
  cat > "$work/node$i.toml" <<CONF
[node]
name = "node$i"
listen = "127.0.0.1:$port"
advertise = "127.0.0.1:$port"
data_dir = "$work/node$i"

[cluster]
peers = $peers
bootstrap_expect = 3
token_file = "$work/cluster.token"
failure_timeout = "5s"

[[vcenter]]
name = "vcsim"
url = "$vc_url"
username = "demo@vsphere.local"
password_file = "$work/vc.password"

[collect]
interval = "20s"
lookback = "5m"

[output]
url = "$influx_url"
database = "vsphere"
CONF
  target/release/vcollect validate --config "$work/node$i.toml"
  target/release/vcollect agent --config "$work/node$i.toml" 2>"$work/node$i.log" &
  pids+=($!)
done
echo "3 vcollect nodes started (logs: $work/node{1,2,3}.log)"
# Wait until a leader has spread every bucket over the three nodes.
for _ in $(seq 100); do
  # While the nodes start, status answers nothing (or an error): not JSON yet, keep waiting.
  target/release/vcollect status --config "$work/node1.toml" --json 2>/dev/null | python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
except ValueError:
    sys.exit(1)
vcs = d.get("vcenters") or []
sys.exit(0 if d.get("leader_id") and vcs and all(v["unassigned"] == 0 for v in vcs) else 1)
' && break
  sleep 0.2
done
target/release/vcollect status --config "$work/node1.toml"
echo "showing InfluxDB every 20 s"

q() { curl -sf -G "$influx_url/query" --data-urlencode db=vsphere --data-urlencode "q=$1"; }
cat > "$work/show.py" <<'PY'
import json, sys
what = sys.argv[1]
for s in json.load(sys.stdin)["results"][0].get("series", []):
    v = s["values"][0]
    if what == "points":
        print(f"  {s['name']:<18} {v[1]:>7} usage_average points")
    elif what == "line":
        # One point, every column, one per line: nothing cut.
        for col, val in zip(s["columns"], v):
            if val is not None:
                print(f"  {col:<16} {val}")
    else:
        print(f"  {s['tags']['node']}: last cycle {v[1]} samples from {v[2]} entities in {v[3]:.2f} s")
PY
for i in $(seq "$cycles"); do
  sleep 20
  echo "--- after $((i * 20)) s"
  q 'SELECT count("usage_average") FROM "vsphere_vm_cpu","vsphere_host_cpu","vsphere_vm_mem"' |
    python3 "$work/show.py" points
  q 'SELECT last("samples"), last("entities"), last("duration_seconds") FROM "vcollect" GROUP BY "node"' |
    python3 "$work/show.py" nodes
done
target/release/vcollect status --config "$work/node1.toml"
echo "--- one line as Grafana would read it:"
q 'SELECT * FROM "vsphere_vm_cpu" WHERE "cpu" = '"'"'instance-total'"'"' LIMIT 1' | python3 "$work/show.py" line
