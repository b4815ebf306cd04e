#!/usr/bin/env python3
"""Prints the certification matrix of several `certify --json` results: one column per
implementation (the file name), one row per check, and under it every check that did not PASS
with its reason's first line. Usage: certify-summary.py RESULT.json..."""
import json
import os
import sys

SHORT = {"PASS": "ok", "NON-STRICT": "ns", "INFORMATIONAL": "info", "FAIL": "FAIL",
         "ERROR": "ERR", "SKIP": "skip"}


def rows_of(path):
    rows = {}
    for s in json.load(open(path))["scenarios"]:
        check = s.get("certify", {}).get("id", s["id"])
        name = check + (f"[{s['variant']}]" if s.get("variant") else "")
        rows[name] = s
    return rows


results = {os.path.basename(p)[:-5]: rows_of(p) for p in sys.argv[1:]}
if not results:
    sys.exit("usage: certify-summary.py RESULT.json...")
for party in ("backend", "gateway"):
    columns = [c for c in results if c.startswith(party)]
    if not columns:
        continue
    checks = sorted({k for c in columns for k in results[c] if k.startswith(party)})
    width = max(len(k) for k in checks) if checks else 10
    print(f"\n{party} checks".ljust(width + 1) + "".join(c[len(party) + 1:][:9].rjust(10) for c in columns))
    for k in checks:
        cells = [SHORT.get(results[c].get(k, {}).get("verdict", "-"), "-") for c in columns]
        print(k.ljust(width) + "".join(x.rjust(10) for x in cells))
print("\nnot PASS:")
for c, rows in results.items():
    for k, s in sorted(rows.items()):
        if s["verdict"] not in ("PASS", "INFORMATIONAL"):
            print(f"  {c:22} {s['verdict']:11} {k}: {s.get('reason', '').splitlines()[0] if s.get('reason') else ''}")
