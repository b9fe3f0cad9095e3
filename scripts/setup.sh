#!/usr/bin/env bash
# Installs the Debian packages llamux builds against, when missing. Idempotent.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libboost-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libdnnl-dev libcli11-dev nlohmann-json3-dev
  python3 python3-dev pybind11-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The openai client, for the test that drives the Python server with it (optional: the test
# skips without it, and nothing else needs it). pip refuses Debian's own interpreter unless
# told (PEP 668); a failure here only costs that test.
if ! python3 -c "import openai" 2>/dev/null; then
  echo "setup: installing the openai client (pip)" >&2
  python3 -m pip install --quiet openai 2>/dev/null ||
    python3 -m pip install --quiet --user --break-system-packages openai 2>/dev/null ||
    echo "setup: could not install the openai client; its test will be skipped" >&2
fi
