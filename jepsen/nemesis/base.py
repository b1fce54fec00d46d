"""What every nemesis offers the runner.

start(rng) injects one fault and returns {"f": name, "value": details};
stop() undoes the fault in force and returns the same shape; final() heals
everything (network, paused or dead nodes, clocks) and returns what it did.
A nemesis must be safe to stop() or final() when nothing is in force.
"""


class Nemesis:
    name = "none"

    def __init__(self, cluster, leader_of=None):
        self.cluster = cluster
        # Returns the name of the node that currently leads, or None.
        self.leader_of = leader_of or (lambda: None)

    def start(self, rng):
        return {"f": "noop"}

    def stop(self):
        return {"f": "noop"}

    def final(self):
        return {}

    def setup(self):
        """Called before the cluster starts (e.g. to mount file systems)."""

    def teardown(self):
        """Called after the cluster stopped, even when the run failed."""


class Noop(Nemesis):
    name = "none"


def pick_target(rng, cluster, leader_of, spec):
    """Names of the nodes a fault hits: 'one', 'leader', 'minority' or 'all'."""
    names = [n.name for n in cluster.nodes]
    if spec == "leader":
        leader = leader_of()
        return [leader] if leader else [rng.choice(names)]
    if spec == "minority":
        return rng.sample(names, rng.randint(1, (len(names) - 1) // 2))
    if spec == "all":
        return names
    return [rng.choice(names)]
