#!/usr/bin/python3
"""Every malformed scenario in tests/data/bad-scenarios/ is refused at load, exactly as written.

expected.txt holds, per file, the first line `fcgi-harness run FILE` must print: the error
with file:line:column. Each file must exit 2, print that line and "nothing was run", and run
nothing (no verdict line). A file without an expected line, or a line without its file, fails.
Usage: bad_scenarios_test.py FCGI_HARNESS_BINARY
"""
import os
import subprocess
import sys

BINARY = os.path.abspath(sys.argv[1])
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "bad-scenarios")
VERDICTS = ("PASS ", "FAIL ", "ERROR ", "NON-STRICT ", "INFORMATIONAL ", "SKIP ")

expected = {}
with open(os.path.join(HERE, "expected.txt"), encoding="utf-8") as f:
    for line in f:
        name, _, error = line.rstrip("\n").partition("\t")
        expected[name] = error
files = sorted(n for n in os.listdir(HERE) if n.endswith(".yaml"))
problems = [f"{n}: no expected line in expected.txt" for n in files if n not in expected]
problems += [f"{n}: in expected.txt but not a file" for n in expected if n not in files]
for name in files:
    if name not in expected:
        continue
    done = subprocess.run([BINARY, "run", name, "--quirks", "none"], cwd=HERE,
                          capture_output=True, text=True, timeout=60)
    out = done.stdout + done.stderr
    first = out.splitlines()[0] if out else ""
    if done.returncode != 2:
        problems.append(f"{name}: exit {done.returncode}, not 2")
    if first != expected[name]:
        problems.append(f"{name}: printed\n    {first}\n  expected\n    {expected[name]}")
    if "nothing was run" not in out or any(l.startswith(VERDICTS) for l in out.splitlines()):
        problems.append(f"{name}: something ran:\n{out}")
print(f"{len(files)} malformed scenario file(s), {len(problems)} problem(s)")
for p in problems:
    print("  " + p)
sys.exit(1 if problems or len(files) < 40 else 0)
