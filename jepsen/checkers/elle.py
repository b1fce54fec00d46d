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
from collections import defaultdict, deque

from jepsen.checkers import history as h

# Edge bits. RT is any realtime edge; SRT marks one between two transactions
# of the same site and XRT one across sites (set when the graph is final).
WW, WR, RW, PROC, RT, SRT, XRT = 1, 2, 4, 8, 16, 32, 64
DATA = WW | WR
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROC: "process",
              SRT: "realtime", XRT: "realtime"}

INIT = object()  # the empty list / nil initial version

NONCYCLE_TYPES = ("G1a", "G1b", "internal", "future-read", "dirty-update",
                  "duplicate-elements", "incompatible-order", "garbage-read",
                  "cyclic-versions", "lost-update", "duplicate-writes")
CYCLE_BASES = ("G0", "G1c", "G-single", "G-nonadjacent", "G2-item")

# Models, and the anomaly types each forbids outright. Cycle types are judged
# per cycle for "psi" (see _psi_forbids).
_RU = {"G0", "duplicate-elements", "cyclic-versions", "duplicate-writes"}
_RC = _RU | {"G1a", "G1b", "G1c", "dirty-update", "incompatible-order"}
_SI = _RC | {"internal", "future-read", "garbage-read", "lost-update",
             "G-single", "G-nonadjacent"}
_SER = _SI | {"G2-item"}
_STRICT = _SER | {b + s for b in CYCLE_BASES for s in ("-process",
                                                       "-realtime")}
PSI_NONCYCLE = {"G1a", "G1b", "internal", "future-read", "dirty-update",
                "duplicate-elements", "incompatible-order", "garbage-read",
                "cyclic-versions", "lost-update", "duplicate-writes"}
MODELS = {"read-uncommitted": _RU, "read-committed": _RC,
          "snapshot-isolation": _SI, "si": _SI, "serializable": _SER,
          "strict-serializable": _STRICT}
REPORTED_MODELS = ("read-uncommitted", "read-committed", "psi",
                   "snapshot-isolation", "serializable",
                   "strict-serializable")


class SearchTimeout(Exception):
    pass


# ---------------------------------------------------------------------------
# Graph


class Graph:
    """Adjacency of bit masks: out[u][v] = OR of edge bits u -> v."""

    def __init__(self, n):
        self.n = n
        self.out = [dict() for _ in range(n)]
        self.why = {}  # (u, v, bit) -> witness tuple, first one found
        self.counts = defaultdict(int)

    def add(self, u, v, bit, why=None):
        if u == v:
            return
        d = self.out[u]
        m = d.get(v, 0)
        new = bit & ~m
        if not new:
            return
        d[v] = m | bit
        while new:
            b = new & -new
            self.counts[b] += 1
            new ^= b
        if why is not None:
            self.why[(u, v, bit)] = why


def sccs(n, out, mask, members=None):
    """Strongly connected components with >1 vertex, over edges whose mask
    has a bit in `mask`, restricted to `members` (a set) when given.
    Iterative Tarjan; returns lists of vertex ids."""
    index = {}
    low = {}
    on_stack = set()
    stack = []
    result = []
    counter = 0
    verts = range(n) if members is None else sorted(members)
    for root in verts:
        if root in index:
            continue
        work = [(root, iter(out[root].items()))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w, m in it:
                if not m & mask:
                    continue
                if members is not None and w not in members:
                    continue
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(out[w].items())))
                    advanced = True
                    break
                if w in on_stack and index[w] < low[v]:
                    low[v] = index[w]
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                if low[v] < low[u]:
                    low[u] = low[v]
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    result.append(sorted(comp))
    return result


# ---------------------------------------------------------------------------
# Cycle search


class Spec:
    """What cycle to look for.

    nonrw: edge bits usable as non-rw steps. rw: "none", "one" (exactly one
    rw), "nonadj" (>=2, none adjacent, cyclically) or "adj" (>=2, two
    adjacent). req: at least one step must use one of these bits.
    same_site_rw: every rw edge's source ran at one site.
    """

    __slots__ = ("name", "nonrw", "rw", "req", "same_site_rw")

    def __init__(self, name, nonrw, rw, req=0, same_site_rw=False):
        self.name = name
        self.nonrw = nonrw
        self.rw = rw
        self.req = req
        self.same_site_rw = same_site_rw


