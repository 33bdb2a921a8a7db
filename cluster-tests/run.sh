#!/usr/bin/env bash
# cluster-tests: deploy vcollect with Ansible onto node containers (systemd as PID 1) next to
# a vCenter simulator and InfluxDB container, check the deployment, then disturb the cluster
# (scenarios) and check after each that InfluxDB holds every 20-second sample of every
# powered-on VM and connected host. One command, from anywhere:
#
#   cluster-tests/run.sh [--binary PATH | --stub | --package DEB] [--nodes N] [--keep]
#                        [--skip-upgrade] [--scenarios LIST] [--serial]
#
#   --package DEB   deploy the .deb (scripts/release.sh) with vcollect_install: package; the
#                   upgrade scenario rolls the same .deb with its revision bumped
#   --binary PATH   vcollect binary to deploy (default: target/release/vcollect of this repo
#                   when it exists, else the stand-in cluster-tests/stub/vcollect)
#   --stub          deploy the stand-in even when a release binary exists: a fast contract
#                   test of the role (site.yml, upgrade.yml); no scenarios (it collects nothing)
#   --upgrade-to P  binary for upgrade.yml (default: the deployed binary with a marker
#                   appended, or for the stub its version bumped)
#   --nodes N       number of node containers at first (default 3)
#   --scenarios L   comma list out of leader-kill,follower-restart,partition,add-node,upgrade,
#                   upgrade-from-release (default all but follower-restart, which the
#                   simulation's kills and restarts, the process test
#                   maintenance_of_a_follower_and_the_leader_loses_no_sample and the upgrade
#                   scenario's systemd stop/start of every node already prove)
#   --serial        run upgrade-from-release after the others on the same nodes; by default it
#                   runs at the same time in a second lane (its own nodes, network, simulator
#                   and InfluxDB, names from VCOLLECT_CT_LANE_B_*; output printed at the end)
#   --prepare       only build what the runs need (the controller venv, the images) and exit:
#                   scripts/test.sh does this early, in the background
#   --no-deploy     skip the first deployment and its checks (for a lane that runs only
#                   upgrade-from-release, which deploys fresh nodes itself); also skips the lint
#   --from-release C  the commit the upgrade-from-release scenario starts from (default: the
#                   one in cluster-tests/previous-release)
#   --skip-upgrade  same as leaving `upgrade` out of --scenarios
#   --keep          leave the containers running afterwards (remove: cluster-tests/nodes.sh down)
#
# Needs: docker (this user can run containers), debootstrap (installed if missing, as root),
# python3 with venv. Prints one line per check and closes with "N passed, M failed"; exit 0
# only when nothing failed. Skipped checks (a subcommand the binary lacks) say why.
# Environment: VCOLLECT_CT_WORK (logs and inventory, default cluster-tests/.work), and the
# names nodes.sh reads (VCOLLECT_CT_NETWORK, _PREFIX, _VCSIM, _INFLUX).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
ANSIBLE_DIR="$REPO/ansible"
WORK="${VCOLLECT_CT_WORK:-$HERE/.work}"
VENV="${VCOLLECT_VENV:-$HERE/.venv}"
NODES=3
KEEP=0
BINARY=""
PACKAGE=""
UPGRADE_TO=""
SKIP_UPGRADE=0
SCENARIOS="leader-kill,partition,add-node,upgrade,upgrade-from-release"
PARALLEL=1
DEPLOY_CHECKS=1
PREPARE=0
ARGS=("$@")
FROM_RELEASE="$(grep -v '^#' "$HERE/previous-release" | head -n1)"
PREFIX="${VCOLLECT_CT_PREFIX:-vct-node-}"
NET="${VCOLLECT_CT_NETWORK:-vcollect-ct}"
# The simulator's inventory (nodes.sh passes the flags): what has to be in InfluxDB.
export VCOLLECT_CT_SIM="${VCOLLECT_CT_SIM:--cluster 2 -cluster-host 3 -standalone-host 1 -vm 10 -poweroff 2 -disconnect 1}"

