"""Network partitions as nftables drop rules on node address pairs.

A grudge maps each node to the nodes whose packets it drops. Shapes:
halves (a random minority | the rest), one (a random node alone),
leader (the current leader alone), bridge (two halves, one node seeing
both; meaningful from 5 nodes) and majorities-ring (every node sees a
majority, no two the same one; the drops are one-directional).
"""

from jepsen.harness import world
from jepsen.nemesis.base import Nemesis

SHAPES = ("halves", "one", "leader", "bridge", "majorities-ring")


def complete_grudge(components):
    """Nobody hears anyone outside its own component."""
    grudge = {}
    everyone = set().union(*components)
    for comp in components:
        for node in comp:
            grudge[node] = sorted(everyone - set(comp))
    return grudge


def halves(names, rng):
    shuffled = list(names)
    rng.shuffle(shuffled)
    cut = len(shuffled) // 2
    return complete_grudge([shuffled[:cut], shuffled[cut:]])


def isolate(names, node):
    return complete_grudge([[node], [n for n in names if n != node]])


def bridge(names, rng):
    shuffled = list(names)
    rng.shuffle(shuffled)
    mid = len(shuffled) // 2
    left, hub, right = shuffled[:mid], shuffled[mid], shuffled[mid + 1:]
    grudge = {hub: []}
    for n in left:
        grudge[n] = list(right)
    for n in right:
        grudge[n] = list(left)
    return grudge


def majorities_ring(names, rng):
    ring = list(names)
    rng.shuffle(ring)
    n = len(ring)
    majority = n // 2 + 1
    grudge = {}
    for i, node in enumerate(ring):
        sees = {ring[(i + k) % n] for k in range(majority)}
        grudge[node] = sorted(set(ring) - sees)
    return grudge


class Partition(Nemesis):
    name = "partition"

    def __init__(self, cluster, leader_of=None, shapes=SHAPES, netns=None):
        super().__init__(cluster, leader_of)
        self.shapes = list(shapes)
        self.netns = netns

    def grudge(self, shape, rng):
        names = [n.name for n in self.cluster.nodes]
        if shape == "halves":
            return halves(names, rng)
        if shape == "one":
            return isolate(names, rng.choice(names))
        if shape == "leader":
            return isolate(names, self.leader_of() or rng.choice(names))
        if shape == "bridge":
            return bridge(names, rng)
        if shape == "majorities-ring":
            return majorities_ring(names, rng)
        raise ValueError(f"unknown partition shape {shape}")

    def start(self, rng):
        shape = rng.choice(self.shapes)
        grudge = self.grudge(shape, rng)
        world.apply_grudge(self.netns, grudge, self.cluster.address_of)
        return {"f": "start-partition", "value": {"shape": shape, "grudge": grudge}}

    def stop(self):
        world.heal(self.netns)
        return {"f": "stop-partition", "value": "healed"}

    def final(self):
        world.heal(self.netns)
        return {"network": "healed"}
