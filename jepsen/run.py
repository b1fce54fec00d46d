#!/usr/bin/python3
"""jepsen/run.py: run Meridian under faults and check what it did.

  sudo jepsen/run.py --workload append --nemesis partition --time 60
  jepsen/run.py --smoke            # the CI matrix (tests/run.sh runs it)
  jepsen/run.py --long             # every workload x nemesis, 300 s each

Each run makes a throw-away network namespace, starts a 3-node meridiand
group in it (node i on 127.0.0.<10+i>), drives a workload through the Python
SDK while a nemesis injects faults, heals, checks the history and prints a
verdict. Everything lands in --out (default jepsen/runs/<time>-<cell>):
history.jsonl, results.json, each node's log. Exit 0 = every cell passed,
1 = a cell failed, 2 = the harness could not run (says why).
See docs/testing.md "jepsen/".
"""

import argparse
import json
import os
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path[:0] = [REPO, os.path.join(REPO, "client", "python")]

from jepsen.harness import world  # noqa: E402

cells = None  # jepsen.cells, imported once the SDK's generated modules are on the path


def load_cells(build_dir):
    global cells
    generated = os.path.join(build_dir, "client", "python")
    if generated not in sys.path:
        sys.path.insert(0, generated)
    from jepsen import cells as module
    cells = module
    return module


SKIP = 77  # ctest's SKIP_RETURN_CODE for the smoke cells


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    # Names are checked against jepsen/cells.py once it is imported (it needs
    # the SDK's generated modules, found through --build-dir).
    p.add_argument("--workload", default="append", help="docs/testing.md lists them; a wrong name gets the list")
    p.add_argument("--nemesis", default="partition", help="likewise")
    p.add_argument("--smoke", action="store_true", help="run the CI smoke matrix")
    p.add_argument("--long", action="store_true", help="run every workload x nemesis cell, --time each")
    p.add_argument("--cell", action="append", default=[],
                   help="run this workload+nemesis cell (repeatable), e.g. bank+pause")
    p.add_argument("--time", type=float, default=None, help="seconds of faults (default 60; --long: 300)")
    p.add_argument("--recovery", type=float, default=10.0, help="seconds of ops after the final heal")
    p.add_argument("--interval", type=float, default=5.0, help="mean seconds between fault start and stop")
    p.add_argument("--rate", type=float, default=0, help="ops/s over all workers (0: as fast as they go)")
    p.add_argument("--concurrency", type=int, default=6, help="client worker threads")
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=None, help="default: the time; printed for replay")
    p.add_argument("--min-ok", type=int, default=5000)
    p.add_argument("--max-info", type=float, default=0.30)
    p.add_argument("--min-cycles", type=int, default=3)
    p.add_argument("--build-dir", default=os.environ.get("MERIDIAN_BUILD_DIR", os.path.join(REPO, "build", "dev")))
    p.add_argument("--keep-data", action="store_true", help="keep the nodes' data dirs of passing cells")
    p.add_argument("--out", default=None, help="directory for the runs (default jepsen/runs/<time>)")
    p.add_argument("--skip-if-unprivileged", action="store_true",
                   help="exit 77 (ctest's skip) instead of 2 when root or namespaces are not available")
    p.add_argument("--in-netns", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def preflight(args):
    problems = []
    if os.geteuid() != 0:
        problems.append("needs root (network namespaces, nftables, FUSE): run with sudo")
    for tool, pkg in (("ip", "iproute2"), ("nft", "nftables")):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            problems.append(f"`{tool}` is missing (apt-get install {pkg}; ./deploy/local/install-deps.sh)")
    for path in (os.path.join(args.build_dir, "server", "meridiand"),
                 os.path.join(args.build_dir, "jepsen", "bindshim.so")):
        if not os.path.exists(path):
            problems.append(f"{path} is missing: build first (cmake --build {args.build_dir})")
    try:
        problems += load_cells(args.build_dir).unknown_names(args)
    except ImportError as e:
        problems.append(f"the Python SDK does not import ({e}); apt-get install python3-grpcio "
                        f"python3-protobuf and build (it generates {args.build_dir}/client/python)")
    return problems


def main(argv):
    args = parse_args(argv)
    if args.in_netns:
        return load_cells(args.build_dir).run_inside(args)
    problems = preflight(args)
    if problems:
        for p in problems:
            print(f"jepsen: cannot run: {p}", file=sys.stderr)
        return SKIP if args.skip_if_unprivileged and os.geteuid() != 0 else 2
    world.reap_stale()
    name = f"{world.PREFIX}{os.getpid()}"
    if args.out is None:
        args.out = os.path.join(HERE, "runs", time.strftime("%Y%m%dT%H%M%S"))
        argv = argv + ["--out", args.out]
    try:
        world.create(name)
    except Exception as e:
        print(f"jepsen: cannot create network namespace {name}: {e}", file=sys.stderr)
        return SKIP if args.skip_if_unprivileged else 2
    try:
        # The harness itself runs inside the namespace, next to the nodes.
        child = subprocess.run(["ip", "netns", "exec", name, sys.executable, os.path.abspath(__file__)]
                               + argv + ["--in-netns", name])
        return child.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        # `ip netns exec` also gave the child its own mount namespace, so the
        # lossyfs mounts made in it vanish with its last process.
        world.destroy(name)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception:
        traceback.print_exc()
        sys.exit(2)
