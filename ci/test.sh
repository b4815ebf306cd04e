#!/usr/bin/env bash
# Install, build, and run every test: the GoogleTest suites through ctest (the real-peer tests
# need the programs ci/install-peers.sh installs), then every scenario, real peers included.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-deps.sh
ci/install-peers.sh
ci/build.sh
ctest --preset release -j "$(nproc)"
build/fcgi-harness run scenarios/ --junit build/scenarios-junit.xml --json build/scenarios.json
