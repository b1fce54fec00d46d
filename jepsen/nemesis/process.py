"""Process faults: kill -9 and restart, SIGSTOP and SIGCONT.

Targets: one random node, the current leader, or a random minority (so a
majority stays up and the cluster should keep committing)."""

from jepsen.nemesis.base import Nemesis, pick_target


class Kill(Nemesis):
    name = "kill"

    def __init__(self, cluster, leader_of=None, targets=("one", "leader", "minority")):
        super().__init__(cluster, leader_of)
        self.targets = list(targets)
        self.down = []

    def start(self, rng):
        spec = rng.choice(self.targets)
        self.down = pick_target(rng, self.cluster, self.leader_of, spec)
        for name in self.down:
            self.cluster.kill(name)
        return {"f": "kill", "value": {"target": spec, "nodes": self.down}}

    def stop(self):
        restarted = self._restart()
        return {"f": "restart", "value": restarted}

    def _restart(self):
        restarted = [n.name for n in self.cluster.nodes if not n.running]
        for name in restarted:
            self.cluster.start(name)
        self.down = []
        return restarted

    def final(self):
        return {"restarted": self._restart()}


class Pause(Nemesis):
    name = "pause"

    def __init__(self, cluster, leader_of=None, targets=("one", "leader", "minority")):
        super().__init__(cluster, leader_of)
        self.targets = list(targets)

    def start(self, rng):
        spec = rng.choice(self.targets)
        nodes = pick_target(rng, self.cluster, self.leader_of, spec)
        for name in nodes:
            self.cluster.pause(name)
        return {"f": "pause", "value": {"target": spec, "nodes": nodes}}

    def _resume_all(self):
        resumed = [n.name for n in self.cluster.nodes if n.paused]
        for name in resumed:
            self.cluster.resume(name)
        return resumed

    def stop(self):
        return {"f": "resume", "value": self._resume_all()}

    def final(self):
        return {"resumed": self._resume_all()}