def _lowest_bit(m):
    return m & -m


def find_cycle(out, sites, members, spec, deadline):
    """Returns one cycle matching spec as [(u, v, kind_bit), ...] or None.
    Raises SearchTimeout when time.monotonic() passes deadline."""
    if time.monotonic() > deadline:
        raise SearchTimeout()
    allowed = spec.nonrw | (RW if spec.rw != "none" else 0)
    subs = sccs(len(out), out, allowed, members)
    if not subs:
        return None
    steps = 0
    for sub in subs:
        subset = set(sub)
        if spec.rw == "none" and not spec.req:
            starts = sub[:1]  # every vertex of a component is on a cycle
        else:
            first_bits = RW if spec.rw != "none" else spec.req
            starts = [u for u in sub
                      if any(m & first_bits and v in subset
                             for v, m in out[u].items())]
        for u in starts:
            found, steps = _bfs_from(out, sites, subset, spec, u, deadline,
                                     steps)
            if found:
                return found
    return None


def _bfs_from(out, sites, members, spec, u, deadline, steps):
    """Shortest closed walk u -> ... -> u matching spec, whose first step is
    an rw edge (rw specs) or a required edge (rw "none" with req).
    State: (vertex, n_rw capped at 2, last step rw, adjacent rw seen, req)."""
    mode = spec.rw
    nonrw = spec.nonrw
    req_bits = spec.req
    site0 = sites[u]
    parent = {}
    queue = deque()

    def push(state, prev, edge):
        if state not in parent:
            parent[state] = (prev, edge)
            queue.append(state)

    # First steps.
    start = ("start",)
    for v, m in out[u].items():
        if v not in members:
            continue
        if mode != "none":
            if m & RW:
                push((v, 1, True, False, not req_bits), start, (u, v, RW))
        elif req_bits:
            sat = m & nonrw & req_bits
            if sat:
                push((v, 0, False, False, True), start,
                     (u, v, _lowest_bit(sat)))
        else:
            usable = m & nonrw
            if usable:
                push((v, 0, False, False, True), start,
                     (u, v, _lowest_bit(usable)))

    def accept(n_rw, last_rw, adj, req):
        if not req:
            return False
        if mode == "none":
            return n_rw == 0
        if mode == "one":
            return n_rw == 1
        if mode == "nonadj":
            return n_rw >= 2 and not last_rw
        return n_rw >= 2 and (adj or last_rw)

    while queue:
        steps += 1
        if steps & 255 == 0 and time.monotonic() > deadline:
            raise SearchTimeout()
        state = queue.popleft()
        x, n_rw, last_rw, adj, req = state
        for y, m in out[x].items():
            if y not in members:
                continue
            options = []
            usable = m & nonrw
            if usable:
                sat = usable & req_bits
                kind = _lowest_bit(sat) if sat else _lowest_bit(usable)
                options.append(((y, n_rw, False, adj, req or bool(sat)),
                                kind))
            if m & RW and mode in ("nonadj", "adj"):
                if not (mode == "nonadj" and last_rw) and not (
                        spec.same_site_rw and sites[x] != site0):
                    options.append(((y, min(n_rw + 1, 2), True,
                                     adj or last_rw, req), RW))
            for nstate, kind in options:
                if y == u:
                    if accept(*nstate[1:]):
                        path = [(x, y, kind)]
                        s = state
                        while s is not start:
                            prev, edge = parent[s]
                            path.append(edge)
                            s = prev
                        path.reverse()
                        return path, steps
                    continue
                if nstate not in parent:
                    parent[nstate] = (state, (x, y, kind))
                    queue.append(nstate)
    return None, steps


