"""Compares and ops of a one-shot transaction (Client.execute).

Each may be given as a helper object, a dict, a tuple or a meridian.v1
message:

  Compare(key, target="VALUE", result="EQUAL", value=b"v")
  {"key": k, "target": "version", "result": "<", "version": 7}
  Get(k), Put(k, v), Delete(k)
  {"op": "put", "key": k, "value": v},  ("get", k),  ("put", k, v),  ("delete", k)

target: VALUE (bytes, lexicographic; false on an absent key), VERSION
(commit HLC of the live version, 0 when absent) or EXISTS (EQUAL/NOT_EQUAL
only). result: EQUAL, NOT_EQUAL, GREATER, LESS, or "==", "!=", ">", "<".
The compare holds when `<stored> <result> <given>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from meridian_client._proto import txn_pb2

Bytes = Union[bytes, bytearray, memoryview, str]

_RESULTS = {"EQUAL": txn_pb2.Compare.EQUAL, "==": txn_pb2.Compare.EQUAL,
            "NOT_EQUAL": txn_pb2.Compare.NOT_EQUAL, "!=": txn_pb2.Compare.NOT_EQUAL,
            "GREATER": txn_pb2.Compare.GREATER, ">": txn_pb2.Compare.GREATER,
            "LESS": txn_pb2.Compare.LESS, "<": txn_pb2.Compare.LESS}
_TARGETS = {"VALUE": txn_pb2.Compare.VALUE, "VERSION": txn_pb2.Compare.VERSION,
            "EXISTS": txn_pb2.Compare.EXISTS}


def to_bytes(x: Bytes, what: str = "key") -> bytes:
    """Keys and values are bytes; str is encoded as UTF-8."""
    if isinstance(x, str):
        return x.encode("utf-8")
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    raise TypeError(f"{what} must be bytes or str, not {type(x).__name__}")


@dataclass(frozen=True)
class Compare:
    key: Bytes
    target: str = "VALUE"
    result: str = "EQUAL"
    value: Bytes = b""
    version: int = 0
    exists: bool = False


@dataclass(frozen=True)
class Get:
    key: Bytes


@dataclass(frozen=True)
class Put:
    key: Bytes
    value: Bytes


@dataclass(frozen=True)
class Delete:
    key: Bytes


def _enum(table: dict, name: Any, what: str) -> int:
    if isinstance(name, int):
        return name
    try:
        return table[str(name).upper()]
    except KeyError:
        raise ValueError(f"unknown compare {what} {name!r}; one of {sorted(table)}") from None


def compare_to_proto(c: Any) -> txn_pb2.Compare:
    if isinstance(c, txn_pb2.Compare):
        return c
    if isinstance(c, Compare):
        c = {"key": c.key, "target": c.target, "result": c.result, "value": c.value,
             "version": c.version, "exists": c.exists}
    if not isinstance(c, dict):
        raise TypeError(f"a compare is a Compare, a dict or a meridian.v1.Compare, not {c!r}")
    out = txn_pb2.Compare(
        key=to_bytes(c["key"]),
        target=_enum(_TARGETS, c.get("target", "VALUE"), "target"),
        result=_enum(_RESULTS, c.get("result", "EQUAL"), "result"),
        value=to_bytes(c.get("value", b""), "value"),
        version=int(c.get("version", 0)),
        exists=bool(c.get("exists", False)))
    return out


def op_to_proto(op: Any) -> txn_pb2.Op:
    if isinstance(op, txn_pb2.Op):
        return op
    if isinstance(op, Get):
        op = ("get", op.key)
    elif isinstance(op, Put):
        op = ("put", op.key, op.value)
    elif isinstance(op, Delete):
        op = ("delete", op.key)
    elif isinstance(op, dict):
        name = op.get("op")
        op = (name, op["key"], op["value"]) if name == "put" else (name, op.get("key"))
    if not isinstance(op, tuple) or not op:
        raise TypeError(f"an op is Get/Put/Delete, a dict, a tuple or a meridian.v1.Op, not {op!r}")
    name = str(op[0]).lower()
    if name == "get" and len(op) == 2:
        return txn_pb2.Op(get=txn_pb2.GetOp(key=to_bytes(op[1])))
    if name == "put" and len(op) == 3:
        return txn_pb2.Op(put=txn_pb2.PutOp(key=to_bytes(op[1]), value=to_bytes(op[2], "value")))
    if name == "delete" and len(op) == 2:
        return txn_pb2.Op(delete=txn_pb2.DeleteOp(key=to_bytes(op[1])))
    raise ValueError(f"malformed op {op!r}: ('get', k), ('put', k, v) or ('delete', k)")


def has_writes(ops) -> bool:
    return any(op.WhichOneof("op") != "get" for op in ops)


def first_key(req: txn_pb2.ExecuteRequest) -> bytes:
    """The key an Execute is routed by: the first one it names (compares,
    then success, then failure); b"" (the first shard) if none."""
    for c in req.compares:
        return c.key
    for op in list(req.success) + list(req.failure):
        which = op.WhichOneof("op")
        if which:
            return getattr(op, which).key
    return b""