while [[ $# -gt 0 ]]; do
    case "$1" in
    --binary) BINARY="$2"; shift 2 ;;
    --stub) BINARY="$HERE/stub/vcollect"; shift ;;
    --package) PACKAGE="$(realpath "$2")"; shift 2 ;;
    --upgrade-to) UPGRADE_TO="$2"; shift 2 ;;
    --skip-upgrade) SKIP_UPGRADE=1; shift ;;
    --nodes) NODES="$2"; shift 2 ;;
    --scenarios) SCENARIOS="$2"; shift 2 ;;
    --from-release) FROM_RELEASE="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --serial) PARALLEL=0; shift ;;
    --no-deploy) DEPLOY_CHECKS=0; shift ;;
    --prepare) PREPARE=1; shift ;;
    -h | --help) sed -n '2,40p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf '%s run: %s\n' "$(date +%T)" "$*" >&2; }
PASSED=0
FAILED=0
SKIPPED=0
check() { # check NAME COMMAND...: one ok/FAIL line; the command's output goes to checks.log
    local name="$1" out rc
    shift
    out="$(mktemp)"
    "$@" >"$out" 2>&1
    rc=$?
    { echo "=== $(date +%T) $name (rc $rc)"; cat "$out"; } >>"$WORK/checks.log"
    if [[ $rc == 0 ]]; then
        # ct.py prints one summary line (how long it took, what it saw): show it.
        local detail
        detail="$(grep -E '^(samples|vct|[a-z-]+[0-9]+):? ' "$out" | tail -n1 | cut -c1-160)"
        echo "ok   - $name${detail:+
       # $detail}"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL - $name (see cluster-tests/.work/checks.log)"
        FAILED=$((FAILED + 1))
    fi
    rm -f "$out"
    return $rc
}
skip() { # skip NAME REASON
    echo "skip - $1 ($2)"
    SKIPPED=$((SKIPPED + 1))
}
declare -A TIMES
timed() { # timed KEY COMMAND...
    local key="$1" start rc
    shift
    start=$(date +%s%N)
    "$@"
    rc=$?
    local tenths=$((($(date +%s%N) - start) / 100000000))
    TIMES[$key]="$((tenths / 10)).$((tenths % 10))"
    return $rc
}
RUN_START=$SECONDS

mkdir -p "$WORK"
: >"$WORK/checks.log"

# --- the binary or the package -----------------------------------------------------------
# DEPLOY: the role's variable for what to install; NODE_BIN: where it lands on the nodes.
# A package's own binary (extracted here) answers the subcommand probes below.
DEPLOY="vcollect_binary_src"
NODE_BIN=/usr/local/bin/vcollect
if [[ -n "$PACKAGE" ]]; then
    [[ -f "$PACKAGE" ]] || { echo "run.sh: $PACKAGE: no such package" >&2; exit 2; }
    rm -rf "$WORK/pkg" && mkdir -p "$WORK/pkg" && dpkg-deb -x "$PACKAGE" "$WORK/pkg" ||
        { echo "run.sh: $PACKAGE: dpkg-deb -x failed" >&2; exit 2; }
    BINARY="$WORK/pkg/usr/bin/vcollect"
    DEPLOY="vcollect_package_src"
    NODE_BIN=/usr/bin/vcollect
    log "package: $PACKAGE ($(dpkg-deb -f "$PACKAGE" Version))"
fi
if [[ -z "$BINARY" ]]; then
    if [[ -x "$REPO/target/release/vcollect" ]]; then
        BINARY="$REPO/target/release/vcollect"
    else
        BINARY="$HERE/stub/vcollect"
    fi
fi
BINARY="$(realpath "$BINARY")"
[[ -x "$BINARY" ]] || { echo "run.sh: $BINARY is not an executable" >&2; exit 2; }
STUB=0
[[ "$BINARY" == "$HERE/stub/vcollect" ]] && STUB=1
# A .deb around the stand-in (a script, not ELF): the role's package mode, contract only.
[[ -n "$PACKAGE" ]] && cmp -s "$BINARY" "$HERE/stub/vcollect" && STUB=1
log "binary: $BINARY$([[ $STUB == 1 ]] && echo ' (stand-in stub)')"
# A release build carries ~85 MB of debug info: deploy a copy without it (5x less to copy
# into every container; the code is the same).
if [[ $STUB == 0 && -z "$PACKAGE" ]] && command -v objcopy >/dev/null && head -c4 "$BINARY" | grep -q ELF; then
    mkdir -p "$WORK/bin"
    objcopy --strip-debug "$BINARY" "$WORK/bin/vcollect.tmp" && mv "$WORK/bin/vcollect.tmp" "$WORK/bin/vcollect"
    BINARY="$WORK/bin/vcollect"
