"""Tests for jepsen.checkers.bank."""

import unittest

from jepsen.checkers import bank
from jepsen.tests.histories import Builder


def history(reads, transfers=(("ok", 0, 1, 5),)):
    b = Builder()
    for t, a, c, n in transfers:
        v = {"from": a, "to": c, "amount": n}
        b.op(0, "transfer", v, v, type=t)
    for balances in reads:
        b.op(1, "read", None, balances)
    return b.ops


class BankTest(unittest.TestCase):
    OPTS = {"accounts": [0, 1, 2], "total": 30}

    def test_valid(self):
        res = bank.check(history([{"0": 10, "1": 10, "2": 10},
                                  {"0": 5, "1": 15, "2": 10}],
                                 [("ok", 0, 1, 5), ("fail", 1, 2, 50),
                                  ("info", 2, 0, 1)]), **self.OPTS)
        self.assertIs(res["valid"], True, res)
        self.assertEqual(res["stats"]["reads"], 2)
        self.assertEqual(res["stats"]["transfers"],
                         {"ok": 1, "fail": 1, "info": 1})

    def test_wrong_total(self):
        res = bank.check(history([{"0": 10, "1": 15, "2": 10}]), **self.OPTS)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["wrong-total"])
        self.assertEqual(res["anomalies"]["wrong-total"][0]["total"], 35)

    def test_negative_balance(self):
        res = bank.check(history([{"0": -5, "1": 25, "2": 10}]), **self.OPTS)
        self.assertIs(res["valid"], False)
        self.assertEqual(res["anomaly_types"], ["negative-value"])
        self.assertIs(bank.check(history([{"0": -5, "1": 25, "2": 10}]),
                                 negative_ok=True, **self.OPTS)["valid"],
                      True)

    def test_missing_account(self):
        res = bank.check(history([{"0": 15, "1": 15}]), **self.OPTS)
        self.assertIs(res["valid"], False)
        self.assertIn("missing-account", res["anomaly_types"])
        self.assertEqual(res["anomalies"]["missing-account"][0]["accounts"],
                         ["2"])
        self.assertEqual(res["stats"]["bad_reads"], 1)

    def test_defaults_from_first_read(self):
        res = bank.check(history([{"0": 10, "1": 10}, {"0": 11, "1": 10}]))
        self.assertIs(res["valid"], False)
        self.assertEqual(res["stats"]["total"], 20)
        self.assertEqual(res["anomaly_types"], ["wrong-total"])

    def test_no_reads_is_unknown(self):
        self.assertEqual(bank.check(history([]), **self.OPTS)["valid"],
                         "unknown")


if __name__ == "__main__":
    unittest.main()
