#!/usr/bin/python3
"""The README's catalogue table is exactly what `certify --list --markdown` prints, so the
README cannot list a check that does not exist or miss one that does.
Usage: readme_catalogue_test.py FCGI_HARNESS_BINARY README.md
(To refresh the README: ci/update-readme-catalogue.sh.)"""
import subprocess
import sys

BEGIN, END = "<!-- catalogue:begin -->\n", "<!-- catalogue:end -->"
binary, readme = sys.argv[1], sys.argv[2]
text = open(readme).read()
if BEGIN not in text or END not in text:
    sys.exit(f"{readme}: the markers {BEGIN.strip()} and {END} are missing")
table = text.split(BEGIN, 1)[1].split(END, 1)[0]
listed = subprocess.run([binary, "certify", "--list", "--markdown"], check=True,
                        capture_output=True, text=True).stdout
if table.strip() != listed.strip():
    have, want = set(table.strip().splitlines()), set(listed.strip().splitlines())
    for line in sorted(want - have):
        print("missing from the README:", line[:120])
    for line in sorted(have - want):
        print("in the README, not in the catalogue:", line[:120])
    sys.exit("README.md's catalogue table differs from `certify --list --markdown`: run "
             "ci/update-readme-catalogue.sh")
print(f"README catalogue table: {len(listed.strip().splitlines()) - 2} checks, equal")
