#!/usr/bin/env bash
# Fails when BINARY needs a glibc symbol version newer than MAX (default 2.17): the portable
# release must start on RHEL/CentOS 7. Prints the newest version it needs.
#   scripts/check-glibc.sh target/dist/vcollect-0.1.0-x86_64-linux [2.17]
set -euo pipefail
bin=$1
max=${2:-2.17}
newest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
if [ -z "$newest" ]; then
  echo "check-glibc: $bin: no GLIBC symbol versions found (not a dynamic glibc binary?)" >&2
  exit 1
fi
if [ "$(printf '%s\n%s\n' "$newest" "$max" | sort -V | tail -1)" != "$max" ]; then
  echo "check-glibc: $bin needs GLIBC_$newest (> $max):" >&2
  objdump -T "$bin" | grep -E "GLIBC_$newest\b" >&2
  exit 1
fi
echo "check-glibc: $bin needs at most GLIBC_$newest (<= $max)"