def classify(path):
    """Anomaly name of a cycle given as [(u, v, kind_bit), ...]."""
    kinds = [k for _, _, k in path]
    n_rw = kinds.count(RW)
    adjacent = any(kinds[i] == RW and kinds[i - 1] == RW
                   for i in range(len(kinds))) if n_rw >= 2 else False
    if n_rw == 0:
        base = "G1c" if WR in kinds else "G0"
    elif n_rw == 1:
        base = "G-single"
    elif adjacent:
        base = "G2-item"
    else:
        base = "G-nonadjacent"
    if SRT in kinds or XRT in kinds:
        return base + "-realtime"
    if PROC in kinds:
        return base + "-process"
    return base


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
        forbidden = _psi_forbids(n_rw, adjacent, cross_rt, len(rw_sites))
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


def _psi_forbids(n_rw, adjacent, cross_rt, n_rw_sites):
    """Meridian's PSI rule (DESIGN.md §4) for one cycle.

    Without rw edges the cycle is a causality loop: forbidden everywhere
    (a realtime edge cannot point against causality either). Otherwise a
    realtime edge between sites makes it a cross-site stale read: allowed.
    One rw edge: read skew, forbidden. Two adjacent rw edges: write skew,
    which SI allows, so allowed. Two or more, none adjacent (long fork):
    forbidden when every transaction that missed a write ran at one site.
    """
    if n_rw == 0:
        return True
    if cross_rt:
        return False
    if n_rw == 1:
        return True
    if adjacent:
        return False
    return n_rw_sites <= 1


# ---------------------------------------------------------------------------
# list-append