fi
has_subcommand() { "$BINARY" help "$1" >/dev/null 2>&1; }
scenario() { [[ ",$SCENARIOS," == *",$1,"* ]]; }
[[ $SKIP_UPGRADE == 1 ]] && SCENARIOS="${SCENARIOS//upgrade/}"

# What the simulator serves and vcollect must collect: powered-on VMs, connected hosts.
read -r EXPECT_VMS EXPECT_HOSTS < <(python3 - "$VCOLLECT_CT_SIM" <<'PY'
import sys
a = sys.argv[1].split()
f = {k.lstrip("-"): int(v) for k, v in zip(a[::2], a[1::2])}
g = lambda k, d: f.get(k, d)
dc, cl, sa = g("dc", 1), g("cluster", 1), g("standalone-host", 0)
print(dc * g("vm", 2) * (cl + sa) - g("poweroff", 0), dc * (cl * g("cluster-host", 3) + sa) - g("disconnect", 0))
PY
)

# --- controller tools: ansible-core, the bundled collections, ansible-lint (PyPI) ---------
REQ_HASH="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQ_HASH" ]]; then
    log "installing $HERE/requirements.txt into $VENV"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q -r "$HERE/requirements.txt" ||
        { echo "run.sh: pip install failed" >&2; exit 1; }
    echo "$REQ_HASH" >"$VENV/.requirements.sha256"
fi
export PATH="$VENV/bin:$PATH"
export ANSIBLE_CONFIG="$ANSIBLE_DIR/ansible.cfg" ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1

if [[ $PREPARE == 1 ]]; then
    "$HERE/build-image.sh" || { echo "run.sh: image build failed" >&2; exit 1; }
    exit 0
fi

# --- lint (no containers needed) -------------------------------------------------------
if [[ $DEPLOY_CHECKS == 1 ]]; then
    check "ansible-lint passes at the production profile" sh -c "cd '$ANSIBLE_DIR' && ansible-lint --nocolor"
fi

# --- images, simulator, InfluxDB, nodes -------------------------------------------------
timed image "$HERE/build-image.sh" || { echo "run.sh: image build failed" >&2; exit 1; }

# --- the second lane ---------------------------------------------------------------------
# upgrade-from-release builds the previous release (minutes of CPU) and deploys fresh nodes of
# its own: it depends on nothing the other scenarios leave, and most of their time is spent
# waiting for samples. So it runs at the same time, as a second run.sh on its own network and
# names, sharing the image and the venv built above. Its output is printed at the end.
LANE_B=""
if [[ $PARALLEL == 1 && $STUB == 0 ]] && scenario upgrade-from-release && [[ "$SCENARIOS" != upgrade-from-release ]]; then
    SCENARIOS="$(echo ",$SCENARIOS," | sed 's/,upgrade-from-release,/,/; s/^,//; s/,$//')"
    LANE_B="$WORK/lane-b.out"
    log "lane b: upgrade-from-release on its own nodes, at the same time (output: $LANE_B)"
    VCOLLECT_CT_WORK="$WORK/lane-b" \
        VCOLLECT_CT_NETWORK="${VCOLLECT_CT_LANE_B_NETWORK:-$NET-b}" \
        VCOLLECT_CT_PREFIX="${VCOLLECT_CT_LANE_B_PREFIX:-vct-b-node-}" \
        VCOLLECT_CT_VCSIM="${VCOLLECT_CT_LANE_B_VCSIM:-vct-b-vcsim}" \
        VCOLLECT_CT_INFLUX="${VCOLLECT_CT_LANE_B_INFLUX:-vct-b-influxdb}" \
        "$0" "${ARGS[@]}" --scenarios upgrade-from-release --no-deploy --serial >"$LANE_B" 2>&1 &
    LANE_B_PID=$!
