"""A mixed schedule: each cycle picks one of several nemeses at random."""

from jepsen.nemesis.base import Nemesis


class Mixed(Nemesis):
    name = "mixed"

    def __init__(self, cluster, parts):
        super().__init__(cluster)
        self.parts = list(parts)
        self.active = None

    def setup(self):
        for p in self.parts:
            p.setup()

    def teardown(self):
        for p in self.parts:
            p.teardown()

    def start(self, rng):
        self.active = rng.choice(self.parts)
        return self.active.start(rng)

    def stop(self):
        active, self.active = self.active, None
        return active.stop() if active else {"f": "noop"}

    def final(self):
        healed = {}
        for p in self.parts:
            healed.update(p.final())
        return healed
