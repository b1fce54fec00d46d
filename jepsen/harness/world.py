"""The run's world: one throw-away network namespace, and partitions in it.

Every node of a run listens on its own 127.0.0.x inside one namespace, and
(through jepsen/bindshim) connects to its peers from that address, so a
partition is a set of nftables rules that drop packets by (source,
destination) node address. The namespace, and every rule with it, vanishes
when the run ends, even if the run crashed: `reap_stale` removes namespaces a
killed run left behind.
"""

import os
import subprocess

PREFIX = "jepsen-"
TABLE = "jepsen"


def _run(argv, check=True, **kwargs):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kwargs)


def create(name):
    """Creates namespace `name` with loopback up and an empty nftables table."""
    _run(["ip", "netns", "add", name])
    try:
        _run(["ip", "-n", name, "link", "set", "lo", "up"])
        nft(name, f"add table inet {TABLE}\n"
                  f"add chain inet {TABLE} input {{ type filter hook input priority 0; policy accept; }}\n")
    except Exception:
        destroy(name)
        raise


def destroy(name):
    """Kills every process left in namespace `name`, then deletes it."""
    pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except (ProcessLookupError, ValueError):
            pass
    _run(["ip", "netns", "del", name], check=False)


def reap_stale():
    """Deletes namespaces of earlier runs whose harness is gone."""
    out = _run(["ip", "netns", "list"], check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        if not name.startswith(PREFIX):
            continue
        # The name ends in the pid of the run that made it.
        try:
            owner = int(name.rsplit("-", 1)[1])
            os.kill(owner, 0)
            continue  # still running
        except (ValueError, IndexError, ProcessLookupError):
            destroy(name)
        except PermissionError:
            continue


def nft(netns, script):
    """Runs an nft script inside `netns` (or here when netns is None)."""
    argv = ["nft", "-f", "-"]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns] + argv
    proc = subprocess.run(argv, input=script, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nft failed: {proc.stderr.strip()}\n{script}")


def apply_grudge(netns, grudge, address_of):
    """Replaces the partition with `grudge`: node -> nodes it drops packets from.

    Rules sit on the input hook, keyed by (source, destination) address; an
    empty grudge heals everything."""
    lines = [f"flush chain inet {TABLE} input"]
    for dst in sorted(grudge):
        for src in sorted(grudge[dst]):
            lines.append(f"add rule inet {TABLE} input ip saddr {address_of(src)} "
                         f"ip daddr {address_of(dst)} drop")
    nft(netns, "\n".join(lines) + "\n")


def heal(netns):
    nft(netns, f"flush chain inet {TABLE} input\n")

