#!/usr/bin/env bash
# cluster-tests: deploy vcollect with Ansible onto N node containers (systemd as PID 1) and
# check the deployment. One command, from anywhere:
#
#   cluster-tests/run.sh [--binary PATH | --stub] [--nodes N] [--keep] [--skip-upgrade]
#
#   --binary PATH   vcollect binary to deploy (default: target/release/vcollect of this repo
#                   when it exists, else the stand-in cluster-tests/stub/vcollect)
#   --stub          deploy the stand-in even when a release binary exists
#   --upgrade-to P  binary for the upgrade.yml smoke (default with the stub: the stub with its
#                   version bumped; with a real binary the upgrade smoke is skipped unless given)
#   --nodes N       number of node containers (default 3)
#   --keep          leave the containers running afterwards (remove: cluster-tests/nodes.sh down)
#
# Needs: docker (this user can run containers), debootstrap (installed if missing, as root),
# python3 with venv. Prints one line per check and closes with "N passed, M failed".
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
ANSIBLE_DIR="$REPO/ansible"
WORK="$HERE/.work"
VENV="${VCOLLECT_VENV:-$HERE/.venv}"
NODES=3
KEEP=0
BINARY=""
UPGRADE_TO=""
SKIP_UPGRADE=0
PREFIX="${VCOLLECT_CT_PREFIX:-vct-node-}"

while [[ $# -gt 0 ]]; do
    case "$1" in
    --binary) BINARY="$2"; shift 2 ;;
    --stub) BINARY="$HERE/stub/vcollect"; shift ;;
    --upgrade-to) UPGRADE_TO="$2"; shift 2 ;;
    --skip-upgrade) SKIP_UPGRADE=1; shift ;;
    --nodes) NODES="$2"; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { printf '%s run: %s\n' "$(date +%T)" "$*" >&2; }
PASSED=0
FAILED=0
check() { # check NAME COMMAND...
    local name="$1"
    shift
    if "$@" >>"$WORK/checks.log" 2>&1; then
        echo "ok   - $name"
        PASSED=$((PASSED + 1))
    else
        echo "FAIL - $name (see cluster-tests/.work/checks.log)"
        FAILED=$((FAILED + 1))
    fi
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

mkdir -p "$WORK"
: >"$WORK/checks.log"

# --- the binary -------------------------------------------------------------------------
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
log "binary: $BINARY$([[ $STUB == 1 ]] && echo ' (stand-in stub)')"

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

# --- lint (no containers needed) -------------------------------------------------------
check "ansible-lint passes at the production profile" sh -c "cd '$ANSIBLE_DIR' && ansible-lint --nocolor"

# --- image and nodes --------------------------------------------------------------------
timed image "$HERE/build-image.sh" || { echo "run.sh: image build failed" >&2; exit 1; }
"$HERE/nodes.sh" down
if [[ $KEEP == 0 ]]; then
    trap '"$HERE/nodes.sh" down' EXIT
fi
timed nodes_up "$HERE/nodes.sh" up "$NODES" || { echo "run.sh: nodes did not start" >&2; exit 1; }
INV="$WORK/inventory"
nodes() { for ((i = 1; i <= NODES; i++)); do echo "$PREFIX$i"; done; }

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

# --- smoke: deploy, check, deploy again -------------------------------------------------
log "site.yml (first run)"
check "site.yml deploys $NODES nodes" timed site1 playbook site1 site.yml -e "vcollect_binary_src=$BINARY"

for n in $(nodes); do
    check "$n: unit vcollect is active" \
        sh -c "docker exec $n systemctl is-active vcollect"
    check "$n: vcollect validate passes on the rendered config" \
        docker exec "$n" /usr/local/bin/vcollect validate --config /etc/vcollect/vcollect.toml
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

log "site.yml (second run)"
check "site.yml second run succeeds" timed site2 playbook site2 site.yml -e "vcollect_binary_src=$BINARY"
check "site.yml second run reports changed=0 on every node" recap_changed_zero site2

# --- smoke: rolling upgrade -------------------------------------------------------------
if [[ -z "$UPGRADE_TO" && $STUB == 1 ]]; then
    UPGRADE_TO="$WORK/vcollect-stub-v2"
    sed 's/^STUB_VERSION = "1"/STUB_VERSION = "2"/' "$BINARY" >"$UPGRADE_TO"
    chmod 0755 "$UPGRADE_TO"
fi
if [[ $SKIP_UPGRADE == 0 && -n "$UPGRADE_TO" ]]; then
    log "upgrade.yml to $UPGRADE_TO"
    check "upgrade.yml rolls the new binary over the cluster" \
        timed upgrade playbook upgrade upgrade.yml -e "vcollect_binary_src=$(realpath "$UPGRADE_TO")"
    check "upgrade.yml upgrades the leader last, after transferring leadership" sh -c "
        order=\$(awk '/^TASK/{f=(\$0 ~ /Undrain this node/)} f&&/^changed:/{print \$2}' '$WORK/upgrade.log' | tr -d '[]')
        leader=\$(awk '/^TASK/{f=(\$0 ~ /Transfer leadership/)} f&&/^changed:/{print \$2}' '$WORK/upgrade.log' | tr -d '[]')
        echo \"order: \$order; transferred: \$leader\" >&2
        test \$(echo \"\$order\" | wc -l) -eq $NODES && test -n \"\$leader\" && test \"\$(echo \"\$order\" | tail -n1)\" = \"\$leader\""
    for n in $(nodes); do
        check "$n: runs the new binary after the upgrade" sh -c "
            test \"\$(docker exec $n sha256sum /usr/local/bin/vcollect | cut -d' ' -f1)\" = \"\$(sha256sum '$UPGRADE_TO' | cut -d' ' -f1)\" &&
            docker exec $n systemctl is-active vcollect"
    done
    check "upgrade.yml again changes nothing" sh -c "
        cd '$ANSIBLE_DIR' && ansible-playbook -i '$INV' upgrade.yml -e vcollect_binary_src=$(realpath "$UPGRADE_TO") >'$WORK/upgrade2.log' 2>&1 &&
        ! grep -A$NODES '^PLAY RECAP' '$WORK/upgrade2.log' | grep -E 'changed=[1-9]'"
fi

echo "times (s): image ${TIMES[image]:-?} (cached when fast), nodes up ${TIMES[nodes_up]:-?}," \
    "site.yml first ${TIMES[site1]:-?}, second ${TIMES[site2]:-?}, upgrade.yml ${TIMES[upgrade]:-skipped}" |
    tee "$WORK/times.txt"
# TODO scenarios (see README.md) go here once the cluster features exist.
echo "$PASSED passed, $FAILED failed"
[[ $FAILED == 0 ]]