fi

"$HERE/nodes.sh" down
if [[ $KEEP == 0 ]]; then
    trap '"$HERE/nodes.sh" down' EXIT
fi
timed services "$HERE/nodes.sh" services || { echo "run.sh: simulator or InfluxDB did not start" >&2; exit 1; }
INFLUX_URL="$("$HERE/nodes.sh" influx-url)"
if [[ $DEPLOY_CHECKS == 1 ]]; then
    timed nodes_up "$HERE/nodes.sh" up "$NODES" || { echo "run.sh: nodes did not start" >&2; exit 1; }
fi
INV="$WORK/inventory"
nodes() { for ((i = 1; i <= NODES; i++)); do echo "$PREFIX$i"; done; }
CT="$HERE/ct.py"

playbook() { # playbook LOGNAME PLAYBOOK ARGS...
    local logname="$1"
    shift
    (cd "$ANSIBLE_DIR" && ansible-playbook -i "$INV" "$@") >"$WORK/$logname.log" 2>&1
}
recap_changed_zero() { # every host in the PLAY RECAP of LOG has changed=0
    local log="$WORK/$1.log"
    grep -A"$NODES" '^PLAY RECAP' "$log" | grep -E 'changed=' >/dev/null &&
        ! grep -A"$NODES" '^PLAY RECAP' "$log" | grep -E 'changed=[1-9]'
}
samples() { # samples FROM TO [TIMEOUT]: every expected entity has every sample in [FROM, TO]
    "$CT" samples --url "$INFLUX_URL" --from "$1" --to "$2" --vms "$EXPECT_VMS" --hosts "$EXPECT_HOSTS" \
        --timeout "${3:-90}"
}
first_other() { # first_other NAME: the first node that is not NAME
    local n
    for n in $(nodes); do [[ "$n" != "$1" ]] && { echo "$n"; return; }; done
}

# --- deploy, check, deploy again --------------------------------------------------------
if [[ $DEPLOY_CHECKS == 1 ]]; then
log "site.yml (first run)"
check "site.yml deploys $NODES nodes" timed site1 playbook site1 site.yml -e "$DEPLOY=${PACKAGE:-$BINARY}"
DEPLOYED=$(date +%s)

for n in $(nodes); do
    check "$n: unit vcollect is active" \
        sh -c "docker exec $n systemctl is-active vcollect"
    check "$n: vcollect validate passes on the rendered config" \
        docker exec "$n" "$NODE_BIN" validate --config /etc/vcollect/vcollect.toml
    check "$n: config lists $NODES peers and bootstrap_expect = $NODES" \
        sh -c "docker exec $n cat /etc/vcollect/vcollect.toml | tee /dev/stderr | grep -c ':7400\",\$' | grep -qx $NODES &&
               docker exec $n grep -qx 'bootstrap_expect = $NODES' /etc/vcollect/vcollect.toml"
    check "$n: secrets are 0600 and owned by vcollect" \
        sh -c "docker exec $n sh -c 'stat -c \"%a %U %n\" /etc/vcollect/*.token /etc/vcollect/*.password' |
               tee /dev/stderr | grep -v '^600 vcollect ' | wc -l | grep -qx 0"
    check "$n: the service runs as vcollect with a read-only /usr and a private /tmp" \
        docker exec "$n" sh -c 'pid=$(systemctl show -p MainPID --value vcollect) &&
            test "$(stat -c %U /proc/$pid)" = vcollect &&
            ! nsenter -t "$pid" -m touch /usr/.probe 2>/dev/null &&
            grep -q "systemd-private-.*vcollect.service.* /tmp " /proc/$pid/mountinfo'
done

if [[ $STUB == 0 ]]; then
    check "one leader, $NODES active voters, the 1024 buckets spread evenly" \
        "$CT" wait "${PREFIX}1" even "$NODES" --timeout 30
    for n in $(nodes); do
        check "$n: sees the same leader as ${PREFIX}1" sh -c \
            "test \"\$('$CT' leader $n)\" = \"\$('$CT' leader ${PREFIX}1)\""
    done
