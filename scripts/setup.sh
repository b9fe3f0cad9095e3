#!/usr/bin/env bash
# Installs the Debian packages llamux builds against, when missing. Idempotent.
set -euo pipefail

packages=(
  cmake g++ make pkg-config
  libboost-dev libboost-context-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libdnnl-dev libcli11-dev nlohmann-json3-dev
  # oneDNN's CMake package looks for OpenCL (its GPU runtime); apt only recommends it,
  # and recommends are not installed below.
  ocl-icd-opencl-dev
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

# Python packages some tests use (optional: each test skips without its package, and the
# runtime needs neither): the openai client drives the server, numpy carries the arrays of
# logits processors. pip refuses Debian's own interpreter unless told (PEP 668); a failure
# here only costs those tests.
for module in openai numpy; do
  if ! python3 -c "import $module" 2>/dev/null; then
    echo "setup: installing $module (pip)" >&2
    python3 -m pip install --quiet "$module" 2>/dev/null ||
      python3 -m pip install --quiet --user --break-system-packages "$module" 2>/dev/null ||
      echo "setup: could not install $module; the tests that use it will be skipped" >&2
  fi
done
