"""Linearizability of independent single-key registers (read/write/cas).

Wing & Gong's search with Lowe's memoization, one key at a time (a history
is linearizable iff each key's sub-history is). Events are ordered by
history index. The search walks a linked list of call/return entries,
tentatively linearizing calls whose effect the register model accepts, and
backtracks when it meets the return of an op it has not linearized. The
cache of (set of linearized ops, register state) prunes revisits.

Ops: f "read" value [k, v]; "write" [k, v]; "cas" [k, [old, new]].
- ok: happened within its invoke/complete interval.
- fail: did not happen (dropped).
- info or never completed: a write/cas may take effect at any point after
  its invoke, or never; a read is dropped (it constrains nothing).
"""

import time
from collections import defaultdict

from jepsen.checkers import history as h

_UNSET = object()


class _Entry:
    __slots__ = ("op", "is_call", "match", "prev", "next")

    def __init__(self, op, is_call):
        self.op = op
        self.is_call = is_call
        self.match = None
        self.prev = None
        self.next = None


class _KeyOp:
    __slots__ = ("id", "f", "arg", "out", "crashed", "src")

    def __init__(self, i, f, arg, out, crashed, src):
        self.id = i
        self.f = f
        self.arg = arg
        self.out = out
        self.crashed = crashed
        self.src = src


def _step(state, op):
    """Register model: (accepted?, new state)."""
    if op.f == "write":
        return True, op.arg
    if op.f == "read":
        return op.out == state, state
    # cas. A crashed one that did not match simply never took effect, which
    # needs no placing.
    old, new = op.arg
    return state == old, new


def _describe(op):
    o = op.src
    d = {"name": o.name, "process": o.process, "f": o.f, "type": o.type,
         "invoke_index": o.inv_index,
         "complete_index": None if o.comp is None else o.comp_index,
         "value": o.value}
    return d


def check_key(kops, initial=None, deadline=None, max_ops=None):
    """Checks one key's ops. Returns (verdict, detail): verdict True, False
    or "unknown"; detail on False holds the longest linearizable prefix
    found and the op that could not be placed after it."""
    if max_ops is not None and len(kops) > max_ops:
        return "unknown", {"reason": "more than %d ops" % max_ops}
    events = []
    for op in kops:
        events.append((op.src.inv_index, 0, op))
        if not op.crashed:
            events.append((op.src.comp_index, 1, op))
    events.sort(key=lambda e: (e[0], e[1]))
    head = _Entry(None, False)
    calls = {}
    prev = head
    for _, is_ret, op in events:
        e = _Entry(op, not is_ret)
        if is_ret:
            e.match = calls[op.id]
            calls[op.id].match = e
        else:
            calls[op.id] = e
        prev.next = e
        e.prev = prev
        prev = e

    def lift(e):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev
        r = e.match
        if r is not None:
            r.prev.next = r.next
            if r.next is not None:
                r.next.prev = r.prev

    def unlift(e):
        r = e.match
        if r is not None:
            r.prev.next = r
            if r.next is not None:
                r.next.prev = r
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e

    def backtrack(linearized, remaining):
        """Undoes the newest linearized call; resumes at the entry after it."""
        e0, state = stack.pop()
        unlift(e0)
        return (e0.next, state, linearized & ~(1 << e0.op.id),
                remaining + (0 if e0.op.crashed else 1))

    remaining = sum(1 for op in kops if not op.crashed)
    state = initial
    linearized = 0
    cache = set()
    stack = []
    best = ([], None)
    e = head.next
    steps = 0
    while True:
        if remaining == 0:
            return True, {}
        steps += 1
        if deadline is not None and steps & 1023 == 0 \
                and time.monotonic() > deadline:
            return "unknown", {"reason": "time budget exhausted",
                               "longest_prefix": [_describe(o)
                                                  for o in best[0]]}
        if e is None:
            # Only crashed calls are left ahead, none placeable; the
            # remaining returns lie behind us: backtrack.
            if not stack:
                break
            e, state, linearized, remaining = backtrack(linearized, remaining)
            continue
        if e.is_call:
            ok, s2 = _step(state, e.op)
            if ok:
                lin2 = linearized | (1 << e.op.id)
                key = (lin2, s2)
                if key not in cache:
                    cache.add(key)
                    stack.append((e, state))
                    state = s2
                    linearized = lin2
                    lift(e)
                    remaining -= 0 if e.op.crashed else 1
                    e = head.next
                    continue
            e = e.next
        else:
            if best[1] is None or len(stack) > len(best[0]):
                best = ([s[0].op for s in stack], e.op)
            if not stack:
                break
            e, state, linearized, remaining = backtrack(linearized, remaining)
    prefix, stuck = best
    # The tail of the prefix is what the stuck op conflicts with.
    return False, {"longest_prefix": [_describe(o) for o in prefix[-50:]],
                   "longest_prefix_length": len(prefix),
                   "stuck_op": _describe(stuck) if stuck else None}


