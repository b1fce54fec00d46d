"""Client and Txn: the Meridian v1 API over gRPC, for Python.

The same retry rule as the C++ SDK (client/retry_policy.h), with one
deliberate difference noted below:

  - Reads (Get, Scan, Members, Begin, read-only Execute, the buffered ops
    of an interactive transaction) are retried on any retryable failure:
    at the leader on NOT_LEADER, at the next endpoint on UNAVAILABLE or a
    transport failure, at the same one after RESOURCE_EXHAUSTED's
    retry_after_ms.
  - Writes (Put, Delete, Execute with writes, Commit, cset updates) are
    retried only when the failure proves nothing was applied: the endpoint
    could not be connected to (nothing sent), NOT_LEADER, WRONG_SHARD,
    UNAVAILABLE with an ErrorDetail (the server's refusal before any work),
    or RESOURCE_EXHAUSTED with retry_after_ms. Anything else, a lost reply
    or a deadline in particular, is raised at once.
  - Calls of an interactive transaction go only to the node that served
    Begin (it alone holds the transaction); they never follow a leader hint.

Routing (sharded clusters): a keyed call (Get, Put, Delete, Scan, cset
ops, Execute by its first key, Begin by its routing key) goes to the cached
leader of the key's shard, else to a replica of it from the shard map, else
to the preferred endpoint, and names the map version and shard in its
header. The map comes from Admin.Shards on first use; UNIMPLEMENTED there
means a server without shards, and routing stays off. NOT_LEADER hints
update the shard's leader; WRONG_SHARD refreshes the map from the node that
sent it and retries (at its hint, if any). A Scan whose range crosses a
shard boundary continues at the next shard (ScanResponse.resume_key), at
the first part's snapshot.

Every attempt has its own deadline of `timeout` seconds; `max_retries`
bounds the retries (leader hops included) of one call.

Thread-safety: a Client may be shared by threads. A Txn is used by one
thread at a time. One Client is one session: it sends back the newest
session token it has seen, as the C++ SDK does.
"""

from __future__ import annotations

import random
import threading
import time
from typing import (Any, Callable, Iterable, List, NamedTuple, Optional, Sequence, Tuple, TypeVar,
                    Union)

import grpc

from meridian_client import ops as _ops
from meridian_client._proto import (admin_pb2, admin_pb2_grpc, common_pb2, cset_pb2,
                                    cset_pb2_grpc, kv_pb2, kv_pb2_grpc, txn_pb2, txn_pb2_grpc)
from meridian_client.errors import MeridianError, from_rpc_error, not_sent
from meridian_client.ops import Bytes, to_bytes
from meridian_client.results import (ExecuteResult, GetResult, Header, KeyValue, OpResult,
                                     Reply, ScanResult, WriteResult)
from meridian_client.routing import Shard, ShardRouter

T = TypeVar("T")

# How long grpcio's connectivity poller may take to act on a kick.
_KICK_SETTLE_S = 0.3

# What to do after a failed attempt.
_FAIL, _SAME, _NEXT, _LEADER = "fail", "same", "next", "leader"


class _Endpoint:
    """One node: a channel, its stubs and its tracked connectivity."""

    def __init__(self, address: str, timeout: float, max_backoff: float):
        self.address = address
        max_ms = max(int(max_backoff * 1000), 100)
        # As the C++ SDK: reconnect soon after a node comes back, and give a
        # connection attempt at least a second on a loaded machine.
        self.channel = grpc.insecure_channel(address, options=[
            ("grpc.initial_reconnect_backoff_ms", min(100, max_ms)),
            ("grpc.min_reconnect_backoff_ms", max(int(timeout * 1000), 1000)),
            ("grpc.max_reconnect_backoff_ms", max_ms),
        ])
        self.kv = kv_pb2_grpc.KVStub(self.channel)
        self.txn = txn_pb2_grpc.TxnStub(self.channel)
        self.admin = admin_pb2_grpc.AdminStub(self.channel)
        self.cset = cset_pb2_grpc.CsetStub(self.channel)
        self._cv = threading.Condition()
        self._state: Optional[grpc.ChannelConnectivity] = None
        self._kicked_at = float("-inf")
        self.channel.subscribe(self._on_state, try_to_connect=True)

    def _on_state(self, state: grpc.ChannelConnectivity) -> None:
        with self._cv:
            self._state = state
            self._cv.notify_all()

    def _kick(self) -> None:
        # A subscription with try_to_connect makes an idle channel (new, or
        # after its connection was lost) connect.
        def noop(_state):
            pass
        self._kicked_at = time.monotonic()
        self.channel.subscribe(noop, try_to_connect=True)
        self.channel.unsubscribe(noop)

    def wait_connected(self, deadline: float) -> Optional[str]:
        """None once the channel is READY; else why not (then nothing was
        sent). Fails at once on a refused or broken connection rather than
        waiting out the deadline."""
        with self._cv:
            kicked = False
            while True:
                state = self._state
                if state == grpc.ChannelConnectivity.READY:
                    return None
                if state in (grpc.ChannelConnectivity.TRANSIENT_FAILURE,
                             grpc.ChannelConnectivity.SHUTDOWN):
                    return "connection failed"
                if state == grpc.ChannelConnectivity.IDLE and not kicked:
                    kicked = True
                    self._kick()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timed out connecting"
                self._cv.wait(remaining)

    def close(self) -> None:
        self.channel.unsubscribe(self._on_state)
        # grpcio's connectivity poller acts on a kick within its 0.2 s poll;
        # closing the channel before then makes that thread raise.
        with self._cv:
            wait = self._kicked_at + _KICK_SETTLE_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.channel.close()


