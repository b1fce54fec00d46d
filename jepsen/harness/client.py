"""Maps the Python SDK's outcomes onto Jepsen's ok / fail / info.

  ok    the operation happened;
  fail  it definitely did not (a read that errored, a write the server
        refused before applying it: CONFLICT, NOT_LEADER, INVALID_ARGUMENT,
        TXN_NOT_FOUND, the server's UNAVAILABLE, admission's
        RESOURCE_EXHAUSTED — see the SDK's MeridianError.definitely_not_applied);
  info  unknown (COMMIT_UNKNOWN, a deadline, a broken connection while a
        write was in flight).

An interactive transaction that failed before Commit was never committed,
so it is a fail whatever the error; only Commit itself can be unknown.
"""

from meridian_client import Client, MeridianError  # noqa: F401  (re-exported)


class TxnAborted(Exception):
    """The workload gave up on a transaction before Commit (e.g. too little money)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def describe(err):
    kind = getattr(err, "kind", None)
    code = getattr(err, "code", None)
    name = kind or (code.name if code is not None and hasattr(code, "name") else type(err).__name__)
    return f"{name}: {getattr(err, 'message', str(err))}"[:300]


def node_of(err_or_result):
    return getattr(err_or_result, "node", None)


def stamps(result=None, txn=None, commit=None):
    """The server's timestamps for the history (white-box, for debugging a
    cycle): the snapshot read at and the commit HLC, where there are any."""
    out = {}
    header = getattr(result, "header", None)
    snap = getattr(txn, "snapshot_hlc", 0) or (header.snapshot_hlc if header is not None else 0)
    if snap:
        out["snapshot_hlc"] = snap
    hlc = getattr(commit, "commit_hlc", 0) or (header.commit_hlc if header is not None else 0)
    if hlc:
        out["commit_hlc"] = hlc
    return out


def read_outcome(fn):
    """Runs a read-only call: any error means it had no effect."""
    try:
        result = fn()
        return "ok", result, None, node_of(result), stamps(result)
    except MeridianError as e:
        return "fail", None, describe(e), node_of(e)


def write_outcome(fn):
    """Runs one write: an error is a fail only if the server proves nothing applied."""
    try:
        result = fn()
        return "ok", result, None, node_of(result), stamps(result)
    except MeridianError as e:
        return ("fail" if e.definitely_not_applied else "info"), None, describe(e), node_of(e)


def run_txn(client, body, timeout_ms=5000):
    """Begin, body(txn) -> value, Commit. Returns (type, value, error, node[, stamps])."""
    try:
        txn = client.begin(timeout_ms=timeout_ms)
    except MeridianError as e:
        return "fail", None, describe(e), node_of(e)
    node = getattr(txn, "node", None)
    try:
        value = body(txn)
    except TxnAborted as e:
        _abort(txn)
        return "fail", None, f"aborted: {e.reason}", node
    except MeridianError as e:
        _abort(txn)
        return "fail", None, describe(e), node
    try:
        committed = txn.commit()
    except MeridianError as e:
        return ("fail" if e.definitely_not_applied else "info"), None, describe(e), node
    return "ok", value, None, node, stamps(txn=txn, commit=committed)


def _abort(txn):
    try:
        txn.abort()
    except Exception:
        pass  # best effort: an open transaction expires at its deadline
