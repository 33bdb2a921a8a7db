#!/usr/bin/env bash
# The .deb in a clean Debian container (the cluster-tests node image, systemd as PID 1), as
# an admin would use it: install, configure, start, see it collect, upgrade while running
# (restarted) and while stopped (left stopped), remove and purge (the data dir is kept).
#
#   cluster-tests/package-test.sh DEB [DEB2]
#
#   DEB    the .deb to test (scripts/release.sh: target/dist/vcollect_VERSION-1_amd64.deb)
#   DEB2   the upgrade (default: DEB repacked with its revision bumped: same binary)
#
# Runs on a docker network of its own (vcollect-pkg: its own simulator and InfluxDB, from
# nodes.sh) so that it never touches run.sh's containers; removes everything at the end
# (VCOLLECT_KEEP=1 keeps it). Needs the images of build-image.sh (built when missing). Prints
# one ok/FAIL line per check and "N passed, M failed"; exit 0 only when nothing failed.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ $# -ge 1 && -f "$1" ]] || { echo "usage: $0 DEB [DEB2]" >&2; exit 2; }
DEB="$(realpath "$1")"
export VCOLLECT_CT_NETWORK=vcollect-pkg VCOLLECT_CT_PREFIX=vpk-node- \
    VCOLLECT_CT_VCSIM=vpk-vcsim VCOLLECT_CT_INFLUX=vpk-influxdb
# nodes.sh's default simulator: 28 powered-on VMs and 6 connected hosts to collect.
unset VCOLLECT_CT_SIM
VMS=28
HOSTS=6
NODE=vpk-node-1
WORK="$(mktemp -d /var/tmp/vcollect-pkg.XXXXXX)"
# nodes.sh writes its inventory here, not into run.sh's .work: the two may run at once.
export VCOLLECT_CT_WORK="$WORK"
log() { printf '%s package-test: %s\n' "$(date +%T)" "$*" >&2; }
PASSED=0
FAILED=0
check() { # check NAME COMMAND...: one ok/FAIL line; the output goes to $WORK/checks.log
    local name="$1" rc
    shift
    "$@" >"$WORK/out" 2>&1
    rc=$?
    { echo "=== $name (rc $rc)"; cat "$WORK/out"; } >>"$WORK/checks.log"
    if [[ $rc == 0 ]]; then
        echo "ok   - $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL - $name"
        sed 's/^/       /' "$WORK/out" | tail -n 15
        FAILED=$((FAILED + 1))
    fi
    return $rc
}
in_node() { docker exec "$NODE" sh -ec "$1"; }
START=$SECONDS

