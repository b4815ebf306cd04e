#!/usr/bin/env bash
# Configures and builds the release tree (build/, CLI at build/fcgi-harness) with tests.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release -DFH_WERROR=ON >/dev/null
cmake --build --preset release -j "$(nproc)"
