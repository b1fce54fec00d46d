"""Set checker with per-element timelines (after Jepsen's set-full).

Ops: f "add", value an int; f "read", value a list of ints when ok.
For every element:
  lost        acknowledged (or once read) but missing from a read invoked
              after a read that contained it completed, or an acknowledged
              add missing from the final read when that read began after
              the add completed;
  stale       an acknowledged add missing from some read invoked after the
              add completed, but not lost (it showed up later);
  recovered   the add's outcome was unknown (info) yet it was read;
  unexpected  read but never added, or added by an op that failed;
  never-read  acknowledged, but no read began after it completed.
Valid iff nothing is lost or unexpected (and, with linearizable=True,
nothing is stale).
"""

from jepsen.checkers import history as h


def check(history, linearizable=False, max_examples=20, **_):
    ops = h.pair(history, f=("add", "read"))
    adds = [o for o in ops if o.f == "add"]
    reads = sorted((o for o in ops if o.f == "read" and o.type == "ok"),
                   key=lambda o: o.inv_index)
    read_sets = [set(o.value or ()) for o in reads]
    added = {}
    for o in adds:
        e = o.inv.get("value")
        # An element added twice: the most hopeful outcome wins.
        if e not in added or _rank(o.type) > _rank(added[e].type):
            added[e] = o
    final = len(reads) - 1
    out = {k: [] for k in ("lost", "stale", "recovered", "unexpected",
                           "never-read")}
    stale_lat = []
    first_seen = {}  # element -> index into reads of first read containing it
    for i, s in enumerate(read_sets):
        for e in s:
            if e not in first_seen:
                first_seen[e] = i
    for e in sorted(set(first_seen) - set(added), key=repr):
        r = reads[first_seen[e]]
        out["unexpected"].append({"element": e, "read": r.name,
                                  "explanation": "%s read %s, which was "
                                  "never added" % (r.name, e)})
    for e, a in sorted(added.items(), key=lambda kv: repr(kv[0])):
        if a.type == "fail":
            if e in first_seen:
                r = reads[first_seen[e]]
                out["unexpected"].append({
                    "element": e, "read": r.name, "add": a.name,
                    "explanation": "%s read %s, whose add %s failed"
                                   % (r.name, e, a.name)})
            continue
        seen_comp = None
        if e in first_seen:
            # Earliest completion among reads containing e.
            seen_comp = min(reads[i].comp_index
                            for i in range(first_seen[e], len(reads))
                            if e in read_sets[i])
        lost_by = None
        if seen_comp is not None:
            for i in range(first_seen[e], len(reads)):
                if reads[i].inv_index > seen_comp and e not in read_sets[i]:
                    lost_by = (i, "missing from %s after %s had been read"
                               % (reads[i].name, e))
                    break
        acked = a.type == "ok"
        if acked and lost_by is None and final >= 0 \
                and reads[final].inv_index > a.comp_index \
                and e not in read_sets[final]:
            lost_by = (final, "missing from the final read %s"
                       % reads[final].name)
        if lost_by is not None:
            out["lost"].append({"element": e, "add": a.name,
                                "add_type": a.type,
                                "read": reads[lost_by[0]].name,
                                "explanation": "%s (added by %s, %s) is lost:"
                                " %s" % (e, a.name, a.type, lost_by[1])})
            continue
        if not acked:
            if e in first_seen:
                out["recovered"].append({"element": e, "add": a.name})
            continue
        later = [i for i in range(len(reads))
                 if reads[i].inv_index > a.comp_index]
        if not later:
            out["never-read"].append({"element": e, "add": a.name})
            continue
        missing = [i for i in later if e not in read_sets[i]]
        if missing:
            stable = next(i for i in later if i > missing[-1])
            lag = reads[stable].inv_time - a.comp_time
            stale_lat.append(lag)
            out["stale"].append({
                "element": e, "add": a.name,
                "missing_from": [reads[i].name for i in missing[:5]],
                "stale_ns": lag,
                "explanation": "%s (added by %s, completed at index %d) is "
                               "missing from %d read(s) invoked later, first "
                               "%s; it is present from %s on"
                               % (e, a.name, a.comp_index, len(missing),
                                  reads[missing[0]].name,
                                  reads[stable].name)})
    counts = {k: len(v) for k, v in out.items()}
    stats = {"adds": len(adds),
             "acknowledged": sum(1 for o in adds if o.type == "ok"),
             "add_fail": sum(1 for o in adds if o.type == "fail"),
             "add_info": sum(1 for o in adds if o.type == "info"),
             "reads": len(reads), "counts": counts,
             "worst_stale_ns": max(stale_lat, default=0)}
    bad = ["lost", "unexpected"] + (["stale"] if linearizable else [])
    anomalies = {k: v[:max_examples] for k, v in out.items()
                 if v and k in ("lost", "stale", "unexpected")}
    if any(out[k] for k in bad):
        valid = False
    elif not reads:
        valid = "unknown"
    else:
        valid = True
    return h.result(valid, anomalies, stats,
                    recovered=out["recovered"][:max_examples],
                    never_read=out["never-read"][:max_examples])


def _rank(t):
    return {"fail": 0, "info": 1, "ok": 2}[t]
