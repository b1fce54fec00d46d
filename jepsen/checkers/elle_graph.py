"""The dependency graph of a transaction history and the search for its
cycles: edge kinds, strongly connected components, a breadth-first search
over (vertex, rw-state) pairs per component, and naming a cycle by its edges
(elle.py has the overview)."""

import time
from collections import defaultdict, deque


# Edge bits. RT is any realtime edge; SRT marks one between two transactions
# of the same site and XRT one across sites (set when the graph is final).
WW, WR, RW, PROC, RT, SRT, XRT = 1, 2, 4, 8, 16, 32, 64
DATA = WW | WR
KIND_NAMES = {WW: "ww", WR: "wr", RW: "rw", PROC: "process",
              SRT: "realtime", XRT: "realtime"}

INIT = object()  # the empty list / nil initial version


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
