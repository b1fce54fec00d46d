"""rw-register inference: version order from the initial state, each
transaction's own order, writes-follow-reads and, optionally, sessions."""

from collections import defaultdict

from jepsen.checkers import history as h
from jepsen.checkers.elle_analysis import _Analysis
from jepsen.checkers.elle_graph import INIT, KIND_NAMES, RW, WR, WW, sccs


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
