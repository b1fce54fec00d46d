"""Cluster's exit accounting, with a stand-in daemon: a node that dies on its
own must count against the cell however the run goes on."""

import os
import stat
import tempfile
import time
import unittest

from jepsen.harness.cluster import Cluster


def stand_in(directory, body):
    path = os.path.join(directory, "daemon.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body + "\n")
    os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
    return path


class ExitAccountingTest(unittest.TestCase):
    def cluster(self, body):
        run_dir = tempfile.mkdtemp(prefix="jepsen_cluster_test_")
        self.addCleanup(lambda: os.system(f"rm -rf {run_dir}"))
        c = Cluster(run_dir, 1, stand_in(run_dir, body), "/nonexistent/bindshim.so", log=lambda _: None)
        self.addCleanup(c.stop_all, 1.0)
        return c

    def wait_dead(self, node):
        deadline = time.monotonic() + 10
        while node.running:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)

    def test_a_node_killed_by_the_nemesis_and_stopped_at_the_end_is_not_counted(self):
        c = self.cluster("exec sleep 60")
        c.start("n1")
        c.kill("n1")
        c.start("n1")
        c.stop_all(grace=5)
        self.assertEqual(c.unexpected_exits(), [])

    def test_a_node_that_died_on_its_own_before_the_stop_is_counted(self):
        c = self.cluster("exit 3")
        c.start("n1")
        self.wait_dead(c.nodes[0])
        c.stop_all(grace=5)
        self.assertEqual(c.unexpected_exits(), [("n1", 3)])

    def test_a_node_that_died_on_its_own_and_was_restarted_is_counted(self):
        c = self.cluster("exit 3")
        c.start("n1")
        self.wait_dead(c.nodes[0])
        c.start("n1")  # e.g. a kill nemesis restarting what is down
        self.wait_dead(c.nodes[0])
        c.stop_all(grace=5)
        self.assertEqual(c.unexpected_exits(), [("n1", 3), ("n1", 3)])


if __name__ == "__main__":
    unittest.main()
