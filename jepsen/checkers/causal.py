"""Causal register checker: per-session guarantees on single keys.

Workload (docs/testing.md "History format"): per key one session reads the initial
value, writes 1, reads, writes 2, reads; f "read"/"write", value [k, v].
A session's writes to a key get ranks 1, 2, ... in its own order; nil is
rank 0. Each ok read, in session order, must return:
  read-your-writes   rank >= that of the session's latest ok write to the
                     key (reading nil after a write fails here);
  monotonic-writes   not an earlier write of the session once a later
                     write completed (the writes landed out of order, or
                     the later one is invisible);
  monotonic-reads    rank >= that of the session's previous read;
  unexpected-value   a value the session never wrote (or whose write had
                     not been invoked yet, or had failed).
Writes-follow-reads needs a second session and is not checked here.
"""

from collections import defaultdict

from jepsen.checkers import history as h


def check(history, max_examples=20, **_):
    ops = h.pair(history, f=("read", "write", "read-init"))
    by_sk = defaultdict(list)
    for o in ops:
        val = o.value if o.type == "ok" else o.inv.get("value")
        if not isinstance(val, (list, tuple)) or len(val) != 2:
            continue
        by_sk[(o.session, _hashable(val[0]))].append(o)
    anomalies = defaultdict(list)
    counts = defaultdict(int)

    def report(kind, o, key, text):
        counts[kind] += 1
        if len(anomalies[kind]) < max_examples:
            anomalies[kind].append({"op": o.describe(), "key": key,
                                    "explanation": text})

    n_reads = 0
    for (sess, key), sops in sorted(by_sk.items(), key=repr):
        sops.sort(key=lambda o: o.inv_index)
        rank = {}         # value -> rank, writes invoked so far
        failed = set()
        last_write = 0    # rank of the latest ok write
        last_read = 0     # rank of the latest ok read
        for o in sops:
            if o.f == "write":
                v = o.inv["value"][1]
                if o.type == "fail":
                    failed.add(v)
                    continue
                rank.setdefault(v, len(rank) + 1)
                if o.type == "ok":
                    last_write = max(last_write, rank[v])
                continue
            if o.type != "ok":
                continue
            n_reads += 1
            v = o.value[1]
            if v is None:
                r = 0
            elif v in rank:
                r = rank[v]
            else:
                why = ("whose write failed" if v in failed else
                       "which the session had not (yet) written")
                report("unexpected-value", o, key,
                       "%s read key %s = %s, %s" % (o.name, key, v, why))
                continue
            if r < last_write:
                kind = "read-your-writes" if r == 0 else "monotonic-writes"
                report(kind, o, key,
                       "%s (session %s) read key %s = %s after its write of "
                       "rank %d completed" % (o.name, sess, key,
                                              h.fmt_value(v), last_write))
            if r < last_read:
                report("monotonic-reads", o, key,
                       "%s (session %s) read key %s = %s after an earlier "
                       "read of a newer value (rank %d)"
                       % (o.name, sess, key, h.fmt_value(v), last_read))
            last_read = max(last_read, r)
    stats = {"ops": len(ops), "reads": n_reads, "sessions_keys": len(by_sk),
             "anomaly_counts": dict(counts)}
    anomalies = dict(anomalies)
    if anomalies:
        valid = False
    elif n_reads == 0:
        valid = "unknown"
    else:
        valid = True
    return h.result(valid, anomalies, stats)


def _hashable(k):
    return tuple(k) if isinstance(k, list) else k
