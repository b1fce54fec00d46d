"""Session and Txn: the keyed calls of the Meridian v1 API, each carrying a
causal session token (docs/api.md, "Sessions").

A Session sends its token with every call and keeps the newer token of
each reply, so its later calls see what its earlier ones wrote or read,
whichever node serves them: read-your-writes, monotonic reads, monotonic
writes and writes-follow-reads. Client's own keyed calls run in the
Client's default session; Client.session() starts another with its own
token (e.g. one per end user). export_token() and import_token() carry a
token to another process or session.

Reads take consistency=LINEARIZABLE (default: the shard's leader, latest
state) or SESSION (any replica of the shard that has caught up with the
token; spread over the replicas in turn; see Client's docstring for the
fallbacks and CAUSAL_WAIT_TIMEOUT).

Thread-safety: a Session may be shared by threads (its calls are ordered
only as they finish). A Txn is used by one thread at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, List, NamedTuple, Optional

import grpc

from meridian_client import ops as _ops
from meridian_client._proto import common_pb2, cset_pb2, kv_pb2, txn_pb2
from meridian_client.errors import MeridianError, not_sent
from meridian_client.ops import Bytes, to_bytes
from meridian_client.results import (ExecuteResult, GetResult, Header, KeyValue, OpResult,
                                     Reply, ScanResult, WriteResult)
from meridian_client.tokens import TokenState, decode_token, encode_token

if TYPE_CHECKING:
    from meridian_client.client import Client

# Read consistency levels (RequestHeader.read_consistency).
LINEARIZABLE = "linearizable"
SESSION = "session"
# LINEARIZABLE is the unset default, as the C++ SDK sends it.
_LEVELS = {LINEARIZABLE: common_pb2.READ_CONSISTENCY_UNSPECIFIED, SESSION: common_pb2.SESSION}


def _consistency_level(consistency: str) -> int:
    """The wire value of a consistency argument; ValueError if unknown."""
    try:
        return _LEVELS[consistency]
    except (KeyError, TypeError):
        raise ValueError(f"consistency must be {LINEARIZABLE!r} or {SESSION!r}, "
                         f"got {consistency!r}") from None


def _is_session_read(consistency: str, header: common_pb2.RequestHeader) -> bool:
    """Sets header's read_consistency; whether it is a SESSION read."""
    header.read_consistency = _consistency_level(consistency)
    return header.read_consistency == common_pb2.SESSION


