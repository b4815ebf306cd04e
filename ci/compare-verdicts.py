#!/usr/bin/env python3
"""Compares two `fcgi-harness run --json` results id by id: verdicts (and, with --repeat,
verdict counts). Exit 1 on any difference."""
import json, sys

def load(path):
    d = json.load(open(path))
    out = {}
    for s in d["scenarios"]:
        name = s["id"] + (f"[{s['variant']}]" if s.get("variant") else "")
        out[name] = (s["verdict"], json.dumps(s.get("verdict_counts", {}), sort_keys=True))
    return out

a, b = load(sys.argv[1]), load(sys.argv[2])
diff = 0
for k in sorted(set(a) | set(b)):
    if a.get(k) != b.get(k):
        diff += 1
        print(f"{k}: {a.get(k)} -> {b.get(k)}")
print(f"{len(a)} vs {len(b)} scenarios, {diff} difference(s)")
sys.exit(1 if diff else 0)
