#!/usr/bin/env bash
# Rewrites the catalogue table in README.md (between its catalogue markers) from
# `fcgi-harness certify --list --markdown`; tests/readme_catalogue_test.py checks they agree.
set -euo pipefail
cd "$(dirname "$0")/.."
build/fcgi-harness certify --list --markdown > build/catalogue.md
python3 - <<'PY'
begin, end = "<!-- catalogue:begin -->\n", "<!-- catalogue:end -->"
text = open("README.md").read()
head, rest = text.split(begin, 1)
tail = rest.split(end, 1)[1]
open("README.md", "w").write(head + begin + open("build/catalogue.md").read() + end + tail)
PY
