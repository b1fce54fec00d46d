"""What every workload offers the runner.

  setup(client)            once, before the workers start;
  next_op(rng, worker)     the next (f, value) a worker invokes, or None;
  invoke(client, f, value) runs it: (type, completion value, error, node);
  final_ops(worker)        what each worker runs until ok after the heal;
  checker, check_options   how the history is judged (jepsen.checkers).
"""

import threading


class Workload:
    name = "?"
    checker = "?"

    def setup(self, client):
        pass

    def next_op(self, rng, worker):
        raise NotImplementedError

    def invoke(self, client, f, value):
        raise NotImplementedError

    def final_ops(self, worker):
        return []

    def check_options(self):
        return {}


class Counter:
    """A thread-safe source of unique ints."""

    def __init__(self, start=1):
        self._next = start
        self._lock = threading.Lock()

    def take(self):
        with self._lock:
            v = self._next
            self._next += 1
            return v


def encode_list(values):
    return ",".join(str(v) for v in values).encode()


def decode_list(raw):
    if not raw:
        return []
    return [int(x) for x in raw.decode().split(",")]
