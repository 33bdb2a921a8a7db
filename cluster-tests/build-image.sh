#!/usr/bin/env bash
# Builds the cluster-test images without pulling anything:
#  - `vcollect-node:base`: a Debian bookworm root filesystem from debootstrap (python3 for
#    Ansible, systemd as init, sudo for `become`), imported with `docker import`;
#  - `vcollect-influxdb:base`: the base plus Debian's `influxdb` package (1.x) and curl,
#    installed by apt inside a container on a docker network of our own, then `docker commit`.
# Each is skipped when it exists (VCOLLECT_REBUILD_IMAGE=1 rebuilds both).
#
#   build-image.sh --dev   instead: `vcollect-dev:bookworm`, a clean bookworm with only
#                          build-essential, git and ca-certificates (Rust is mounted in by
#                          scripts/clean-container-test.sh): a new contributor's machine
#
# Mirror: the one apt's own sources already name (override with VCOLLECT_MIRROR).
set -euo pipefail

IMAGE="${VCOLLECT_NODE_IMAGE:-vcollect-node:base}"
INFLUX_IMAGE="${VCOLLECT_INFLUX_IMAGE:-vcollect-influxdb:base}"
INCLUDE=python3,systemd,systemd-sysv,iproute2,ca-certificates,procps,sudo
DEV=0
if [[ "${1:-}" == --dev ]]; then
    DEV=1
    IMAGE="${VCOLLECT_DEV_IMAGE:-vcollect-dev:bookworm}"
    INCLUDE=build-essential,git,ca-certificates
fi
SUITE=bookworm

log() { printf '%s build-image: %s\n' "$(date +%T)" "$*" >&2; }

have() { [[ "${VCOLLECT_REBUILD_IMAGE:-0}" != 1 ]] && docker image inspect "$1" >/dev/null 2>&1; }

# InfluxDB 1.x from Debian's package, on top of the base image. The build container sits on
# a network of its own (docker picks the subnet) and reaches only the mirror of the base
# image's apt sources. The packaged service is kept from starting (policy-rc.d); the test
# starts `influxd` itself with the config below (reporting off, HTTP on 0.0.0.0:8086).
build_influx() {
    local net=vcollect-ct-build name=vcollect-ct-influx-build start=$SECONDS
    log "building $INFLUX_IMAGE (apt-get install influxdb in $IMAGE)"
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker network inspect "$net" >/dev/null 2>&1 || docker network create "$net" >/dev/null
    docker run --name "$name" --network "$net" -e DEBIAN_FRONTEND=noninteractive "$IMAGE" sh -ec '
        printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends influxdb curl >/dev/null
        rm -f /usr/sbin/policy-rc.d
        apt-get clean && rm -rf /var/lib/apt/lists/*
        mkdir -p /var/lib/influxdb
        cat >/etc/influxdb/cluster-tests.conf <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:8088"
[meta]
  dir = "/var/lib/influxdb/meta"
[data]
  dir = "/var/lib/influxdb/data"
  wal-dir = "/var/lib/influxdb/wal"
  query-log-enabled = false
[http]
  bind-address = "0.0.0.0:8086"
  log-enabled = false
CONF' >"/var/tmp/$name.log" 2>&1 || {
        tail -n 30 "/var/tmp/$name.log" >&2
        docker rm -f "$name" >/dev/null
        docker network rm "$net" >/dev/null
        return 1
    }
    docker commit \
        --change 'CMD ["/usr/bin/influxd", "-config", "/etc/influxdb/cluster-tests.conf"]' \
        --change 'EXPOSE 8086' \
        "$name" "$INFLUX_IMAGE" >/dev/null
    docker rm -f "$name" >/dev/null
    docker network rm "$net" >/dev/null
    rm -f "/var/tmp/$name.log"
    log "built $INFLUX_IMAGE in $((SECONDS - start)) s"
}

if have "$IMAGE"; then
    log "$IMAGE exists; skipping (VCOLLECT_REBUILD_IMAGE=1 rebuilds it)"
    if [[ $DEV == 0 ]] && ! have "$INFLUX_IMAGE"; then build_influx; fi
    exit 0
fi

# The Debian mirror apt uses here: deb822 `URIs:` of the stanza whose Suites name $SUITE
# (not -security), else a one-line `deb URL $SUITE ...`.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r "$f" ]] || continue
        awk -v suite="$SUITE" '
            /^[[:space:]]*$/ { if (uri != "" && ok) { print uri; exit } uri=""; ok=0; next }
            /^URIs:/   { uri=$2 }
            /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == suite) ok=1 }
            END { if (uri != "" && ok) print uri }' "$f" | head -n1
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r "$f" ]] || continue
        awk -v suite="$SUITE" '$1 == "deb" && $0 !~ /\[/ && $3 == suite { print $2; exit }
                               $1 == "deb" && $0 ~ /\]/ { for (i = 2; i <= NF; i++) if ($i ~ /\]$/) { if ($(i+2) == suite) { print $(i+1); exit } } }' "$f"
    done
}

MIRROR="${VCOLLECT_MIRROR:-$(find_mirror | head -n1)}"
if [[ -z "$MIRROR" ]]; then
    echo "build-image: no Debian mirror found in apt's sources; set VCOLLECT_MIRROR" >&2
    exit 1
fi

if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

ROOT="$(mktemp -d /var/tmp/vcollect-rootfs.XXXXXX)"
trap 'rm -rf "$ROOT"' EXIT

log "debootstrap $SUITE from $MIRROR into $ROOT"
start=$SECONDS
debootstrap --variant=minbase --include="$INCLUDE" \
    "$SUITE" "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
    tail -n 30 "$ROOT.log" >&2
    exit 1
}
rm -f "$ROOT.log"
if [[ $DEV == 1 ]]; then
    rm -rf "$ROOT"/var/cache/apt/archives/*.deb
    tar -C "$ROOT" -c . | docker import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
    log "built $IMAGE in $((SECONDS - start)) s"
    exit 0
fi

# Trim systemd to what a container needs: no getty, no udev, no hardware units.
# (Masking = symlink to /dev/null; systemd skips them at boot.)
for unit in getty.target console-getty.service systemd-udevd.service \
    systemd-udevd-control.socket systemd-udevd-kernel.socket \
    systemd-udev-trigger.service systemd-modules-load.service \
    sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount \
    systemd-remount-fs.service systemd-firstboot.service \
    systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$ROOT/etc/systemd/system/$unit"
done
# (docker import takes no STOPSIGNAL: start-nodes.sh passes --stop-signal SIGRTMIN+3.)
# A fresh machine-id per container (systemd writes one at first boot when empty).
: >"$ROOT/etc/machine-id"
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/lib/apt/lists/*

log "debootstrap done in $((SECONDS - start)) s; importing as $IMAGE"
tar -C "$ROOT" -c . | docker import \
    --change 'CMD ["/sbin/init"]' \
    --change 'ENV container=docker' \
    - "$IMAGE" >/dev/null
log "built $IMAGE in $((SECONDS - start)) s"
build_influx
