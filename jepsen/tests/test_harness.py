"""Unit tests of the harness's pure parts: partition shapes and the verdict."""

import random
import unittest

from jepsen.harness import verdict
from jepsen.nemesis import partition

NAMES = ["n1", "n2", "n3", "n4", "n5"]


def can_reach(grudge, src, dst):
    return src not in grudge.get(dst, [])


class PartitionShapesTest(unittest.TestCase):
    def test_halves_cut_every_link_across_and_none_within(self):
        g = partition.halves(NAMES, random.Random(1))
        sides = {}
        for n in NAMES:
            sides[n] = frozenset([n] + [m for m in NAMES if m != n and can_reach(g, m, n)])
        self.assertEqual(len(set(sides.values())), 2)
        self.assertEqual(sorted(len(s) for s in set(sides.values())), [2, 3])
        for a in NAMES:
            for b in NAMES:
                self.assertEqual(can_reach(g, a, b), sides[a] == sides[b], (a, b))

    def test_isolate_cuts_one_node_both_ways(self):
        g = partition.isolate(NAMES[:3], "n2")
        self.assertFalse(can_reach(g, "n1", "n2"))
        self.assertFalse(can_reach(g, "n2", "n3"))
        self.assertTrue(can_reach(g, "n1", "n3"))
        self.assertTrue(can_reach(g, "n3", "n1"))

    def test_bridge_keeps_one_node_talking_to_both_sides(self):
        g = partition.bridge(NAMES, random.Random(2))
        hubs = [n for n in NAMES if all(can_reach(g, n, m) and can_reach(g, m, n) for m in NAMES)]
        self.assertEqual(len(hubs), 1)
        others = [n for n in NAMES if n != hubs[0]]
        cut = [(a, b) for a in others for b in others if not can_reach(g, a, b)]
        self.assertEqual(len(cut), 8)  # 2 x 2 nodes, both directions

    def test_majorities_ring_every_node_hears_a_majority_and_no_two_the_same(self):
        for names in (NAMES[:3], NAMES):
            g = partition.majorities_ring(names, random.Random(3))
            heard = {}
            for n in names:
                heard[n] = frozenset(m for m in names if can_reach(g, m, n))
                self.assertEqual(len(heard[n]), len(names) // 2 + 1, n)
            self.assertEqual(len(set(heard.values())), len(names))


def txn(type_, mops, process=0):
    return {"type": type_, "process": process, "f": "txn", "value": mops}


def phase(name):
    return {"type": "info", "process": "nemesis", "f": "phase", "value": name}


class LostAppendsTest(unittest.TestCase):
    def test_an_acked_append_missing_from_the_final_read_is_lost(self):
        h = [txn("ok", [["append", 1, 1]]), txn("ok", [["append", 1, 2]]), txn("info", [["append", 1, 3]]),
             phase("final"), txn("ok", [["r", 1, [1, 3]]])]
        lost, missing = verdict.lost_appends(h)
        self.assertEqual(lost, [(1, 2)])
        self.assertEqual(missing, [])

    def test_reads_before_the_final_phase_do_not_count(self):
        h = [txn("ok", [["append", 1, 1]]), txn("ok", [["r", 1, []]]), phase("final"),
             txn("ok", [["r", 1, [1]]])]
        self.assertEqual(verdict.lost_appends(h), ([], []))

    def test_a_key_without_a_final_read_is_reported(self):
        h = [txn("ok", [["append", 7, 1]]), phase("final")]
        self.assertEqual(verdict.lost_appends(h), ([], [7]))


class Worker:
    def __init__(self, index, first_ok, error=None, harness_errors=()):
        self.index, self.first_ok_after_heal, self.error = index, first_ok, error
        self.harness_errors = list(harness_errors)


class JudgeTest(unittest.TestCase):
    def judge(self, result=None, counts=None, workers=None, exits=(), cycles=3, lost=(), timestamps=None):
        return verdict.judge(result or {"valid": True}, counts or {"ok": 6000, "fail": 10, "info": 100},
                             workers or [Worker(0, 1.5)], list(exits), cycles, min_ok=5000, max_info=0.3,
                             recovery_bar=10.0, min_cycles=3, lost=lost,
                             timestamps=timestamps)

    def test_a_clean_cell_passes(self):
        self.assertTrue(self.judge()["pass"])

    def test_each_criterion_fails_the_cell(self):
        cases = {
            "unknown": dict(result={"valid": "unknown"}),
            "invalid": dict(result={"valid": False, "anomaly_types": ["G1c"]}),
            "few ok": dict(counts={"ok": 10, "fail": 0, "info": 0}),
            "indeterminate": dict(counts={"ok": 6000, "fail": 0, "info": 4000}),
            "slow recovery": dict(workers=[Worker(0, 12.0)]),
            "never recovered": dict(workers=[Worker(0, None)]),
            "crashed worker": dict(workers=[Worker(0, 1.0, error="boom")]),
            "harness bug": dict(workers=[Worker(0, 1.0, harness_errors=["TypeError()"])]),
            "daemon exit": dict(exits=[("n1", -11)]),
            "few cycles": dict(cycles=1),
            "lost": dict(lost=[(1, 2)]),
            "timestamps": dict(timestamps={"valid": False, "anomaly_types": ["missed-visible"]}),
        }
        for name, kwargs in cases.items():
            with self.subTest(name):
                judged = self.judge(**kwargs)
                self.assertFalse(judged["pass"])
                self.assertEqual(len(judged["reasons"]), 1, judged["reasons"])


if __name__ == "__main__":
    unittest.main()
