"""Clock faults through libfaketime: bumps and strobes of a node's wall clock.

Each daemon reads its offset from a file on every clock call
(FAKETIME_TIMESTAMP_FILE, FAKETIME_NO_CACHE); monotonic time stays real.
`small` faults stay below meridiand's --max-clock-offset (500 ms): nothing
may break. `large` ones exceed it: a node must fence itself rather than
break a guarantee, and the checkers must still find no anomaly."""

import threading

from jepsen.nemesis.base import Nemesis, pick_target

LIMITS_S = {"small": 0.2, "large": 3.0}


class Clock(Nemesis):
    name = "clock"

    def __init__(self, cluster, leader_of=None, size="small"):
        super().__init__(cluster, leader_of)
        self.limit = LIMITS_S[size]
        self._strobe_stop = None
        self._strobe_thread = None

    def start(self, rng):
        nodes = pick_target(rng, self.cluster, self.leader_of, rng.choice(["one", "minority", "leader"]))
        if rng.random() < 0.5:
            offsets = {}
            for name in nodes:
                offsets[name] = round(rng.uniform(-self.limit, self.limit), 3)
                self.cluster.set_clock_offset(name, offsets[name])
            return {"f": "bump-clock", "value": offsets}
        delta = round(rng.uniform(0.01, self.limit), 3)
        period = round(rng.uniform(0.01, 0.5), 3)
        self._strobe_stop = threading.Event()

        def strobe():
            high = False
            while not self._strobe_stop.wait(period):
                high = not high
                for name in nodes:
                    self.cluster.set_clock_offset(name, delta if high else 0.0)

        self._strobe_thread = threading.Thread(target=strobe, name="clock-strobe", daemon=True)
        self._strobe_thread.start()
        return {"f": "strobe-clock", "value": {"nodes": nodes, "delta": delta, "period": period}}

    def _reset(self):
        if self._strobe_stop is not None:
            self._strobe_stop.set()
            self._strobe_thread.join()
            self._strobe_stop = None
        for n in self.cluster.nodes:
            self.cluster.set_clock_offset(n.name, 0.0)

    def stop(self):
        self._reset()
        return {"f": "reset-clock", "value": "all"}

    def final(self):
        self._reset()
        return {"clocks": "reset"}
