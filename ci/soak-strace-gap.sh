#!/usr/bin/env bash
# The strace-gap check of docs/soak-results.md: under the load of four harnesses looping over
# the fake folders, the self-traced scenario N times with two binaries side by side (the one
# before a change and the one after), printing each one's verdict counts. Not in CI (minutes
# of both cores). A FAIL keeps its evidence in OUT/<label>-art/.
#   ci/soak-strace-gap.sh BEFORE_BINARY AFTER_BINARY [N=1500] [OUT=build/strace-gap]
set -euo pipefail
cd "$(dirname "$0")/.."
before=$1 after=$2 n=${3:-1500} out=${4:-build/strace-gap}
scenario=scenarios/wire/apache-stdin-own-send-syscalls.yaml
rm -rf "$out" && mkdir -p "$out"
for _ in 1 2 3 4; do
  (while [[ ! -f $out/done ]]; do
    "$after" run scenarios/basic scenarios/streaming scenarios/faults scenarios/field \
      scenarios/wire --keep none >/dev/null 2>&1 || true
  done) &
done
"$before" run "$scenario" --repeat "$n" --json "$out/before.json" --artifacts "$out/before-art" \
  >/dev/null 2>&1 &
b=$!
"$after" run "$scenario" --repeat "$n" --json "$out/after.json" --artifacts "$out/after-art" \
  >/dev/null 2>&1 &
a=$!
wait $b $a || true
touch "$out/done"
wait
for label in before after; do
  python3 -c "import json,sys; s=json.load(open(sys.argv[1]))['scenarios'][0]; \
print(sys.argv[2], s['verdict_counts'])" "$out/$label.json" "$label"
done
