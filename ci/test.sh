#!/usr/bin/env bash
# Install, build, and run every test: the GoogleTest suites through ctest (the real-peer tests
# need the programs ci/install-peers.sh installs), then every scenario, real peers included.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step's time on stderr ("ci: <step> took N s"), and the lot at the end: the 30-minute
# budget is spent where these say.
step_started=$SECONDS
took() {
  echo "ci: $1 took $((SECONDS - step_started)) s (total $SECONDS s)" >&2
  step_started=$SECONDS
}
trap 'took "the last step (exit $?)"' EXIT
ci/install-deps.sh
ci/install-peers.sh
took "installing"
ci/build.sh
took "the release build"
ctest --preset release -j "$(nproc)"
took "ctest"
# Every scenario except the real-world races, whose verdict varies from run to run by nature.
build/fcgi-harness run scenarios/basic scenarios/streaming scenarios/faults scenarios/field \
  scenarios/wire scenarios/real/*.yaml --junit build/scenarios-junit.xml --json build/scenarios.json \
  --markdown build/scenarios-summary.md --html build/report/scenarios.html
took "the scenario suite"
# The races are measured (counts and a failure-rate interval), visibly, without gating CI.
build/fcgi-harness run scenarios/real/races --repeat 5 --json build/races.json ||
  echo "scenarios/real/races: measured above (a FAIL there is the real race, not a CI failure)"
took "the races"
# Certification. The fakes, certified as third-party programs through `serve`, pass every
# check (gating). A few real peers are certified visibly: their FAILs are the findings written
# up in docs/certification-results.md (the full run of every peer: ci/certify-all.sh).
fh=build/fcgi-harness
"$fh" certify backend --spawn "$PWD/$fh serve backend --listen {addr}" --transport both \
  --json build/certify-fake-backend.json --junit build/certify-fake-backend.xml \
  --artifacts build/certify-evidence/fake-backend
"$fh" certify gateway --spawn "$PWD/$fh serve gateway --listen 127.0.0.1:{http_port} \
  --backend {backend_addr} --set 'backend_timeout_ms: 3000'" --transport both \
  --json build/certify-fake-gateway.json --junit build/certify-fake-gateway.xml \
  --artifacts build/certify-evidence/fake-gateway
for peer in "backend --adapter go --transport both" "backend --adapter php-fpm" \
  "gateway --adapter nginx --knob fastcgi_read_timeout=5s --transport both"; do
  # shellcheck disable=SC2086 # the words are the arguments
  "$fh" certify $peer --json "build/certify-${peer// /_}.json" \
    --artifacts "build/certify-evidence/${peer// /_}" ||
    echo "certify $peer: findings above (docs/certification-results.md), not a CI failure"
done
took "certification"
# Reports people read: the certifications above as one HTML matrix, and the browser test
# (headless Chromium: no console error, no network, one cell per implementation and check, a
# click draws the swimlane) over it, the scenarios' report, the committed sample and one FAIL
# evidence folder's timeline.html. Screenshots in build/report/screenshots/ (CI artefacts).
"$fh" report build/certify-*.json -o build/report/certification.html \
  --title "fcgi-harness certify: the fakes and the real peers CI certifies"
fail_timeline=$(find fcgi-harness-artifacts -name timeline.html -print -quit)
/usr/bin/python3 tests/report_browser_test.py build/report/certification.html \
  build/report/scenarios.html reports/samples/report.html ${fail_timeline:+"$fail_timeline"} \
  --screenshots build/report/screenshots
took "the reports and their browser test"
# Sanitizers and fuzzing, last (CPU-heavy; the timing-sensitive steps above ran on a quiet
# machine): the unit tests and the fake folders under ASan + UBSan (clang), and each libFuzzer
# target for a few seconds from its seed corpus.
ci/sanitizers.sh
took "the sanitizer leg and the fuzz smoke"
trap - EXIT
