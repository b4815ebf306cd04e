#!/usr/bin/env bash
# The main job: install, build, run the built-in scenario suite on the embedded fakes
# (scenarios/real/ needs real programs: ci/install-peers.sh, then run it on its own).
# Extra arguments go to `fcgi-harness run` (e.g. --json result.json). The HTML report of the
# run, with the timeline of every failure as swimlanes, is build/report/suite.html.
set -euo pipefail
cd "$(dirname "$0")/.."
ci/install-deps.sh
ci/build.sh
exec build/fcgi-harness run scenarios/basic scenarios/streaming scenarios/faults scenarios/field \
  --html build/report/suite.html "$@"
