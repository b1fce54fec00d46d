"""Puts the generated meridian.v1 modules and meridian_client on sys.path.

Without the generated modules on PYTHONPATH they are generated into a
temporary directory (client/python/generate.sh), removed at exit.
"""

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PY_ROOT = os.path.dirname(HERE)
sys.path.insert(0, PY_ROOT)
try:
    import meridian.v1.kv_pb2  # noqa: F401
except ImportError:
    _gen = tempfile.mkdtemp(prefix="meridian-pygen-")
    atexit.register(shutil.rmtree, _gen, True)
    subprocess.run([os.path.join(PY_ROOT, "generate.sh"), _gen], check=True)
    sys.path.insert(0, _gen)


def details_bin(kind, message="", **fields):
    """A grpc-status-details-bin value as meridiand builds it."""
    from meridian.v1 import common_pb2
    detail = common_pb2.ErrorDetail(kind=kind, message=message, **fields)
    status = common_pb2.RpcStatus(code=0, message=message)
    status.details.add().Pack(detail)
    return status.SerializeToString()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
