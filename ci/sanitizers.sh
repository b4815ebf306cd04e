#!/usr/bin/env bash
# The sanitizer leg of CI: one clang tree (cmake --preset fuzz: ASan + UBSan, every object also
# instrumented for libFuzzer) builds the unit tests, the CLI and the fuzz targets once; then
#  1. the unit tests of the rooms that read peers' bytes or run the fakes, under ASan + UBSan;
#  2. the fake scenario folders through the sanitized CLI (every fake, fault and seed race);
#  3. each fuzz target for a few seconds from its seed corpus (fuzz/run.sh smoke).
# Any sanitizer report fails the step: UBSan does not recover, ASan aborts, LeakSanitizer is on.
# The real-peer tests stay on the release build: under ASan their timing is not the peers'.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FH_FUZZ_SMOKE_SECONDS:-10}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

cmake --preset fuzz -DFH_WERROR=OFF >/dev/null
unit_tests=(codec_test net_util_test probe_contract_test fake_backend_test fake_backend_faults_test
  http_client_test fake_gateway_test fake_gateway_faults_test scenario_loader_test verdict_test
  runner_test field_test reports_test acceptance_test vocabulary_test joined_timeline_test)
cmake --build --preset fuzz -j "$(nproc)" --target fcgi-harness "${unit_tests[@]}"
regex="^($(
  IFS='|'
  echo "${unit_tests[*]}"
))\\."
ctest --preset fuzz -j "$(nproc)" -R "$regex" --timeout 300
build-fuzz/fcgi-harness run scenarios/basic scenarios/streaming scenarios/faults scenarios/field \
  --json build-fuzz/fake-folders.json
fuzz/run.sh smoke "$seconds"
