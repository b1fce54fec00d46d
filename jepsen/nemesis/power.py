"""Power loss: kill -9 a node, then drop every write its files had not
fsynced, then (on stop) restart it.

kill -9 alone loses nothing (the page cache survives the process), so each
node's data dir is a lossyfs mount (jepsen/lossyfs) over <node>/backing;
`lose` rolls its files back to their last fsync, as a power cut would. A
fault hits one node, a minority, or every node at once (the whole group:
only what a majority fdatasync'ed before acknowledging may survive)."""

import os
import subprocess

from jepsen.nemesis.base import Nemesis, pick_target


class PowerLoss(Nemesis):
    name = "power"

    def __init__(self, cluster, leader_of=None, lossyfs=None, targets=("one", "minority", "leader", "all")):
        super().__init__(cluster, leader_of)
        self.lossyfs = lossyfs
        self.ctl = os.path.join(os.path.dirname(lossyfs or "."), "lossyfs-ctl")
        self.targets = list(targets)
        self.mounts = {}  # node name -> (process, control path)

    def setup(self):
        for tool in (self.lossyfs, self.ctl):
            if not tool or not os.path.exists(tool):
                raise RuntimeError(f"{tool} is missing (needs fuse3 and libfuse3-dev; rebuild)")
        for node in self.cluster.nodes:
            backing = os.path.join(node.dir, "backing")
            control = os.path.join(node.dir, "lossyfs.control")
            os.makedirs(backing, exist_ok=True)
            os.makedirs(node.data_dir, exist_ok=True)
            log = open(os.path.join(node.dir, "lossyfs.log"), "a")
            proc = subprocess.Popen([self.lossyfs, "-f", backing, node.data_dir, "--control", control],
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            self.mounts[node.name] = (proc, control)
            # Answers only once the mount exists.
            ready = subprocess.run([self.ctl, "--wait", "10", control, "ping"], capture_output=True, text=True)
            if ready.returncode != 0 or not os.path.ismount(node.data_dir):
                raise RuntimeError(f"lossyfs did not mount {node.data_dir}: {ready.stdout}{ready.stderr}; "
                                   f"see {log.name}")

    def _lose(self, name):
        _, control = self.mounts[name]
        # The daemon is dead and reaped (Cluster.kill waits), so nothing it
        # wrote can land after the roll-back.
        done = subprocess.run([self.ctl, control, "lose"], capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"lossyfs lose on {name} failed: {done.stdout}{done.stderr}")
        return done.stdout.strip()

    def start(self, rng):
        spec = rng.choice(self.targets)
        nodes = pick_target(rng, self.cluster, self.leader_of, spec)
        for name in nodes:
            self.cluster.kill(name)
        lost = {name: self._lose(name) for name in nodes}
        return {"f": "power-loss", "value": {"target": spec, "nodes": nodes, "lost": lost}}

    def _restart(self):
        restarted = [n.name for n in self.cluster.nodes if not n.running]
        for name in restarted:
            self.cluster.start(name)
        return restarted

    def stop(self):
        return {"f": "power-on", "value": self._restart()}

    def final(self):
        return {"powered-on": self._restart()}

    def teardown(self):
        for name, (proc, _) in self.mounts.items():
            node = self.cluster.by_name[name]
            subprocess.run(["fusermount3", "-u", node.data_dir], capture_output=True)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                subprocess.run(["fusermount3", "-uz", node.data_dir], capture_output=True)
        self.mounts = {}
