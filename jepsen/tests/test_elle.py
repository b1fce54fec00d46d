"""Tests for jepsen.checkers.elle on hand-written list-append and
rw-register histories."""

import random
import time
import unittest

from jepsen.checkers import elle
from jepsen.tests.histories import Builder, concurrent_txns, serial_txns


def ap(k, v):
    return ["append", k, v]


def r(k, v):
    return ["r", k, v]


def w(k, v):
    return ["w", k, v]


def C(*txns):
    """Concurrent txns given as (process, value[, extra])."""
    return concurrent_txns([(t[0], t[1], t[2] if len(t) > 2 else {})
                            for t in txns])


class ElleTestCase(unittest.TestCase):

    def check(self, hist, **opts):
        res = elle.check(hist, **opts)
        # Every reported anomaly carries an explanation.
        for kind, recs in res["anomalies"].items():
            if kind == "cycle-search-timeout":
                continue
            for rec in recs:
                self.assertTrue(rec.get("explanation"), (kind, rec))
        return res

    def assertAnomaly(self, res, kind, valid=False):
        self.assertIn(kind, res["anomaly_types"], res["anomalies"])
        self.assertEqual(res["valid"], valid, res)


class AppendValidTest(ElleTestCase):

    def test_serial_history_is_valid(self):
        hist = serial_txns([
            (0, [ap("x", 1), r("y", [])], {}),
            (1, [r("x", [1]), ap("y", 1)], {}),
            (0, [r("x", [1]), r("y", [1]), ap("x", 2)], {}),
            (1, [r("x", [1, 2])], {}),
        ])
        res = self.check(hist)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["anomaly_types"], [])
        self.assertEqual(res["not"], [])
        self.assertEqual(res["stats"]["ok"], 4)
        self.assertGreater(res["stats"]["edges"]["wr"], 0)
        self.assertGreater(res["stats"]["edges"]["rw"], 0)

    def test_nemesis_ops_ignored_and_unfinished_invoke_is_info(self):
        b = Builder()
        b.nemesis("start-partition", "halves")
        b.txn(0, [ap("x", 1)])
        b.invoke(1, "txn", [ap("x", 2)])  # never completes
        b.nemesis("stop-partition")
        b.txn(2, [r("x", [1, 2])])
        res = self.check(b.ops)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["info"], 1)

    def test_empty_history_is_unknown(self):
        self.assertEqual(self.check([])["valid"], "unknown")


