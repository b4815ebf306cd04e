#!/usr/bin/env bash
# Regenerates reports/samples/: certifies every real gateway and backend ci/install-peers.sh
# installs (ci/certify-all.sh, about 21 minutes on 2 cores), then keeps the results, the
# evidence of the failing cells and the HTML report built from them. To stay small, a file
# over 1 MiB (the timelines of a few load checks) and the per-folder timeline.html pages (the
# report draws the same) are left out. Usage: reports/samples/regenerate.sh [WORK_DIR]
# With WORK_DIR holding a finished ci/certify-all.sh run, only the copy and the report are redone:
#   FH_SAMPLE_REUSE=1 reports/samples/regenerate.sh build/sample
set -euo pipefail
cd "$(dirname "$0")/../.."
work=${1:-build/sample}
dest=reports/samples
if [ "${FH_SAMPLE_REUSE:-0}" != 1 ]; then
  ci/certify-all.sh "$work" || true  # a FAIL is a finding, not a failure of this script
fi
rm -rf "$dest/results" "$dest/evidence"
mkdir -p "$dest/results" "$dest/evidence"
/usr/bin/python3 - "$work" "$dest" <<'PY'
import json, os, shutil, sys
work, dest = sys.argv[1], sys.argv[2]
limit = 1024 * 1024
for name in sorted(os.listdir(work)):
    if not name.endswith(".json"):
        continue
    results = json.load(open(os.path.join(work, name)))
    for row in results["scenarios"]:
        evidence = row.get("evidence")
        if not evidence or not os.path.isdir(evidence):
            row.pop("evidence", None)
            continue
        # build/sample/evidence/<impl>/<check>/ -> ../evidence/<impl>/<check>/ beside the results
        rel = os.path.relpath(evidence, os.path.join(work, "evidence"))
        for folder, _, files in os.walk(evidence):
            for f in files:
                src = os.path.join(folder, f)
                if os.path.getsize(src) > limit or f == "timeline.html":
                    continue
                to = os.path.join(dest, "evidence", rel, os.path.relpath(src, evidence))
                os.makedirs(os.path.dirname(to), exist_ok=True)
                shutil.copy2(src, to)
        row["evidence"] = os.path.join("..", "evidence", rel)
    with open(os.path.join(dest, "results", name), "w") as out:
        json.dump(results, out, indent=1)
        out.write("\n")
PY
build/fcgi-harness report "$dest"/results/*.json -o "$dest/report.html" \
  --title "fcgi-harness: every real FastCGI gateway and backend of Debian 12, certified"
# The README's two pictures are screenshots of this page (headless Chromium, 1600x1100): the
# matrix as it opens, and #cell=15:gateway/rfc9112-6.3/backend-fails-after-head[tcp].
du -sh "$dest"
