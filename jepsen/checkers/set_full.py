"""Set checker with per-element timelines (after Jepsen's set-full).

Ops: f "add", value an int; f "read", value a list of ints when ok.
For every element:
  lost        acknowledged, or of unknown outcome but read at least once,
              and missing from the final read (the last ok read by invoke
              order), which began after the add completed (after a read
              that saw it completed); i.e. once known, it went away and
              never came back;
  stale       an acknowledged add missing from some read invoked after the
              add completed, but not lost (it showed up later). Under PSI
              this is replication lag across sites; with
              linearizable=True (reads at the owning site) it fails;
  recovered   the add's outcome was unknown (info) yet it was read;
  unexpected  read but never added, or added by an op that failed;
  never-read  acknowledged, but no read began after it completed.
Valid iff nothing is lost or unexpected (and, with linearizable=True,
nothing is stale).
"""

import bisect
from collections import defaultdict

from jepsen.checkers import history as h


def check(history, linearizable=False, site=None, max_examples=20, **_):
    """Options: linearizable (stale reads fail), site (judge only the reads
    served at that site), max_examples (per anomaly type)."""
    ops = h.pair(history, f=("add", "read"))
    adds = [o for o in ops if o.f == "add"]
    reads = sorted((o for o in ops if o.f == "read" and o.type == "ok"
                    and (site is None or o.site == site)),
                   key=lambda o: o.inv_index)
    read_invs = [o.inv_index for o in reads]
    occ = defaultdict(list)  # element -> indexes of the reads containing it
    for i, o in enumerate(reads):
        for e in set(o.value or ()):
            occ[e].append(i)
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
    for e in sorted(set(occ) - set(added), key=repr):
        r = reads[occ[e][0]]
        out["unexpected"].append({"element": e, "read": r.name,
                                  "explanation": "%s read %s, which was "
                                  "never added" % (r.name, e)})
    for e, a in sorted(added.items(), key=lambda kv: repr(kv[0])):
        seen = occ.get(e, ())
        if a.type == "fail":
            if seen:
                r = reads[seen[0]]
                out["unexpected"].append({
                    "element": e, "read": r.name, "add": a.name,
                    "explanation": "%s read %s, whose add %s failed"
                                   % (r.name, e, a.name)})
            continue
        acked = a.type == "ok"
        # From when on must every read contain e: the add's completion, or
        # (outcome unknown) the completion of the first read that saw it.
        if acked:
            known = a.comp_index
        elif seen:
            known = min(reads[i].comp_index for i in seen)
        else:
            continue
        if final >= 0 and reads[final].inv_index > known \
                and (not seen or seen[-1] != final):
            how = ("the final read %s misses it" % reads[final].name
                   if not seen else
                   "it was last read by %s; every later read, up to the "
                   "final read %s, misses it"
                   % (reads[seen[-1]].name, reads[final].name))
            out["lost"].append({"element": e, "add": a.name,
                                "add_type": a.type,
                                "read": reads[final].name,
                                "last_seen": (reads[seen[-1]].name if seen
                                              else None),
                                "explanation": "%s (added by %s, %s) is "
                                "lost: %s" % (e, a.name, a.type, how)})
            continue
        if not acked:
            if seen:
                out["recovered"].append({"element": e, "add": a.name})
            continue
        first_later = bisect.bisect_right(read_invs, a.comp_index)
        if first_later == len(reads):
            out["never-read"].append({"element": e, "add": a.name})
            continue
        n_later = len(reads) - first_later
        n_present = len(seen) - bisect.bisect_left(seen, first_later)
        if n_present < n_later:
            present = set(seen)
            missing = [i for i in range(first_later, len(reads))
                       if i not in present]
            stable = missing[-1] + 1  # the final read contains e
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