class AppendCycleTest(ElleTestCase):

    def test_g1c_three_txns(self):
        res = self.check(C((0, [ap("x", 1), r("z", [1])]),
                           (1, [r("x", [1]), ap("y", 1)]),
                           (2, [r("y", [1]), ap("z", 1)])))
        self.assertAnomaly(res, "G1c")
        self.assertIn("read-committed", res["not"])
        self.assertNotIn("read-uncommitted", res["not"])
        text = res["anomalies"]["G1c"][0]["explanation"]
        self.assertIn("-wr->", text)
        self.assertIn("ending in", text)

    def test_g0(self):
        res = self.check(C((0, [ap("x", 1), ap("y", 2)]),
                           (1, [ap("x", 2), ap("y", 1)]),
                           (2, [r("x", [1, 2]), r("y", [1, 2])])))
        self.assertAnomaly(res, "G0")
        self.assertIn("read-uncommitted", res["not"])
        self.assertEqual(res["anomalies"]["G0"][0]["edges"], ["ww", "ww"])

    def test_fractured_read_is_g_single(self):
        res = self.check(C((0, [ap("x", 1), ap("y", 1)]),
                           (1, [r("x", []), r("y", [1])])))
        self.assertAnomaly(res, "G-single")
        self.assertIn("G-single", res["forbidden"])
        self.assertIn("psi", res["not"])
        self.assertIn("snapshot-isolation", res["not"])
        self.assertFalse(self.check(C((0, [ap("x", 1), ap("y", 1)]),
                                      (1, [r("x", []), r("y", [1])])),
                                    model="si")["valid"])

    def test_fractured_read_across_sites_still_fails_psi(self):
        res = self.check(C((0, [ap("x", 1), ap("y", 1)], {"site": "s1"}),
                           (1, [r("x", []), r("y", [1])], {"site": "s2"})))
        self.assertAnomaly(res, "G-single")

    def long_fork(self, site3, site4):
        return C((0, [ap("x", 1)], {"site": "s1"}),
                 (1, [ap("y", 1)], {"site": "s2"}),
                 (2, [r("x", [1]), r("y", [])], {"site": site3}),
                 (3, [r("x", []), r("y", [1])], {"site": site4}))

    def test_long_fork_across_sites_is_psi_valid_si_invalid(self):
        hist = self.long_fork("s1", "s2")
        res = self.check(hist)
        self.assertAnomaly(res, "G-nonadjacent", valid=True)
        self.assertEqual(res["forbidden"], [])
        self.assertNotIn("psi", res["not"])
        self.assertIn("snapshot-isolation", res["not"])
        rec = res["anomalies"]["G-nonadjacent"][0]
        self.assertEqual(rec["rw_sites"], ["s1", "s2"])
        self.assertFalse(rec["psi_forbidden"])
        si = self.check(hist, model="si")
        self.assertAnomaly(si, "G-nonadjacent", valid=False)
        self.assertEqual(si["forbidden"], ["G-nonadjacent"])

    def test_long_fork_within_one_site_fails_psi(self):
        res = self.check(self.long_fork("s1", "s1"))
        self.assertAnomaly(res, "G-nonadjacent")
        self.assertIn("G-nonadjacent", res["forbidden"])
        self.assertTrue(res["anomalies"]["G-nonadjacent"][0]["psi_forbidden"])

    def test_write_skew_is_psi_and_si_valid(self):
        hist = C((0, [r("x", []), r("y", []), ap("x", 1)]),
                 (1, [r("x", []), r("y", []), ap("y", 1)]))
        res = self.check(hist)
        self.assertAnomaly(res, "G2-item", valid=True)
        self.assertEqual(res["anomalies"]["G2-item"][0]["edges"],
                         ["rw", "rw"])
        self.assertAnomaly(self.check(hist, model="si"), "G2-item",
                           valid=True)
        self.assertAnomaly(self.check(hist, model="serializable"), "G2-item",
                           valid=False)
        self.assertIn("serializable", res["not"])
        self.assertNotIn("snapshot-isolation", res["not"])

    def test_ryw_violation_is_g_single_process(self):
        hist = serial_txns([(0, [ap("x", 1)], {}), (0, [r("x", [])], {})])
        res = self.check(hist)
        self.assertAnomaly(res, "G-single-process")
        self.assertEqual(res["anomalies"]["G-single-process"][0]["edges"],
                         ["rw", "process"])
        self.assertNotIn("snapshot-isolation", res["not"])
        self.assertIn("psi", res["not"])

    def test_read_from_own_later_txn_is_g1c_process(self):
        hist = serial_txns([(0, [r("x", [1])], {}), (0, [ap("x", 1)], {})])
        res = self.check(hist, realtime_edges=False)
        self.assertAnomaly(res, "G1c-process")
        self.assertEqual(sorted(res["anomalies"]["G1c-process"][0]["edges"]),
                         ["process", "wr"])

    def test_stale_read_within_site_is_g_single_realtime(self):
        # Two sessions; the read begins after the append completed.
        hist = serial_txns([(0, [ap("x", 1)], {}), (1, [r("x", [])], {})])
        res = self.check(hist)
        self.assertAnomaly(res, "G-single-realtime")
        self.assertNotIn("G-single", res["anomaly_types"])
        self.assertIn("strict-serializable", res["not"])
        self.assertIn("realtime", res["anomalies"]["G-single-realtime"][0]
                      ["explanation"])

    def test_stale_read_across_sites_is_allowed(self):
        hist = serial_txns([(0, [ap("x", 1)], {"site": "s1"}),
                            (1, [r("x", [])], {"site": "s2"})])
        res = self.check(hist)
        self.assertAnomaly(res, "G-single-realtime", valid=True)
        self.assertTrue(res["anomalies"]["G-single-realtime"][0]
                        ["cross_site_realtime"])

    def test_realtime_edges_can_be_turned_off(self):
        hist = serial_txns([(0, [ap("x", 1)], {}), (1, [r("x", [])], {})])
        res = self.check(hist, realtime_edges=False)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["edges"]["realtime"], 0)

    def test_search_timeout_is_unknown(self):
        res = self.check(C((0, [ap("x", 1), ap("y", 1)]),
                           (1, [r("x", []), r("y", [1])])),
                         cycle_search_timeout=0)
        self.assertEqual(res["valid"], "unknown")
        self.assertIn("cycle-search-timeout", res["anomaly_types"])


