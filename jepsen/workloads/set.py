"""Set: unique inserts (one KV Put each) and full reads (one KV Scan at one
snapshot). An acknowledged insert must never go missing."""

from jepsen.harness.client import read_outcome, write_outcome
from jepsen.workloads.base import Counter, Workload

PREFIX = b"set/"


class Set(Workload):
    name = "set"
    checker = "set"

    def __init__(self):
        self.values = Counter()

    def next_op(self, rng, worker):
        # A read scans the whole set, so it costs as much as hundreds of adds
        # by the end of a run: a few are enough to catch a missing element.
        if rng.random() < 0.03:
            return "read", None
        return "add", self.values.take()

    def invoke(self, client, f, value):
        if f == "add":
            type_, _, error, node, *stamp = write_outcome(lambda: client.put(PREFIX + b"%d" % value, b"1"))
            return (type_, value, error, node, *stamp)
        type_, rows, error, node, *stamp = read_outcome(lambda: client.scan(prefix=PREFIX, keys_only=True))
        if type_ != "ok":
            return type_, None, error, node
        return ("ok", sorted(int(k[len(PREFIX):]) for k in _keys(rows)), None, node, *stamp)

    def final_ops(self, worker):
        return [("read", None)]


def _keys(result):
    return [kv.key for kv in result.kvs]
