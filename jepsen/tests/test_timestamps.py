"""The white-box timestamp check on hand-written list-append histories."""

import unittest

from jepsen.checkers import timestamps


def txn(i, process, mops_in, mops_out, snap=None, commit=None, type_="ok"):
    inv = {"index": 2 * i, "time": 2 * i, "type": "invoke", "process": process, "f": "txn", "value": mops_in}
    comp = {"index": 2 * i + 1, "time": 2 * i + 1, "type": type_, "process": process, "f": "txn",
            "value": mops_out, "session": process}
    if snap:
        comp["snapshot_hlc"] = snap
    if commit:
        comp["commit_hlc"] = commit
    return [inv, comp]


def history(*txns):
    return [op for t in txns for op in t]


W1 = txn(0, 0, [["append", 1, 1]], [["append", 1, 1]], snap=10, commit=11)
W2 = txn(1, 0, [["append", 1, 2]], [["append", 1, 2]], snap=12, commit=13)


class TimestampCheckTest(unittest.TestCase):
    def test_reads_consistent_with_their_snapshots_are_valid(self):
        h = history(W1, W2, txn(2, 1, [["r", 1, None]], [["r", 1, [1]]], snap=12),
                    txn(3, 1, [["r", 1, None]], [["r", 1, [1, 2]]], snap=14))
        r = timestamps.check(h)
        self.assertTrue(r["valid"], r)
        self.assertEqual(r["stats"]["txns_checked"], 4)

    def test_a_read_of_a_version_committed_after_the_snapshot_is_flagged(self):
        h = history(W1, W2, txn(2, 1, [["r", 1, None]], [["r", 1, [1, 2]]], snap=12))
        r = timestamps.check(h)
        self.assertEqual(r["anomaly_types"], ["read-from-the-future"])
        self.assertIn("committed at 13", r["anomalies"]["read-from-the-future"][0]["explanation"])

    def test_missing_a_version_the_snapshot_covers_is_flagged(self):
        h = history(W1, W2, txn(2, 1, [["r", 1, None]], [["r", 1, [1]]], snap=20),
                    txn(3, 2, [["r", 1, None]], [["r", 1, [1, 2]]], snap=21))
        r = timestamps.check(h)
        self.assertEqual(r["anomaly_types"], ["missed-visible"])

    def test_an_acknowledged_append_no_read_shows_is_flagged_as_missed(self):
        # A lost update: W2 appended on a snapshot without W1 and still
        # committed, so no read ever shows W1's element.
        lost = txn(1, 1, [["append", 1, 2]], [["append", 1, 2]], snap=10, commit=13)
        h = history(W1, lost, txn(2, 2, [["r", 1, None]], [["r", 1, [2]]], snap=20))
        r = timestamps.check(h)
        self.assertEqual(r["anomaly_types"], ["missed-visible"])
        self.assertIn("without 1, appended by T1", r["anomalies"]["missed-visible"][0]["explanation"])

    def test_a_session_whose_snapshot_is_behind_its_own_write_is_flagged(self):
        h = history(W1, txn(1, 0, [["r", 1, None]], [["r", 1, []]], snap=5))
        r = timestamps.check(h)
        self.assertIn("session-behind-own-write", r["anomaly_types"])

    def test_a_transaction_s_own_appends_are_not_judged_by_its_snapshot(self):
        h = history(txn(0, 0, [["append", 1, 1], ["r", 1, None]], [["append", 1, 1], ["r", 1, [1]]],
                        snap=10, commit=11))
        self.assertTrue(timestamps.check(h)["valid"])


if __name__ == "__main__":
    unittest.main()
