"""Per-key linearizable registers: single-key Get, Put and compare-and-set
(a one-shot transaction), over a few keys at a time, each retired after
`ops_per_key` ops so every key's history stays small enough for the
Wing & Gong search."""

import threading

from jepsen.harness.client import read_outcome, write_outcome
from meridian_client import Compare, Put
from jepsen.workloads.base import Workload


def reg_key(k):
    return f"reg/{k}".encode()


class Register(Workload):
    name = "register"
    checker = "register"

    def __init__(self, keys=3, ops_per_key=300, values=5):
        self.active = list(range(keys))
        self.next_key = keys
        self.ops = {}
        self.ops_per_key = ops_per_key
        self.values = values
        self.lock = threading.Lock()

    def _key(self, rng):
        with self.lock:
            i = rng.randrange(len(self.active))
            k = self.active[i]
            self.ops[k] = self.ops.get(k, 0) + 1
            if self.ops[k] >= self.ops_per_key:
                self.active[i] = self.next_key
                self.next_key += 1
            return k

    def next_op(self, rng, worker):
        k = self._key(rng)
        r = rng.random()
        if r < 0.5:
            return "read", [k, None]
        if r < 0.75:
            return "write", [k, rng.randrange(self.values)]
        return "cas", [k, [rng.randrange(self.values), rng.randrange(self.values)]]

    def invoke(self, client, f, value):
        k, v = value
        key = reg_key(k)
        if f in ("read", "write"):
            return read_or_write(client, key, f, value)
        old, new = v
        type_, res, error, node, *stamp = write_outcome(
            lambda: client.execute([Compare(key, "VALUE", "EQUAL", str(old).encode())],
                                   [Put(key, str(new).encode())]))
        if type_ == "ok" and not res.succeeded:
            return "fail", value, "cas: compare false", node
        return (type_, value, error, node, *stamp)


def read_or_write(client, key, f, value, **read_options):
    """A single-key Get ("read", value [k, None]) or Put ("write", [k, v]) of
    an int register; the read completes as [k, v or None]. read_options go
    to the Get (e.g. consistency=SESSION)."""
    k, v = value
    if f == "read":
        type_, res, error, node, *stamp = read_outcome(lambda: client.get(key, **read_options))
        if type_ != "ok":
            return type_, None, error, node
        found, raw, _ = res
        return "ok", [k, int(raw) if found else None], None, node, *stamp
    type_, _, error, node, *stamp = write_outcome(lambda: client.put(key, str(v).encode()))
    return (type_, value, error, node, *stamp)
