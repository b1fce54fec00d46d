"""The nodes of a run: start, kill -9, pause, resume, restart, and who leads.

Node i is `n<i>`, listens on 127.0.0.<10+i>:7100 and keeps its data in
<run>/n<i>/data (a lossyfs mount when the power-loss nemesis runs). Every
daemon is started with jepsen/bindshim preloaded (its peer connections leave
from its own address) and, when the clock nemesis runs, libfaketime reading
an offset file the nemesis rewrites.
"""

import os
import signal
import socket
import subprocess
import time

PORT = 7100
# The thread-safe build: with FAKETIME_NO_CACHE every clock call re-reads the
# offset file, and the plain build does that unlocked from many threads.
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


class Node:
    def __init__(self, index, run_dir):
        self.index = index
        self.name = f"n{index}"
        self.address = f"127.0.0.{10 + index}"
        self.endpoint = f"{self.address}:{PORT}"
        self.dir = os.path.join(run_dir, self.name)
        self.data_dir = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "meridiand.log")
        self.clock_file = os.path.join(self.dir, "faketime")
        self.proc = None
        self.paused = False
        self.starts = 0
        self.exit_codes = []  # (code, expected) of every process that ended

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Cluster:
    def __init__(self, run_dir, size, meridiand, bindshim, extra_args=(), faketime=False, log=print):
        self.run_dir = run_dir
        self.meridiand = meridiand
        self.bindshim = bindshim
        self.extra_args = list(extra_args)
        self.faketime = faketime
        self.log = log
        self.nodes = [Node(i, run_dir) for i in range(1, size + 1)]
        self.by_name = {n.name: n for n in self.nodes}
        self.cluster_flag = ",".join(f"{n.index}={n.endpoint}" for n in self.nodes)
        for n in self.nodes:
            os.makedirs(n.data_dir, exist_ok=True)
            if faketime:
                with open(n.clock_file, "w") as f:
                    f.write("+0\n")
        if faketime and not os.path.exists(FAKETIME_LIB):
            raise RuntimeError(f"libfaketime not found at {FAKETIME_LIB} (apt-get install libfaketime)")

    def address_of(self, name):
        return self.by_name[name].address

    def endpoints(self):
        return [n.endpoint for n in self.nodes]

    def _env(self, node):
        env = dict(os.environ)
        preload = [self.bindshim]
        if self.faketime:
            preload.append(FAKETIME_LIB)
            env["FAKETIME_TIMESTAMP_FILE"] = node.clock_file
            env["FAKETIME_NO_CACHE"] = "1"
            # Only the wall clock moves: timers (monotonic) stay real, as a
            # skewed NTP clock would.
            env["DONT_FAKE_MONOTONIC"] = "1"
        env["LD_PRELOAD"] = ":".join(preload)
        env["JEPSEN_SOURCE_ADDR"] = node.address
        return env

    def start(self, name):
        node = self.by_name[name]
        if node.running:
            return
        if node.proc is not None:
            self._reap(node, expected=False)  # it died on its own since it last started
        argv = [self.meridiand, "--cluster", self.cluster_flag, "--member-id", str(node.index),
                "--listen", node.endpoint, "--data-dir", node.data_dir, "--node-id", node.name,
                "--log-format", "text"] + self.extra_args
        with open(node.log_path, "a") as out:
            out.write(f"==== jepsen: start {node.name} at {time.time():.3f}\n")
            out.flush()
            node.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=self._env(node),
                                         start_new_session=True)
        node.paused = False
        node.starts += 1

    def start_all(self):
        for n in self.nodes:
            self.start(n.name)

    def wait_listening(self, name, timeout=30.0):
        node = self.by_name[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not node.running:
                raise RuntimeError(f"{name} exited with code {node.proc.returncode}; see {node.log_path}")
            try:
                with socket.create_connection((node.address, PORT), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{name} did not listen on {node.endpoint} within {timeout} s; see {node.log_path}")

    def _reap(self, node, expected):
        code = node.proc.wait()
        node.exit_codes.append((code, expected))
        node.proc = None

    def kill(self, name):
        """SIGKILL; the node's page cache survives (unlike a power loss)."""
        node = self.by_name[name]
        if node.running:
            node.proc.kill()
            self._reap(node, expected=True)
        elif node.proc is not None:
            self._reap(node, expected=False)
        node.paused = False

    def pause(self, name):
        node = self.by_name[name]
        if node.running and not node.paused:
            node.proc.send_signal(signal.SIGSTOP)
            node.paused = True

    def resume(self, name):
        node = self.by_name[name]
        if node.running and node.paused:
            node.proc.send_signal(signal.SIGCONT)
        node.paused = False

    def stop_all(self, grace=10.0):
        """SIGCONT then SIGTERM every node; SIGKILL what outlives the grace.

        A node already dead by then died on its own: that counts against the
        cell (unexpected_exits), as does one that must be killed."""
        for n in self.nodes:
            if n.proc is None:
                continue
            if not n.running:
                self._reap(n, expected=False)
                continue
            if n.paused:
                n.proc.send_signal(signal.SIGCONT)
            n.proc.terminate()
        deadline = time.monotonic() + grace
        for n in self.nodes:
            if n.proc is None:
                continue
            try:
                n.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                self._reap(n, expected=True)
            except subprocess.TimeoutExpired:
                self._dump_stacks(n)
                n.proc.kill()
                self._reap(n, expected=False)

    def _dump_stacks(self, node):
        """A node that will not stop: keep every thread's stack for the report."""
        path = os.path.join(node.dir, "stacks-at-hang.txt")
        try:
            with open(path, "w") as out:
                subprocess.run(["gdb", "-p", str(node.proc.pid), "-batch", "-ex", "thread apply all bt 30"],
                               stdout=out, stderr=subprocess.STDOUT, timeout=60)
            self.log(f"{node.name} did not stop on SIGTERM; its stacks are in {path}")
        except (OSError, subprocess.TimeoutExpired) as e:
            self.log(f"{node.name} did not stop on SIGTERM (no stacks: {e})")

    def unexpected_exits(self):
        """Nodes that died without the nemesis killing them, with the code."""
        bad = []
        for n in self.nodes:
            if n.proc is not None and n.proc.poll() is not None:
                self._reap(n, expected=False)
            bad += [(n.name, code) for code, expected in n.exit_codes if not expected]
        return bad

    def set_clock_offset(self, name, seconds):
        """libfaketime reads the file on every call (FAKETIME_NO_CACHE)."""
        node = self.by_name[name]
        tmp = node.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{seconds:+.3f}\n")
        os.replace(tmp, node.clock_file)
