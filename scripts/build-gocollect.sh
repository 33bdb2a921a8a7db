#!/usr/bin/env bash
# Builds scripts/gocollect (the Go collector on govmomi that scripts/compare-go.sh measures
# vcollect against) as scripts/build-vcsim.sh builds the simulator: Debian's golang-go and
# golang-github-vmware-govmomi-dev in GOPATH mode, offline. Output: target/gocollect/gocollect.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/target/gocollect/gocollect"
src="$root/scripts/gocollect/main.go"
[ -x "$out" ] && [ "$out" -nt "$src" ] && exit 0
mkdir -p "$(dirname "$out")"
export GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="${GOCACHE:-$root/target/vcsim/gocache}" GOFLAGS=
cd "$root/scripts/gocollect"
go build -o "$out" .
echo "built $out"