def _explain(key, detail, initial):
    prefix = detail["longest_prefix"]
    stuck = detail.get("stuck_op")
    n = detail.get("longest_prefix_length", len(prefix))
    steps = ", ".join("%s %s %s" % (p["name"], p["f"],
                                    h.fmt_value(p["value"][1]))
                      for p in prefix[-8:]) or "nothing"
    if n > 8:
        steps = "... %d ops ..., %s" % (n - 8, steps)
    if stuck is None:
        return "key %s: no linearization exists" % key
    return ("key %s: the longest linearizable prefix is [%s] (from initial "
            "value %s); %s %s %s (invoked at index %d) cannot be placed "
            "after it, and no other order places more ops"
            % (key, steps, h.fmt_value(initial), stuck["name"], stuck["f"],
               h.fmt_value(stuck["value"][1]), stuck["invoke_index"]))


def check(history, initial=None, time_limit_per_key=10.0,
          max_ops_per_key=None, **_):
    """Checks per-key linearizability of a register history.

    Options: initial (every key's initial value, default None);
    time_limit_per_key (seconds, default 10; exhausted => "unknown");
    max_ops_per_key (default unlimited; more => "unknown").
    Returns the common result plus "keys": {key: verdict}.
    """
    ops = h.pair(history, f=("read", "write", "cas"))
    by_key = defaultdict(list)
    stats = {"ops": len(ops), "ok": 0, "fail": 0, "info": 0,
             "dropped_reads": 0, "keys": 0}
    for o in ops:
        stats[o.type] += 1
        if o.type == "fail":
            continue
        crashed = o.type != "ok"
        if crashed and o.f == "read":
            stats["dropped_reads"] += 1
            continue
        val = o.value if not crashed else o.inv.get("value")
        k = val[0]
        if o.f == "read":
            arg, out = None, val[1]
        else:
            arg, out = val[1], None
            if o.f == "cas":
                arg = tuple(arg)
        kops = by_key[_hashable(k)]
        kops.append(_KeyOp(len(kops), o.f, arg, out, crashed, o))
    anomalies = {}
    verdicts = {}
    unknown = {}
    for k in sorted(by_key, key=repr):
        deadline = time.monotonic() + time_limit_per_key
        v, detail = check_key(by_key[k], initial, deadline, max_ops_per_key)
        verdicts[str(k)] = v
        if v is False:
            detail = dict(detail, key=k,
                          explanation=_explain(k, detail, initial))
            anomalies.setdefault("nonlinearizable", []).append(detail)
        elif v == "unknown":
            unknown[str(k)] = detail.get("reason")
    stats["keys"] = len(by_key)
    if anomalies:
        valid = False
    elif unknown:
        valid = "unknown"
    else:
        valid = True
    return h.result(valid, anomalies, stats, keys=verdicts, unknown=unknown)


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k
