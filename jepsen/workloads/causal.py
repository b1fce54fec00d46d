"""Causal register: for each of its keys a session runs read-init, write 1,
read, write 2, read, moving to a random node between ops where the SDK
allows it. A read must never go back behind the session's own writes or
earlier reads (read-your-writes, monotonic reads and writes)."""

from jepsen.workloads.register import reg_key
from jepsen.harness.client import read_outcome, write_outcome
from jepsen.workloads.base import Workload

STEPS = (("read", None), ("write", 1), ("read", None), ("write", 2), ("read", None))


class Causal(Workload):
    name = "causal"
    checker = "causal"

    def __init__(self):
        self.state = {}  # worker -> (key, step)

    def next_op(self, rng, worker):
        key, step = self.state.get(worker, (worker * 1_000_000, 0))
        if step == len(STEPS):
            key, step = key + 1, 0
        self.state[worker] = (key, step + 1)
        f, v = STEPS[step]
        return f, [key, v]

    def invoke(self, client, f, value):
        k, v = value
        key = b"causal/" + reg_key(k)
        if f == "read":
            type_, res, error, node, *stamp = read_outcome(lambda: client.get(key))
            if type_ != "ok":
                return type_, None, error, node
            found, raw, _ = res
            return "ok", [k, int(raw) if found else None], None, node, *stamp
        type_, _, error, node, *stamp = write_outcome(lambda: client.put(key, str(v).encode()))
        return (type_, value, error, node, *stamp)
