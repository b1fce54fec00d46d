"""Tests for jepsen.checkers.set_full."""

import unittest

from jepsen.checkers import set_full
from jepsen.tests.histories import Builder


def add(b, p, e, type="ok"):
    b.op(p, "add", e, e, type=type)


def read(b, p, es):
    b.op(p, "read", None, list(es))


class SetFullTest(unittest.TestCase):

    def test_valid(self):
        b = Builder()
        add(b, 0, 1)
        b.invoke(0, "add", 2)
        read(b, 1, [1])          # concurrent with add 2: may miss it
        b.complete(0, "add", 2)
        read(b, 1, [1, 2])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["acknowledged"], 2)
        self.assertEqual(res["stats"]["counts"]["lost"], 0)

    def test_lost_missing_from_final_read(self):
        b = Builder()
        add(b, 0, 1)
        add(b, 0, 2)
        read(b, 1, [1])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["lost"])
        self.assertEqual(res["anomalies"]["lost"][0]["element"], 2)

    def test_lost_after_seen(self):
        b = Builder()
        b.invoke(0, "add", 1)
        b.complete(0, "add", 1, type="info")
        read(b, 1, [1])
        read(b, 1, [])
        read(b, 1, [])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["lost"])

    def test_stale_is_fatal_only_when_linearizable(self):
        b = Builder()
        add(b, 0, 1)
        read(b, 1, [])
        read(b, 1, [1])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["anomaly_types"], ["stale"])
        self.assertEqual(res["stats"]["counts"]["stale"], 1)
        lin = set_full.check(b.ops, linearizable=True)
        self.assertIs(lin["valid"], False)

    def test_gone_and_back_is_stale_not_lost(self):
        # E.g. a read served by a lagging site between two that see it.
        b = Builder()
        add(b, 0, 1)
        read(b, 1, [1])
        read(b, 2, [], )
        read(b, 1, [1])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["anomaly_types"], ["stale"])

    def test_site_filter(self):
        b = Builder()
        b.op(0, "add", 1, 1, site="s1")
        b.op(1, "read", None, [1], site="s1")
        b.op(2, "read", None, [], site="s2")
        self.assertIs(set_full.check(b.ops)["valid"], False)
        self.assertIs(set_full.check(b.ops, site="s1")["valid"], True)

    def test_recovered_and_unexpected(self):
        b = Builder()
        b.invoke(0, "add", 1)
        b.complete(0, "add", 1, type="info")
        add(b, 2, 3, type="fail")
        read(b, 1, [1])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["counts"]["recovered"], 1)
        read(b, 1, [1, 3, 9])
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["unexpected"])
        self.assertEqual(sorted(x["element"] for x in
                                res["anomalies"]["unexpected"]), [3, 9])

    def test_never_read(self):
        b = Builder()
        read(b, 1, [])
        add(b, 0, 1)
        res = set_full.check(b.ops)
        self.assertIs(res["valid"], True)
        self.assertEqual(res["stats"]["counts"]["never-read"], 1)


if __name__ == "__main__":
    unittest.main()
