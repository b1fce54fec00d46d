"""The cells jepsen/run.py can run, and one cell's life inside the run's
network namespace: start the cluster, drive the workload under the nemesis,
heal, stop, check, judge."""

import json
import os
import shutil
import sys
import time
import traceback

from jepsen.harness import verdict
from jepsen.harness.cluster import Cluster
from jepsen.harness.history import History
from jepsen.harness.runner import Run
from jepsen.nemesis.base import Noop
from jepsen.nemesis.clock import Clock
from jepsen.nemesis.mixed import Mixed
from jepsen.nemesis.partition import Partition
from jepsen.nemesis.power import PowerLoss
from jepsen.nemesis.process import Kill, Pause
from jepsen.workloads.append import Append, RwRegister
from jepsen.workloads.bank import Bank
from jepsen.workloads.causal import Causal
from jepsen.workloads.register import Register
from jepsen.workloads.set import Set

WORKLOADS = {"append": Append, "rw-register": RwRegister, "bank": Bank, "set": Set,
             "register": Register, "causal": Causal}


def _mixed(cluster, leader_of, netns, tools):
    return Mixed(cluster, [Partition(cluster, leader_of, netns=netns), Kill(cluster, leader_of),
                           Pause(cluster, leader_of), Clock(cluster, leader_of, "small")])


NEMESES = {
    "none": lambda c, l, n, t: Noop(c, l),
    "partition": lambda c, l, n, t: Partition(c, l, netns=n),
    "kill": lambda c, l, n, t: Kill(c, l),
    "pause": lambda c, l, n, t: Pause(c, l),
    "clock": lambda c, l, n, t: Clock(c, l, "small"),
    "clock-large": lambda c, l, n, t: Clock(c, l, "large"),
    "power": lambda c, l, n, t: PowerLoss(c, l, lossyfs=t["lossyfs"]),
    "mixed": _mixed,
}

# The CI matrix: 4 cells, 60 s of faults each (docs/testing.md).
SMOKE = ["append+partition", "register+kill", "bank+pause", "set+power", "causal+clock-large"]


def meridiand(build_dir):
    return os.path.join(build_dir, "server", "meridiand")


def bindshim(build_dir):
    return os.path.join(build_dir, "jepsen", "bindshim.so")


def lossyfs(build_dir):
    return os.path.join(build_dir, "jepsen", "lossyfs", "lossyfs")


def import_sdk(build_dir):
    generated = os.path.join(build_dir, "client", "python")
    if generated not in sys.path:
        sys.path.insert(0, generated)
    import meridian_client  # noqa: F401
    return meridian_client


def unknown_names(args):
    """What in the requested cells names no workload or nemesis, as messages."""
    problems = []
    for cell in cell_list(args):
        workload, _, nemesis = cell.partition("+")
        if workload not in WORKLOADS:
            problems.append(f"unknown workload {workload!r} in {cell!r} (one of {', '.join(sorted(WORKLOADS))})")
        if nemesis not in NEMESES:
            problems.append(f"unknown nemesis {nemesis!r} in {cell!r} (one of {', '.join(sorted(NEMESES))})")
    return problems


def cell_list(args):
    if args.cell:
        return args.cell
    if args.smoke:
        return list(SMOKE)
    if args.long:
        return [f"{w}+{n}" for w in sorted(WORKLOADS) for n in sorted(NEMESES)]
    return [f"{args.workload}+{args.nemesis}"]


def run_inside(args):
    """Runs every requested cell in turn; returns the process exit code."""
    sdk = import_sdk(args.build_dir)
    seed = args.seed if args.seed is not None else int(time.time())
    default_time = 300.0 if args.long else 60.0
    duration = args.time if args.time is not None else default_time
    out = args.out or os.path.join(os.path.dirname(os.path.abspath(__file__)), "runs",
                                   time.strftime("%Y%m%dT%H%M%S"))
    os.makedirs(out, exist_ok=True)
    summary = []
    for cell in cell_list(args):
        workload_name, nemesis_name = cell.split("+")
        cell_dir = os.path.join(out, cell)
        shutil.rmtree(cell_dir, ignore_errors=True)  # a cell never starts on an old run's data
        os.makedirs(cell_dir)
        print(f"== jepsen cell {cell}: seed {seed}, {duration:.0f} s, dir {cell_dir}", flush=True)
        try:
            result = run_cell(args, sdk, workload_name, nemesis_name, seed, duration, cell_dir)
        except Exception as e:
            traceback.print_exc()
            result = {"cell": cell, "pass": False, "reasons": [f"harness error: {e!r}"]}
        with open(os.path.join(cell_dir, "results.json"), "w") as f:
            json.dump(result, f, indent=2, default=str)
        summary.append(result)
        status = "PASS" if result["pass"] else "FAIL"
        print(f"== {status} {cell}: " + (("; ".join(result["reasons"])) if result["reasons"] else
              _one_line(result)), flush=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, default=str)
    failed = [r["cell"] for r in summary if not r["pass"]]
    print(f"== jepsen: {len(summary) - len(failed)}/{len(summary)} cells passed; results in {out}"
          + (f"; failed: {', '.join(failed)} (replay: --seed {seed})" if failed else ""), flush=True)
    return 1 if failed else 0


