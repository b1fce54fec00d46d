"""Bank: transfers between accounts and whole-table reads, each one
transaction. Every read must sum to the total with no negative balance."""

from jepsen.harness.client import TxnAborted, run_txn
from jepsen.workloads.base import Workload


def account_key(a):
    return f"bank/{a}".encode()


class Bank(Workload):
    name = "bank"
    checker = "bank"

    def __init__(self, accounts=8, total=80, max_transfer=5):
        self.accounts = list(range(accounts))
        self.total = total
        self.max_transfer = max_transfer

    def setup(self, client):
        share = self.total // len(self.accounts)
        balances = {a: share for a in self.accounts}
        balances[self.accounts[0]] += self.total - share * len(self.accounts)

        def body(txn):
            for a, b in balances.items():
                txn.put(account_key(a), str(b).encode())

        for _ in range(100):
            type_, _, error, *_ = run_txn(client, body)
            if type_ == "ok":
                return
            if type_ == "info":
                raise RuntimeError(f"bank setup outcome unknown ({error}); start over")
        raise RuntimeError(f"bank setup failed: {error}")

    def next_op(self, rng, worker):
        if rng.random() < 0.4:
            return "read", None
        a, b = rng.sample(self.accounts, 2)
        return "transfer", {"from": a, "to": b, "amount": rng.randint(1, self.max_transfer)}

    def _read(self, txn):
        out = {}
        for a in self.accounts:
            found, raw, _ = txn.get(account_key(a))
            out[str(a)] = int(raw) if found else None
        return out

    def _transfer(self, txn, t):
        src = txn.get(account_key(t["from"]))
        dst = txn.get(account_key(t["to"]))
        if not src.found or not dst.found:
            raise TxnAborted("account missing")
        a, b = int(src.value), int(dst.value)
        if a < t["amount"]:
            raise TxnAborted("insufficient funds")
        txn.put(account_key(t["from"]), str(a - t["amount"]).encode())
        txn.put(account_key(t["to"]), str(b + t["amount"]).encode())
        return t

    def invoke(self, client, f, value):
        if f == "read":
            return run_txn(client, self._read)
        return run_txn(client, lambda txn: self._transfer(txn, value))

    def final_ops(self, worker):
        return [("read", None)]

    def check_options(self):
        return {"accounts": [str(a) for a in self.accounts], "total": self.total}
