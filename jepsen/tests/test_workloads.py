"""The workloads' adapters against a fake SDK: what each op reads and
writes, and how SDK outcomes become ok / fail / info."""

import os
import random
import sys
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MERIDIAN_BUILD_DIR", os.path.join(REPO, "build", "dev"))
sys.path[:0] = [os.path.join(BUILD, "client", "python"), os.path.join(REPO, "client", "python")]

try:
    import grpc
    from meridian_client import MeridianError
    from jepsen.workloads.append import Append, RwRegister
    from jepsen.workloads.bank import Bank
    SDK = None
except ImportError as e:  # not built, or python3-grpcio missing
    SDK = str(e)


class Got(tuple):
    """Unpacks like the SDK's GetResult and has its fields."""

    @property
    def found(self):
        return self[0]

    @property
    def value(self):
        return self[1]


class Committed:
    commit_hlc = 1001


class FakeTxn:
    def __init__(self, store, fail_commit=None, fail_get=None):
        self.store, self.writes = store, {}
        self.fail_commit, self.fail_get = fail_commit, fail_get
        self.node, self.aborted, self.committed = "n1", False, False

    def get(self, key):
        if self.fail_get:
            raise self.fail_get
        if key in self.writes:
            return Got((True, self.writes[key], 0))
        return Got((key in self.store, self.store.get(key), 0))

    def put(self, key, value):
        self.writes[key] = value

    snapshot_hlc = 1000

    def commit(self):
        if self.fail_commit:
            raise self.fail_commit
        self.store.update(self.writes)
        self.committed = True
        return Committed()

    def abort(self):
        self.aborted = True


class FakeClient:
    def __init__(self, **txn_args):
        self.store, self.txn_args, self.txns = {}, txn_args, []

    def begin(self, timeout_ms=0):
        self.txns.append(FakeTxn(self.store, **self.txn_args))
        return self.txns[-1]


def error(kind, code=None, sent=True):
    return MeridianError(code or grpc.StatusCode.ABORTED, f"{kind} for the test", kind=kind, sent=sent)


@unittest.skipIf(SDK is not None, f"the Python SDK does not import: {SDK}")
class AppendTest(unittest.TestCase):
    def test_appends_extend_the_stored_list_and_reads_see_the_txn_s_own_writes(self):
        client = FakeClient()
        w = Append()
        self.assertEqual(w.invoke(client, "txn", [["append", 3, 1]])[0], "ok")
        type_, value = w.invoke(client, "txn", [["append", 3, 2], ["r", 3, None], ["r", 4, None]])[:2]
        self.assertEqual(type_, "ok")
        self.assertEqual(value, [["append", 3, 2], ["r", 3, [1, 2]], ["r", 4, []]])
        self.assertEqual(client.store[b"append/3"], b"1,2")

    def test_an_ok_txn_records_the_server_s_snapshot_and_commit_timestamps(self):
        outcome = Append().invoke(FakeClient(), "txn", [["append", 1, 1]])
        self.assertEqual(outcome[4], {"snapshot_hlc": 1000, "commit_hlc": 1001})

    def test_rw_register_reads_a_single_value(self):
        client = FakeClient()
        w = RwRegister()
        w.invoke(client, "txn", [["w", 1, 9]])
        self.assertEqual(w.invoke(client, "txn", [["r", 1, None], ["r", 2, None]])[1],
                         [["r", 1, 9], ["r", 2, None]])

    def test_generated_values_are_unique_per_key(self):
        w = Append(active_keys=3, max_writes=5)
        rng = random.Random(1)
        seen = set()
        for _ in range(500):
            for f, k, v in w.next_op(rng, 0)[1]:
                if f == "append":
                    self.assertNotIn((k, v), seen)
                    seen.add((k, v))
        self.assertGreater(len({k for k, _ in seen}), 3)  # keys retire and new ones come in


@unittest.skipIf(SDK is not None, f"the Python SDK does not import: {SDK}")
class OutcomeTest(unittest.TestCase):
    def test_a_commit_the_server_refused_is_a_fail(self):
        client = FakeClient(fail_commit=error("CONFLICT"))
        type_, _, err = Append().invoke(client, "txn", [["append", 1, 1]])[:3]
        self.assertEqual((type_, err.split(":")[0]), ("fail", "CONFLICT"))

    def test_a_commit_with_an_unknown_outcome_is_info(self):
        for e in (error("COMMIT_UNKNOWN", grpc.StatusCode.UNAVAILABLE),
                  error(None, grpc.StatusCode.DEADLINE_EXCEEDED)):
            client = FakeClient(fail_commit=e)
            self.assertEqual(Append().invoke(client, "txn", [["append", 1, 1]])[0], "info", e)

    def test_any_error_before_commit_is_a_fail_and_aborts(self):
        client = FakeClient(fail_get=error(None, grpc.StatusCode.DEADLINE_EXCEEDED))
        type_ = Append().invoke(client, "txn", [["append", 1, 1]])[0]
        self.assertEqual(type_, "fail")
        self.assertTrue(client.txns[0].aborted)
        self.assertFalse(client.txns[0].committed)


@unittest.skipIf(SDK is not None, f"the Python SDK does not import: {SDK}")
class BankTest(unittest.TestCase):
    def setUp(self):
        self.client = FakeClient()
        self.bank = Bank(accounts=3, total=10)
        self.bank.setup(self.client)

    def test_setup_spreads_the_total(self):
        self.assertEqual(sum(int(v) for v in self.client.store.values()), 10)

    def test_a_transfer_moves_money_and_a_read_sees_every_account(self):
        t = {"from": 0, "to": 1, "amount": 2}
        self.assertEqual(self.bank.invoke(self.client, "transfer", t)[0], "ok")
        type_, balances = self.bank.invoke(self.client, "read", None)[:2]
        self.assertEqual(type_, "ok")
        # Setup gave 4, 3, 3 (the remainder goes to account 0).
        self.assertEqual(balances, {"0": 2, "1": 5, "2": 3})

    def test_an_overdraft_is_aborted_and_changes_nothing(self):
        before = dict(self.client.store)
        type_, _, err = self.bank.invoke(self.client, "transfer", {"from": 1, "to": 2, "amount": 99})[:3]
        self.assertEqual((type_, err), ("fail", "aborted: insufficient funds"))
        self.assertEqual(self.client.store, before)


if __name__ == "__main__":
    unittest.main()
