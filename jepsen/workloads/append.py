"""Elle's list-append: transactions of 1-4 reads and appends over a rolling
set of keys; every read reveals a prefix of its key's version order.

A key's list is stored as "1,5,9"; an append is a read-modify-write inside
one interactive transaction, which first-committer-wins makes safe (a
native append op would be independent of that; we have none)."""

import threading

from jepsen.harness.client import run_txn
from jepsen.workloads.base import Workload, decode_list, encode_list


def key_bytes(prefix, k):
    return f"{prefix}/{k}".encode()


class KeyPool:
    """`active` keys in play; a key retires after `max_writes` writes.

    Lower keys of the pool are likelier (each about twice the next), so a few
    keys are hot, as Elle's generator does."""

    def __init__(self, active=10, max_writes=128):
        self.active = list(range(active))
        self.next_key = active
        self.max_writes = max_writes
        self.writes = {}
        self.lock = threading.Lock()

    def pick(self, rng):
        with self.lock:
            i = min(int(rng.expovariate(0.7)), len(self.active) - 1)
            return self.active[i]

    def next_value(self, k):
        """The next unique value for key k; retires k when it has enough."""
        with self.lock:
            n = self.writes.get(k, 0) + 1
            self.writes[k] = n
            if n >= self.max_writes and k in self.active:
                self.active[self.active.index(k)] = self.next_key
                self.next_key += 1
            return n


class Append(Workload):
    name = "append"
    checker = "append"
    prefix = "append"
    write_f = "append"

    def __init__(self, active_keys=10, max_writes=128, max_txn_len=4):
        self.pool = KeyPool(active_keys, max_writes)
        self.max_txn_len = max_txn_len

    def next_op(self, rng, worker):
        mops = []
        for _ in range(rng.randint(1, self.max_txn_len)):
            k = self.pool.pick(rng)
            if rng.random() < 0.5:
                mops.append(["r", k, None])
            else:
                mops.append([self.write_f, k, self.pool.next_value(k)])
        return "txn", mops

    def apply(self, txn, mops):
        out = []
        for f, k, v in mops:
            key = key_bytes(self.prefix, k)
            if f == "r":
                out.append(["r", k, self.read(txn, key)])
            else:
                self.write(txn, key, v)
                out.append([f, k, v])
        return out

    def read(self, txn, key):
        found, raw, _ = txn.get(key)
        return decode_list(raw) if found else []

    def write(self, txn, key, v):
        txn.put(key, encode_list(self.read(txn, key) + [v]))

    def invoke(self, client, f, value):
        return run_txn(client, lambda txn: self.apply(txn, value))

    def final_ops(self, worker):
        if worker != 0:
            return []
        with self.pool.lock:
            keys = sorted(self.pool.writes)
        return [("txn", [["r", k, None] for k in keys[i:i + 20]]) for i in range(0, len(keys), 20)]


class RwRegister(Append):
    """Elle's rw-register: reads and unique writes of single values."""

    name = "rw-register"
    checker = "rw-register"
    prefix = "rw"
    write_f = "w"

    def read(self, txn, key):
        found, raw, _ = txn.get(key)
        return int(raw) if found else None

    def write(self, txn, key, v):
        txn.put(key, str(v).encode())
