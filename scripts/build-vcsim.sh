#!/usr/bin/env bash
# Builds the govmomi vCenter simulator used by tests, the demo and benchmarks, from Debian's
# golang-go and golang-github-vmware-govmomi-dev (GOPATH mode: no module proxy is needed).
# Output: target/vcsim/vcsim-vcollect (rebuilt only when a tests/vcsim/*.go file is newer).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/vcsim/vcsim-vcollect"
srcdir="$root/tests/vcsim"
fresh() {
  [ -x "$out" ] || return 1
  local f
  for f in "$srcdir"/*.go; do [ "$out" -nt "$f" ] || return 1; done
}
if fresh; then exit 0; fi
mkdir -p "$(dirname "$out")"
exec 9>"$(dirname "$out")/.lock"; flock 9
if fresh; then exit 0; fi
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="${GOCACHE:-$root/target/vcsim/gocache}" GOFLAGS=
cd "$srcdir"
go build -o "$out" .
echo "built $out"
