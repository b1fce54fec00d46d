"""The shard map and per-shard leader cache: where a keyed request goes.

A sharded cluster splits the keyspace into ranges (meridian.v1.ShardInfo),
each replicated by its own consensus group with its own leader. ShardRouter
keeps the newest ClusterConfig the client has been sent (Admin.Shards) and
the leader it last learned for each shard. It does no I/O: the Client feeds
it maps, leader hints and failures. A key's shard is found as
proto/shard_lookup.cc FindShard finds it, so client and server agree.

Thread-safe.
"""

from __future__ import annotations

import bisect
import threading
from typing import Dict, List, NamedTuple, Optional

from meridian_client._proto import admin_pb2, cluster_pb2


class Shard(NamedTuple):
    """A key's shard under one version of the map."""
    shard_id: int
    map_version: int


class ShardRouter:

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._config: Optional[cluster_pb2.ClusterConfig] = None
        self._starts: List[bytes] = []  # the shards' start keys, in order
        self._leaders: Dict[int, str] = {}  # shard id -> host:port

    @property
    def version(self) -> int:
        """The cached map's version; 0 when there is none."""
        with self._mu:
            return self._config.version if self._config is not None else 0

    def config(self) -> Optional[cluster_pb2.ClusterConfig]:
        """A copy of the cached map, or None."""
        with self._mu:
            if self._config is None:
                return None
            out = cluster_pb2.ClusterConfig()
            out.CopyFrom(self._config)
            return out

    def update(self, resp: admin_pb2.ShardsResponse) -> bool:
        """Adopts resp's map if it is newer than the cached one, with the
        leaders it names. At the same version it only adds leaders not yet
        known (a hint learned since may be fresher); an older map, or one
        without shards, is ignored. Returns whether the map was adopted."""
        config = resp.config
        leaders = {l.shard_id: l.leader_address for l in resp.leaders if l.leader_address}
        with self._mu:
            current = self._config.version if self._config is not None else 0
            if not config.shards or config.version < current or config.version == 0:
                return False
            if config.version == current:
                for shard_id, address in leaders.items():
                    self._leaders.setdefault(shard_id, address)
                return False
            self._config = cluster_pb2.ClusterConfig()
            self._config.CopyFrom(config)
            self._starts = [s.start_key for s in config.shards]
            self._leaders = leaders
            return True

    def lookup(self, key: bytes) -> Optional[Shard]:
        """The shard holding `key`, or None without a map (or a map that
        does not cover the key)."""
        with self._mu:
            shard = self._find(key)
            return Shard(shard.shard_id, self._config.version) if shard is not None else None

    def leader(self, shard_id: int) -> Optional[str]:
        with self._mu:
            return self._leaders.get(shard_id)

    def set_leader(self, shard_id: int, address: str) -> None:
        with self._mu:
            self._leaders[shard_id] = address

    def forget_leader(self, shard_id: int, address: str) -> None:
        """Drops the shard's leader if it is still `address` (another thread
        may have learned a newer one)."""
        with self._mu:
            if self._leaders.get(shard_id) == address:
                del self._leaders[shard_id]

    def replicas(self, shard_id: int, preferred_site_only: bool = False) -> List[str]:
        """host:port of the shard's replicas, those of its preferred site
        first (only those with preferred_site_only); [] if the map does not
        list them."""
        with self._mu:
            if self._config is None:
                return []
            shard = next((s for s in self._config.shards if s.shard_id == shard_id), None)
            if shard is None:
                return []
            addresses = {n.node_id: n.address for n in self._config.nodes if n.address}
            groups = sorted(shard.groups, key=lambda g: g.site_id != shard.preferred_site)
            if preferred_site_only:
                groups = groups[:1]
            return [addresses[r] for g in groups for r in g.replicas if r in addresses]

    def _find(self, key: bytes) -> Optional[cluster_pb2.ShardInfo]:
        # REQUIRES: self._mu held.
        if self._config is None:
            return None
        i = bisect.bisect_right(self._starts, key) - 1  # the last shard starting at or before key
        if i < 0:
            return None
        shard = self._config.shards[i]
        return shard if not shard.end_key or key < shard.end_key else None
