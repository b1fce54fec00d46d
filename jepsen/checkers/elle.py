"""Transactional consistency checker for list-append and rw-register
histories, after the dependency-graph method of Adya and of Elle (Kingsbury
& Alvaro, VLDB 2020), re-derived from the published algorithm (our research notes, §2).

Vertices are ok and info transactions (failed ones never happened). Edges:
  ww  T1 -> T2  T2 installed the version right after T1's
  wr  T1 -> T2  T2 read a version T1 installed
  rw  T1 -> T2  T1 read the version T2 overwrote (T1 did not see T2)
  process       consecutive transactions of one session
  realtime      T1 completed before T2 was invoked (transitively reduced);
                "site realtime" when both ran at the same site.
Cycles are found per strongly connected component by a breadth-first search
over (vertex, rw-state) pairs and named by their edges: G0 (ww only), G1c
(ww+wr), G-single (one rw), G-nonadjacent (>=2 rw, none adjacent), G2-item
(>=2 rw, two adjacent), suffixed -process / -realtime when they need those
edges.

Model "psi" is Meridian's rule set (DESIGN.md §4); "si" is Elle's snapshot
isolation set. See check() for the result shape.
"""

import time

from jepsen.checkers import history as h
from jepsen.checkers.elle_append import _AppendAnalysis
from jepsen.checkers.elle_graph import PROC, RT, RW, WR, WW
from jepsen.checkers.elle_models import MODELS, REPORTED_MODELS, forbidden_types, violates
from jepsen.checkers.elle_register import _RegisterAnalysis


# ---------------------------------------------------------------------------
# Entry points


def check(history, workload="append", **opts):
    """Checks a list-append ("append") or rw-register ("rw-register")
    transaction history.

    Options:
      model                 "psi" (default; Meridian's rules) or any key
                            of MODELS, e.g. "si", "serializable"
      process_edges         use session order (default True)
      realtime_edges        use realtime/site-realtime order (default True)
      sequential_keys       rw-register: per-session version order
                            (default False)
      cycle_search_timeout  seconds per strongly connected component
                            (default 2.0); a timeout makes the verdict
                            "unknown" unless something forbidden was found
      cycle_search_total_timeout  seconds for all components (default 60)
      max_examples          examples kept per anomaly type (default 100)

    Returns {"valid", "anomaly_types", "anomalies", "forbidden", "not",
    "stats", "errors"}: anomalies maps each type found (allowed or not) to
    records with an "explanation"; "forbidden" lists the types that make
    the history invalid under `model`; "not" the models it violates.
    """
    t0 = time.monotonic()
    model = opts.get("model", "psi")
    if model != "psi" and model not in MODELS:
        raise ValueError("unknown model %r" % model)
    ops = h.pair(history, f="txn")
    cls = _AppendAnalysis if workload in ("append", "list-append") else (
        _RegisterAnalysis if workload in ("rw-register", "wr", "register-txn")
        else None)
    if cls is None:
        raise ValueError("unknown elle workload %r" % workload)
    a = cls(ops, opts)
    a.run()
    if opts.get("process_edges", True):
        a.add_session_edges()
    if opts.get("realtime_edges", True):
        a.add_realtime_edges(per_site=False)
        a.add_realtime_edges(per_site=True)
    a.finish_graph()
    t_graph = time.monotonic()
    a.search_cycles()
    t_end = time.monotonic()

    found = set(a.anomalies)
    not_models = [m for m in REPORTED_MODELS if violates(m, found, a.cycles)]
    forbidden = sorted(forbidden_types(model, found, a.cycles))
    n_ok = sum(1 for o in ops if o.type == "ok")
    if forbidden:
        valid = False
    elif a.timeouts or a.errors or n_ok == 0:
        valid = "unknown"
    else:
        valid = True
    anomalies = dict(a.anomalies)
    if a.timeouts:
        anomalies["cycle-search-timeout"] = a.timeouts
    g = a.g
    stats = {
        "txns": len(ops),
        "ok": n_ok,
        "fail": sum(1 for o in ops if o.type == "fail"),
        "info": sum(1 for o in ops if o.type == "info"),
        "sites": sorted({o.site for o in ops}, key=str),
        "edges": {"ww": g.counts[WW], "wr": g.counts[WR], "rw": g.counts[RW],
                  "process": g.counts[PROC], "realtime": g.counts[RT]},
        "sccs": len(a.scc_sizes),
        "largest_scc": max(a.scc_sizes, default=0),
        "anomaly_counts": dict(a.counts),
        "cycle_search_timeouts": len(a.timeouts),
        "seconds": {"graph": round(t_graph - t0, 3),
                    "cycles": round(t_end - t_graph, 3)},
    }
    return h.result(valid, anomalies, stats, model=model,
                    forbidden=forbidden, errors=a.errors, **{"not":
                                                              not_models})


def check_append(history, **opts):
    return check(history, workload="append", **opts)


def check_rw_register(history, **opts):
    return check(history, workload="rw-register", **opts)
