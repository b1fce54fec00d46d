"""The partition machinery for real: a network namespace, nftables rules and
the bindshim, checked with plain TCP connections from dual-stack sockets
(the kind gRPC opens). Needs root, ip and nft; skips otherwise."""

import os
import shutil
import subprocess
import sys
import textwrap
import time
import unittest

from jepsen.harness import world

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("MERIDIAN_BUILD_DIR", os.path.join(REPO, "build", "dev"))
SHIM = os.path.join(BUILD, "jepsen", "bindshim.so")
ADDRESSES = {"n1": "127.0.0.11", "n2": "127.0.0.12", "n3": "127.0.0.13"}

# Listens on `dst`, connects from a process whose source address is `src`
# (through the shim), and prints "connected" or "blocked".
PROBE = textwrap.dedent("""
    import os, socket, subprocess, sys
    src, dst, shim = sys.argv[1:4]
    server = socket.socket(socket.AF_INET6)
    server.bind(("::ffff:" + dst, 0))
    server.listen()
    port = server.getsockname()[1]
    client = ("import socket,sys; s=socket.socket(socket.AF_INET6); s.settimeout(3.0)\\n"
              "try:\\n s.connect(('::ffff:%s', %d)); print('connected', s.getsockname()[0])\\n"
              "except OSError: print('blocked')" % (dst, port))
    env = dict(os.environ, LD_PRELOAD=shim, JEPSEN_SOURCE_ADDR=src)
    print(subprocess.run([sys.executable, "-c", client], env=env, capture_output=True,
                         text=True).stdout.strip())
""")


@unittest.skipUnless(os.geteuid() == 0 and shutil.which("nft") and shutil.which("ip"),
                     "needs root, ip and nft")
@unittest.skipUnless(os.path.exists(SHIM), f"{SHIM} is not built")
class PartitionInANamespaceTest(unittest.TestCase):
    def setUp(self):
        self.netns = f"{world.PREFIX}test-{os.getpid()}"
        world.create(self.netns)
        self.addCleanup(world.destroy, self.netns)

    def probe(self, src, dst):
        out = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", PROBE,
                              ADDRESSES[src], ADDRESSES[dst], SHIM],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout.strip()

    def test_a_grudge_cuts_exactly_its_pair_until_healed(self):
        self.assertEqual(self.probe("n1", "n2"), "connected ::ffff:127.0.0.11")
        # n2 drops what n1 sends. TCP needs both directions, so the pair is
        # cut either way; every other pair still talks.
        world.apply_grudge(self.netns, {"n2": ["n1"]}, ADDRESSES.get)
        self.assertEqual(self.probe("n1", "n2"), "blocked")
        self.assertEqual(self.probe("n2", "n1"), "blocked")
        self.assertEqual(self.probe("n1", "n3"), "connected ::ffff:127.0.0.11")
        self.assertEqual(self.probe("n3", "n2"), "connected ::ffff:127.0.0.13")
        world.heal(self.netns)
        self.assertEqual(self.probe("n1", "n2"), "connected ::ffff:127.0.0.11")

    def test_without_the_shim_the_source_would_be_127_0_0_1(self):
        # Why the shim exists: a rule on node addresses would never match.
        out = subprocess.run(["ip", "netns", "exec", self.netns, sys.executable, "-c", PROBE,
                              ADDRESSES["n1"], ADDRESSES["n2"], "/nonexistent-shim.so"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.stdout.strip(), "connected ::ffff:127.0.0.1")

    def test_destroy_kills_what_runs_inside(self):
        proc = subprocess.Popen(["ip", "netns", "exec", self.netns, "sleep", "60"])
        self.addCleanup(proc.kill)
        # `ip netns exec` joins the namespace after Popen returns.
        deadline = time.monotonic() + 10
        while str(proc.pid) not in subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True,
                                                  text=True).stdout.split():
            self.assertLess(time.monotonic(), deadline, "the process never entered the namespace")
            time.sleep(0.01)
        world.destroy(self.netns)
        self.assertEqual(proc.wait(timeout=10), -9)
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        self.assertNotIn(self.netns, names)


if __name__ == "__main__":
    unittest.main()
