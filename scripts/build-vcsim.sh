#!/usr/bin/env bash
# Builds the govmomi vCenter simulator used by tests, the demo and benchmarks, from Debian's
# golang-go and golang-github-vmware-govmomi-dev (GOPATH mode: no module proxy is needed).
# Output: target/vcsim/vcsim-vcollect (rebuilt only when main.go is newer).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/vcsim/vcsim-vcollect"
src="$root/tests/vcsim/main.go"
if [ -x "$out" ] && [ "$out" -nt "$src" ]; then
  exit 0
fi
mkdir -p "$(dirname "$out")"
exec 9>"$(dirname "$out")/.lock"; flock 9
if [ -x "$out" ] && [ "$out" -nt "$src" ]; then exit 0; fi
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="${GOCACHE:-$root/target/vcsim/gocache}" GOFLAGS=
go build -o "$out" "$src"
echo "built $out"