fi

log "site.yml (second run)"
check "site.yml second run succeeds" timed site2 playbook site2 site.yml -e "$DEPLOY=${PACKAGE:-$BINARY}"
check "site.yml second run reports changed=0 on every node" recap_changed_zero site2

if [[ $STUB == 0 ]]; then
    check "data arrives: every VM and host, every 20-s sample since the deployment" \
        samples "$DEPLOYED" "$(date +%s)"
fi
fi # DEPLOY_CHECKS

# --- scenarios (the real binary only: the stub collects nothing) --------------------------
# Each: T0; disturb; the control plane reacts (checked through `vcollect status --json` on a
# surviving node); while the node is still out, InfluxDB has every sample up to now (so the
# others did take its share over, not the node itself on its return); the node comes back and
# gets buckets again; then InfluxDB has every sample over [T0, T1].
# The window starts at the last 20-s sample before the disturbance (its collection may be
# the disturbed node's job), and ends SETTLE s after the node is back (it collects its share
# again for at least one sample).
OUTAGE=25 # seconds a node stays out after the cluster noticed: at least one 20-s sample
SETTLE=25 # seconds after the node is back before the window closes
scenario_start() { # scenario_start KEY DESCRIPTION
    log "scenario $1: $2"
    SC_KEY="$1"
    SC_T0=$(($(date +%s) - 19))
    SC_START=$SECONDS
}
scenario_end() {
    TIMES[$SC_KEY]=$((SECONDS - SC_START))
}
outage_samples() { # while the node is out: every sample from T0 to now
    sleep "$OUTAGE"
    check "$SC_KEY: while $1 is out, the others collect its share (no gap so far)" \
        samples "$SC_T0" "$(date +%s)" 60
}
scenario_samples() { # after the node is back: every sample over the whole scenario
    sleep "$SETTLE"
    check "$SC_KEY: every sample over the scenario" samples "$SC_T0" "$(date +%s)"
}

if [[ $STUB == 1 ]]; then
    for sc in leader-kill follower-restart partition add-node; do
        scenario "$sc" && skip "scenario $sc" "the stub collects nothing: run with the release binary"
    done
fi

if [[ $STUB == 0 ]] && scenario leader-kill; then
    scenario_start leader-kill "docker kill the leader container, then docker start it"
    L="$("$CT" leader "${PREFIX}1")"
    O="$(first_other "$L")"
    docker kill "$L" >/dev/null
    check "leader-kill: a new leader other than $L" "$CT" wait "$O" leader-not "$L" --timeout 30
    check "leader-kill: $L marked down, its buckets moved to the others" "$CT" wait "$O" down "$L" --timeout 30
    outage_samples "$L"
    docker start "$L" >/dev/null
    check "leader-kill: $L rejoins as itself, active with buckets" "$CT" wait "$O" active "$L" --timeout 90
    scenario_samples
    scenario_end
fi

if [[ $STUB == 0 ]] && scenario follower-restart; then
    scenario_start follower-restart "docker stop a follower (systemd stops vcollect with SIGTERM), then docker start it"
    L="$("$CT" leader "${PREFIX}1")"
    F="$(first_other "$L")"
    docker stop "$F" >/dev/null
    check "follower-restart: $F marked down, its buckets moved" "$CT" wait "$L" down "$F" --timeout 30
    check "follower-restart: the leader stays $L" sh -c "test \"\$('$CT' leader $L)\" = '$L'"
    outage_samples "$F"
    docker start "$F" >/dev/null
    check "follower-restart: $F rejoins as itself, active with buckets" "$CT" wait "$L" active "$F" --timeout 90
    scenario_samples
    scenario_end
fi

