"""Tests for jepsen.checkers.causal."""

import unittest

from jepsen.checkers import causal
from jepsen.tests.histories import Builder


def session(reads, key="k", process=0, write_types=("ok", "ok")):
    """read-init, write 1, read, write 2, read with the given read values."""
    b = Builder()
    b.op(process, "read", [key, None], [key, reads[0]])
    b.op(process, "write", [key, 1], [key, 1], type=write_types[0])
    b.op(process, "read", [key, None], [key, reads[1]])
    b.op(process, "write", [key, 2], [key, 2], type=write_types[1])
    b.op(process, "read", [key, None], [key, reads[2]])
    return b.ops


class CausalTest(unittest.TestCase):

    def test_valid(self):
        res = causal.check(session([None, 1, 2]))
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["reads"], 3)

    def test_read_your_writes(self):
        res = causal.check(session([None, None, 2]))
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["read-your-writes"])

    def test_monotonic_writes(self):
        res = causal.check(session([None, 1, 1]))
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["monotonic-writes"])

    def test_monotonic_reads(self):
        # The first write's outcome is unknown (no RYW claim), yet a read
        # that saw it is followed by one that does not.
        b = Builder()
        b.op(0, "read", ["k", None], ["k", None])
        b.op(0, "write", ["k", 1], ["k", 1], type="info",
             session=7)
        b.op(1, "read", ["k", None], ["k", 1], session=7)
        b.op(1, "read", ["k", None], ["k", None], session=7)
        res = causal.check(b.ops)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["monotonic-reads"])

    def test_init_read_not_nil(self):
        res = causal.check(session([2, 1, 2]))
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["unexpected-value"])

    def test_failed_write_read(self):
        res = causal.check(session([None, 1, 2], write_types=("ok", "fail")))
        self.assertIs(res["valid"], False)
        self.assertIn("unexpected-value", res["anomaly_types"])


if __name__ == "__main__":
    unittest.main()