def _valid_hint(hint: str) -> bool:
    # A leader hint is host:port (a bare member id would be useless here).
    return bool(hint) and ":" in hint


def _version(v: common_pb2.Version) -> Tuple[int, int]:
    return v.hlc, v.site_id


class Client:
    """A connection to a Meridian cluster.

    Args:
      endpoints: host:port of one or more nodes (a list, or one string
        with commas). Leader hints may add more.
      timeout: seconds each RPC attempt may take (connecting included).
      max_retries: retries of one call, leader hops included (0: one attempt
        and no redirect).
      initial_backoff, max_backoff: seconds; the pause before retry n is
        min(max, initial * 2^n) with jitter in its upper half.
      shard_routing: route keyed calls by the cluster's shard map (default);
        False sends every call to the current endpoint and follows only the
        server's redirects.

    Raises MeridianError from every call (see errors.py for the rule that
    tells a definite failure from an unknown outcome).
    """

    def __init__(self, endpoints: Union[Sequence[str], str], timeout: float = 5.0, *,
                 max_retries: int = 8, initial_backoff: float = 0.01,
                 max_backoff: float = 1.0, shard_routing: bool = True):
        if isinstance(endpoints, str):
            endpoints = [e.strip() for e in endpoints.split(",")]
        endpoints = list(endpoints)
        if not endpoints or any(not e for e in endpoints):
            raise ValueError("need one or more non-empty endpoints (host:port)")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if not 0 < initial_backoff <= max_backoff:
            raise ValueError("need 0 < initial_backoff <= max_backoff")
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._mu = threading.Lock()
        # Append-only, so a Txn's endpoint index stays valid.
        self._endpoints: List[_Endpoint] = []
        self._current = 0
        self._token = common_pb2.SessionToken()
        self._rng = random.Random()
        self._router = ShardRouter()
        # None: not asked yet; False: the server has no Admin.Shards (no
        # routing). Plain assignments: a race only asks twice.
        self._routing: Optional[bool] = None if shard_routing else False
        self._shards_retry_at = 0.0  # after a failed fetch, no new one before this
        for e in endpoints:
            if all(x.address != e for x in self._endpoints):
                self._endpoints.append(_Endpoint(e, self.timeout, max_backoff))

    # -- lifecycle ---------------------------------------------------------

    def close(self) -> None:
        with self._mu:
            endpoints = list(self._endpoints)
        for ep in endpoints:
            ep.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def endpoints(self) -> List[str]:
        with self._mu:
            return [e.address for e in self._endpoints]

    # -- single-key operations ---------------------------------------------

    def get(self, key: Bytes) -> GetResult:
        """The newest live value of `key`. Unpacks as (found, value, version_hlc)."""
        req = kv_pb2.GetRequest(key=to_bytes(key))
        resp, node = self._unary(False, lambda ep: ep.kv.Get, req, req.key)
        return _get_result(resp, node)

    def put(self, key: Bytes, value: Bytes) -> WriteResult:
        req = kv_pb2.PutRequest(key=to_bytes(key), value=to_bytes(value, "value"))
        resp, node = self._unary(True, lambda ep: ep.kv.Put, req, req.key)
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), node)

    def delete(self, key: Bytes) -> WriteResult:
        """existed says whether a live value was deleted (commit_hlc 0 if not)."""
        req = kv_pb2.DeleteRequest(key=to_bytes(key))
        resp, node = self._unary(True, lambda ep: ep.kv.Delete, req, req.key)
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), node,
                           existed=resp.existed)

    def scan(self, start: Bytes = b"", end: Bytes = b"", limit: int = 0, *,
             prefix: Bytes = b"", keys_only: bool = False) -> ScanResult:
        """The live keys of [start, end) (empty end: to the last key), or of
        `prefix`, in key order, all at one snapshot; limit 0 = all.

        A range over several shards is read one shard after the other (each
        node ends its part with the key to resume at), the later parts at the
        first part's snapshot; header and node are the first part's. more is
        also True when the limit was reached exactly at a shard's end."""
        start, end, prefix = to_bytes(start), to_bytes(end), to_bytes(prefix)
        _check_range(start, end, prefix, limit)
        range_end = _prefix_end(prefix) if prefix else end
        first = self._scan_part(kv_pb2.ScanRequest(start=start, end=end, prefix=prefix,
                                                   limit=limit, keys_only=keys_only))
        kvs, more, resume = list(first.kvs), first.more, first.resume_key
        while resume and not more and not (range_end and resume >= range_end):
            if limit and len(kvs) >= limit:
                more = True
                break
            req = kv_pb2.ScanRequest(start=resume, end=range_end, keys_only=keys_only,
                                     limit=limit - len(kvs) if limit else 0,
                                     snapshot=first.header.snapshot)
            part = self._scan_part(req)
            if part.resume_key and part.resume_key <= resume:
                raise MeridianError(grpc.StatusCode.INTERNAL,
                                    f"scan: resume_key {part.resume_key!r} does not advance "
                                    f"past {resume!r}", node=part.node)
            kvs.extend(part.kvs)
            more, resume = part.more, part.resume_key
        return ScanResult(kvs, more, Header.from_proto(first.header), first.node)

    def _scan_part(self, req: kv_pb2.ScanRequest) -> "_ScanPart":
        """One Scan call: the part of req's range in the shard of its start."""
        self._stamp(req.header)

        def attempt(ep: _Endpoint, timeout: float) -> _ScanPart:
            # A retry restarts the part, so it is still one snapshot.
            kvs: List[KeyValue] = []
            header = None
            more, resume = False, b""
            for chunk in ep.kv.Scan(req, timeout=timeout):
                if header is None:
                    header = chunk.header
                kvs.extend(KeyValue(kv.key, kv.value, kv.version.hlc, kv.version.site_id)
                           for kv in chunk.kvs)
                more, resume = chunk.more, chunk.resume_key
            header = header if header is not None else common_pb2.ResponseHeader()
            self._observe(header)
            return _ScanPart(kvs, more, resume, header, ep.address)

        part, _ = self._invoke(False, attempt, key=req.start or req.prefix, header=req.header)
        return part

    # -- transactions ------------------------------------------------------

    def execute(self, compares: Iterable[Any] = (), success: Iterable[Any] = (),
                failure: Iterable[Any] = ()) -> ExecuteResult:
        """One-shot transaction: evaluates every compare at one snapshot, then
        applies `success` if all hold and `failure` otherwise, atomically.
        Compares and ops: see ops.py. A compare that does not hold is not an
        error: succeeded is False and the failure branch ran. In a sharded
        cluster it goes to the shard of the first key it names, and every key
        must be in that shard."""
        req = txn_pb2.ExecuteRequest(
            compares=[_ops.compare_to_proto(c) for c in compares],
            success=[_ops.op_to_proto(o) for o in success],
            failure=[_ops.op_to_proto(o) for o in failure])
        # Execute with only gets changes nothing and is retried like a read.
        writes = _ops.has_writes(req.success) or _ops.has_writes(req.failure)
        resp, node = self._unary(writes, lambda ep: ep.txn.Execute, req, _ops.first_key(req))
        return ExecuteResult(resp.succeeded, [_op_result(r) for r in resp.results],
                             resp.header.commit_hlc, Header.from_proto(resp.header), node)

    def begin(self, timeout_ms: int = 0, routing_key: Bytes = b"") -> "Txn":
        """Begins an interactive transaction (timeout_ms 0: the server's
        default, 10 s). Its snapshot is taken now; every later call of the
        Txn goes to the node that served this. In a sharded cluster that is
        the leader of the shard holding `routing_key` (empty: the first
        shard), and every key the transaction touches must be in that shard.
        A retried Begin may leave an unused transaction behind on a node; it
        expires at its deadline."""
        if timeout_ms < 0:
            raise not_sent(grpc.StatusCode.INVALID_ARGUMENT, "negative transaction timeout",
                           kind="INVALID_ARGUMENT")
        req = txn_pb2.BeginRequest(timeout_ms=timeout_ms, routing_key=to_bytes(routing_key))
        resp, index = self._unary_at(False, lambda ep: ep.txn.Begin, req, key=req.routing_key)
        return Txn(self, index, resp)

    # -- counting sets -----------------------------------------------------

    def cset_add(self, key: Bytes, element: Bytes) -> WriteResult:
        req = cset_pb2.CsetAddRequest(key=to_bytes(key), element=to_bytes(element, "element"))
        resp, node = self._unary(True, lambda ep: ep.cset.Add, req, req.key)
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), node)

    def cset_remove(self, key: Bytes, element: Bytes) -> WriteResult:
        req = cset_pb2.CsetRemoveRequest(key=to_bytes(key), element=to_bytes(element, "element"))
        resp, node = self._unary(True, lambda ep: ep.cset.Remove, req, req.key)
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), node)

    def cset_read(self, key: Bytes) -> dict:
        """element -> count, elements with a zero count omitted."""
        req = cset_pb2.CsetReadRequest(key=to_bytes(key))
        resp, _ = self._unary(False, lambda ep: ep.cset.Read, req, req.key)
        return {e.element: e.count for e in resp.entries if e.count != 0}

    # -- administration ----------------------------------------------------

    def status(self, node: Optional[str] = None) -> admin_pb2.StatusResponse:
        """Admin.Status of one node: `node` (host:port; added to the endpoints
        if new), else the preferred endpoint. Not retried, not redirected:
        it describes the node asked."""
        index = self._index_of(node, prefer=False) if node else self._current_index()
        resp, _ = self._invoke(
            False, lambda ep, t: ep.admin.Status(admin_pb2.StatusRequest(), timeout=t),
            pinned=index, retries=0)
        return resp

    def members(self) -> admin_pb2.MembersResponse:
        """Admin.Members: the group's members and the one believed to lead."""
        resp, _ = self._unary(False, lambda ep: ep.admin.Members, admin_pb2.MembersRequest())
        return resp

    def shards(self) -> admin_pb2.ShardsResponse:
        """Admin.Shards: the shard map and shard leaders as one node knows
        them. The client routes by the newest map it has been sent, this one
        included."""
        resp, _ = self._unary(False, lambda ep: ep.admin.Shards, admin_pb2.ShardsRequest())
        self._router.update(resp)
        self._routing = True
        return resp

    def shard_map(self):
        """The map keyed calls are routed by (a meridian.v1.ClusterConfig
        copy), or None: not fetched yet, or a server without shards."""
        return self._router.config()

    # -- the retry loop ----------------------------------------------------

    def _unary(self, write: bool, method: Callable[[_Endpoint], Callable], req,
               key: Optional[bytes] = None) -> Tuple[Any, str]:
        resp, index = self._unary_at(write, method, req, key=key)
        return resp, self._address(index)

    def _unary_at(self, write: bool, method, req, pinned: Optional[int] = None,
                  retries: Optional[int] = None, key: Optional[bytes] = None) -> Tuple[Any, int]:
        """`key`: the key the request is routed by (None: not routed)."""
        header = req.DESCRIPTOR.fields_by_name.get("header")
        if header is not None and header.message_type is common_pb2.RequestHeader.DESCRIPTOR:
            self._stamp(req.header)
        else:
            key = None

        def attempt(ep: _Endpoint, timeout: float):
            resp = method(ep)(req, timeout=timeout)
            if "header" in resp.DESCRIPTOR.fields_by_name:
                self._observe(resp.header)
            return resp

        return self._invoke(write, attempt, pinned=pinned, retries=retries, key=key,
                            header=req.header if key is not None else None)

    def _invoke(self, write: bool, attempt: Callable[[_Endpoint, float], T],
                pinned: Optional[int] = None, retries: Optional[int] = None,
                key: Optional[bytes] = None,
                header: Optional[common_pb2.RequestHeader] = None) -> Tuple[T, int]:
        """Runs attempt(endpoint, timeout) until it succeeds or its failure may
        not or need not be retried. Returns (result, endpoint index).

        With a routing `key` (and `header`, the request's, stamped with the
        shard before each attempt) each attempt goes where _target says."""
        max_retries = self.max_retries if retries is None else retries
        index = pinned if pinned is not None else self._current_index()
        routed = key is not None and pinned is None
        hop: Optional[str] = None  # a WRONG_SHARD hint, tried next
        skipped = 0  # replicas of the shard passed over after failures
        retry = 0
        while True:
            shard = None
            if routed:
                shard = self._shard_of(key)
                index = self._target(shard, hop, skipped, index)
                hop = None
                header.shard_map_version = shard.map_version if shard else 0
                header.shard_id = shard.shard_id if shard else 0
            ep = self._endpoint(index)
            deadline = time.monotonic() + self.timeout
            why = ep.wait_connected(deadline)
            if why is not None:
                err = not_sent(grpc.StatusCode.UNAVAILABLE,
                               f"could not connect to {ep.address}: {why}", node=ep.address)
            else:
                try:
                    result = attempt(ep, max(deadline - time.monotonic(), 0.001))
                    if shard is not None:
                        self._router.set_leader(shard.shard_id, ep.address)
                    return result, index
                except grpc.RpcError as e:
                    err = from_rpc_error(e, ep.address)
            step, floor = _next_step(err, write, ep.address)
            if step == _FAIL or retry >= max_retries:
                raise err
            if pinned is not None:
                if step == _LEADER:
                    raise err  # another node does not hold the transaction
                step = _SAME
            if routed and err.kind == "WRONG_SHARD":
                self._fetch_shards(index)
                if _valid_hint(err.leader_hint) and err.leader_hint != ep.address:
                    hop = err.leader_hint
            if shard is not None:
                if step == _LEADER:
                    self._router.set_leader(shard.shard_id, err.leader_hint)
                elif step == _NEXT:
                    self._router.forget_leader(shard.shard_id, ep.address)
                    skipped += 1
            if step == _NEXT:
                index = self._move_off(index)
            elif step == _LEADER:
                index = self._use(err.leader_hint)
            time.sleep(max(self._backoff(retry), floor))
            retry += 1

    def _shard_of(self, key: bytes) -> Optional[Shard]:
        """The shard of `key` under the cached map, fetching the map on first
        use; None: not routed (no map, or a server without shards)."""
        if self._routing is not False and self._router.version == 0 \
                and time.monotonic() >= self._shards_retry_at:
            self._fetch_shards(self._current_index())
        return self._router.lookup(key)

    def _target(self, shard: Optional[Shard], hop: Optional[str], skipped: int,
                index: int) -> int:
        """Where a routed attempt goes: `hop` if set, else the shard's cached
        leader, else one of its replicas (the next after each failure), else
        `index` (the endpoint the unrouted retry rule chose)."""
        address = hop
        if address is None and shard is not None:
            address = self._router.leader(shard.shard_id)
            if address is None:
                replicas = self._router.replicas(shard.shard_id)
                address = replicas[skipped % len(replicas)] if replicas else None
        return self._index_of(address, prefer=False) if address is not None else index

    def _fetch_shards(self, index: int) -> None:
        """Asks node `index` for its shard map, once, and keeps it if newer.
        Best effort, so that a call never waits on more than one extra
        attempt: on failure routing goes on as it was, and UNIMPLEMENTED (a
        server without shards) turns it off."""
        try:
            resp, _ = self._unary_at(False, lambda ep: ep.admin.Shards, admin_pb2.ShardsRequest(),
                                     pinned=index, retries=0)
        except MeridianError as e:
            if e.code == grpc.StatusCode.UNIMPLEMENTED:
                self._routing = False
            else:
                self._shards_retry_at = time.monotonic() + self._max_backoff
            return
        self._routing = True
        self._router.update(resp)

    def _backoff(self, retry: int) -> float:
        base = min(self._max_backoff, self._initial_backoff * (2 ** min(retry, 30)))
        with self._mu:
            return base / 2 + self._rng.uniform(0, base / 2)

    def _current_index(self) -> int:
        with self._mu:
            return self._current

    def _endpoint(self, index: int) -> _Endpoint:
        with self._mu:
            return self._endpoints[index]

    def _address(self, index: int) -> str:
        return self._endpoint(index).address

    def _move_off(self, failed: int) -> int:
        # Only the first of several threads that saw the same failure moves
        # the shared preference, so they do not skip a healthy endpoint.
        with self._mu:
            if self._current == failed:
                self._current = (failed + 1) % len(self._endpoints)
            return self._current

    def _use(self, address: str) -> int:
        """Makes `address` (a leader hint) the preferred endpoint."""
        return self._index_of(address, prefer=True)

    def _index_of(self, address: str, prefer: bool) -> int:
        """The index of `address`, added if new (the list grows only by
        leader hints and nodes asked for by name, so it stays small)."""
        with self._mu:
            for i, ep in enumerate(self._endpoints):
                if ep.address == address:
                    break
            else:
                self._endpoints.append(_Endpoint(address, self.timeout, self._max_backoff))
                i = len(self._endpoints) - 1
            if prefer:
                self._current = i
            return i

    def _stamp(self, header: common_pb2.RequestHeader) -> None:
        with self._mu:
            header.session_token.CopyFrom(self._token)

    def _observe(self, header: common_pb2.ResponseHeader) -> None:
        # Tokens are opaque; of two, the one with the later cluster time is newer.
        if not header.HasField("session_token"):
            return
        with self._mu:
            if header.session_token.cluster_time >= self._token.cluster_time:
                self._token.CopyFrom(header.session_token)