class _AppendAnalysis(_Analysis):

    def run(self):
        ops = self.ops
        # (k, v) -> op (any type); (op id, k) -> last v it appended
        appender, final_append = self.index_writes("append", "appended")
        oks = [o for o in ops if o.type == "ok"]
        reads = defaultdict(set)  # k -> distinct non-empty read values
        for o in oks:
            self.check_txn(o, appender, final_append, reads)
        # Version order per key from the longest read; all reads must be
        # prefixes of one another.
        order = {}
        pos = {}
        for k, vals in reads.items():
            vals = sorted(vals, key=len)
            for a, b in zip(vals, vals[1:]):
                if b[:len(a)] != a:
                    i = next(i for i, (x, y) in enumerate(zip(a, b))
                             if x != y)
                    self.report("incompatible-order", key=k,
                                values=[list(a), list(b)],
                                explanation="reads of key %s disagree on the "
                                "order at position %d: %s vs %s"
                                % (k, i, h.fmt_read(a[:i + 1]),
                                   h.fmt_read(b[:i + 1])))
            longest = []
            seen = set()
            for v in vals[-1]:
                if v not in seen:
                    seen.add(v)
                    longest.append(v)
            order[k] = longest
            pos[k] = {v: i for i, v in enumerate(longest)}
        self.check_dirty_updates(order, appender)
        self.order = order
        self.init_graph()
        self.add_data_edges(order, pos, appender)
        self.check_lost_updates(oks)

    def check_txn(self, o, appender, final_append, reads):
        mops = o.value or ()
        state = {}  # k -> (known?, list)
        for i, mop in enumerate(mops):
            f, k, v = mop[0], mop[1], mop[2]
            if f == "append":
                known, lst = state.get(k, (False, []))
                state[k] = (known, lst + [v])
                continue
            if f != "r":
                continue
            vs = list(v) if v else []
            if k in state:
                known, lst = state[k]
                good = (vs == lst) if known else (
                    len(vs) >= len(lst) and vs[len(vs) - len(lst):] == lst)
                if not good:
                    self.report("internal", txn=o.name, key=k,
                                expected=("" if known else "... ") +
                                h.fmt_value(lst), read=vs,
                                explanation="%s read key %s = %s, but its own "
                                "earlier reads/appends imply %s%s"
                                % (o.name, k, h.fmt_read(vs),
                                   "" if known else "a list ending in ",
                                   h.fmt_value(lst)))
            state[k] = (True, vs)
            later = {m[2] for m in mops[i + 1:]
                     if m[0] == "append" and m[1] == k}
            for e in vs:
                if e in later:
                    self.report("future-read", txn=o.name, key=k, element=e,
                                explanation="%s read key %s = %s, including "
                                "%s, which it appends only later"
                                % (o.name, k, h.fmt_read(vs), e))
            if len(set(vs)) < len(vs):
                self.report("duplicate-elements", txn=o.name, key=k, read=vs,
                            explanation="%s read key %s = %s: an element "
                            "appears twice" % (o.name, k, h.fmt_read(vs)))
            for e in vs:
                w = appender.get((k, e))
                if w is None:
                    self.report("garbage-read", txn=o.name, key=k, element=e,
                                explanation="%s read key %s = %s, but no "
                                "transaction appended %s"
                                % (o.name, k, h.fmt_read(vs), e))
                elif w.type == "fail":
                    self.report("G1a", txn=o.name, key=k, element=e,
                                writer=w.name,
                                explanation="%s read key %s = %s, including "
                                "%s appended by %s, which failed (aborted "
                                "read)" % (o.name, k, h.fmt_read(vs), e,
                                           w.name))
            if vs:
                e = vs[-1]
                w = appender.get((k, e))
                if (w is not None and w is not o and w.type != "fail"
                        and final_append.get((w.id, k)) != e):
                    self.report("G1b", txn=o.name, key=k, element=e,
                                writer=w.name,
                                explanation="%s read key %s = %s, ending in "
                                "%s, an intermediate append of %s (which "
                                "later appended %s)"
                                % (o.name, k, h.fmt_read(vs), e, w.name,
                                   final_append[(w.id, k)]))
                reads[k].add(tuple(vs))

    def check_dirty_updates(self, order, appender):
        for k, vs in order.items():
            failed = None
            for v in vs:
                w = appender.get((k, v))
                if w is None:
                    continue
                if w.type == "fail":
                    failed = (v, w)
                elif w.type == "ok" and failed is not None:
                    self.report("dirty-update", key=k, element=v,
                                txn=w.name, failed=failed[1].name,
                                explanation="key %s: %s's append of %s "
                                "follows %s's append of %s, which failed"
                                % (k, w.name, v, failed[1].name, failed[0]))
                    failed = None

    def add_data_edges(self, order, pos, appender):
        g = self.g
        vid = self.vid
        readers = defaultdict(list)  # (k, last element | INIT) -> [(vertex, read)]
        for i, o in enumerate(self.vertices):
            if o.type != "ok":
                continue
            for mop in o.value or ():
                if mop[0] != "r":
                    continue
                k, vs = mop[1], mop[2] or []
                last = vs[-1] if vs else INIT
                readers[(k, last)].append((i, vs))
                if vs:
                    w = appender.get((k, last))
                    if w is not None and w.id in vid:
                        g.add(vid[w.id], i, WR, ("wr", k, last, vs))
        for i, o in enumerate(self.vertices):
            for mop in (o.inv.get("value") or ()):
                if mop[0] != "append":
                    continue
                k, v = mop[1], mop[2]
                ordk = order.get(k, [])
                p = pos.get(k, {}).get(v)
                if p is None:
                    if o.type != "ok":
                        continue  # never seen: may never have happened
                    prev = ordk[-1] if ordk else INIT
                elif p > 0:
                    prev = ordk[p - 1]
                else:
                    prev = INIT
                if prev is not INIT:
                    w = appender.get((k, prev))
                    if w is not None and w.id in vid:
                        g.add(vid[w.id], i, WW, ("ww", k, prev, v))
                for r, vs in readers.get((k, prev), ()):
                    g.add(r, i, RW, ("rw", k, prev, v, vs))

    def check_lost_updates(self, oks):
        buckets = defaultdict(list)
        for o in oks:
            first_read = {}
            wrote = set()
            for mop in o.value or ():
                f, k = mop[0], mop[1]
                if f == "r" and k not in first_read and k not in wrote:
                    vs = mop[2] or []
                    first_read[k] = vs[-1] if vs else None
                elif f == "append":
                    wrote.add(k)
            for k in wrote:
                if k in first_read:
                    buckets[(k, first_read[k])].append(o)
        for (k, last), txns in buckets.items():
            if len(txns) > 1:
                names = [t.name for t in txns]
                self.report("lost-update", key=k, txns=names,
                            explanation="%s all read key %s at the version "
                            "ending in %s and all appended to it"
                            % (", ".join(names), k,
                               "the empty list" if last is None else last))

    def explain_data(self, U, V, kind, why):
        if why is None:
            return "%s -%s-> %s" % (U.name, KIND_NAMES[kind], V.name)
        if kind == WR:
            _, k, e, vs = why
            return ("%s read key %s = %s, ending in %s's append of %s (wr)"
                    % (V.name, k, h.fmt_read(vs), U.name, e))
        if kind == WW:
            _, k, prev, v = why
            return ("%s appended %s to key %s right after %s's append of %s "
                    "(ww)" % (V.name, v, k, U.name, prev))
        _, k, prev, v, vs = why
        after = "as its first element" if prev is INIT else "after %s" % prev
        return ("%s read key %s = %s; %s appended %s %s, which %s did not "
                "see (rw)" % (U.name, k, h.fmt_read(vs), V.name, v, after,
                              U.name))


