"""White-box check of list-append histories against the server's own
timestamps (the `snapshot_hlc` and `commit_hlc` the harness records).

A version committed at HLC t is visible to a snapshot s iff t <= s (one
site). So, for every ok transaction T with snapshot s:
  - every element T read was appended by a transaction that committed at
    or before s ("read-from-the-future" otherwise);
  - every acknowledged append to a key T read that committed at or before
    s is in what T read ("missed-visible" otherwise: T's snapshot covered a
    write it did not see; this also names an acknowledged append that no
    read shows, a lost update, once a later snapshot reads its key);
and, per session, each transaction's snapshot is at or after the commit of
the session's previous writing transaction ("session-behind-own-write":
read-your-writes at the timestamp level).

A black-box cycle search finds these too, eventually; this names the
transaction and the timestamps at once.
"""

from jepsen.checkers import history as h

MAX_EXAMPLES = 20


def check(history, **_):
    ops = [o for o in h.pair(history) if o.f == "txn"]
    commit = {}     # (k, v) -> commit hlc of its ok appender
    appender = {}   # (k, v) -> that appender
    by_key = {}     # k -> [(commit hlc, v)] of its ok appends
    for o in ops:
        if o.type != "ok":
            continue
        hlc = (o.comp or {}).get("commit_hlc")
        for f, k, v in o.value:
            if f == "append" and hlc:
                commit[(k, v)] = hlc
                appender[(k, v)] = o
                by_key.setdefault(k, []).append((hlc, v))
    anomalies = {}

    def report(kind, text):
        anomalies.setdefault(kind, [])
        if len(anomalies[kind]) < MAX_EXAMPLES:
            anomalies[kind].append({"explanation": text})

    checked = 0
    last_write = {}  # session -> (name, commit hlc)
    for o in sorted((o for o in ops if o.type == "ok"), key=lambda o: o.comp_index):
        snap = (o.comp or {}).get("snapshot_hlc")
        if not snap:
            continue
        checked += 1
        own = {(k, v) for f, k, v in o.value if f == "append"}
        for f, k, v in o.value:
            if f != "r" or not isinstance(v, list):
                continue
            for e in v:
                t = commit.get((k, e))
                if t is not None and (k, e) not in own and t > snap:
                    report("read-from-the-future",
                           f"{o.name} (snapshot {snap}) read {e} of key {k}, committed at {t}")
            seen = set(v)
            for t, e in by_key.get(k, []):
                if t <= snap and e not in seen and (k, e) not in own:
                    w = appender[(k, e)]
                    report("missed-visible",
                           f"{o.name} (snapshot {snap}, node {o.node}) read key {k} without {e}, "
                           f"appended by {w.name} (node {w.node}) committed at {t} <= its snapshot")
        prev = last_write.get(o.session)
        if prev is not None and snap < prev[1]:
            report("session-behind-own-write",
                   f"{o.name} (session {o.session}) has snapshot {snap}, before its session's "
                   f"earlier write {prev[0]} committed at {prev[1]}")
        hlc = (o.comp or {}).get("commit_hlc")
        if hlc:
            last_write[o.session] = (o.name, hlc)
    return {"valid": not anomalies, "anomaly_types": sorted(anomalies), "anomalies": anomalies,
            "stats": {"txns_checked": checked, "commits_known": len(commit)}}