class AppendNonCycleTest(ElleTestCase):

    def test_lost_update(self):
        res = self.check(C((0, [ap("x", 1)]),
                           (1, [r("x", [1]), ap("x", 2)]),
                           (2, [r("x", [1]), ap("x", 3)])))
        self.assertAnomaly(res, "lost-update")
        self.assertIn("lost-update", res["forbidden"])

    def test_g1a(self):
        b = Builder()
        b.txn(0, [ap("x", 1)], type="fail")
        b.txn(1, [r("x", [1])])
        res = self.check(b.ops)
        self.assertAnomaly(res, "G1a")
        self.assertEqual(res["anomalies"]["G1a"][0]["element"], 1)

    def test_g1b(self):
        res = self.check(C((0, [ap("x", 1), ap("x", 2)]),
                           (1, [r("x", [1])])))
        self.assertAnomaly(res, "G1b")

    def test_internal(self):
        res = self.check(C((0, [ap("x", 1)]),
                           (1, [r("x", [1]), ap("x", 2), r("x", [1])])))
        self.assertAnomaly(res, "internal")

    def test_internal_append_then_read_without_it(self):
        res = self.check(C((0, [ap("x", 1), r("x", [])])))
        self.assertAnomaly(res, "internal")

    def test_future_read(self):
        res = self.check(C((0, [r("x", [1]), ap("x", 1)])))
        self.assertAnomaly(res, "future-read")

    def test_duplicate_elements(self):
        res = self.check(C((0, [ap("x", 1)]), (1, [r("x", [1, 1])])))
        self.assertAnomaly(res, "duplicate-elements")
        self.assertIn("read-uncommitted", res["not"])

    def test_incompatible_order(self):
        res = self.check(C((0, [ap("x", 1)]), (1, [ap("x", 2)]),
                           (2, [r("x", [1, 2])]), (3, [r("x", [2, 1])])))
        self.assertAnomaly(res, "incompatible-order")

    def test_garbage_read(self):
        res = self.check(C((0, [r("x", [9])])))
        self.assertAnomaly(res, "garbage-read")

    def test_dirty_update(self):
        b = Builder()
        b.txn(0, [ap("x", 1)], type="fail")
        b.txn(1, [ap("x", 2)])
        b.txn(2, [r("x", [1, 2])])
        res = self.check(b.ops)
        self.assertAnomaly(res, "dirty-update")
        self.assertIn("G1a", res["anomaly_types"])