def _one_line(r):
    c = r["counts"]
    return (f"{c['ok']} ok, {c['fail']} fail, {c['info']} info ({r['info_share']:.1%}); "
            f"{r['nemesis_cycles']} fault cycles; checker {r['checker'].get('valid')}; "
            f"worst recovery {r['worst_recovery_s']} s; check {r['check_seconds']} s")


def run_cell(args, sdk, workload_name, nemesis_name, seed, duration, cell_dir):
    log = lambda msg: print(f"   {msg}", flush=True)  # noqa: E731
    needs_clock = nemesis_name in ("clock", "clock-large", "mixed")
    cluster = Cluster(cell_dir, args.nodes, meridiand(args.build_dir), bindshim(args.build_dir),
                      faketime=needs_clock, log=log)

    def client_factory(endpoints=None, timeout=2.0, retries=3):
        # Short deadlines and few retries: an op that hangs in a partition
        # should end (as info) in seconds, not tie up its worker.
        return sdk.Client(endpoints or cluster.endpoints(), timeout=timeout, max_retries=retries,
                          max_backoff=0.25)

    # One client asks each node in turn (Status is never redirected).
    admin = client_factory(timeout=0.5, retries=0)

    def leader_of():
        for node in cluster.nodes:
            if not node.running or node.paused:
                continue
            try:
                if admin.status(node.endpoint).is_leader:
                    return node.name
            except sdk.MeridianError:
                continue
        return None

    nemesis = NEMESES[nemesis_name](cluster, leader_of, args.in_netns, {"lossyfs": lossyfs(args.build_dir)})
    workload = WORKLOADS[workload_name]()
    history = History(os.path.join(cell_dir, "history.jsonl"))
    nemesis.setup()
    try:
        cluster.start_all()
        for node in cluster.nodes:
            cluster.wait_listening(node.name)
        _wait_for_leader(leader_of, 30.0)
        run = Run(workload, nemesis, history, client_factory, args.concurrency, args.rate, seed, log=log)
        workers = run.execute(duration, args.recovery, args.interval)
    finally:
        history.close()
        admin.close()
        try:
            nemesis.final()
        except Exception:
            traceback.print_exc()
        cluster.stop_all()
        nemesis.teardown()
    exits = cluster.unexpected_exits()
    from jepsen import checkers
    from jepsen.checkers import timestamps
    started = time.monotonic()
    ops = checkers.history.load_jsonl(os.path.join(cell_dir, "history.jsonl"))
    result = checkers.check(ops, workload.checker, **workload.check_options())
    check_seconds = round(time.monotonic() - started, 2)
    lost, stamps = [], None
    if workload.checker == "append":
        lost, _ = verdict.lost_appends(ops)
        stamps = timestamps.check(ops)
    judged = verdict.judge(result, history.counts, workers, exits, run.nemesis_cycles,
                           min_ok=args.min_ok, max_info=args.max_info, recovery_bar=10.0,
                           min_cycles=args.min_cycles if nemesis_name != "none" else 0, lost=lost,
                           timestamps=stamps)
    recoveries = [v for v in judged["recovery_s"].values() if v is not None]
    if judged["pass"] and not args.keep_data:
        # Histories, results and logs stay; the nodes' data (hundreds of MiB) goes.
        for node in cluster.nodes:
            for d in (node.data_dir, os.path.join(node.dir, "backing")):
                shutil.rmtree(d, ignore_errors=True)
    return {"cell": f"{workload_name}+{nemesis_name}", "seed": seed, "duration_s": duration,
            "pass": judged["pass"], "reasons": judged["reasons"], "counts": history.counts,
            "info_share": judged["info_share"], "nemesis_cycles": run.nemesis_cycles,
            "nemesis": history.nemesis_counts, "recovery_s": judged["recovery_s"],
            "worst_recovery_s": max(recoveries) if recoveries else None, "lost_acked_writes": len(lost),
            "check_seconds": check_seconds, "checker": _trim(result),
            "timestamps": _trim(stamps) if stamps else None}


def _trim(result):
    """The checker result, with long example lists cut for results.json."""
    out = dict(result)
    anomalies = out.get("anomalies") or {}
    out["anomalies"] = {k: (v[:5] if isinstance(v, list) else v) for k, v in anomalies.items()}
    return out


def _wait_for_leader(leader_of, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if leader_of():
            return
        time.sleep(0.2)
    raise RuntimeError(f"no leader within {timeout:.0f} s of start")