def _next_step(err: MeridianError, write: bool, address: str) -> Tuple[str, float]:
    """Where to retry after `err` (and the least pause), or _FAIL."""
    if not err.sent:
        return _NEXT, 0.0  # nothing was sent: even a write may go elsewhere
    if err.kind == "NOT_LEADER":
        if _valid_hint(err.leader_hint) and err.leader_hint != address:
            return _LEADER, 0.0
        return _NEXT, 0.0
    if err.kind == "WRONG_SHARD":
        return _NEXT, 0.0
    if err.kind == "RESOURCE_EXHAUSTED":
        # Only admission control's refusal (with a hint) will pass later.
        if err.retry_after_ms > 0:
            return _SAME, err.retry_after_ms / 1000.0
        return _FAIL, 0.0
    if err.kind == "UNAVAILABLE":
        return _NEXT, 0.0  # refused before any work: even a write may go elsewhere
    if write:
        return _FAIL, 0.0
    if err.kind is None and err.code in (grpc.StatusCode.UNAVAILABLE,
                                         grpc.StatusCode.DEADLINE_EXCEEDED):
        return _NEXT, 0.0
    return _FAIL, 0.0


class _ScanPart(NamedTuple):
    kvs: List[KeyValue]
    more: bool
    resume_key: bytes
    header: common_pb2.ResponseHeader
    node: str


