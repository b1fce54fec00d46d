"""Bank checker: transfers between accounts conserve the total.

Every ok read (f "read", value {"<account>": balance}) must include every
account and nothing else, have no negative balance, and sum to the total.
"""

from jepsen.checkers import history as h


def check(history, accounts=None, total=None, negative_ok=False,
          max_examples=20, **_):
    """Options: accounts (list; default: the accounts of the first ok
    read), total (default: the sum of the first ok read), negative_ok.
    Returns the common result; anomalies "wrong-total", "negative-value",
    "missing-account", "unexpected-account", "malformed-read"."""
    ops = h.pair(history)
    reads = [o for o in ops if o.f == "read" and o.type == "ok"]
    transfers = [o for o in ops if o.f == "transfer"]
    stats = {"reads": len(reads),
             "transfers": {t: sum(1 for o in transfers if o.type == t)
                           for t in ("ok", "fail", "info")}}
    inferred = []
    if accounts is None and reads and isinstance(reads[0].value, dict):
        accounts = sorted(reads[0].value)
        inferred.append("accounts")
    if total is None and reads and isinstance(reads[0].value, dict):
        total = sum(v for v in reads[0].value.values()
                    if isinstance(v, (int, float)))
        inferred.append("total")
    if inferred:
        stats["inferred_from_first_read"] = inferred
    expected = {str(a) for a in (accounts or ())}
    anomalies = {}
    counts = {}
    bad = set()

    def report(kind, o, text, **extra):
        bad.add(o.id)
        counts[kind] = counts.get(kind, 0) + 1
        recs = anomalies.setdefault(kind, [])
        if len(recs) < max_examples:
            recs.append(dict(op=o.describe(), explanation=text, **extra))

    for o in reads:
        bal = o.value
        if not isinstance(bal, dict) or not all(
                isinstance(v, (int, float)) for v in bal.values()):
            report("malformed-read", o, "%s read %r" % (o.name, bal))
            continue
        bal = {str(k): v for k, v in bal.items()}
        missing = sorted(expected - set(bal))
        extra = sorted(set(bal) - expected)
        if missing:
            report("missing-account", o, "%s's read lacks accounts %s"
                   % (o.name, ", ".join(missing)), accounts=missing)
        if extra:
            report("unexpected-account", o, "%s read unknown accounts %s"
                   % (o.name, ", ".join(extra)), accounts=extra)
        neg = {a: v for a, v in bal.items() if v < 0}
        if neg and not negative_ok:
            report("negative-value", o, "%s read negative balances %s"
                   % (o.name, neg), balances=neg)
        s = sum(bal.values())
        if total is not None and s != total:
            report("wrong-total", o, "%s read %s, which sums to %s, not %s"
                   % (o.name, bal, s, total), total=s, expected=total)
    stats["bad_reads"] = len(bad)
    stats["anomaly_counts"] = counts
    stats["accounts"] = sorted(expected)
    stats["total"] = total
    if anomalies:
        valid = False
    elif not reads:
        valid = "unknown"
    else:
        valid = True
    return h.result(valid, anomalies, stats)
