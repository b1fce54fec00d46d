"""The generated meridian.v1 modules, with a hint when they are missing.

They are generated at build time (client/python/generate.sh OUTDIR, or
`cmake --build` into <build>/client/python); OUTDIR must be on PYTHONPATH.
"""

try:
    from meridian.v1 import admin_pb2, admin_pb2_grpc  # noqa: F401
    from meridian.v1 import cluster_pb2, common_pb2  # noqa: F401
    from meridian.v1 import cset_pb2, cset_pb2_grpc  # noqa: F401
    from meridian.v1 import kv_pb2, kv_pb2_grpc  # noqa: F401
    from meridian.v1 import txn_pb2, txn_pb2_grpc  # noqa: F401
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "meridian_client needs the generated meridian.v1 modules: run "
        "client/python/generate.sh OUTDIR (or build the project) and put OUTDIR "
        "(<build>/client/python) on PYTHONPATH; it also needs Debian's "
        f"python3-grpcio and python3-protobuf ({e})") from e
