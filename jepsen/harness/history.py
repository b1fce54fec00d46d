"""The run's history: every invocation and completion, as JSON lines.

The shape is Jepsen's (and elle-cli's): index, time (ns since the run
began), type invoke|ok|fail|info, process, f, value, plus node, site,
session and error. See /docs/testing.md "History format".
"""

import json
import threading
import time


class History:
    def __init__(self, path, site="s1"):
        self._file = open(path, "w")
        self._lock = threading.Lock()
        self._index = 0
        self._start = time.monotonic_ns()
        self.site = site
        self.counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
        self.nemesis_counts = {}

    def elapsed_s(self):
        return (time.monotonic_ns() - self._start) / 1e9

    def record(self, type_, process, f, value, **extra):
        with self._lock:
            op = {"index": self._index, "time": time.monotonic_ns() - self._start, "type": type_,
                  "process": process, "f": f, "value": value}
            if process != "nemesis":
                op.setdefault("site", self.site)
                self.counts[type_] += 1
            elif type_ == "info" and extra.get("phase") == "start":
                self.nemesis_counts[f] = self.nemesis_counts.get(f, 0) + 1
            op.update({k: v for k, v in extra.items() if v is not None})
            self._index += 1
            self._file.write(json.dumps(op, separators=(",", ":")) + "\n")
            return op

    def close(self):
        with self._lock:
            self._file.flush()
            self._file.close()
