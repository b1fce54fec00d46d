"""Client: the Meridian v1 API over gRPC, for Python (keyed calls in
session.py).

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

Session reads (consistency=SESSION): the first attempt goes to a replica
of the key's shard, taken in turn among the replicas (leader included) so
that reads spread. A follower that cannot serve it (NOT_LEADER from a server
without follower reads, UNAVAILABLE, unreachable, WRONG_SHARD) hands the read
to the leader route, once, without changing what the client believes about
the leader. CAUSAL_WAIT_TIMEOUT (the replica could not catch up with the
session's token in time) is retried once at another replica (the leader if
a follower timed out), then raised.

Every attempt has its own deadline of `timeout` seconds; `max_retries`
bounds the retries (leader hops included) of one call.

Thread-safety: a Client may be shared by threads. A Txn is used by one
thread at a time. Keyed calls run in sessions (session.py): the Client's
own in its default session, as in the C++ SDK.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any, Callable, Iterable, List, Optional, Sequence, Tuple, TypeVar, Union

import grpc

from meridian_client._proto import (admin_pb2, admin_pb2_grpc, common_pb2, cset_pb2_grpc,
                                    kv_pb2_grpc, txn_pb2_grpc)
from meridian_client.errors import MeridianError, from_rpc_error, not_sent
from meridian_client.ops import Bytes
from meridian_client.results import ExecuteResult, GetResult, ScanResult, WriteResult
from meridian_client.routing import Shard, ShardRouter
from meridian_client.session import LINEARIZABLE, Session, Txn
from meridian_client.tokens import TokenState

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
      sessions: causal session tokens (default). False sends and keeps no
        token, to measure what sessions cost; import_token then fails.

    Raises MeridianError from every call (see errors.py for the rule that
    tells a definite failure from an unknown outcome).
    """

    def __init__(self, endpoints: Union[Sequence[str], str], timeout: float = 5.0, *,
                 max_retries: int = 8, initial_backoff: float = 0.01,
                 max_backoff: float = 1.0, shard_routing: bool = True, sessions: bool = True):
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
        self._sessions = sessions
        self._next_replica = 0  # _pick_replica's turn
        self._rng = random.Random()
        self._router = ShardRouter()
        # None: not asked yet; False: the server has no Admin.Shards (no
        # routing). Plain assignments: a race only asks twice.
        self._routing: Optional[bool] = None if shard_routing else False
        self._shards_retry_at = 0.0  # after a failed fetch, no new one before this
        for e in endpoints:
            if all(x.address != e for x in self._endpoints):
                self._endpoints.append(_Endpoint(e, self.timeout, max_backoff))
        self.default_session = Session(self, sessions)

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

    # -- sessions ----------------------------------------------------------

    def session(self) -> Session:
        """A new causal session with an empty token (session.py)."""
        return Session(self, self._sessions)

    def export_token(self) -> str:
        """The default session's token as text (Session.export_token)."""
        return self.default_session.export_token()

    def import_token(self, token: str) -> None:
        """Session.import_token, into the default session."""
        self.default_session.import_token(token)

    # -- keyed calls, in the default session (Session has their docs) -------

    def get(self, key: Bytes, *, consistency: str = LINEARIZABLE) -> GetResult:
        """The newest live value of `key`. Unpacks as (found, value, version_hlc)."""
        return self.default_session.get(key, consistency=consistency)

    def put(self, key: Bytes, value: Bytes) -> WriteResult:
        return self.default_session.put(key, value)

    def delete(self, key: Bytes) -> WriteResult:
        return self.default_session.delete(key)

    def scan(self, start: Bytes = b"", end: Bytes = b"", limit: int = 0, *,
             prefix: Bytes = b"", keys_only: bool = False,
             consistency: str = LINEARIZABLE) -> ScanResult:
        return self.default_session.scan(start, end, limit, prefix=prefix, keys_only=keys_only,
                                         consistency=consistency)

    def execute(self, compares: Iterable[Any] = (), success: Iterable[Any] = (),
                failure: Iterable[Any] = ()) -> ExecuteResult:
        return self.default_session.execute(compares, success, failure)

    def begin(self, timeout_ms: int = 0, routing_key: Bytes = b"") -> Txn:
        return self.default_session.begin(timeout_ms, routing_key)

    def cset_add(self, key: Bytes, element: Bytes) -> WriteResult:
        return self.default_session.cset_add(key, element)

    def cset_remove(self, key: Bytes, element: Bytes) -> WriteResult:
        return self.default_session.cset_remove(key, element)

    def cset_read(self, key: Bytes) -> dict:
        return self.default_session.cset_read(key)

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

    def rotate_signing_key(self) -> admin_pb2.RotateSigningKeyResponse:
        """Admin.RotateSigningKey: adds a session-token signing key and signs
        new tokens with it; tokens signed with the kept keys still verify.
        A write: not retried after a lost reply (a key may have been added).
        Code UNIMPLEMENTED from a server that predates signed tokens."""
        try:
            resp, _ = self._unary(True, lambda ep: ep.admin.RotateSigningKey,
                                  admin_pb2.RotateSigningKeyRequest())
        except MeridianError as e:
            if e.code == grpc.StatusCode.UNIMPLEMENTED:
                raise MeridianError(grpc.StatusCode.UNIMPLEMENTED,
                                    "the server has no Admin.RotateSigningKey: it predates "
                                    "signed session tokens", node=e.node, retryable=False) from e
            raise
        return resp

    def shard_map(self):
        """The map keyed calls are routed by (a meridian.v1.ClusterConfig
        copy), or None: not fetched yet, or a server without shards."""
        return self._router.config()

    # -- the retry loop ----------------------------------------------------

    def _unary(self, write: bool, method: Callable[[_Endpoint], Callable], req,
               key: Optional[bytes] = None, session: Optional[TokenState] = None,
               session_read: bool = False) -> Tuple[Any, str]:
        resp, index = self._unary_at(write, method, req, key=key, session=session,
                                     session_read=session_read)
        return resp, self._address(index)

    def _unary_at(self, write: bool, method, req, pinned: Optional[int] = None,
                  retries: Optional[int] = None, key: Optional[bytes] = None,
                  session: Optional[TokenState] = None,
                  session_read: bool = False) -> Tuple[Any, int]:
        """`key`: the key the request is routed by (None: not routed).
        `session`: whose token the request carries and the reply updates."""
        header = req.DESCRIPTOR.fields_by_name.get("header")
        if header is not None and header.message_type is common_pb2.RequestHeader.DESCRIPTOR:
            if session is not None:
                session.stamp(req.header)
        else:
            key = None

        def attempt(ep: _Endpoint, timeout: float):
            resp = method(ep)(req, timeout=timeout)
            if session is not None and "header" in resp.DESCRIPTOR.fields_by_name:
                session.observe(resp.header)
            return resp

        return self._invoke(write, attempt, pinned=pinned, retries=retries, key=key,
                            header=req.header if key is not None else None,
                            session_read=session_read)

    def _invoke(self, write: bool, attempt: Callable[[_Endpoint, float], T],
                pinned: Optional[int] = None, retries: Optional[int] = None,
                key: Optional[bytes] = None,
                header: Optional[common_pb2.RequestHeader] = None,
                session_read: bool = False) -> Tuple[T, int]:
        """Runs attempt(endpoint, timeout) until it succeeds or its failure may
        not or need not be retried. Returns (result, endpoint index).

        With a routing `key` (and `header`, the request's, stamped with the
        shard before each attempt) each attempt goes where _target says,
        except as the session-read rule (module docstring) says."""
        max_retries = self.max_retries if retries is None else retries
        index = pinned if pinned is not None else self._current_index()
        routed = key is not None and pinned is None
        hop: Optional[str] = None  # a WRONG_SHARD hint, tried next
        skipped = 0  # replicas of the shard passed over after failures
        retry = 0
        # Session reads: the endpoint of the next attempt when the rule
        # picked one, and whether the attempt is at a follower.
        forced: Optional[int] = None
        on_follower = False
        waited_out = False  # a CAUSAL_WAIT_TIMEOUT was already retried
        timed_out_at: List[str] = []  # the replicas that answered it
        if session_read and routed:
            shard = self._shard_of(key)
            replica = self._pick_replica(shard, avoid=None)
            if replica is not None:
                forced = self._index_of(replica, prefer=False)
                on_follower = forced != self._target(shard, None, skipped, index)
        while True:
            shard = None
            if routed:
                shard = self._shard_of(key)
                if forced is not None:
                    index, forced = forced, None
                else:
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
                    if shard is not None and not on_follower:
                        self._router.set_leader(shard.shard_id, ep.address)
                    return result, index
                except grpc.RpcError as e:
                    err = from_rpc_error(e, ep.address)
            step, floor = _next_step(err, write, ep.address)
            if session_read:
                timed_out = err.kind == "CAUSAL_WAIT_TIMEOUT"
                if timed_out:
                    timed_out_at.append(ep.address)
                if timed_out and waited_out:
                    raise _waited_out(err, timed_out_at)
                waited_out = waited_out or timed_out
                if on_follower and (timed_out or step != _FAIL):
                    # The follower says nothing about the leader: the leader
                    # route as it was, after a fresher map on WRONG_SHARD.
                    on_follower = False
                    if err.kind == "WRONG_SHARD":
                        self._fetch_shards(index)
                    retry += 1
                    continue
                if timed_out:
                    other = self._pick_replica(shard, avoid=ep.address)
                    if other is not None:
                        forced = self._index_of(other, prefer=False)
                        on_follower = forced != self._target(shard, None, skipped, index)
                    elif shard is None and len(self.endpoints) > 1:
                        index = (index + 1) % len(self.endpoints)  # no map: the next node
                    else:
                        raise _waited_out(err, timed_out_at)
                    retry += 1
                    continue
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

    def _pick_replica(self, shard: Optional[Shard], avoid: Optional[str]) -> Optional[str]:
        """host:port of a replica of `shard` (its preferred site's group)
        other than `avoid`, taken in turn so that session reads spread; None
        if there is none (no map, or no other replica)."""
        replicas = self._router.replicas(shard.shard_id, preferred_site_only=True) \
            if shard is not None else []
        with self._mu:
            turn = self._next_replica
            self._next_replica += 1
        for i in range(len(replicas)):
            address = replicas[(turn + i) % len(replicas)]
            if address != avoid:
                return address
        return None

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


def _waited_out(last: MeridianError, tried: List[str]) -> MeridianError:
    """The CAUSAL_WAIT_TIMEOUT a session read raises, naming every replica
    that could not catch up with the session's token."""
    return MeridianError(last.code, "no replica caught up with the session's token in time "
                         f"(tried {', '.join(tried)}): {last.message}", kind=last.kind,
                         retryable=last.retryable, node=last.node)


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
