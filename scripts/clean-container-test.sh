#!/usr/bin/env bash
# A new contributor's first run, measured: `scripts/test.sh` without the container stage, in
# a clean Debian bookworm container that has only build-essential, git, ca-certificates and
# this machine's Rust toolchain (mounted read-only: no cargo-nextest, no cargo tools, an empty
# cargo registry, no Go, no InfluxDB). The work tree is a fresh clone of HEAD, so only
# committed work is measured. Prints the wall time and test.sh's stage table; the log is
# kept in target/clean-container.log. docs/deployment.md ("CI") records the figure.
#
#   scripts/clean-container-test.sh [TEST.SH ARGS]
#
# Needs docker and debootstrap (cluster-tests/build-image.sh --dev builds the image once).
# The container reaches the package registries like this machine, with this machine's CA
# bundle mounted over its own (where the registries are reached through an intercepting
# proxy, its CA is there: a fresh Debian does not trust it); it gets NET_ADMIN for the
# partition tests' iptables rules on its own loopback, nothing else.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
image=${VCOLLECT_DEV_IMAGE:-vcollect-dev:bookworm}
name=vcollect-clean-test
toolchain=$(rustc --print sysroot)
"$root/cluster-tests/build-image.sh" --dev
docker rm -f "$name" >/dev/null 2>&1 || true
mkdir -p "$root/target"
log="$root/target/clean-container.log"
start=$SECONDS
rc=0
docker run --rm --name "$name" --cap-add NET_ADMIN \
  -v "$root:/src:ro" -v "$toolchain:/opt/rust:ro" \
  -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro \
  -e PATH=/opt/rust/bin:/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  -e VCOLLECT_SKIP_CLUSTER_TESTS=1 -e CARGO_INCREMENTAL=0 \
  "$image" bash -c '
    set -e
    git config --global --add safe.directory "*"
    git clone -q /src /work/vcollect
    cd /work/vcollect
    echo "clean-container: $(git log -1 --format="%h %s" | cut -c1-80); rustc: $(rustc --version)"
    exec scripts/test.sh "$@"' bash "$@" >"$log" 2>&1 || rc=$?
wall=$((SECONDS - start))
sed -n '/^test.sh: stage times/,$p' "$log"
grep -E '^ +Summary ' "$log" | tail -n1 || true
printf 'clean-container: exit %d after %d:%02d wall (log: %s)\n' "$rc" $((wall / 60)) $((wall % 60)) "$log"
exit $rc
