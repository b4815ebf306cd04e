#!/usr/bin/env bash
# Runs the libFuzzer targets (fuzz/*.cpp) from their seed corpora.
#
#   fuzz/run.sh smoke [SECONDS]   each target SECONDS (default 20) of wall time: CI, every push
#   fuzz/run.sh long [RUNS]       each target RUNS executions (default 10000000), each run
#                                 added to fuzz/long-runs.tsv (the README's figures)
#   fuzz/run.sh totals            the executions in fuzz/long-runs.tsv, summed per target
#   fuzz/run.sh build             only configure and build (cmake --preset fuzz)
#
# Targets: FH_FUZZ_TARGETS="wire http_response" fuzz/run.sh smoke 5 runs only those;
# FH_FUZZ_MAX_SECONDS=N caps each long run at N s too.
# The corpora in fuzz/corpus/ are read, never written: what a run finds goes to
# build-fuzz/found/<target>/ and a crashing input to build-fuzz/crashes/<target>/ (add it to
# the corpus with a regression test when you fix it). Prints one Markdown row per target and
# exits 1 if any target crashed, leaked or broke a promise.
set -euo pipefail

cd "$(dirname "$0")/.."
mode=${1:-smoke}
case "$mode" in
  smoke) budget=(-max_total_time="${2:-20}") timeout=10 ;;
  long)
    budget=(-runs="${2:-10000000}")
    # libFuzzer's timeout is wall time: a long run niced beside a soak waits for a CPU for
    # seconds on end, and 10 s once ended a run on an input that takes 0.23 s alone (the
    # fcgi_records row of d3bfe52). A hang still ends it, two minutes in.
    timeout=120
    # FH_FUZZ_MAX_SECONDS=N also ends each target after N s: a run that fits the time there is
    # (libFuzzer then stops cleanly; an interrupted run would be reported as a crash).
    [[ -n "${FH_FUZZ_MAX_SECONDS:-}" ]] && budget+=(-max_total_time="$FH_FUZZ_MAX_SECONDS")
    ;;
  build) ;;
  totals)
    # Runs of one target share its found corpus (build-fuzz/found/), so their counts add up.
    echo "| target | executions | seconds | runs | crashes |"
    echo "|---|---:|---:|---:|---|"
    awk -F'\t' '/^#/ || $1 == "date" { next }
      { runs[$3] += $4; secs[$3] += $5; n[$3]++; if ($6 !~ /^0 crashes/) bad[$3]++ }
      END { for (t in runs) printf "| %s | %d | %d | %d | %s |\n", t, runs[t], secs[t], n[t],
                                   bad[t] ? bad[t] " runs crashed" : "0" }' fuzz/long-runs.tsv | sort
    exit 0
    ;;
  -h | --help)
    sed -n '2,15p' "$0"
    exit 0
    ;;
  *)
    echo "usage: fuzz/run.sh smoke [SECONDS] | long [RUNS] | totals | build" >&2
    exit 2
    ;;
esac

if [[ ! -f build-fuzz/build.ninja ]]; then
  cmake --preset fuzz >/dev/null
fi
cmake --build --preset fuzz --target $(sed -n 's/^set(FH_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt | sed 's/\([a-z_]*\)/fuzz_\1/g')
[[ "$mode" == build ]] && exit 0

targets=${FH_FUZZ_TARGETS:-$(sed -n 's/^set(FH_FUZZ_TARGETS \(.*\))$/\1/p' fuzz/CMakeLists.txt)}
failed=0
echo "| target | executions | seconds | executions/s | corpus (seeds -> now) | result |"
echo "|---|---:|---:|---:|---|---|"
for target in $targets; do
  found=build-fuzz/found/$target crashes=build-fuzz/crashes/$target
  mkdir -p "$found" "$crashes"
  log=build-fuzz/found/$target.log
  seeds=$(find "fuzz/corpus/$target" -type f | wc -l)
  # Scenario files and strace logs are read whole: longer inputs only slow each execution.
  case "$target" in scenario_loader | strace_lines) max_len=(-max_len=8192) ;; *) max_len=() ;; esac
  start=$(date +%s.%N)
  status=0
  # found/ first: libFuzzer writes new inputs into the first corpus folder only.
  build-fuzz/fuzz/fuzz_"$target" "${budget[@]}" "${max_len[@]}" -rss_limit_mb=2048 -timeout="$timeout" \
    -print_final_stats=1 -artifact_prefix="$crashes/" "$found" "fuzz/corpus/$target" \
    >"$log" 2>&1 || status=$?
  seconds=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  runs=${runs:-0}
  now=$(find "$found" -type f | wc -l)
  if [[ $status -eq 0 ]]; then
    result="0 crashes"
  else
    result="**crash** (exit $status): $(grep -m1 -E 'ERROR|broken promise|==[0-9]+==' "$log" | cut -c1-100)"
    failed=1
  fi
  printf '| %s | %s | %.0f | %.0f | %s -> %s | %s |\n' "$target" "$runs" "$seconds" \
    "$(awk -v r="$runs" -v s="$seconds" 'BEGIN { print r / s }')" "$seeds" "$((seeds + now))" "$result"
  if [[ "$mode" == long ]]; then
    printf '%s\t%s\t%s\t%s\t%.0f\t%s\n' "$(date -u +%F)" "$(git rev-parse --short HEAD)" \
      "$target" "$runs" "$seconds" "$result" >>fuzz/long-runs.tsv
  fi
done
if [[ $failed -ne 0 ]]; then
  echo "a fuzz target failed: its log is build-fuzz/found/<target>.log, the input in build-fuzz/crashes/" >&2
fi
exit $failed
