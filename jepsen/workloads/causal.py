"""Causal register: for each of its keys a session runs read-init, write 1,
read, write 2, read. Reads are SESSION reads: the SDK spreads them over the
shard's replicas, followers included, and each replica waits until it
covers the session's token. A read must never go back behind the session's
own writes or earlier reads (read-your-writes, monotonic reads and writes),
whatever the nemesis does to clocks (issue 7: skew under and over
--max-clock-offset)."""

from meridian_client import SESSION

from jepsen.workloads.register import read_or_write, reg_key
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
        return read_or_write(client, b"causal/" + reg_key(value[0]), f, value, consistency=SESSION)
