#!/usr/bin/env bash
# Starts or removes the cluster-test containers.
#   nodes.sh up N      start vct-node-1..N on the docker network vcollect-ct (systemd as PID 1,
#                      a fixed address each) and write .work/inventory/hosts.yml for them
#   nodes.sh services  start the vCenter simulator (vct-vcsim, network alias `vcsim`) and
#                      InfluxDB (vct-influxdb, alias `influxdb`, HTTP published on a loopback
#                      port) on the same network; create the database `vsphere`
#   nodes.sh influx-url  print http://127.0.0.1:PORT of the published InfluxDB port
#   nodes.sh down      remove the containers and the network
# Needs the images from build-image.sh. No registry access: the images are local.
#
# Environment: VCOLLECT_CT_SIM (simulator flags, default below), VCOLLECT_VCSIM (the
# simulator binary, default target/vcsim/vcsim-vcollect, built by scripts/build-vcsim.sh
# when missing), VCOLLECT_CT_WORK (where the inventory goes, default cluster-tests/.work: two
# runs at once need two), and the names: VCOLLECT_CT_NETWORK, VCOLLECT_CT_PREFIX,
# VCOLLECT_CT_VCSIM, VCOLLECT_CT_INFLUX.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
IMAGE="${VCOLLECT_NODE_IMAGE:-vcollect-node:base}"
INFLUX_IMAGE="${VCOLLECT_INFLUX_IMAGE:-vcollect-influxdb:base}"
NET="${VCOLLECT_CT_NETWORK:-vcollect-ct}"
PREFIX="${VCOLLECT_CT_PREFIX:-vct-node-}"
VCSIM_NAME="${VCOLLECT_CT_VCSIM:-vct-vcsim}"
INFLUX_NAME="${VCOLLECT_CT_INFLUX:-vct-influxdb}"
# 2 clusters x 3 hosts + 1 standalone host, 10 VMs per cluster and per standalone host;
# 2 VMs powered off, 1 host disconnected: 28 VMs and 6 hosts to collect.
SIM_FLAGS="${VCOLLECT_CT_SIM:--cluster 2 -cluster-host 3 -standalone-host 1 -vm 10 -poweroff 2 -disconnect 1}"
WORK="${VCOLLECT_CT_WORK:-$HERE/.work}"

log() { printf '%s nodes: %s\n' "$(date +%T)" "$*" >&2; }

our_containers() {
    docker ps -a --filter "label=vcollect-ct=$NET" --format '{{.Names}}'
}

down() {
    local names
    names="$(our_containers)"
    if [[ -n "$names" ]]; then
        # shellcheck disable=SC2086
        docker rm -f $names >/dev/null
    fi
    docker network rm "$NET" >/dev/null 2>&1 || true
    rm -f "$WORK/inventory/hosts.yml"
}

# The network gets a subnet docker picks (a throw-away network shows which one is free), but
# re-created as a *configured* subnet: only then does docker accept fixed addresses
# (`docker run --ip`, `docker network connect --ip`), so that a node keeps its address across
# docker stop/start, docker kill/start and network disconnect/connect, as the peer list in its
# configuration requires. Nodes take .11, .12, ... of the subnet; everything else (simulator,
# InfluxDB) gets a dynamic address from the upper half (--ip-range), so the two never collide.
create_network() {
    local probe="$NET-probe" subnet
    docker network inspect "$NET" >/dev/null 2>&1 && return 0
    # One network at a time on this engine: two runs side by side (run.sh's lanes,
    # package-test.sh) must not both see the same subnet free between probe and create.
    exec 8>/var/tmp/vcollect-ct-network.lock
    flock 8
    docker network rm "$probe" >/dev/null 2>&1 || true
    docker network create "$probe" >/dev/null
    subnet="$(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$probe")"
    docker network rm "$probe" >/dev/null
    docker network create --subnet "$subnet" \
        --ip-range "$(python3 -c 'import ipaddress,sys; n=ipaddress.ip_network(sys.argv[1]); print(list(n.subnets())[1])' "$subnet")" \
        --label "vcollect-ct=$NET" "$NET" >/dev/null
}

node_ip() { # node_ip I: the fixed address of node I
    local subnet
    subnet="$(docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' "$NET")"
    python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[10 + int(sys.argv[2])])' "$subnet" "$1"
}

# systemd as PID 1 in a container on this engine (cgroup v1, Docker 20.10): the cgroup tree
# read-only, tmpfs for /run and /tmp, and CAP_SYS_ADMIN so that systemd can build the mount
# namespaces of the unit's hardening (ProtectSystem=, PrivateTmp=, ...). Without that cap
# systemd starts the unit but silently skips those options; --privileged is refused here.
start_one() {
    local name="$1" ip="$2"
    docker run -d --name "$name" --hostname "$name" --network "$NET" --ip "$ip" \
        --label "vcollect-ct=$NET" \
        --cap-add SYS_ADMIN --stop-signal SIGRTMIN+3 \
        -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
        --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
        "$IMAGE" >/dev/null
}

