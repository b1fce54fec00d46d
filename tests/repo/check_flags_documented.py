#!/usr/bin/env python3
"""Every meridiand option is in docs/operations.md's configuration table.

Usage: check_flags_documented.py MERIDIAND

Runs `MERIDIAND --help`, takes each `--flag` it lists, and fails naming the
ones that have no row (a cell starting with `--flag`) in the table under
"## Configuration" of docs/operations.md, and the rows naming a flag the
binary no longer has.
"""
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SKIP = {"--help", "--version"}


def binary_flags(meridiand):
    text = subprocess.run([meridiand, "--help"], capture_output=True, text=True, check=True).stdout
    return {m.group(1) for m in re.finditer(r"^\s+(?:-\w,)?(--[a-z0-9-]+)", text, re.M)} - SKIP


def documented_flags():
    doc = (ROOT / "docs" / "operations.md").read_text()
    section = doc.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    flags = set()
    for line in section.splitlines():
        if line.startswith("|"):
            first_cell = line.split("|")[1]
            flags.update(re.findall(r"`(--[a-z0-9-]+)", first_cell))
    return flags


def main():
    have = binary_flags(sys.argv[1])
    documented = documented_flags()
    missing = sorted(have - documented)
    stale = sorted(documented - have)
    for flag in missing:
        print(f"docs/operations.md: no configuration row for {flag} (meridiand --help lists it)")
    for flag in stale:
        print(f"docs/operations.md: row for {flag}, which meridiand --help does not list")
    if missing or stale:
        return 1
    print(f"{len(have)} meridiand options, each documented")
    return 0


if __name__ == "__main__":
    sys.exit(main())
