"""What the SDK's calls return: small dataclasses over the v1 responses.

Every result carries `header` (the ResponseHeader fields that matter to a
caller) and `node` (the host:port of the endpoint that served the call,
which after a leader redirect differs from the one first tried).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional

from meridian_client._proto import common_pb2


@dataclass(frozen=True)
class Header:
    """meridian.v1.ResponseHeader, minus the session token (the Session keeps it)."""
    node_id: str = ""
    site_id: int = 0
    site_name: str = ""
    shard_id: int = 0
    # site id -> HLC: the snapshot the request read at; empty for blind writes.
    snapshot: Dict[int, int] = field(default_factory=dict)
    commit_hlc: int = 0  # the commit timestamp, for writes; 0 otherwise

    @property
    def snapshot_hlc(self) -> int:
        """The snapshot at the serving site (one entry per site; one site today)."""
        if self.site_id in self.snapshot:
            return self.snapshot[self.site_id]
        return next(iter(self.snapshot.values()), 0)

    @staticmethod
    def from_proto(h: common_pb2.ResponseHeader) -> "Header":
        return Header(node_id=h.node_id, site_id=h.site_id, site_name=h.site_name,
                      shard_id=h.shard_id,
                      snapshot={e.site_id: e.hlc for e in h.snapshot.entries},
                      commit_hlc=h.commit_hlc)


@dataclass(frozen=True)
class Reply:
    """A call that returns nothing but its header."""
    header: Header
    node: str


@dataclass(frozen=True)
class GetResult:
    """A point read. Unpacks as (found, value, version_hlc)."""
    found: bool
    value: Optional[bytes]  # None when not found
    version_hlc: int        # commit HLC of the version read; 0 when not found
    version_site: int
    header: Header
    node: str

    def __iter__(self) -> Iterator:
        return iter((self.found, self.value, self.version_hlc))


@dataclass(frozen=True)
class WriteResult:
    """A Put, Delete or Commit. commit_hlc is 0 when nothing was written
    (a Delete of an absent key, a read-only transaction)."""
    commit_hlc: int
    header: Header
    node: str
    existed: Optional[bool] = None  # Delete only: a live value was deleted


@dataclass(frozen=True)
class KeyValue:
    key: bytes
    value: bytes
    version_hlc: int
    version_site: int


@dataclass(frozen=True)
class ScanResult:
    kvs: List[KeyValue]
    more: bool  # stopped at the limit with keys left
    header: Header
    node: str


@dataclass(frozen=True)
class OpResult:
    """The result of one op of the Execute branch taken."""
    op: str                       # "get", "put" or "delete"
    found: bool = False           # get
    value: Optional[bytes] = None  # get; None when not found
    version_hlc: int = 0          # get
    existed: bool = False         # delete


@dataclass(frozen=True)
class ExecuteResult:
    succeeded: bool          # every compare held: the success branch ran
    results: List[OpResult]  # one per op of the branch taken
    commit_hlc: int          # 0 if the branch wrote nothing
    header: Header
    node: str
