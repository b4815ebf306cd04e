#!/usr/bin/env bash
# Installs the build and test dependencies (Debian 12 packages) that are missing.
# Idempotent and quiet when everything is already there. Needs root (or sudo) to install.
set -euo pipefail
# shellcheck source=ci/apt-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt-lib.sh"

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost1.81-dev          # headers: Asio, Beast, Process
  libgtest-dev libgmock-dev # GoogleTest
  libpcap-dev               # observers (pcap)
  libspdlog-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev
  libssl-dev                # libcrypto: SHA-256 of bodies
  libbenchmark-dev          # bench/ (built with -DFH_BENCH=ON)
  python3-jsonschema python3-yaml  # tests/schema_test.py: scenarios against the schema
  clang libclang-rt-14-dev  # ci/sanitizers.sh, fuzz/: clang with libFuzzer, ASan and UBSan
)

apt_find_missing "${packages[@]}"
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
apt_prepare
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