if [[ $STUB == 0 ]] && scenario partition; then
    scenario_start partition "docker network disconnect the leader, then connect it again (same address)"
    K="$("$CT" leader "${PREFIX}1")"
    O="$(first_other "$K")"
    K_IP="$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$K")"
    docker network disconnect "$NET" "$K"
    check "partition: $K (cut off) stops collecting within failure_timeout (3 s, +5 s polling slack)" "$CT" wait "$K" not-collecting --timeout 8
    check "partition: the others elect a new leader" "$CT" wait "$O" leader-not "$K" --timeout 30
    check "partition: the others mark $K down and take its buckets" "$CT" wait "$O" down "$K" --timeout 30
    outage_samples "$K"
    docker network connect --ip "$K_IP" "$NET" "$K"
    check "partition: $K rejoins, active with buckets" "$CT" wait "$O" active "$K" --timeout 90
    scenario_samples
    scenario_end
fi

if [[ $STUB == 0 ]] && scenario add-node; then
    scenario_start add-node "a fourth container, site.yml with the larger inventory"
    NEW=$((NODES + 1))
    "$HERE/nodes.sh" up "$NEW" >>"$WORK/checks.log" 2>&1
    NODES=$NEW
    check "add-node: site.yml with $NODES hosts (new node joins, old ones restart one by one)" \
        timed site3 playbook site3 site.yml -e "$DEPLOY=${PACKAGE:-$BINARY}"
    check "add-node: $PREFIX$NODES active with buckets, $NODES members settled" \
        "$CT" wait "${PREFIX}1" active "$PREFIX$NODES" --timeout 60
    check "add-node: every node has $NODES peers in its config" sh -c "
        for n in $(nodes | tr '\n' ' '); do docker exec \$n grep -c ':7400\",\$' /etc/vcollect/vcollect.toml | grep -qx $NODES || exit 1; done"
    scenario_samples
    scenario_end
fi

# --- rolling upgrade ----------------------------------------------------------------------
missing=""
for c in health drain undrain transfer-leader; do
    has_subcommand "$c" || missing="$missing $c"
done
if ! scenario upgrade; then
    :
elif [[ -n "$missing" ]]; then
    skip "scenario upgrade: upgrade.yml while collecting" \
        "the binary lacks${missing} (issue 4); the playbook's flow is covered by run.sh --stub"
    # What upgrade.yml does with such a binary: refuse before it touches any node.
    { cat "$BINARY"; printf '\nvcollect-cluster-tests-upgrade\n'; } >"$WORK/vcollect-v2"
    chmod 0755 "$WORK/vcollect-v2"
    OLD_SUM="$(sha256sum "$BINARY" | cut -d' ' -f1)"
    check "upgrade.yml refuses up front (binary lacks${missing}), no node touched" sh -c "
        ! (cd '$ANSIBLE_DIR' && ansible-playbook -i '$INV' upgrade.yml -e vcollect_binary_src='$WORK/vcollect-v2') >'$WORK/upgrade.log' 2>&1 &&
        grep -q 'upgrade.yml needs .vcollect drain' '$WORK/upgrade.log' &&
        ! grep -A$NODES '^PLAY RECAP' '$WORK/upgrade.log' | grep -E 'changed=[1-9]' &&
        for n in $(nodes | tr '\n' ' '); do
            test \"\$(docker exec \$n sha256sum /usr/local/bin/vcollect | cut -d' ' -f1)\" = '$OLD_SUM' || exit 1
        done"
