#!/usr/bin/python3
"""Prints a run's cells as a Markdown table (for docs/testing.md).

  jepsen/summarize.py jepsen/runs/<time>      # reads summary.json, or each cell's results.json
"""

import glob
import json
import os
import sys


def load(run_dir):
    summary = os.path.join(run_dir, "summary.json")
    if os.path.exists(summary):
        with open(summary) as f:
            return json.load(f)
    cells = []
    for path in sorted(glob.glob(os.path.join(run_dir, "*", "results.json"))):
        with open(path) as f:
            cells.append(json.load(f))
    return cells


def row(r):
    c = r.get("counts") or {}
    checker = r.get("checker") or {}
    found = ", ".join(checker.get("anomaly_types") or []) or "—"
    verdict = "pass" if r.get("pass") else "**FAIL**: " + "; ".join(r.get("reasons") or [])
    return (f"| {r['cell']} | {c.get('ok', '')} | {c.get('fail', '')} | {c.get('info', '')} | "
            f"{r.get('nemesis_cycles', '')} | {checker.get('valid', '')} | {found} | "
            f"{r.get('worst_recovery_s', '')} | {verdict} |")


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    cells = load(argv[0])
    if not cells:
        print(f"no results under {argv[0]}", file=sys.stderr)
        return 1
    print("| cell | ok | fail | info | fault cycles | checker | anomalies found (allowed) | worst recovery s | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in cells:
        print(row(r))
    passed = sum(1 for r in cells if r.get("pass"))
    print(f"\n{passed} of {len(cells)} cells passed.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