# The upgrade: the same files under the next revision (0.1.0-1 -> 0.1.0-2).
if [[ $# -ge 2 ]]; then
    DEB2="$(realpath "$2")"
else
    mkdir -p "$WORK/repack"
    dpkg-deb -R "$DEB" "$WORK/repack"
    v1="$(dpkg-deb -f "$DEB" Version)"
    v2="${v1%-*}-$((${v1##*-} + 1))"
    sed -i "s/^Version: .*/Version: $v2/" "$WORK/repack/DEBIAN/control"
    DEB2="$WORK/vcollect_${v2}_amd64.deb"
    dpkg-deb --root-owner-group -b "$WORK/repack" "$DEB2" >/dev/null
fi
V1="$(dpkg-deb -f "$DEB" Version)"
V2="$(dpkg-deb -f "$DEB2" Version)"
log "$(basename "$DEB") ($V1), upgrade to $(basename "$DEB2") ($V2)"

"$HERE/build-image.sh" || { echo "package-test: image build failed" >&2; exit 1; }
"$HERE/nodes.sh" down
if [[ "${VCOLLECT_KEEP:-0}" != 1 ]]; then
    trap '"$HERE/nodes.sh" down; rm -rf "$WORK"' EXIT
fi
"$HERE/nodes.sh" services || exit 1
INFLUX_URL="$("$HERE/nodes.sh" influx-url)"
"$HERE/nodes.sh" up 1 || exit 1
docker cp "$DEB" "$NODE:/root/v1.deb"
docker cp "$DEB2" "$NODE:/root/v2.deb"

check "install: dpkg -i $(basename "$DEB")" in_node 'dpkg -i /root/v1.deb'
check "install: the vcollect system user, /var/lib/vcollect 0750 vcollect, /etc/vcollect/vcollect.toml 0640 root:vcollect" in_node '
    getent passwd vcollect | grep -q ":/var/lib/vcollect:/usr/sbin/nologin$"
    test "$(stat -c "%a %U %G" /var/lib/vcollect)" = "750 vcollect vcollect"
    test "$(stat -c "%a %U %G" /etc/vcollect /etc/vcollect/vcollect.toml)" = "750 root vcollect
640 root vcollect"'
# (The packaged example names a password file that does not exist yet: it is not validated.)
check "install: vcollect runs, the unit is installed and not started" in_node '
    vcollect --version
    systemctl cat vcollect.service >/dev/null
    ! systemctl is-active vcollect'

# A standalone node (no [cluster]) collecting the simulator into InfluxDB.
check "configure: a standalone node for the simulator and InfluxDB, validated" in_node '
    umask 077
    echo pass >/etc/vcollect/vcenter.password
    chown vcollect:vcollect /etc/vcollect/vcenter.password
    cat >/etc/vcollect/vcollect.toml <<CONF
[node]
name = "pkg"
data_dir = "/var/lib/vcollect"

[[vcenter]]
name = "vcsim"
url = "http://vcsim:8989/sdk"
username = "user"
password_file = "/etc/vcollect/vcenter.password"
insecure = true

[collect]
interval = "10s"
lookback = "5m"

[output]
url = "http://influxdb:8086"
database = "vsphere"
CONF
    chgrp vcollect /etc/vcollect/vcollect.toml && chmod 0640 /etc/vcollect/vcollect.toml
    vcollect validate --config /etc/vcollect/vcollect.toml'
T0=$(date +%s)
check "start: systemctl enable --now vcollect" in_node 'systemctl enable --now vcollect && systemctl is-active vcollect'
check "collect: InfluxDB has every sample of every VM and host since the start" \
    "$HERE/ct.py" samples --url "$INFLUX_URL" --from "$((T0 - 19))" --to "$(($(date +%s) + 15))" \
    --vms "$VMS" --hosts "$HOSTS" --timeout 90

# Upgrade while running: restarted, config kept.
pid1="$(docker exec "$NODE" systemctl show -p MainPID --value vcollect)"
check "upgrade while running: dpkg -i $(basename "$DEB2") keeps the edited config" in_node '
    dpkg -i --force-confold /root/v2.deb
    grep -qx "name = \"pkg\"" /etc/vcollect/vcollect.toml'
check "upgrade while running: $V2 installed, the service restarted (new MainPID) and active" sh -c "
    test \"\$(docker exec $NODE dpkg-query -W -f='\${Version}' vcollect)\" = '$V2' &&
    pid2=\$(docker exec $NODE systemctl show -p MainPID --value vcollect) && echo \"MainPID $pid1 -> \$pid2\" &&
    test \"\$pid2\" != 0 && test \"\$pid2\" != '$pid1' && docker exec $NODE systemctl is-active vcollect"
T1=$(date +%s)
check "upgrade while running: collection goes on (every sample after the upgrade)" \
    "$HERE/ct.py" samples --url "$INFLUX_URL" --from "$T1" --to "$((T1 + 25))" \
    --vms "$VMS" --hosts "$HOSTS" --timeout 90

# Upgrade while stopped: left stopped (reinstalling the same version runs the same postinst).
check "upgrade while stopped: the service stays stopped" in_node '
    systemctl stop vcollect
    dpkg -i --force-confold /root/v2.deb
    ! systemctl is-active vcollect'

check "remove: dpkg -r stops the service, the binary goes, the data dir and the config stay" in_node '
    systemctl start vcollect && systemctl is-active vcollect
    dpkg -r vcollect
    ! systemctl is-active vcollect
    ! test -e /usr/bin/vcollect
    test -n "$(ls -A /var/lib/vcollect)"
    test -f /etc/vcollect/vcollect.toml'
check "purge: dpkg -P removes the config, keeps the data dir" in_node '
    dpkg -P vcollect
    ! test -e /etc/vcollect/vcollect.toml
    test -n "$(ls -A /var/lib/vcollect)" && ls -A /var/lib/vcollect'

echo "package-test: $((SECONDS - START)) s"
echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
