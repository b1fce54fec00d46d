"""Checkers for Meridian's Jepsen-style histories (pure standard library).

Each module exposes check(history, **options) -> dict with "valid" (True,
False or "unknown"), "anomaly_types", "anomalies" and "stats".
"""

import json

from jepsen.checkers import history

# workload name -> (module name, options fixed by the workload)
WORKLOADS = {
    "append": ("elle", {"workload": "append"}),
    "list-append": ("elle", {"workload": "append"}),
    "rw-register": ("elle", {"workload": "rw-register"}),
    "wr": ("elle", {"workload": "rw-register"}),
    "register": ("linear", {}),
    "linear": ("linear", {}),
    "bank": ("bank", {}),
    "set": ("set_full", {}),
    "set-full": ("set_full", {}),
    "causal": ("causal", {}),
}


def check(history_ops, workload, **opts):
    """Runs the checker for `workload` (a key of WORKLOADS) on a list of ops."""
    import importlib
    if workload not in WORKLOADS:
        raise ValueError("unknown workload %r (known: %s)"
                         % (workload, ", ".join(sorted(WORKLOADS))))
    mod_name, fixed = WORKLOADS[workload]
    mod = importlib.import_module("jepsen.checkers." + mod_name)
    return mod.check(history_ops, **dict(opts, **fixed))


def check_file(path, workload, **opts):
    """Loads a JSON Lines history and checks it (see check)."""
    return check(history.load_jsonl(path), workload, **opts)


def exit_code(result):
    """0 valid, 1 invalid, 2 unknown."""
    v = result.get("valid")
    return 0 if v is True else 1 if v is False else 2


def dumps(result):
    return json.dumps(result, indent=2, sort_keys=True, default=str)
