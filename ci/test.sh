#!/usr/bin/env bash
# Install, build, and run every test (GoogleTest suites through ctest), then the built-in
# suite as an end-to-end check.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-deps.sh
ci/build.sh
ctest --preset release -j "$(nproc)"
build/fcgi-harness run scenarios/ --junit build/scenarios-junit.xml --json build/scenarios.json
