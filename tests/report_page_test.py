#!/usr/bin/python3
"""A fresh HTML report with a FAIL opens cleanly in a real browser, and so does its timeline.

Runs a few fake scenarios, an emulated bug among them (its expected FAIL keeps evidence), with
`run --html`; merges the JSON with itself through `fcgi-harness report` (two columns); then
tests/report_browser_test.py opens both pages and the FAIL's timeline.html in headless
Chromium: no console error, no network, one cell per (column, row), a click draws the swimlane.
Usage: report_page_test.py FCGI_HARNESS_BINARY SCREENSHOT_DIR
"""
import glob
import os
import subprocess
import sys
import tempfile

BINARY = os.path.abspath(sys.argv[1])
SHOTS = os.path.abspath(sys.argv[2])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.pop("GITHUB_STEP_SUMMARY", None)


def run(*args, ok=(0,)):
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
    if done.returncode not in ok:
        sys.exit(f"{' '.join(args)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")
    return done


with tempfile.TemporaryDirectory(prefix="fh-report-") as tmp:
    faults = sorted(glob.glob(f"{ROOT}/scenarios/faults/close-*.yaml"))
    run(BINARY, "run", "scenarios/field/nginx-200-empty-body.yaml", *faults, "--quirks", "none",
        "--artifacts", f"{tmp}/evidence", "--json", f"{tmp}/run.json",
        "--html", f"{tmp}/run.html")
    run(BINARY, "report", f"{tmp}/run.json", f"{tmp}/run.json", "--label", "first",
        "--label", "second", "-o", f"{tmp}/merged.html")
    timelines = sorted(glob.glob(f"{tmp}/evidence/**/timeline.html", recursive=True))
    if not timelines:
        sys.exit("no FAIL evidence folder got a timeline.html")
    done = subprocess.run(["/usr/bin/python3", f"{ROOT}/tests/report_browser_test.py",
                           f"{tmp}/run.html", f"{tmp}/merged.html", timelines[0],
                           "--screenshots", SHOTS], timeout=600)
    sys.exit(done.returncode)
