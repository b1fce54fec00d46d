#!/usr/bin/env bash
# Smoke test of compare-engines-suite.sh (ctest, label integration, ~15 s):
# a tiny suite (2,000 records, workloads c and e, 1 thread, 1 round of
# 0.5 s) must exit 0 and write a summary with both engines' load figures,
# open times, a ratio per workload, the point-workload geometric mean and
# e's ratio.
#
#   compare_engines_suite_smoke_test.sh BUILD_DIR
set -euo pipefail
build=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

script=$(dirname "$0")/compare-engines-suite.sh
TMPDIR=$work MERIDIAN_BUILD_DIR=$build "$script" --records 2000 --workloads c,e \
  --threads-list 1 --rounds 1 --duration 0.5 --memory 1MiB --out "$work/out/summary.json" \
  >"$work/stdout" 2>"$work/stderr" || { tail -n 30 "$work/stderr"; fail "the suite exited $?"; }
grep -q "^run 4/4: workload e" <(sed 's/^[^:]*: //' "$work/stderr") ||
  { cat "$work/stderr"; fail "no progress line for the last run"; }
[[ -s $work/out/summary.txt ]] || fail "no text summary"
python3 - "$work/out/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
problems = []
for e in ("rocksdb", "pagestore"):
    l = s["load"][e]
    if l["keys"] != 2000: problems.append(f"{e} loaded {l['keys']} keys")
    if "unsynced" not in l["method"]: problems.append(f"load method: {l['method']}")
    if not s["open_seconds"][e]["after_load"] > 0: problems.append(f"{e}: no open time")
if [(r["workload"], r["threads"]) for r in s["results"]] != [("c", 1), ("e", 1)]:
    problems.append(f"results: {s['results']}")
for r in s["results"]:
    if not r["ratio"] or r["ratio"] <= 0: problems.append(f"no ratio for {r['workload']}")
    for e, x in r["engines"].items():
        if x["errors"]: problems.append(f"{r['workload']} {e}: {x['errors']} errors")
if not s["geomean_point_ratio"]["1"]: problems.append("no geometric mean")
if not s["scan_ratio"]["1"]: problems.append("no scan ratio")
if problems:
    print("\n".join(problems)); sys.exit(1)
PY
echo "compare-engines-suite smoke test OK"