# ---------------------------------------------------------------------------
# rw-register


class _RegisterAnalysis(_Analysis):

    def run(self):
        ops = self.ops
        # (k, v) -> op; (op id, k) -> last v written
        writer, final_write = self.index_writes("w", "wrote")
        self.init_graph()
        vid = self.vid
        ext_reads = {}   # vertex -> {k: v} (first read before own write)
        vgraph = defaultdict(lambda: defaultdict(set))  # k -> v1 -> {v2}
        readers = defaultdict(list)  # (k, v|INIT) -> [vertex]
        for i, o in enumerate(self.vertices):
            ext = {}
            state = {}
            mops = (o.value if o.type == "ok" else o.inv.get("value")) or ()
            for j, mop in enumerate(mops):
                f, k, v = mop[0], mop[1], mop[2]
                if f == "w":
                    # Intra-transaction order: what it read (or wrote
                    # before) precedes what it writes.
                    if k in state:
                        vgraph[k][state[k]].add(v)
                    state[k] = v
                    continue
                if o.type != "ok":
                    continue
                tok = INIT if v is None else v
                if k in state:
                    if state[k] != tok:
                        seen = state[k]
                        self.report("internal", txn=o.name, key=k,
                                    expected=None if seen is INIT else seen,
                                    read=v,
                                    explanation="%s read key %s = %s after "
                                    "its own read/write of %s"
                                    % (o.name, k, h.fmt_value(v),
                                       "nil" if seen is INIT else seen))
                    continue
                state[k] = tok
                ext[k] = tok
                readers[(k, ext[k])].append(i)
                if v is None:
                    continue
                later = {m[2] for m in mops[j + 1:]
                         if m[0] == "w" and m[1] == k}
                if v in later:
                    self.report("future-read", txn=o.name, key=k, value=v,
                                explanation="%s read key %s = %s, which it "
                                "writes only later" % (o.name, k, v))
                    continue
                w = writer.get((k, v))
                if w is None:
                    self.report("garbage-read", txn=o.name, key=k, value=v,
                                explanation="%s read key %s = %s, which no "
                                "transaction wrote" % (o.name, k, v))
                    continue
                if w.type == "fail":
                    self.report("G1a", txn=o.name, key=k, value=v,
                                writer=w.name,
                                explanation="%s read key %s = %s, written by "
                                "%s, which failed (aborted read)"
                                % (o.name, k, v, w.name))
                    continue
                if w is not o and final_write.get((w.id, k)) != v:
                    self.report("G1b", txn=o.name, key=k, value=v,
                                writer=w.name,
                                explanation="%s read key %s = %s, an "
                                "intermediate write of %s (which later "
                                "wrote %s)" % (o.name, k, v, w.name,
                                               final_write[(w.id, k)]))
                if w is not o:
                    self.g.add(vid[w.id], i, WR, ("wr", k, v))
            ext_reads[i] = ext
        # Initial state precedes every written version.
        for (k, v), w in writer.items():
            vgraph[k][INIT].add(v)
        if self.opts.get("sequential_keys", False):
            self.add_sequential_versions(vgraph)
        self.add_version_edges(vgraph, writer, readers)
        self.check_lost_updates(ext_reads)

    def add_sequential_versions(self, vgraph):
        """Per session, the versions it observes or installs of a key only
        move forward (ok transactions, in invoke order)."""
        by_session = defaultdict(list)
        for o in self.vertices:
            if o.type == "ok":
                by_session[o.session].append(o)
        for txns in by_session.values():
            txns.sort(key=lambda o: o.inv_index)
            last = {}
            for o in txns:
                for mop in o.value or ():
                    f, k, v = mop[0], mop[1], mop[2]
                    cur = INIT if v is None else v
                    if k in last and last[k] != cur:
                        vgraph[k][last[k]].add(cur)
                    last[k] = cur

    def add_version_edges(self, vgraph, writer, readers):
        g = self.g
        vid = self.vid
        for k, succ in vgraph.items():
            nodes = set(succ)
            for vs in succ.values():
                nodes |= vs
            ids = {v: i for i, v in enumerate(sorted(nodes, key=repr))}
            rev = {i: v for v, i in ids.items()}
            out = [dict() for _ in ids]
            for v1, vs in succ.items():
                for v2 in vs:
                    if v1 != v2:
                        out[ids[v1]][ids[v2]] = 1
            cyc = sccs(len(out), out, 1)
            if cyc:
                self.report("cyclic-versions", key=k,
                            versions=[h.fmt_value(None if rev[i] is INIT
                                                  else rev[i])
                                      for i in cyc[0]],
                            explanation="the inferred version order of key "
                            "%s is cyclic among %s" % (k, ", ".join(
                                h.fmt_value(None if rev[i] is INIT else rev[i])
                                for i in cyc[0])))
                continue
            has_pred = set()
            for v1, vs in succ.items():
                if v1 is not INIT:
                    has_pred |= vs
            for v1, vs in succ.items():
                for v2 in vs:
                    if v1 == v2 or (v1 is INIT and v2 in has_pred):
                        continue
                    w2 = writer.get((k, v2))
                    if w2 is None or w2.id not in vid:
                        continue
                    j = vid[w2.id]
                    if v1 is not INIT:
                        w1 = writer.get((k, v1))
                        if w1 is not None and w1.id in vid:
                            g.add(vid[w1.id], j, WW, ("ww", k, v1, v2))
                    for r in readers.get((k, v1), ()):
                        g.add(r, j, RW, ("rw", k, v1, v2))

    def check_lost_updates(self, ext_reads):
        buckets = defaultdict(list)
        for i, ext in ext_reads.items():
            o = self.vertices[i]
            if o.type != "ok":
                continue
            wrote = {m[1] for m in o.value or () if m[0] == "w"}
            for k in wrote:
                if k in ext:
                    buckets[(k, ext[k])].append(o)
        for (k, v), txns in buckets.items():
            if len(txns) > 1:
                names = [t.name for t in txns]
                self.report("lost-update", key=k, txns=names,
                            explanation="%s all read key %s = %s and all "
                            "wrote it" % (", ".join(names), k,
                                          "nil" if v is INIT else v))

    def explain_data(self, U, V, kind, why):
        if why is None:
            return "%s -%s-> %s" % (U.name, KIND_NAMES[kind], V.name)
        if kind == WR:
            _, k, v = why
            return "%s read key %s = %s, written by %s (wr)" % (
                V.name, k, v, U.name)
        if kind == WW:
            _, k, v1, v2 = why
            return ("%s wrote key %s = %s, the version after %s's %s (ww)"
                    % (V.name, k, v2, U.name, v1))
        _, k, v1, v2 = why
        return ("%s read key %s = %s; %s wrote the next version %s, which "
                "%s did not see (rw)" % (U.name, k,
                                         "nil" if v1 is INIT else v1,
                                         V.name, v2, U.name))


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
    not_models = [m for m in REPORTED_MODELS if _violates(m, found, a.cycles)]
    forbidden = sorted(_forbidden_types(model, found, a.cycles))
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


def _forbidden_types(model, found, cycles):
    if model == "psi":
        out = {t for t in found if t in PSI_NONCYCLE}
        out |= {c["type"] for c in cycles if c["psi_forbidden"]}
        return out
    return found & MODELS[model]


def _violates(model, found, cycles):
    if model == "psi":
        return bool(_forbidden_types("psi", found, cycles))
    return bool(found & MODELS[model])


def check_append(history, **opts):
    return check(history, workload="append", **opts)


def check_rw_register(history, **opts):
    return check(history, workload="rw-register", **opts)