wait_booted() {
    local name="$1" state i
    for ((i = 0; i < 100; i++)); do
        state="$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)"
        case "$state" in
        running | degraded) return 0 ;;
        esac
        sleep 0.2
    done
    echo "nodes: $name: systemd did not finish booting (state: $state)" >&2
    docker exec "$name" systemctl --failed --no-pager >&2 || true
    return 1
}

ip_of() {
    docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$1"
}

write_inventory() {
    local n="$1" i name
    mkdir -p "$WORK/inventory"
    ln -sfn "$HERE/inventory/group_vars" "$WORK/inventory/group_vars"
    {
        echo "---"
        echo "# Generated by cluster-tests/nodes.sh; do not edit."
        echo "vcollect:"
        echo "  hosts:"
        for ((i = 1; i <= n; i++)); do
            name="$PREFIX$i"
            echo "    $name:"
            echo "      vcollect_advertise_address: $(node_ip "$i")"
        done
    } >"$WORK/inventory/hosts.yml"
}

up() {
    local n="$1" i
    docker image inspect "$IMAGE" >/dev/null 2>&1 || {
        echo "nodes: image $IMAGE missing: run build-image.sh" >&2
        exit 1
    }
    create_network
    for ((i = 1; i <= n; i++)); do
        if ! docker container inspect "$PREFIX$i" >/dev/null 2>&1; then
            start_one "$PREFIX$i" "$(node_ip "$i")"
        fi
    done
    for ((i = 1; i <= n; i++)); do
        wait_booted "$PREFIX$i"
    done
    write_inventory "$n"
    log "$n nodes up on $NET: $(for ((i = 1; i <= n; i++)); do printf '%s=%s ' "$PREFIX$i" "$(ip_of "$PREFIX$i")"; done)"
}

influx_url() {
    echo "http://$(docker port "$INFLUX_NAME" 8086/tcp | grep '^127\.0\.0\.1:' | head -n1)"
}

# The simulator: the static Go binary copied into a container of the base image (not
# systemd: the binary is PID 1), listening on all addresses of the container. Nodes reach it
# as http://vcsim:8989/sdk (the network alias). Login user/pass, as the test group_vars say.
# InfluxDB: Debian's influxd in the derived image, HTTP on 0.0.0.0:8086 inside, published on
# a free loopback port of this machine for the sample checker.
services() {
    local vcsim="${VCOLLECT_VCSIM:-$REPO/target/vcsim/vcsim-vcollect}" i url
    if [[ ! -x "$vcsim" ]]; then
        log "building the simulator (scripts/build-vcsim.sh)"
        "$REPO/scripts/build-vcsim.sh" >&2
    fi
    create_network
    docker rm -f "$VCSIM_NAME" "$INFLUX_NAME" >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    docker create --name "$VCSIM_NAME" --hostname vcsim --network "$NET" --network-alias vcsim \
        --label "vcollect-ct=$NET" -e VCSIM_PASSWORD=pass \
        --entrypoint /usr/local/bin/vcsim-vcollect "$IMAGE" \
        -listen 0.0.0.0:8989 -user user $SIM_FLAGS >/dev/null
    docker cp "$vcsim" "$VCSIM_NAME:/usr/local/bin/vcsim-vcollect"
    docker start "$VCSIM_NAME" >/dev/null
    docker run -d --name "$INFLUX_NAME" --hostname influxdb --network "$NET" --network-alias influxdb \
        --label "vcollect-ct=$NET" -p 127.0.0.1::8086 "$INFLUX_IMAGE" >/dev/null
    for ((i = 0; i < 150; i++)); do
        docker logs "$VCSIM_NAME" 2>/dev/null | grep -q '^VCSIM_URL=' && break
        sleep 0.2
    done
    docker logs "$VCSIM_NAME" 2>/dev/null | grep -q '^VCSIM_URL=' || {
        echo "nodes: the simulator did not start:" >&2
        docker logs "$VCSIM_NAME" >&2
        return 1
    }
    for ((i = 0; i < 150; i++)); do
        docker exec "$INFLUX_NAME" curl -sf http://127.0.0.1:8086/ping >/dev/null 2>&1 && break
        sleep 0.2
    done
    docker exec "$INFLUX_NAME" curl -sf -XPOST http://127.0.0.1:8086/query \
        --data-urlencode 'q=CREATE DATABASE vsphere' >/dev/null || {
        echo "nodes: InfluxDB did not start:" >&2
        docker logs "$INFLUX_NAME" >&2
        return 1
    }
    url="$(influx_url)"
    log "simulator $VCSIM_NAME=$(ip_of "$VCSIM_NAME") ($SIM_FLAGS; nodes use http://vcsim:8989/sdk)," \
        "InfluxDB $INFLUX_NAME=$(ip_of "$INFLUX_NAME") (published at $url)"
}

case "${1:-}" in
up) up "${2:-3}" ;;
services) services ;;
influx-url) influx_url ;;
node-ip) node_ip "$2" ;;
down) down ;;
*)
    echo "usage: $0 up N | services | influx-url | node-ip I | down" >&2
    exit 2
    ;;
esac
