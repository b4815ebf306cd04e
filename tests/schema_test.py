#!/usr/bin/python3
"""Every scenario file of the repository validates against `fcgi-harness schema`, and the
schema rejects what the loader rejects where an editor can know it (a misspelt key, a verb
that does not exist, a fake's key on a real program).

Run by ctest (tests/CMakeLists.txt) with Debian's python3-jsonschema and python3-yaml
(ci/install-deps.sh): schema_test.py FCGI_HARNESS SOURCE_DIR."""
import glob
import json
import os
import subprocess
import sys

import jsonschema
import yaml

cli, source = sys.argv[1], sys.argv[2]
schema = json.loads(subprocess.run([cli, "schema"], check=True, capture_output=True, text=True).stdout)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)

files = sorted(glob.glob(os.path.join(source, "scenarios", "**", "*.yaml"), recursive=True))
assert len(files) > 50, f"only {len(files)} scenario files found under {source}/scenarios"
failures = []
for path in files:
    with open(path) as f:
        document = yaml.safe_load(f)
    for error in validator.iter_errors(document):
        where = "/".join(str(p) for p in error.absolute_path)
        failures.append(f"{os.path.relpath(path, source)}: {where}: {error.message[:300]}")
    # Each variant's `set` is a part of a scenario: merged, it must validate too.
    for name, variant in (document.get("variants") or {}).items():
        merged = json.loads(json.dumps(document))
        merged.pop("variants")

        def merge(into, over):
            for key, value in over.items():
                if isinstance(value, dict) and isinstance(into.get(key), dict):
                    merge(into[key], value)
                else:
                    into[key] = value

        merge(merged, (variant or {}).get("set", {}))
        for error in validator.iter_errors(merged):
            where = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{os.path.relpath(path, source)}[{name}]: {where}: {error.message[:300]}")

rejected = {
    "a misspelt key": "title: t\ndescription: d\ntopology: {backend: {recrd_size: 10}}\nrequests: [{}]\n",
    "a verb that does not exist": "title: t\ndescription: d\ntopology: {backend: {faults: [{at: accepted, do: explode}]}}\nrequests: [{}]\n",
    "a fake's key on a real program": "title: t\ndescription: d\ntopology: {gateway: {kind: nginx, backend_timeout_ms: 5}}\nrequests: [{}]\n",
    "an undeclared event": "title: t\ndescription: d\nrequests: [{}]\nchecks: [{that: wire.tcp_rts}]\n",
    "no requests": "title: t\ndescription: d\n",
}
for what, text in rejected.items():
    if validator.is_valid(yaml.safe_load(text)):
        failures.append(f"the schema accepts {what}")

for line in failures:
    print(line)
print(f"{len(files)} scenario files checked against the schema, {len(failures)} problem(s)")
sys.exit(1 if failures else 0)