def _prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with `prefix`; b"" (the
    end of the keyspace) if there is none. As proto/shard_lookup.cc
    PrefixEnd, by which the server continues a prefix scan."""
    p = prefix.rstrip(b"\xff")
    return p[:-1] + bytes([p[-1] + 1]) if p else b""


def _check_range(start: bytes, end: bytes, prefix: bytes, limit: int) -> None:
    if prefix and (start or end):
        raise not_sent(grpc.StatusCode.INVALID_ARGUMENT,
                       "scan: prefix cannot be combined with start/end", kind="INVALID_ARGUMENT")
    if end and end < start:
        raise not_sent(grpc.StatusCode.INVALID_ARGUMENT, "scan: end is before start",
                       kind="INVALID_ARGUMENT")
    if limit < 0:
        raise not_sent(grpc.StatusCode.INVALID_ARGUMENT, "scan: negative limit",
                       kind="INVALID_ARGUMENT")


def _get_result(resp, node: str) -> GetResult:
    hlc, site = _version(resp.version)
    if not resp.found:
        return GetResult(False, None, 0, 0, Header.from_proto(resp.header), node)
    return GetResult(True, resp.value, hlc, site, Header.from_proto(resp.header), node)


def _op_result(r: txn_pb2.OpResult) -> OpResult:
    which = r.WhichOneof("result")
    if which == "get":
        g = r.get
        return OpResult("get", found=g.found, value=g.value if g.found else None,
                        version_hlc=g.version.hlc if g.found else 0)
    if which == "delete":
        return OpResult("delete", existed=r.delete.existed)
    return OpResult(which or "put")


class Txn:
    """An interactive transaction. Reads see the snapshot taken at Begin plus
    the transaction's own writes; writes are buffered on the server until
    commit(), which raises CONFLICT if another transaction committed a write
    to one of the same keys after Begin (first committer wins).

    Every call goes to `node`, the endpoint that served Begin. As a context
    manager it aborts (best effort) unless committed or aborted:

      with client.begin() as txn:
          found, value, _ = txn.get("k")
          txn.put("k", b"v")
          txn.commit()
    """

    def __init__(self, client: Client, index: int, begin: txn_pb2.BeginResponse):
        self._client = client
        self._index = index
        self.id: int = begin.txn_id
        self.deadline_unix_ms: int = begin.deadline_unix_ms
        self.header = Header.from_proto(begin.header)
        self.snapshot_hlc: int = self.header.snapshot_hlc
        self.node: str = client._address(index)
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    def _check_open(self) -> None:
        if self._finished:
            raise not_sent(grpc.StatusCode.FAILED_PRECONDITION,
                           f"transaction {self.id} was already committed or aborted",
                           node=self.node)

    def _call(self, write: bool, method, req, retries: Optional[int] = None):
        resp, _ = self._client._unary_at(write, method, req, pinned=self._index, retries=retries)
        return resp

    def get(self, key: Bytes) -> GetResult:
        self._check_open()
        resp = self._call(False, lambda ep: ep.txn.Get,
                          txn_pb2.TxnGetRequest(txn_id=self.id, key=to_bytes(key)))
        return _get_result(resp, self.node)

    # Buffered writes change nothing until commit, and buffering the same
    # write twice is harmless, so they are retried like reads.
    def put(self, key: Bytes, value: Bytes) -> Reply:
        self._check_open()
        resp = self._call(False, lambda ep: ep.txn.Put, txn_pb2.TxnPutRequest(
            txn_id=self.id, key=to_bytes(key), value=to_bytes(value, "value")))
        return Reply(Header.from_proto(resp.header), self.node)

    def delete(self, key: Bytes) -> Reply:
        self._check_open()
        resp = self._call(False, lambda ep: ep.txn.Delete,
                          txn_pb2.TxnDeleteRequest(txn_id=self.id, key=to_bytes(key)))
        return Reply(Header.from_proto(resp.header), self.node)

    def scan(self, start: Bytes = b"", end: Bytes = b"", limit: int = 0, *,
             prefix: Bytes = b"") -> ScanResult:
        """At most `limit` keys (0: the server's maximum, 10,000); more says
        keys were left."""
        self._check_open()
        start, end, prefix = to_bytes(start), to_bytes(end), to_bytes(prefix)
        _check_range(start, end, prefix, limit)
        resp = self._call(False, lambda ep: ep.txn.Scan, txn_pb2.TxnScanRequest(
            txn_id=self.id, start=start, end=end, prefix=prefix, limit=limit))
        kvs = [KeyValue(kv.key, kv.value, kv.version.hlc, kv.version.site_id) for kv in resp.kvs]
        return ScanResult(kvs, resp.more, Header.from_proto(resp.header), self.node)

    def commit(self) -> WriteResult:
        """Commits; commit_hlc is 0 for a read-only transaction. Raises CONFLICT
        when another transaction committed one of the same keys first, and
        an error whose definitely_not_applied is False (COMMIT_UNKNOWN, a
        deadline, a lost connection) when the outcome is not known."""
        self._check_open()
        try:
            resp = self._call(True, lambda ep: ep.txn.Commit,
                              txn_pb2.CommitRequest(txn_id=self.id))
        except MeridianError as e:
            # Left open only when this commit surely did nothing and the node
            # may still hold the transaction (refused before the handler ran),
            # so that committing again cannot hide an earlier unknown outcome.
            self._finished = not (e.definitely_not_applied and
                                  (not e.sent or e.kind in ("NOT_LEADER", "RESOURCE_EXHAUSTED")))
            raise
        self._finished = True
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), self.node)

    def abort(self) -> None:
        """Aborts; not retried. If the abort is lost, the server expires the
        transaction at its deadline."""
        if self._finished:
            return
        self._finished = True
        self._call(False, lambda ep: ep.txn.Abort, txn_pb2.AbortRequest(txn_id=self.id),
                   retries=0)

    def __enter__(self) -> "Txn":
        return self

    def __exit__(self, *exc) -> None:
        if not self._finished:
            try:
                self.abort()
            except MeridianError:
                pass
