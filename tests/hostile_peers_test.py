#!/usr/bin/env python3
"""Hostile peers (scenarios/hostile/): each run ends within its deadline, in bounded memory,
with a FAIL whose text names what the peer did, and leaves no process behind.

Usage: hostile_peers_test.py HARNESS SCENARIO_DIR
For each scenario file: `fcgi-harness run FILE` in a child whose peak RSS comes from wait4();
the JSON result gives the run's own duration. Prints one line per scenario and exits 1 on any
miss. The memory bounds are the ones the README states.
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import yaml  # python3-yaml

MIB = 1024 * 1024
# What the verdict must say, per behaviour: the peer's doing in the harness's words.
NAMED = {
    "backend-stdout-flood": "awaiting final chunk after",
    "backend-stderr-flood": "check gateway.stderr x0: seen",
    "backend-foreign-request-ids": "flooded: more than 200000 events",
    "backend-slowloris": "hung: still awaiting response head",
    "backend-ignores-sigterm": "harness.peer_stop_forced x0: seen 1",
    "backend-fork-holds-port": "harness.peer_escaped x0: seen 1",
    "gateway-params-flood": "PARAMS exceeded 1048576 bytes",
    "gateway-request-id-flood": "the gateway keeps asking and never reads",
    "gateway-never-reads": "backend.end_request_sent x1: seen 0",
    "gateway-slowloris": "backend.params_complete x1: seen 0",
    "gateway-http-flood": "awaiting final chunk after",
}
# Peak RSS of the harness (wait4: it and the peers it reaped). A behaviour that floods events
# fills the event log (at most 200,000 kept) and the FAIL's evidence is built from them in
# memory (timeline.json and .html, about 3 KiB per event): at most 768 MiB. Every other
# behaviour stays under 96 MiB, however many bytes the peer sends.
FLOOD_BOUND = 768 * MIB
BOUND = 96 * MIB
FLOODS = {"backend-foreign-request-ids", "backend-stderr-flood"}
RUN_SLACK_MS = 1000      # teardown after the deadline: stop signals, grace, reaping
WALL_SLACK_S = 15        # plus writing the evidence of a FAIL


def leftover_processes(marker):
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open("/proc/%s/stat" % pid) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append("%s %s" % (pid, cmd.strip()))
    return out


def main():
    harness, folder = sys.argv[1], pathlib.Path(sys.argv[2])
    files = sorted(folder.glob("*.yaml"))
    missing = set(NAMED) - {f.stem for f in files}
    failures = ["no scenario for %s" % m for m in sorted(missing)]
    for f in files:
        if f.stem not in NAMED:
            failures.append("%s: no expected wording in this test" % f.name)
            continue
        with tempfile.TemporaryDirectory() as tmp:
            result_json = os.path.join(tmp, "result.json")
            start = time.monotonic()
            child = subprocess.Popen([harness, "run", str(f), "--json", result_json,
                                      "--artifacts", os.path.join(tmp, "evidence")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            output = child.stdout.read().decode(errors="replace")
            _, status, usage = os.wait4(child.pid, 0)
            wall = time.monotonic() - start
            peak = usage.ru_maxrss * 1024
            with open(result_json) as j:
                run = json.load(j)["scenarios"][0]
        deadline_ms = yaml.safe_load(f.read_text())["deadline_ms"]
        problems = []
        if run["verdict"] != "FAIL":
            problems.append("verdict %s, not FAIL" % run["verdict"])
        if NAMED[f.stem] not in output:
            problems.append("the verdict does not say %r" % NAMED[f.stem])
        if run["duration_ms"] > deadline_ms + RUN_SLACK_MS:
            problems.append("ran %d ms, deadline %d ms" % (run["duration_ms"], deadline_ms))
        if wall > deadline_ms / 1000 + WALL_SLACK_S:
            problems.append("the harness took %.1f s" % wall)
        bound = FLOOD_BOUND if f.stem in FLOODS else BOUND
        if peak > bound:
            problems.append("peak RSS %d MiB > %d MiB" % (peak // MIB, bound // MIB))
        left = leftover_processes("hostile_peer.py")
        if left:
            problems.append("left running: " + "; ".join(left))
        print("%-28s %s in %5d ms (harness %4.1f s), peak %4d MiB%s" %
              (f.stem, run["verdict"], run["duration_ms"], wall, peak // MIB,
               "" if not problems else "  <- " + "; ".join(problems)), flush=True)
        if problems:
            failures.append(f.stem)
            print("\n".join("    | " + line for line in output.splitlines()[:12]))
    for failure in failures:
        print("FAILED:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
