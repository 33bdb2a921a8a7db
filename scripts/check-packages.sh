#!/usr/bin/env bash
# Fails unless the .deb and the .rpm install the same files with the same modes: the two are
# described twice (Cargo.toml's [package.metadata.deb] and packaging/rpm/vcollect.spec)
# and could drift. Each distribution keeps its documents in its own places, so those are
# compared by role: the licence (.deb: /usr/share/doc/vcollect/copyright, .rpm:
# /usr/share/licenses/vcollect/LICENSE) and the changelog (.deb: changelog.Debian.gz,
# .rpm: changelog). Prints the shared layout.
#   scripts/check-packages.sh target/dist/vcollect_0.1.0-1_amd64.deb target/dist/vcollect-0.1.0-1.x86_64.rpm
set -euo pipefail
deb=$1
rpm=$2
# Regular files only ("MODE PATH"), documents renamed to their role.
docs='s#^(\S+) /usr/share/doc/vcollect/copyright$#\1 <licence>#;
      s#^(\S+) /usr/share/licenses/vcollect/LICENSE$#\1 <licence>#;
      s#^(\S+) /usr/share/doc/vcollect/changelog(\.Debian\.gz)?$#\1 <changelog>#'
dpkg-deb -c "$deb" | awk '$1 ~ /^-/ { p = $6; sub(/^\.?\/?/, "/", p); print $1, p }' |
  sed -E "$docs" | sort >"${TMPDIR:-/tmp}/vcollect-deb.$$"
rpm -qp --qf '[%{FILEMODES:perms} %{FILENAMES}\n]' "$rpm" | awk '$1 ~ /^-/' |
  sed -E "$docs" | sort >"${TMPDIR:-/tmp}/vcollect-rpm.$$"
trap 'rm -f "${TMPDIR:-/tmp}/vcollect-deb.$$" "${TMPDIR:-/tmp}/vcollect-rpm.$$"' EXIT
if ! diff -u --label "$(basename "$deb")" --label "$(basename "$rpm")" \
  "${TMPDIR:-/tmp}/vcollect-deb.$$" "${TMPDIR:-/tmp}/vcollect-rpm.$$"; then
  echo "check-packages: the .deb and the .rpm differ (lines above: - only in the .deb, + only in the .rpm)" >&2
  exit 1
fi
echo "check-packages: the .deb and the .rpm hold the same $(wc -l <"${TMPDIR:-/tmp}/vcollect-deb.$$") files:"
sed 's/^/  /' "${TMPDIR:-/tmp}/vcollect-deb.$$"
# The conffile / noreplace marking: the config survives an upgrade on both.
dpkg-deb --info "$deb" conffiles | grep -qx /etc/vcollect/vcollect.toml ||
  { echo "check-packages: $deb: /etc/vcollect/vcollect.toml is not a conffile" >&2; exit 1; }
rpm -qp --configfiles "$rpm" | grep -qx /etc/vcollect/vcollect.toml ||
  { echo "check-packages: $rpm: /etc/vcollect/vcollect.toml is not %config" >&2; exit 1; }
echo "check-packages: /etc/vcollect/vcollect.toml is a conffile (.deb) and %config(noreplace) (.rpm)"