class Session:
    """A causal session of a Client. Create with Client.session(); the
    Client's own calls use Client.default_session. The calls take the
    arguments, return the results and raise the errors of the Client's
    calls of the same names. The Client must stay open while it is used."""

    def __init__(self, client: "Client", enabled: bool = True):
        self._client = client
        self._state = TokenState(enabled)

    def export_token(self) -> str:
        """The session's token as text ("mst1." + base64url), to hand to
        another process or session. Opaque. An empty token (no call answered
        yet, or sessions off) is "mst1."."""
        return encode_token(self._state.token())

    def import_token(self, token: str) -> None:
        """Makes this session causally follow the one that exported `token`:
        of the two tokens it keeps the newer (the server merges what each
        has observed). Raises MeridianError (kind INVALID_ARGUMENT) for text
        export_token did not produce, and when sessions are off."""
        if not self._state.enabled:
            raise not_sent(grpc.StatusCode.INVALID_ARGUMENT,
                           "cannot import a session token: sessions are off "
                           "(Client(sessions=False))", kind="INVALID_ARGUMENT")
        self._state.merge(decode_token(token))

    # -- single-key operations ---------------------------------------------

    def get(self, key: Bytes, *, consistency: str = LINEARIZABLE) -> GetResult:
        """The newest live value of `key`. Unpacks as (found, value, version_hlc).
        consistency: LINEARIZABLE (the leader, latest state) or SESSION (any
        replica that has caught up with the session's token)."""
        req = kv_pb2.GetRequest(key=to_bytes(key))
        session_read = _is_session_read(consistency, req.header)
        resp, node = self._client._unary(False, lambda ep: ep.kv.Get, req, req.key,
                                         session=self._state, session_read=session_read)
        return _get_result(resp, node)

    def _write(self, method, req) -> WriteResult:
        """A single-key write of this session, routed by req.key."""
        resp, node = self._client._unary(True, method, req, req.key, session=self._state)
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), node)

    def put(self, key: Bytes, value: Bytes) -> WriteResult:
        req = kv_pb2.PutRequest(key=to_bytes(key), value=to_bytes(value, "value"))
        return self._write(lambda ep: ep.kv.Put, req)

    def delete(self, key: Bytes) -> WriteResult:
        """existed says whether a live value was deleted (commit_hlc 0 if not)."""
        req = kv_pb2.DeleteRequest(key=to_bytes(key))
        resp, node = self._client._unary(True, lambda ep: ep.kv.Delete, req, req.key,
                                         session=self._state)
        return WriteResult(resp.header.commit_hlc, Header.from_proto(resp.header), node,
                           existed=resp.existed)

    def scan(self, start: Bytes = b"", end: Bytes = b"", limit: int = 0, *,
             prefix: Bytes = b"", keys_only: bool = False,
             consistency: str = LINEARIZABLE) -> ScanResult:
        """The live keys of [start, end) (empty end: to the last key), or of
        `prefix`, in key order, all at one snapshot; limit 0 = all.

        A range over several shards is read one shard after the other (each
        node ends its part with the key to resume at), the later parts at the
        first part's snapshot; header and node are the first part's. more is
        also True when the limit was reached exactly at a shard's end.
        consistency: as get's, for every part."""
        start, end, prefix = to_bytes(start), to_bytes(end), to_bytes(prefix)
        _check_range(start, end, prefix, limit)
        level = _consistency_level(consistency)
        range_end = _prefix_end(prefix) if prefix else end
        first = self._scan_part(kv_pb2.ScanRequest(
            header=common_pb2.RequestHeader(read_consistency=level), start=start, end=end,
            prefix=prefix, limit=limit, keys_only=keys_only))
        kvs, more, resume = list(first.kvs), first.more, first.resume_key
        while resume and not more and not (range_end and resume >= range_end):
            if limit and len(kvs) >= limit:
                more = True
                break
            req = kv_pb2.ScanRequest(header=common_pb2.RequestHeader(read_consistency=level),
                                     start=resume, end=range_end, keys_only=keys_only,
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
        self._state.stamp(req.header)

        def attempt(ep: Any, timeout: float) -> _ScanPart:
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
            self._state.observe(header)
            return _ScanPart(kvs, more, resume, header, ep.address)

        part, _ = self._client._invoke(
            False, attempt, key=req.start or req.prefix, header=req.header,
            session_read=req.header.read_consistency == common_pb2.SESSION)
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
        resp, node = self._client._unary(writes, lambda ep: ep.txn.Execute, req,
                                         _ops.first_key(req), session=self._state)
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
        resp, index = self._client._unary_at(False, lambda ep: ep.txn.Begin, req,
                                             key=req.routing_key, session=self._state)
        return Txn(self._client, self._state, index, resp)

    # -- counting sets -----------------------------------------------------

    def cset_add(self, key: Bytes, element: Bytes) -> WriteResult:
        req = cset_pb2.CsetAddRequest(key=to_bytes(key), element=to_bytes(element, "element"))
        return self._write(lambda ep: ep.cset.Add, req)

    def cset_remove(self, key: Bytes, element: Bytes) -> WriteResult:
        req = cset_pb2.CsetRemoveRequest(key=to_bytes(key), element=to_bytes(element, "element"))
        return self._write(lambda ep: ep.cset.Remove, req)

    def cset_read(self, key: Bytes) -> dict:
        """element -> count, elements with a zero count omitted."""
        req = cset_pb2.CsetReadRequest(key=to_bytes(key))
        resp, _ = self._client._unary(False, lambda ep: ep.cset.Read, req, req.key,
                                      session=self._state)
        return {e.element: e.count for e in resp.entries if e.count != 0}


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
    hlc, site = resp.version.hlc, resp.version.site_id
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

    Every call goes to `node`, the endpoint that served Begin, and carries the
    token of the session that began it. As a context
    manager it aborts (best effort) unless committed or aborted:

      with client.begin() as txn:
          found, value, _ = txn.get("k")
          txn.put("k", b"v")
          txn.commit()
    """

    def __init__(self, client: "Client", session: TokenState, index: int,
                 begin: txn_pb2.BeginResponse):
        self._client = client
        self._session = session
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
        resp, _ = self._client._unary_at(write, method, req, pinned=self._index, retries=retries,
                                         session=self._session)
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
