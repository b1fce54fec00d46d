"""CLI: python3 -m jepsen.checkers --workload append history.jsonl

Prints the checker's JSON result; exits 0 valid, 1 invalid, 2 unknown
(including a history that cannot be read or paired: "error" says why).
"""

import argparse
import json
import sys

from jepsen import checkers
from jepsen.checkers import history


def _parse_opt(s):
    k, _, v = s.partition("=")
    try:
        return k.replace("-", "_"), json.loads(v)
    except json.JSONDecodeError:
        return k.replace("-", "_"), v


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m jepsen.checkers")
    ap.add_argument("--workload", required=True,
                    choices=sorted(checkers.WORKLOADS))
    ap.add_argument("--model", help="elle: psi (default), si, serializable,"
                    " strict-serializable, read-committed, ...")
    ap.add_argument("--opt", action="append", default=[], metavar="KEY=JSON",
                    help="checker option, e.g. --opt total=100 "
                    "--opt linearizable=true")
    ap.add_argument("history", help="JSON Lines history file")
    args = ap.parse_args(argv)
    opts = dict(_parse_opt(s) for s in args.opt)
    if args.model:
        opts["model"] = args.model
    try:
        result = checkers.check_file(args.history, args.workload, **opts)
    except (history.HistoryError, ValueError, OSError) as e:
        print(json.dumps({"valid": "unknown", "error": str(e)}))
        return 2
    print(checkers.dumps(result))
    return checkers.exit_code(result)


if __name__ == "__main__":
    sys.exit(main())