else
    if [[ -z "$UPGRADE_TO" && -n "$PACKAGE" ]]; then
        # The same files under the next revision: enough for upgrade.yml to roll it.
        rm -rf "$WORK/repack" && dpkg-deb -R "$PACKAGE" "$WORK/repack"
        v1="$(dpkg-deb -f "$PACKAGE" Version)"
        sed -i "s/^Version: .*/Version: ${v1%-*}-$((${v1##*-} + 1))/" "$WORK/repack/DEBIAN/control"
        UPGRADE_TO="$WORK/vcollect-v2.deb"
        dpkg-deb --root-owner-group -b "$WORK/repack" "$UPGRADE_TO" >/dev/null
    elif [[ -z "$UPGRADE_TO" ]]; then
        UPGRADE_TO="$WORK/vcollect-v2"
        if [[ $STUB == 1 ]]; then
            sed 's/^STUB_VERSION = "1"/STUB_VERSION = "2"/' "$BINARY" >"$UPGRADE_TO"
        else
            # Same code, another checksum: enough for upgrade.yml to roll it.
            { cat "$BINARY"; printf '\nvcollect-cluster-tests-upgrade\n'; } >"$UPGRADE_TO"
        fi
        chmod 0755 "$UPGRADE_TO"
    fi
    UPGRADE_TO="$(realpath "$UPGRADE_TO")"
    scenario_start upgrade "upgrade.yml to $UPGRADE_TO$([[ $STUB == 0 ]] && echo ' while collecting')"
    check "upgrade: upgrade.yml rolls the new binary over the cluster" \
        timed upgrade_pb playbook upgrade upgrade.yml -e "$DEPLOY=$UPGRADE_TO"
    check "upgrade: the leader was upgraded last, after transferring leadership" sh -c "
        order=\$(awk '/^TASK/{f=(\$0 ~ /Undrain this node/)} f&&/^changed:/{print \$2}' '$WORK/upgrade.log' | tr -d '[]')
        leader=\$(awk '/^TASK/{f=(\$0 ~ /Transfer leadership/)} f&&/^changed:/{print \$2}' '$WORK/upgrade.log' | tr -d '[]')
        echo \"order: \$order; transferred: \$leader\" >&2
        test \$(echo \"\$order\" | wc -l) -eq $NODES && test -n \"\$leader\" && test \"\$(echo \"\$order\" | tail -n1)\" = \"\$leader\""
    for n in $(nodes); do
        if [[ -n "$PACKAGE" ]]; then
            check "upgrade: $n runs the new package" sh -c "
                test \"\$(docker exec $n dpkg-query -W -f='\${Version}' vcollect)\" = \"\$(dpkg-deb -f '$UPGRADE_TO' Version)\" &&
                docker exec $n systemctl is-active vcollect"
            continue
        fi
        check "upgrade: $n runs the new binary" sh -c "
            test \"\$(docker exec $n sha256sum /usr/local/bin/vcollect | cut -d' ' -f1)\" = \"\$(sha256sum '$UPGRADE_TO' | cut -d' ' -f1)\" &&
            docker exec $n systemctl is-active vcollect"
    done
    check "upgrade: upgrade.yml again changes nothing" sh -c "
        cd '$ANSIBLE_DIR' && ansible-playbook -i '$INV' upgrade.yml -e $DEPLOY=$UPGRADE_TO >'$WORK/upgrade2.log' 2>&1 &&
        ! grep -A$NODES '^PLAY RECAP' '$WORK/upgrade2.log' | grep -E 'changed=[1-9]'"
    if [[ $STUB == 0 ]]; then
        check "upgrade: $NODES members settled after the upgrade" "$CT" wait "${PREFIX}1" settled "$NODES" --timeout 60
        scenario_samples
    fi
    scenario_end
fi

# --- rolling upgrade from the previous release ---------------------------------------------
# Fresh node containers run the previous release (built here from its commit), deployed by
# today's role; upgrade.yml then rolls the binary under test over them while they collect.
# Until the last node is done the cluster mixes both releases: the old nodes' admin calls
# reach new leaders and the other way round. The sample check spans the whole roll.
build_release() { # build_release COMMIT: sets OLD_BIN to that commit's release binary
    local commit="$1" dir="$WORK/release-$1"
    if [[ ! -x "$dir/vcollect" ]]; then
        git -C "$REPO" cat-file -e "$commit^{commit}" 2>/dev/null || {
            echo "run.sh: commit $commit (cluster-tests/previous-release) is not in this clone; a shallow clone needs: git fetch --unshallow" >&2
            return 1
        }
        rm -rf "$dir/src" && mkdir -p "$dir/src"
        git -C "$REPO" archive "$commit" | tar -x -C "$dir/src"
        # A development build without debug info: the same code, built in half the time of an
        # optimised one (28 VMs need no speed), and small enough to copy into every node.
        (cd "$dir/src" && CARGO_TARGET_DIR="$dir/target" CARGO_PROFILE_DEV_DEBUG=0 \
            CARGO_INCREMENTAL=0 cargo build --locked --bin vcollect) >"$dir/build.log" 2>&1 || {
            tail -n 20 "$dir/build.log" >&2
            return 1
        }
        cp "$dir/target/debug/vcollect" "$dir/vcollect"
        rm -rf "$dir/target" "$dir/src"
    fi
    OLD_BIN="$dir/vcollect"
}
if [[ $STUB == 0 ]] && scenario upgrade-from-release; then
    log "scenario upgrade-from-release: building $FROM_RELEASE"
    if ! timed release_build build_release "$FROM_RELEASE"; then
        check "upgrade-from-release: the previous release ($FROM_RELEASE) builds" false
    else
        scenario_start upgrade-from-release "site.yml deploys $FROM_RELEASE on fresh nodes, upgrade.yml rolls $BINARY over them"
        # shellcheck disable=SC2046
        docker rm -f $(nodes) >/dev/null 2>&1 || true
        "$HERE/nodes.sh" up "$NODES" >>"$WORK/checks.log" 2>&1
        check "upgrade-from-release: site.yml deploys the previous release ($FROM_RELEASE) on $NODES fresh nodes" \
            playbook site-release site.yml -e "vcollect_binary_src=$OLD_BIN" -e vcollect_install=binary
        RELEASE_DEPLOYED=$(date +%s)
        check "upgrade-from-release: the previous release forms the cluster, buckets spread evenly" \
            "$CT" wait "${PREFIX}1" even "$NODES" --timeout 60
        # The window ends a sample step ahead: the check polls until that sample is in.
        check "upgrade-from-release: the previous release collects every sample" \
            samples "$RELEASE_DEPLOYED" "$(($(date +%s) + 25))"
        SC_T0=$RELEASE_DEPLOYED
        check "upgrade-from-release: upgrade.yml rolls the binary under test over the old nodes" \
            timed upgrade_release playbook upgrade-release upgrade.yml -e "vcollect_binary_src=$BINARY" -e vcollect_install=binary
        for n in $(nodes); do
            check "upgrade-from-release: $n runs the binary under test" sh -c "
                test \"\$(docker exec $n sha256sum /usr/local/bin/vcollect | cut -d' ' -f1)\" = \"\$(sha256sum '$BINARY' | cut -d' ' -f1)\" &&
                docker exec $n systemctl is-active vcollect"
        done
        check "upgrade-from-release: $NODES members settled after the upgrade" "$CT" wait "${PREFIX}1" settled "$NODES" --timeout 60
        scenario_samples
        scenario_end
    fi
fi

if [[ -n "$LANE_B" ]]; then
    wait "$LANE_B_PID"
    echo "--- lane b (upgrade-from-release, run at the same time; logs: $WORK/lane-b/) ---"
    sed 's/^/b | /' "$LANE_B"
    read -r b_passed b_failed < <(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LANE_B" | tail -n1)
    if [[ -z "${b_passed:-}" ]]; then
        echo "FAIL - lane b ended without its summary line (see $LANE_B)"
        FAILED=$((FAILED + 1))
    else
        PASSED=$((PASSED + b_passed))
        FAILED=$((FAILED + b_failed))
    fi
    echo "--- end of lane b ---"
fi

TOTAL=$((SECONDS - RUN_START))
{
    echo "times (s): total $TOTAL; image ${TIMES[image]:-?} (cached when fast), simulator+InfluxDB ${TIMES[services]:-?}, nodes up ${TIMES[nodes_up]:-?},"
    echo "  site.yml first ${TIMES[site1]:-?}, second ${TIMES[site2]:-?}; scenarios: leader-kill ${TIMES[leader-kill]:--}," \
        "follower-restart ${TIMES[follower-restart]:--}, partition ${TIMES[partition]:--}," \
        "add-node ${TIMES[add-node]:--} (site.yml ${TIMES[site3]:--}), upgrade ${TIMES[upgrade]:--} (upgrade.yml ${TIMES[upgrade_pb]:--}),"
    echo "  upgrade-from-release ${TIMES[upgrade-from-release]:--} (old build ${TIMES[release_build]:--}, upgrade.yml ${TIMES[upgrade_release]:--})"
} | tee "$WORK/times.txt"
[[ $SKIPPED -gt 0 ]] && echo "$SKIPPED skipped (reasons above)"
echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
