# Shared by scripts/demo.sh and scripts/scale.sh (sourced, not run): background processes
# that stop with the script, free loopback ports, the simulator and a throw-away InfluxDB.

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_vcsim WORKDIR PASSWORD SIMULATOR-FLAGS...: starts target/vcsim/vcsim-vcollect with the
# password in VCSIM_PASSWORD and sets vc_url once it listens (a 10,000-VM model takes ~10 s,
# a minute on a loaded machine: wait up to 5 min).
start_vcsim() {
  local work=$1 password=$2
  shift 2
  VCSIM_PASSWORD=$password target/vcsim/vcsim-vcollect "$@" >"$work/vcsim.out" 2>"$work/vcsim.log" &
  pids+=($!)
  for _ in $(seq 3000); do grep -q VCSIM_URL "$work/vcsim.out" && break; sleep 0.1; done
  vc_url=$(sed -n 's/^VCSIM_URL=//p' "$work/vcsim.out")
  [ -n "$vc_url" ] || { echo "the simulator did not start: $(tail -3 "$work/vcsim.log")" >&2; exit 1; }
}

# start_influx WORKDIR: Debian's influxd on free loopback ports with its data under
# WORKDIR/influxdb and a database `vsphere`; sets influx_url.
start_influx() {
  local work=$1 http_port rpc_port
  http_port=$(free_port); rpc_port=$(free_port)
  cat > "$work/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$rpc_port"
[meta]
  dir = "$work/influxdb/meta"
[data]
  dir = "$work/influxdb/data"
  wal-dir = "$work/influxdb/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:$http_port"
  log-enabled = false
CONF
  influxd -config "$work/influxdb.conf" >"$work/influxd.log" 2>&1 &
  pids+=($!)
  influx_url="http://127.0.0.1:$http_port"
  for _ in $(seq 100); do curl -sf "$influx_url/ping" >/dev/null && break; sleep 0.2; done
  curl -sf -XPOST "$influx_url/query" --data-urlencode 'q=CREATE DATABASE vsphere' >/dev/null
}
