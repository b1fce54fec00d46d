"""What the list-append and rw-register analyses share: pairing, per-op
checks, the graph with its process and realtime edges, the cycle search per
component and the result."""

import time
from collections import defaultdict

from jepsen.checkers import history as h
from jepsen.checkers.elle_graph import (
    DATA, Graph, KIND_NAMES, PROC, RT, RW, SRT, SearchTimeout, Spec, WR, WW, XRT, classify,
    find_cycle, sccs)
from jepsen.checkers.elle_models import CYCLE_BASES, psi_forbids


# ---------------------------------------------------------------------------
# The analysis shared by both workloads


class _Analysis:
    def __init__(self, ops, opts):
        self.ops = ops
        self.opts = opts
        self.anomalies = defaultdict(list)
        self.counts = defaultdict(int)
        self.max_examples = opts.get("max_examples", 100)
        self.errors = []

    def report(self, kind, **rec):
        self.counts[kind] += 1
        if len(self.anomalies[kind]) < self.max_examples:
            self.anomalies[kind].append(rec)

    # -- graph -------------------------------------------------------------

    def index_writes(self, write_f, verb):
        """Maps each (key, value) to the op that wrote it, and (op id, key)
        to the last value the op wrote there; reports a value written twice
        (values must be unique per key) and unknown micro-ops."""
        writer = {}
        final_write = {}
        for o in self.ops:
            for mop in (o.inv.get("value") or ()):
                f, k, v = mop[0], mop[1], mop[2]
                if f == write_f:
                    key = (k, v)
                    if key in writer and writer[key] is not o:
                        self.report("duplicate-writes", key=k, value=v,
                                    txns=[writer[key].name, o.name],
                                    explanation="%s and %s both %s %s to "
                                    "key %s; values must be unique"
                                    % (writer[key].name, o.name, verb, v, k))
                    writer[key] = o
                    final_write[(o.id, k)] = v
                elif f != "r":
                    self.errors.append("%s: unknown micro-op %r" % (o.name, f))
        return writer, final_write

    def init_graph(self):
        self.vertices = [o for o in self.ops if o.type in ("ok", "info")]
        self.vid = {o.id: i for i, o in enumerate(self.vertices)}
        self.g = Graph(len(self.vertices))
        self.sites = [o.site for o in self.vertices]

    def add_session_edges(self):
        by_session = defaultdict(list)
        for i, o in enumerate(self.vertices):
            by_session[o.session].append(i)
        for sess, vs in by_session.items():
            vs.sort(key=lambda i: self.vertices[i].inv_index)
            last_ok = None
            for i in vs:
                if last_ok is not None:
                    self.g.add(last_ok, i, PROC, (sess,))
                if self.vertices[i].type == "ok":
                    last_ok = i

    def add_realtime_edges(self, per_site):
        """a -> b when a completed ok before b was invoked, keeping only the
        frontier (a transitive reduction). per_site: one frontier per site,
        linking only same-site pairs."""
        events = []
        for i, o in enumerate(self.vertices):
            events.append((o.inv_index, 0, i))
            if o.type == "ok":
                events.append((o.comp_index, 1, i))
        events.sort()
        frontiers = defaultdict(set)
        preds = defaultdict(list)
        g = self.g
        for _, is_comp, i in events:
            site = self.sites[i] if per_site else None
            frontier = frontiers[site]
            if not is_comp:
                for a in frontier:
                    bits = RT | (SRT if self.sites[a] == self.sites[i] else 0)
                    g.add(a, i, bits)
                    preds[i].append(a)
            else:
                frontier.difference_update(preds.pop(i, ()))
                frontier.add(i)

    def finish_graph(self):
        # Mark cross-site realtime edges so searches can tell them apart.
        for u, d in enumerate(self.g.out):
            for v, m in d.items():
                if m & RT and not m & SRT:
                    d[v] = m | XRT

    # -- cycles --------------------------------------------------------------

    def search_cycles(self):
        g = self.g
        budget = float(self.opts.get("cycle_search_timeout", 2.0))
        all_bits = WW | WR | RW | PROC | SRT | XRT
        comps = sccs(g.n, g.out, all_bits)
        self.scc_sizes = [len(c) for c in comps]
        multisite = len(set(self.sites)) > 1
        self.cycles = []
        self.seen_cycles = {}
        self.timeouts = []
        variants = [("", 0, 0)]
        if self.opts.get("process_edges", True):
            variants.append(("-process", PROC, PROC))
        if self.opts.get("realtime_edges", True):
            variants.append(("-realtime", PROC | SRT, SRT))
            if multisite:
                variants.append(("-realtime", PROC | SRT | XRT, XRT))
        total_deadline = time.monotonic() + float(
            self.opts.get("cycle_search_total_timeout", 60.0))
        for comp in comps:
            members = set(comp)
            deadline = min(time.monotonic() + budget, total_deadline)
            found = {}  # base -> psi-forbidden already shown
            try:
                for suffix, extra, req in variants:
                    for base in CYCLE_BASES:
                        if found.get(base):
                            continue  # a stronger proof is in hand
                        for spec in self._specs(base, extra, req, multisite):
                            path = find_cycle(g.out, self.sites, members,
                                              spec, deadline)
                            if path is None:
                                continue
                            rec = self.record_cycle(path)
                            # Keep looking at variants only while they could
                            # still change the PSI verdict.
                            found[base] = (found.get(base)
                                           or rec["psi_forbidden"]
                                           or base == "G2-item")
                            break
            except SearchTimeout:
                self.timeouts.append({"scc_size": len(comp),
                                      "budget_s": budget,
                                      "first_txns": [self.vertices[i].name
                                                     for i in comp[:10]]})

    def _specs(self, base, extra, req, multisite):
        if base == "G0":
            return [Spec(base, WW | extra, "none", req)]
        if base == "G1c":
            if req:
                return [Spec(base, DATA | extra, "none", req)]
            return [Spec(base, DATA, "none", WR)]
        if base == "G-single":
            return [Spec(base, DATA | extra, "one", req)]
        if base == "G-nonadjacent":
            specs = []
            if multisite:  # the same-site case is the one PSI forbids
                specs.append(Spec(base, DATA | extra, "nonadj", req, True))
            specs.append(Spec(base, DATA | extra, "nonadj", req))
            return specs
        return [Spec(base, DATA | extra, "adj", req)]

    def record_cycle(self, path):
        name = classify(path)
        kinds = [k for _, _, k in path]
        rw_sources = [u for u, _, k in path if k == RW]
        rw_sites = sorted({self.sites[u] for u in rw_sources}, key=str)
        n_rw = len(rw_sources)
        adjacent = name.startswith("G2-item")
        cross_rt = XRT in kinds
        forbidden = psi_forbids(n_rw, adjacent, cross_rt, len(rw_sites))
        names = [self.vertices[u].name for u, _, _ in path]
        key = (name, frozenset(names))
        if key in self.seen_cycles:
            return self.seen_cycles[key]
        chain = names[0] + "".join(
            " -%s-> %s" % (KIND_NAMES[k], self.vertices[v].name)
            for _, v, k in path)
        text = "Cycle %s. %s." % (chain, "; ".join(
            self.explain_step(u, v, k) for u, v, k in path))
        rec = {"type": name,
               "cycle": names,
               "edges": [KIND_NAMES[k] for k in kinds],
               "rw_sites": rw_sites,
               "cross_site_realtime": cross_rt,
               "psi_forbidden": forbidden,
               "txns": [self.vertices[u].describe() for u, _, _ in path],
               "explanation": text}
        self.cycles.append(rec)
        self.seen_cycles[key] = rec
        self.report(name, **rec)
        return rec

    def explain_step(self, u, v, kind):
        U, V = self.vertices[u], self.vertices[v]
        if kind == PROC:
            return "%s ran after %s in session %s (process)" % (
                V.name, U.name, h.fmt_value(U.session))
        if kind in (SRT, XRT):
            where = ("both at site %s" % U.site if kind == SRT else
                     "%s at site %s, %s at site %s"
                     % (U.name, U.site, V.name, V.site))
            return ("%s completed (index %d) before %s was invoked (index "
                    "%d), %s (realtime)" % (U.name, U.comp_index, V.name,
                                            V.inv_index, where))
        why = self.g.why.get((u, v, kind))
        return self.explain_data(U, V, kind, why)
