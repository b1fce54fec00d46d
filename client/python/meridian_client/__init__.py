"""The Meridian Python client SDK.

  from meridian_client import Client, MeridianError
  with Client(["127.0.0.1:2379"]) as c:
      c.put("k", "v")
      found, value, version_hlc = c.get("k")
      alice = c.session()               # a causal session of its own
      alice.put("k", "v2")
      token = alice.export_token()      # "mst1...": hand it to another process

Needs the generated meridian.v1 modules on PYTHONPATH (client/python/README.md).
"""

from meridian_client.client import Client
from meridian_client.session import LINEARIZABLE, SESSION, Session, Txn
from meridian_client.errors import MeridianError, decode_error_detail, from_status
from meridian_client.ops import Compare, Delete, Get, Put
from meridian_client.results import (ExecuteResult, GetResult, Header, KeyValue, OpResult, Reply,
                                     ScanResult, WriteResult)

__all__ = [
    "Client", "Session", "Txn", "LINEARIZABLE", "SESSION",
    "MeridianError", "decode_error_detail", "from_status",
    "Compare", "Get", "Put", "Delete",
    "Header", "Reply", "GetResult", "WriteResult", "KeyValue", "ScanResult", "OpResult",
    "ExecuteResult",
]
