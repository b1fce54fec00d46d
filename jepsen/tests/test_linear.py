"""Tests for jepsen.checkers.linear (Wing & Gong register checker)."""

import unittest

from jepsen.checkers import linear
from jepsen.tests.histories import Builder


def read(b, p, k, v):
    b.op(p, "read", [k, None], [k, v])


def write(b, p, k, v, type="ok"):
    b.op(p, "write", [k, v], [k, v], type=type)


class LinearTest(unittest.TestCase):

    def test_sequential_valid(self):
        b = Builder()
        read(b, 0, "a", None)
        write(b, 0, "a", 1)
        read(b, 1, "a", 1)
        b.op(1, "cas", ["a", [1, 2]], ["a", [1, 2]])
        read(b, 0, "a", 2)
        res = linear.check(b.ops)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["keys"], {"a": True})

    def test_concurrent_valid_either_order(self):
        # Two overlapping writes; reads during the overlap may see either.
        b = Builder()
        b.invoke(0, "write", ["a", 1])
        b.invoke(1, "write", ["a", 2])
        b.invoke(2, "read", ["a", None])
        b.complete(2, "read", ["a", 2])
        b.invoke(3, "read", ["a", None])
        b.complete(3, "read", ["a", 1])
        b.complete(0, "write", ["a", 1])
        b.complete(1, "write", ["a", 2])
        read(b, 2, "a", 1)
        res = linear.check(b.ops)
        self.assertIs(res["valid"], True, res)

    def test_stale_read(self):
        b = Builder()
        write(b, 0, "a", 1)
        write(b, 0, "a", 2)
        read(b, 1, "a", 1)  # invoked after write 2 completed
        res = linear.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["nonlinearizable"])
        rec = res["anomalies"]["nonlinearizable"][0]
        self.assertEqual(rec["stuck_op"]["value"], ["a", 1])
        self.assertEqual([p["value"][1] for p in rec["longest_prefix"]],
                         [1, 2])
        self.assertIn("cannot", rec["explanation"])

    def test_crashed_write_may_appear_later(self):
        b = Builder()
        b.invoke(0, "write", ["a", 1])
        b.complete(0, "write", ["a", 1], type="info")
        read(b, 1, "a", None)
        read(b, 1, "a", 1)
        read(b, 1, "a", 1)
        self.assertIs(linear.check(b.ops)["valid"], True)

    def test_crashed_write_may_never_happen(self):
        b = Builder()
        write(b, 0, "a", 1)
        b.invoke(1, "write", ["a", 2])  # never completes
        read(b, 0, "a", 1)
        self.assertIs(linear.check(b.ops)["valid"], True)

    def test_crashed_write_cannot_precede_its_invoke(self):
        b = Builder()
        read(b, 1, "a", 2)
        b.invoke(0, "write", ["a", 2])
        b.complete(0, "write", ["a", 2], type="info")
        res = linear.check(b.ops)
        self.assertIs(res["valid"], False)

    def test_cas(self):
        b = Builder()
        write(b, 0, "a", 1)
        b.op(1, "cas", ["a", [1, 3]], ["a", [1, 3]])
        b.op(0, "cas", ["a", [1, 4]], ["a", [1, 4]], type="fail")
        read(b, 0, "a", 3)
        self.assertIs(linear.check(b.ops)["valid"], True)

    def test_cas_that_cannot_have_matched(self):
        b = Builder()
        write(b, 0, "a", 1)
        b.op(1, "cas", ["a", [2, 3]], ["a", [2, 3]])
        res = linear.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomalies"]["nonlinearizable"][0]["stuck_op"]
                         ["f"], "cas")

    def test_keys_are_independent(self):
        b = Builder()
        write(b, 0, "a", 1)
        write(b, 0, "b", 1)
        read(b, 1, "b", 1)
        read(b, 1, "a", None)  # stale on key a only
        res = linear.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["keys"], {"a": False, "b": True})

    def test_op_budget_gives_unknown(self):
        b = Builder()
        for i in range(5):
            write(b, 0, "a", i)
        res = linear.check(b.ops, max_ops_per_key=3)
        self.assertEqual(res["valid"], "unknown")
        self.assertIn("a", res["unknown"])

    def test_many_concurrent_ops_finish(self):
        # 8 processes, 400 ops, reads see the latest completed write.
        b = Builder()
        val = None
        for rnd in range(50):
            for p in range(4):
                b.invoke(p, "write", ["a", rnd * 10 + p])
            for p in range(4, 8):
                b.invoke(p, "read", ["a", None])
            for p in range(4):
                b.complete(p, "write", ["a", rnd * 10 + p])
            val = rnd * 10 + 3
            for p in range(4, 8):
                b.complete(p, "read", ["a", val])
        res = linear.check(b.ops, time_limit_per_key=10)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["ok"], 400)


if __name__ == "__main__":
    unittest.main()