class RegisterTest(ElleTestCase):

    def rw(self, hist, **opts):
        return self.check(hist, workload="rw-register", **opts)

    def test_valid(self):
        hist = serial_txns([(0, [r("x", None), w("x", 1)], {}),
                            (2, [r("x", 1)], {}),
                            (1, [r("x", 1), w("x", 2), w("y", 1)], {}),
                            (0, [r("x", 2), r("y", 1)], {})])
        res = self.rw(hist)
        self.assertIs(res["valid"], True, res)
        self.assertGreater(res["stats"]["edges"]["ww"], 0)
        self.assertGreater(res["stats"]["edges"]["rw"], 0)

    def test_g1c(self):
        res = self.rw(C((0, [w("x", 1), r("y", 1)]),
                        (1, [w("y", 1), r("x", 1)])))
        self.assertAnomaly(res, "G1c")

    def test_fractured_read_g_single(self):
        res = self.rw(C((0, [w("x", 1), w("y", 1)]),
                        (1, [r("x", None), r("y", 1)])))
        self.assertAnomaly(res, "G-single")
        self.assertIn("nil", res["anomalies"]["G-single"][0]["explanation"])

    def test_lost_update(self):
        res = self.rw(C((0, [r("x", None), w("x", 1)]),
                        (1, [r("x", None), w("x", 2)])))
        self.assertAnomaly(res, "lost-update")

    def test_g1a_g1b_garbage_internal(self):
        b = Builder()
        b.txn(0, [w("x", 1)], type="fail")
        b.txn(1, [w("y", 1), w("y", 2)])
        b.txn(2, [r("x", 1), r("y", 1), r("z", 7)])
        b.txn(3, [w("q", 5), r("q", 6)])
        res = self.rw(b.ops)
        for kind in ("G1a", "G1b", "garbage-read", "internal"):
            self.assertIn(kind, res["anomaly_types"], res["anomalies"])
        self.assertIs(res["valid"], False)

    def test_sequential_keys_cyclic_versions(self):
        # One session reads 2 then 1: with per-session version order the
        # order 1 < 2 (from the writer) contradicts 2 < 1.
        hist = serial_txns([(0, [r("x", None), w("x", 1)], {}),
                            (1, [r("x", 1), w("x", 2)], {}),
                            (2, [r("x", 2)], {}),
                            (2, [r("x", 1)], {})])
        res = self.rw(hist, sequential_keys=True)
        self.assertAnomaly(res, "cyclic-versions")
        self.assertIs(self.rw(hist, process_edges=False,
                              realtime_edges=False)["valid"], True)


def generate_serial_append(n, seed=7, processes=6, sites=("s1",)):
    """A valid history: txns apply atomically at completion, with up to
    `processes` in flight."""
    rnd = random.Random(seed)
    b = Builder()
    state = {}
    next_val = {}
    in_flight = {}
    done = 0
    started = 0
    while done < n:
        idle = [p for p in range(processes) if p not in in_flight]
        if started < n and idle and (not in_flight or rnd.random() < 0.5):
            p = rnd.choice(idle)
            base = started // 200
            value = []
            for _ in range(rnd.randint(1, 4)):
                k = base + min(int(rnd.expovariate(0.5)), 9)
                if rnd.random() < 0.5:
                    value.append(["r", k, None])
                else:
                    v = next_val.get(k, 0) + 1
                    next_val[k] = v
                    value.append(["append", k, v])
            site = sites[p % len(sites)]
            b.invoke(p, "txn", value, site=site)
            in_flight[p] = (value, site)
            started += 1
        else:
            p = rnd.choice(sorted(in_flight))
            value, site = in_flight.pop(p)
            out = []
            for f, k, v in value:
                if f == "r":
                    out.append(["r", k, list(state.get(k, []))])
                else:
                    state.setdefault(k, []).append(v)
                    out.append(["append", k, v])
            b.complete(p, "txn", out, site=site)
            done += 1
    return b.ops


class ScaleTest(ElleTestCase):

    def test_20k_valid_serial_history_checks_fast(self):
        hist = generate_serial_append(20000, sites=("s1", "s2"))
        t0 = time.monotonic()
        res = self.check(hist)
        elapsed = time.monotonic() - t0
        self.assertIs(res["valid"], True, res["anomaly_types"])
        self.assertEqual(res["stats"]["ok"], 20000)
        self.assertGreater(res["stats"]["edges"]["rw"], 1000)
        self.assertLess(elapsed, 10.0)


if __name__ == "__main__":
    unittest.main()
