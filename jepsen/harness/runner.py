"""Runs one cell: client workers and a nemesis against a cluster, recording
a history.

Phases (each recorded in the history as a nemesis "phase" op):
  main      `duration` s of client ops while the nemesis injects and heals
            faults on its schedule;
  heal      the nemesis heals everything (network, paused and dead nodes,
            clocks, lost disks);
  recovery  `recovery` s more of client ops; the time from the heal to each
            worker's first ok is measured (the pass bar is 10 s);
  final     each worker runs the workload's final read until it succeeds.

A worker is one thread; it is Jepsen's "process" until an op ends in info
(unknown), after which it continues under a fresh process id, so that an
unknown op stays concurrent with everything after it.
"""

import random
import threading
import time


class Worker(threading.Thread):
    def __init__(self, index, concurrency, run, seed):
        super().__init__(name=f"worker-{index}", daemon=True)
        self.index = index
        self.concurrency = concurrency
        self.process = index
        self.run_ = run
        self.rng = random.Random(f"{seed}/worker/{index}")
        self.client = None
        self.first_ok_after_heal = None  # seconds after the heal
        self.error = None
        self.harness_errors = []  # exceptions the workload adapter raised (bugs)

    def _do(self, f, value):
        run = self.run_
        history = run.history
        history.record("invoke", self.process, f, value, session=self.index)
        try:
            type_, result, error, node, *stamp = run.workload.invoke(self.client, f, value)
        except Exception as e:  # a bug in the workload adapter: unknown, and fails the cell
            type_, result, error, node, stamp = "info", None, f"harness exception: {e!r}", None, []
            self.harness_errors.append(repr(e))
        history.record(type_, self.process, f, result, node=node, error=error, session=self.index,
                       **(stamp[0] if stamp else {}))
        if type_ == "info":
            self.process += self.concurrency
        return type_

    def run(self):
        run = self.run_
        try:
            self.client = run.client_factory()
            while not run.stop_ops.is_set():
                op = run.workload.next_op(self.rng, self.index)
                if op is None:
                    break
                run.pace()
                type_ = self._do(*op)
                if type_ == "ok" and run.heal_time is not None and self.first_ok_after_heal is None:
                    self.first_ok_after_heal = time.monotonic() - run.heal_time
            deadline = time.monotonic() + run.final_timeout
            for f, value in run.workload.final_ops(self.index):
                while time.monotonic() < deadline:
                    if self._do(f, value) == "ok":
                        break
                    time.sleep(0.2)
        except Exception as e:
            self.error = repr(e)
            raise
        finally:
            if self.client is not None:
                self.client.close()


class Run:
    def __init__(self, workload, nemesis, history, client_factory, concurrency, rate, seed, log=print,
                 final_timeout=30.0):
        self.workload = workload
        self.nemesis = nemesis
        self.history = history
        self.client_factory = client_factory
        self.concurrency = concurrency
        self.rate = rate
        self.seed = seed
        self.log = log
        self.final_timeout = final_timeout
        self.stop_ops = threading.Event()
        self.heal_time = None
        self.nemesis_cycles = 0
        self._pace_lock = threading.Lock()
        self._next_slot = time.monotonic()

    def pace(self):
        """Spaces ops `1/rate` s apart over all workers (0 = as fast as they go)."""
        if not self.rate:
            return
        with self._pace_lock:
            now = time.monotonic()
            slot = max(self._next_slot, now)
            self._next_slot = slot + 1.0 / self.rate
        delay = slot - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _phase(self, name):
        self.history.record("info", "nemesis", "phase", name)
        self.log(f"[{self.history.elapsed_s():6.1f}s] phase {name}")

    def _nemesis_loop(self, until, rng, interval):
        if self.nemesis.name == "none":
            time.sleep(max(0.0, until - time.monotonic()))
            return
        while True:
            wait = rng.uniform(0.5, 1.5) * interval
            if time.monotonic() + wait >= until:
                break
            time.sleep(wait)
            # Jepsen's shape: an info "invoke" when the fault begins (before
            # its effects), and an info completion saying what it did.
            self.history.record("info", "nemesis", "start", self.nemesis.name, phase="invoke")
            f = self.nemesis.start(rng)
            self.history.record("info", "nemesis", f["f"], f.get("value"), phase="start")
            self.log(f"[{self.history.elapsed_s():6.1f}s] nemesis {f['f']} {f.get('value')}")
            hold = min(rng.uniform(0.5, 1.5) * interval, max(0.0, until - time.monotonic()))
            time.sleep(hold)
            self.history.record("info", "nemesis", "stop", self.nemesis.name, phase="invoke")
            f = self.nemesis.stop()
            self.history.record("info", "nemesis", f["f"], f.get("value"), phase="stop")
            self.log(f"[{self.history.elapsed_s():6.1f}s] nemesis {f['f']} {f.get('value')}")
            self.nemesis_cycles += 1

    def execute(self, duration, recovery, interval):
        rng = random.Random(f"{self.seed}/nemesis")
        with self.client_factory() as setup_client:
            self.workload.setup(setup_client)
        workers = [Worker(i, self.concurrency, self, self.seed) for i in range(self.concurrency)]
        self._phase("main")
        for w in workers:
            w.start()
        self._nemesis_loop(time.monotonic() + duration, rng, interval)
        self._phase("heal")
        healed = self.nemesis.final()
        self.history.record("info", "nemesis", "heal", healed)
        self.heal_time = time.monotonic()
        self._phase("recovery")
        time.sleep(recovery)
        self._phase("final")
        self.stop_ops.set()
        for w in workers:
            w.join(self.final_timeout + 60)
        self._phase("done")
        return workers
