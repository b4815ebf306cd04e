#!/usr/bin/env python3
"""Soak: run the suite many times and count every verdict that differs from the scenario's
usual one. Not in CI (hours); its figures go into docs/soak-results.md with the command and
the date.

  ci/soak.py [--fakes N] [--real N] [--workers W] [--harness build/fcgi-harness] [--out build/soak]

--fakes N: the fake folders (basic, streaming, faults, field, wire) N times (issue 12: 1000);
--real N: scenarios/real/*.yaml N times (100). The races in scenarios/real/races/ are left
out: their verdict varies by nature and they are measured as races (`--repeat`, Wilson
intervals). Each pass is one `fcgi-harness run --repeat` per folder set, in chunks so a
progress line shows; the usual verdict of a scenario is its most frequent one. Prints a Markdown
table of every scenario whose verdict ever differed (with the counts) and writes soak.json.
Exit 1 when any differed: each one is a bug to find, or a race to move to races/ and measure.
"""
import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FAKE_FOLDERS = ["scenarios/basic", "scenarios/streaming", "scenarios/faults", "scenarios/field",
                "scenarios/wire"]
CHUNK = 50  # runs per invocation: a progress line every chunk


def run_chunk(harness, paths, n, result):
    """One `fcgi-harness run --repeat n`; returns {scenario: Counter(verdict: runs)}."""
    subprocess.run([harness, "run", *paths, "--repeat", str(n), "--json", str(result),
                    "--keep", "none"], cwd=ROOT, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    counts = collections.defaultdict(collections.Counter)
    for s in json.loads(result.read_text())["scenarios"]:
        name = s["id"] + ("[%s]" % s["variant"] if s.get("variant") else "")
        for verdict, k in s.get("verdict_counts", {s["verdict"]: s.get("runs", 1)}).items():
            if k:
                counts[name][verdict] += k
    return counts


def soak(harness, paths, times, out, label, workers, chunk):
    """`times` passes over `paths` in chunks of `chunk` passes, `workers` chunks at a time
    (each chunk is its own harness process with its own ports and folders)."""
    counts = collections.defaultdict(collections.Counter)
    chunks = [(start, min(chunk, times - start)) for start in range(0, times, chunk)]
    done, started = 0, time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(run_chunk, harness, paths, n, out / ("%s-%d.json" % (label, start)))
                   for start, n in chunks]
        for future, (start, n) in zip(futures, chunks):
            for scenario, verdicts in future.result().items():
                counts[scenario].update(verdicts)
            done += n
            elapsed = time.monotonic() - started
            print("%s: %d/%d passes, %.0f s, about %.0f s left" %
                  (label, done, times, elapsed, elapsed / done * (times - done)), flush=True)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fakes", type=int, default=1000)
    parser.add_argument("--real", type=int, default=100)
    parser.add_argument("--workers", type=int, default=1,
                        help="chunks run at once, each its own harness process (default 1)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="passes per harness process")
    parser.add_argument("--harness", default=str(ROOT / "build" / "fcgi-harness"))
    parser.add_argument("--out", default=str(ROOT / "build" / "soak"))
    args = parser.parse_args()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    real = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scenarios" / "real").glob("*.yaml"))
    sets = [("fakes", FAKE_FOLDERS, args.fakes), ("real", real, args.real)]
    summary = {"date": datetime.date.today().isoformat(), "command": " ".join(sys.argv),
               "sets": {}}
    differed = 0
    print("| set | scenario | usual verdict | runs | other verdicts |")
    print("|---|---|---|---:|---|")
    for label, paths, times in sets:
        if times <= 0:
            continue
        counts = soak(args.harness, paths, times, out, label, args.workers, args.chunk)
        rows = {}
        for scenario, verdicts in sorted(counts.items()):
            usual, k = verdicts.most_common(1)[0]
            total = sum(verdicts.values())
            others = {v: c for v, c in verdicts.items() if v != usual}
            rows[scenario] = {"usual": usual, "runs": total, "others": others}
            if others:
                differed += sum(others.values())
                print("| %s | %s | %s | %d | %s |" % (label, scenario, usual, total,
                                                     ", ".join("%s x %d" % o for o in others.items())))
        summary["sets"][label] = {"passes": times, "scenarios": len(rows),
                                  "runs": sum(r["runs"] for r in rows.values()), "rows": rows}
        print("| %s | (all %d scenarios) | | %d | %d differing |" %
              (label, len(rows), summary["sets"][label]["runs"],
               sum(sum(r["others"].values()) for r in rows.values())), flush=True)
    (out / "soak.json").write_text(json.dumps(summary, indent=1))
    return 1 if differed else 0


if __name__ == "__main__":
    sys.exit(main())
