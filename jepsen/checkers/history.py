"""Loading and pairing of JSON Lines histories (docs/testing.md "History format").

An op is a dict with "index", "time", "type" (invoke|ok|fail|info),
"process" (int, or "nemesis"), "f", "value" and optional "node", "site",
"session" and "error". A process is single-threaded, so its completion is
the next op of that process. An invoke left without a completion at the
end of the history counts as "info" (it may or may not have happened).
"""

import json

NEMESIS = "nemesis"
DEFAULT_SITE = "default"
INF = float("inf")


class HistoryError(ValueError):
    """The history is malformed (not a checker verdict)."""


class Op:
    """One client operation: an invoke and its completion, paired.

    type is the completion's type ("ok", "fail", "info"); for an invoke
    that never completed it is "info" and comp is None. value is the
    completion's value when ok (reads filled in), else the invoke's.
    """

    __slots__ = ("id", "type", "f", "process", "session", "site", "node",
                 "inv", "comp", "value", "inv_index", "comp_index",
                 "inv_time", "comp_time", "error")

    def __init__(self, inv, comp):
        self.id = -1
        self.inv = inv
        self.comp = comp
        self.type = comp["type"] if comp is not None else "info"
        self.f = inv.get("f")
        self.process = inv.get("process")
        src = comp if comp is not None else {}
        self.session = src.get("session", inv.get("session", self.process))
        self.site = src.get("site") or inv.get("site") or DEFAULT_SITE
        self.node = src.get("node") or inv.get("node")
        self.value = comp.get("value") if self.type == "ok" else inv.get("value")
        self.inv_index = inv["index"]
        self.comp_index = comp["index"] if comp is not None else INF
        self.inv_time = inv.get("time", 0)
        self.comp_time = comp.get("time", INF) if comp is not None else INF
        self.error = src.get("error")

    @property
    def name(self):
        """Short name used in explanations: T<index of the completion>."""
        i = self.comp_index if self.comp is not None else self.inv_index
        return "T%d" % i

    def describe(self):
        return {"name": self.name, "type": self.type, "f": self.f,
                "process": self.process, "session": self.session,
                "site": self.site, "node": self.node,
                "invoke_index": self.inv_index,
                "complete_index": (None if self.comp is None
                                   else self.comp_index),
                "value": self.value}

    def __repr__(self):
        return "Op(%s %s %s %r)" % (self.name, self.type, self.f, self.value)


def load_jsonl(path):
    """Reads a JSON Lines history; blank lines are skipped."""
    ops = []
    with open(path, "r", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                ops.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise HistoryError("%s:%d: %s" % (path, lineno, e)) from e
    return ops


def is_nemesis(op):
    return op.get("process") == NEMESIS


def client_ops(history):
    return [op for op in history if not is_nemesis(op)]


def nemesis_ops(history):
    return [op for op in history if is_nemesis(op)]


def sorted_history(history):
    """The history ordered by index (ops without one keep their position)."""
    if all("index" in op for op in history):
        return sorted(history, key=lambda op: op["index"])
    out = []
    for i, op in enumerate(history):
        op = dict(op)
        op.setdefault("index", i)
        out.append(op)
    return sorted(out, key=lambda op: op["index"])


def pair(history, f=None):
    """Pairs client invokes with their completions.

    Returns Op objects in invoke order, ids 0..n-1. f, if given, keeps only
    ops whose "f" is f (a str) or in f (a collection).
    Raises HistoryError on a completion without an invoke or on a second
    invoke by a process that has one outstanding.
    """
    pending = {}
    ops = []
    for op in sorted_history(history):
        if is_nemesis(op):
            continue
        p = op.get("process")
        t = op.get("type")
        if t == "invoke":
            if p in pending:
                raise HistoryError("process %r invoked at index %r while op "
                                   "at index %r is outstanding"
                                   % (p, op["index"], pending[p].inv_index))
            o = Op(op, None)
            pending[p] = o
            ops.append(o)
        elif t in ("ok", "fail", "info"):
            o = pending.pop(p, None)
            if o is None:
                raise HistoryError("completion at index %r of process %r has "
                                   "no invoke" % (op["index"], p))
            o.__init__(o.inv, op)
        else:
            raise HistoryError("op at index %r has type %r"
                               % (op.get("index"), t))
    if f is not None:
        fs = {f} if isinstance(f, str) else set(f)
        ops = [o for o in ops if o.f in fs]
    for i, o in enumerate(ops):
        o.id = i
    return ops


def fmt_value(v):
    """Renders a read value compactly: [1 5 7], nil."""
    if v is None:
        return "nil"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(fmt_value(x) for x in v) + "]"
    return json.dumps(v) if isinstance(v, str) else str(v)


def fmt_read(vs, tail=6):
    """A list read, eliding all but the last `tail` elements of long ones:
    [... 7 8 9] (40 elements)."""
    if vs is None or len(vs) <= tail + 2:
        return fmt_value(vs)
    return "[... %s] (%d elements)" % (" ".join(fmt_value(x)
                                              for x in vs[-tail:]), len(vs))


def result(valid, anomalies, stats, **extra):
    """The common result shape of every checker."""
    out = {"valid": valid,
           "anomaly_types": sorted(anomalies),
           "anomalies": anomalies,
           "stats": stats}
    out.update(extra)
    return out
