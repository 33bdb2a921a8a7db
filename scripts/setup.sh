#!/usr/bin/env bash
# Installs what vcollect's demo and tests need on a fresh Debian machine (run as root), then
# builds the vCenter simulator. Safe to run again: it skips what is already there.
#   Debian packages: golang-go + golang-github-vmware-govmomi-dev (the simulator),
#                    influxdb (a real sink for tests and the demo), curl, iptables (the
#                    partition tests cut one node off on loopback), python3 (the demo's
#                    helpers), ca-certificates (cargo and the simulator's Go build fetch
#                    over HTTPS), binutils (objdump: the release's glibc check), rpmlint and
#                    rpm (the package checks), prometheus (promtool: `promtool check
#                    metrics` on a scrape of /metrics; its service is kept from starting
#                    like influxdb's). The tests signal processes themselves: no
#                    procps needed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(golang-go golang-github-vmware-govmomi-dev influxdb curl iptables python3 ca-certificates binutils rpmlint rpm prometheus)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The influxdb package would start a system-wide server on :8086 (prometheus one on :9090);
  # the tests and the demo run their own on free ports, so keep the packaged services from
  # starting.
  made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi
if ! command -v cargo-nextest >/dev/null 2>&1 && ! cargo nextest --version >/dev/null 2>&1; then
  echo "setup: installing cargo-nextest"
  cargo install --locked cargo-nextest >/dev/null
fi
"$root/scripts/build-vcsim.sh"
