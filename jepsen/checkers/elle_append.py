"""List-append inference: every read is a prefix of its key's version order."""

from collections import defaultdict

from jepsen.checkers import history as h
from jepsen.checkers.elle_analysis import _Analysis
from jepsen.checkers.elle_graph import INIT, KIND_NAMES, RW, WR, WW


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
