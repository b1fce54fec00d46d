"""MeridianError: every failure the SDK raises, and how to read it.

A failed RPC is a gRPC status plus, when a Meridian server produced it, a
meridian.v1.ErrorDetail carried in the grpc-status-details-bin trailer as
one entry of a meridian.v1.RpcStatus (wire-compatible with google.rpc.Status).
`from_rpc_error` decodes that trailer; errors without it (a deadline, a
broken connection, a proxy) keep only their gRPC code and get kind None.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import grpc

from meridian_client._proto import common_pb2

DETAILS_TRAILER = "grpc-status-details-bin"

# Kinds whose ErrorDetail is the server's word that the request had no
# effect. Each was checked against the code that produces it:
#   CONFLICT          txn/txn_store.cc Commit: returned from the
#                     first-committer-wins check, before CommitLocked
#                     proposes or applies anything.
#   NOT_LEADER        server/replication.cc Propose (nothing enters the log on
#                     a non-leader), ReadBarrier, ServiceContext::CheckLeader;
#                     membership changes map a proposal refused for the same
#                     reason to NOT_LEADER.
#   INVALID_ARGUMENT  request validation and limits (txn/limits.cc,
#                     txn_store.cc max_txn_ops/max_txn_bytes/max_key_bytes,
#                     Begin's max_txn_timeout_ms), all before a commit; an
#                     engine that refuses a batch as too large applies
#                     none of it.
#   TXN_NOT_FOUND     txn_store.cc FindTxn/TxnGone: the transaction is
#                     unknown, finished or expired, so this request did
#                     nothing. (It says nothing about an earlier Commit of
#                     the same transaction; Txn never sends Commit twice.)
#   WRONG_SHARD       the node does not host the key's shard, or the request
#                     named the wrong shard: refused before any work
#                     (common.proto ErrorDetail).
# RESOURCE_EXHAUSTED counts only with retry_after_ms > 0: admission control
# (server/admission.cc OverloadedError) refused it before any work.
#   UNAVAILABLE       the server's refusal before any work (docs/api.md): a
#                     fenced node (server/fence.cc), shutting down or not
#                     up yet (node.cc, service_context.cc), no known leader,
#                     a proposal no leader took in time ("nothing was
#                     written", replication.cc AwaitCommitResult; a proposed
#                     one becomes COMMIT_UNKNOWN instead), leadership not
#                     confirmed for a read, failed storage refusing writes
#                     (txn_store.cc). A transport-level UNAVAILABLE has no
#                     detail (kind None) and stays unknown.
_NOT_APPLIED_KINDS = frozenset(
    {"CONFLICT", "NOT_LEADER", "INVALID_ARGUMENT", "TXN_NOT_FOUND", "WRONG_SHARD", "UNAVAILABLE"})


class MeridianError(Exception):
    """A failed Meridian call.

    Attributes:
      code: grpc.StatusCode of the failure.
      kind: the ErrorDetail kind name ("CONFLICT", "NOT_LEADER",
        "WRONG_SHARD", "UNAVAILABLE", "COMMIT_UNKNOWN", "CAUSAL_WAIT_TIMEOUT",
        "RESOURCE_EXHAUSTED", "INVALID_ARGUMENT", "TXN_NOT_FOUND",
        "INTERNAL"), or None when the failure carries no ErrorDetail: a
        deadline, a broken or refused connection, a call the SDK refused
        locally without a kind.
      message: human-readable text.
      leader_hint: NOT_LEADER: host:port of the leader, "" if unknown.
        WRONG_SHARD: a node hosting the key's shard, "" if unknown.
      shard_map_version: WRONG_SHARD: the version of the answering node's
        shard map.
      limit_name, limit_value: INVALID_ARGUMENT over a limit (e.g.
        "max_key_bytes", 4096); RESOURCE_EXHAUSTED from admission control.
      retry_after_ms: RESOURCE_EXHAUSTED from admission control: the server
        refused the request before any work; retry no sooner than this.
      retryable: the server's ErrorDetail.retryable (the same request may
        be sent again unchanged). Without a detail: True only if the
        request was never sent.
      node: host:port of the endpoint that answered (or could not be
        reached); None for a call refused before choosing one.
      sent: False when the request provably never left this process (the
        endpoint could not be connected to, or the SDK refused the call).

    definitely_not_applied is the rule a history recorder needs (a Jepsen
    "fail" versus "info"): True only when this request certainly had no
    effect, which is when
      - it was never sent (sent is False), or
      - the server answered with kind CONFLICT, NOT_LEADER, INVALID_ARGUMENT,
        TXN_NOT_FOUND, WRONG_SHARD or UNAVAILABLE, or
      - the server answered RESOURCE_EXHAUSTED with retry_after_ms > 0
        (admission control).
    It is False for everything else: COMMIT_UNKNOWN, DEADLINE_EXCEEDED and
    CANCELLED, transport errors after sending (UNAVAILABLE without a
    detail), CAUSAL_WAIT_TIMEOUT, INTERNAL, RESOURCE_EXHAUSTED
    without a hint, and any code or kind this SDK does not know. For a read,
    "not applied" is moot: a failed read never has an effect.
    """

    def __init__(self, code: grpc.StatusCode, message: str, *, kind: Optional[str] = None,
                 leader_hint: str = "", limit_name: str = "", limit_value: int = 0,
                 retry_after_ms: int = 0, retryable: Optional[bool] = None,
                 node: Optional[str] = None, sent: bool = True, shard_map_version: int = 0):
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message
        self.leader_hint = leader_hint
        self.limit_name = limit_name
        self.limit_value = limit_value
        self.retry_after_ms = retry_after_ms
        self.retryable = (not sent) if retryable is None else retryable
        self.node = node
        self.sent = sent
        self.shard_map_version = shard_map_version

    @property
    def definitely_not_applied(self) -> bool:
        if not self.sent:
            return True
        if self.kind in _NOT_APPLIED_KINDS:
            return True
        return self.kind == "RESOURCE_EXHAUSTED" and self.retry_after_ms > 0

    def __str__(self) -> str:
        what = self.kind or (self.code.name if self.code is not None else "ERROR")
        where = f" at {self.node}" if self.node else ""
        extra = ""
        if self.leader_hint:
            extra += f" (leader_hint {self.leader_hint})"
        if self.limit_name:
            extra += f" ({self.limit_name}={self.limit_value})"
        return f"{what}{where}: {self.message}{extra}"

    def __repr__(self) -> str:
        return (f"MeridianError(code={self.code}, kind={self.kind!r}, message={self.message!r}, "
                f"node={self.node!r}, sent={self.sent}, "
                f"definitely_not_applied={self.definitely_not_applied})")


def decode_error_detail(details: bytes) -> Optional[common_pb2.ErrorDetail]:
    """The ErrorDetail inside a grpc-status-details-bin value, or None."""
    if not details:
        return None
    status = common_pb2.RpcStatus()
    try:
        status.ParseFromString(details)
    except Exception:  # a malformed trailer is treated as no detail
        return None
    for any_detail in status.details:
        if any_detail.Is(common_pb2.ErrorDetail.DESCRIPTOR):
            detail = common_pb2.ErrorDetail()
            if any_detail.Unpack(detail):
                return detail
    return None


def _details_from_metadata(metadata: Optional[Sequence[Tuple[str, bytes]]]) -> bytes:
    for key, value in metadata or ():
        if key == DETAILS_TRAILER:
            return value if isinstance(value, bytes) else value.encode("latin-1")
    return b""


def from_status(code: grpc.StatusCode, message: str, details: bytes,
                node: Optional[str] = None) -> MeridianError:
    """Builds the MeridianError of a gRPC status and its details trailer."""
    detail = decode_error_detail(details)
    if detail is None:
        return MeridianError(code, message, node=node, retryable=False)
    kind = None
    if detail.kind != common_pb2.ErrorDetail.KIND_UNSPECIFIED:
        try:
            kind = common_pb2.ErrorDetail.Kind.Name(detail.kind)
        except ValueError:  # a kind newer than this SDK: keep it visible
            kind = f"KIND_{detail.kind}"
    return MeridianError(code, detail.message or message, kind=kind,
                         leader_hint=detail.leader_hint, limit_name=detail.limit_name,
                         limit_value=detail.limit_value, retry_after_ms=detail.retry_after_ms,
                         retryable=detail.retryable, node=node,
                         shard_map_version=detail.shard_map_version)


def from_rpc_error(error: grpc.RpcError, node: Optional[str] = None) -> MeridianError:
    """Decodes a grpc.RpcError raised by a stub call (unary or streaming)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    message = error.details() if hasattr(error, "details") else str(error)
    trailers = error.trailing_metadata() if hasattr(error, "trailing_metadata") else None
    return from_status(code, message or "", _details_from_metadata(trailers), node)


def not_sent(code: grpc.StatusCode, message: str, *, kind: Optional[str] = None,
             node: Optional[str] = None) -> MeridianError:
    """An error for a request that never left this process."""
    return MeridianError(code, message, kind=kind, node=node, sent=False)
