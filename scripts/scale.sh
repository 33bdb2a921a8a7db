#!/usr/bin/env bash
# The documented scale run (docs/benchmarks.md): a simulated vCenter of 10,000 VMs and 500
# hosts (50 clusters x 10 hosts x 200 VMs), the default counter lists, one `vcollect once`
# into a real InfluxDB (or `--output -` to /dev/null with SINK=stdout). Prints wall time,
# CPU seconds and peak RSS of the vcollect process, and samples per CPU-second.
#   scripts/scale.sh [CLUSTERS HOSTS_PER_CLUSTER VMS_PER_CLUSTER LOOKBACK]
#   KINDS=realtime scripts/scale.sh   VMs and hosts only (clusters, datastores, pools off), to
#                                     measure what the historical kinds cost on top
#   BIN=path/to/vcollect              that binary instead of `cargo build --release`'s
#   VSAN=on                           vSAN on at its defaults (with VCSIM_FLAGS=-vsan: the
#                                     simulator's vSAN, every cluster vSAN-enabled)
#   MAX_RSS_MB=N                      fails (exit 3) when the peak RSS passes N MB: the memory
#                                     guard of scripts/test.sh's release stage
#   RUNS=N                            N runs of vcollect on the one simulator (its inventory
#                                     takes a minute to build); with VSAN=alternate they go
#                                     off, on, off, on … (pairs for vSAN's cost)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
clusters=${1:-50}; hosts=${2:-10}; vms=${3:-200}; lookback=${4:-5m}
scripts/setup.sh >/dev/null
# /usr/bin/time -v gives the peak RSS (the memory guard): Debian's time, installed on demand.
command -v /usr/bin/time >/dev/null || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }
bin=${BIN:-target/release/vcollect}
[ -n "${BIN:-}" ] || cargo build --release --quiet
work="$root/.work/scale"; rm -rf "$work"; mkdir -p "$work"
source scripts/lib.sh

echo scale > "$work/pw"
# VCSIM_FLAGS: extra simulator flags, e.g. -govmomi-perf (govmomi's own QueryPerf: one series
# per counter, instance "*" echoed) or -lag 40s.
# shellcheck disable=SC2086
start_vcsim "$work" scale -user scale -cluster "$clusters" -cluster-host "$hosts" -vm "$vms" ${VCSIM_FLAGS:-}
echo "simulator: $(tail -1 "$work/vcsim.log")"

output_url=-
if [ "${SINK:-influx}" = influx ]; then
  start_influx "$work"
  output_url=$influx_url
fi

runs=${RUNS:-1}
for run in $(seq 1 "$runs"); do
vsan=${VSAN:-off}
if [ "$vsan" = alternate ]; then vsan=$([ $((run % 2)) = 1 ] && echo off || echo on); fi
cat > "$work/vcollect.toml" <<CONF
[node]
data_dir = "$work/data-$run"
[[vcenter]]
name = "scale"
url = "$vc_url"
username = "scale"
password_file = "$work/pw"
[collect]
lookback = "$lookback"
$(if [ "${KINDS:-all}" = realtime ]; then
  printf 'cluster_metric_exclude = ["*"]\ndatastore_metric_exclude = ["*"]\nresource_pool_metric_exclude = ["*"]\n'
fi)
$(if [ "$vsan" = on ]; then printf 'vsan_metric_exclude = []\n'; fi)
[output]
url = "$output_url"
database = "vsphere"
CONF
# With SINK=stdout the line protocol goes to /dev/null and vcollect prints its summary on
# stderr, after its log lines (stdout carries the lines): the summary is the JSON array that
# starts at the last line reading `[`.
summary="$work/summary.json" lines_out="$work/summary.json"
[ "$output_url" = - ] && { summary="$work/vcollect.log"; lines_out=/dev/null; }
/usr/bin/time -v -o "$work/time.txt" "$bin" once --config "$work/vcollect.toml" --json \
  >"$lines_out" 2>"$work/vcollect.log" || { tail -5 "$work/vcollect.log"; tail -5 "$summary"; exit 1; }
python3 - "$work" "$summary" "${MAX_RSS_MB:-}" "$vsan" <<'PY'
import json, re, sys
work, summary, max_rss, vsan = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
t = open(f"{work}/time.txt").read()
get = lambda k: re.search(re.escape(k) + r":\s*(.+)", t).group(1)
user, sys_ = float(get("User time (seconds)")), float(get("System time (seconds)"))
rss_mb = int(get("Maximum resident set size (kbytes)")) / 1024
wall = get("Elapsed (wall clock) time (h:mm:ss or m:ss)")
text = open(summary).read().split("\n")
s = json.loads("\n".join(text[max(i for i, l in enumerate(text) if l == "["):]))[0]
cpu = user + sys_
print(f"vsan {vsan}: entities {s['entities']}, samples {s['samples']}, lines {s['lines']}, bytes {s['bytes']}, errors {len(s['errors'])}")
print(f"wall {wall}, cpu {cpu:.2f} s (user {user:.2f}, sys {sys_:.2f}), peak RSS {rss_mb:.0f} MB")
print(f"{s['samples'] / cpu / 1e6:.2f} M samples per CPU-second")
if s["errors"] or not s["samples"]:
    sys.exit(f"the run failed: {s['errors'][:3]}")
if max_rss and rss_mb > float(max_rss):
    print(f"peak RSS {rss_mb:.0f} MB is over the bound of {max_rss} MB", file=sys.stderr)
    sys.exit(3)
PY
done
