"""Tests of the Python client SDK.

  PYTHONPATH=<build>/client/python:client/python /usr/bin/python3 -m unittest discover -s client/python/tests -v

Without the generated modules on PYTHONPATH the tests generate them into a
temporary directory (client/python/generate.sh). The live tests start
meridiand from MERIDIAN_BIN (default build/dev/server/meridiand)
and are skipped when it does not exist; the others need no server:
ErrorDecodingTest decodes hand-built trailers, and FakeServerTest runs the
retry rules against in-process gRPC servers that answer from a script.
"""

import os
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

import support  # noqa: F401  (puts meridian.v1 and meridian_client on sys.path)

from concurrent import futures  # noqa: E402

import grpc  # noqa: E402
from meridian.v1 import common_pb2, kv_pb2, kv_pb2_grpc  # noqa: E402

from meridian_client import SESSION, Client, Compare, MeridianError, Put, from_status  # noqa: E402
from meridian_client.errors import decode_error_detail, from_rpc_error  # noqa: E402
from support import details_bin, free_port  # noqa: E402

_REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
MERIDIAN_BIN = os.environ.get("MERIDIAN_BIN", os.path.join(_REPO, "build", "dev", "server", "meridiand"))
HAVE_BIN = os.path.isfile(MERIDIAN_BIN) and os.access(MERIDIAN_BIN, os.X_OK)
SKIP_REASON = f"meridiand not found at {MERIDIAN_BIN} (set MERIDIAN_BIN)"

Kind = common_pb2.ErrorDetail


class ErrorDecodingTest(unittest.TestCase):
    """MeridianError from a hand-built status trailer; no server."""

    def test_decodes_every_field(self):
        raw = details_bin(Kind.INVALID_ARGUMENT, "key too long", limit_name="max_key_bytes",
                          limit_value=4096)
        e = from_status(grpc.StatusCode.INVALID_ARGUMENT, "transport text", raw, node="n1:1")
        self.assertEqual(e.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.kind, "INVALID_ARGUMENT")
        self.assertEqual(e.message, "key too long")
        self.assertEqual(e.limit_name, "max_key_bytes")
        self.assertEqual(e.limit_value, 4096)
        self.assertEqual(e.node, "n1:1")
        self.assertTrue(e.sent)
        self.assertTrue(e.definitely_not_applied)
        self.assertIn("max_key_bytes", str(e))

    def test_not_leader_carries_hint(self):
        raw = details_bin(Kind.NOT_LEADER, "not the leader", leader_hint="127.0.0.1:7",
                          retryable=True)
        e = from_status(grpc.StatusCode.UNAVAILABLE, "x", raw)
        self.assertEqual(e.kind, "NOT_LEADER")
        self.assertEqual(e.leader_hint, "127.0.0.1:7")
        self.assertTrue(e.retryable)
        self.assertTrue(e.definitely_not_applied)

    def test_classification(self):
        code = grpc.StatusCode.UNKNOWN
        cases = {
            Kind.CONFLICT: True, Kind.NOT_LEADER: True, Kind.INVALID_ARGUMENT: True,
            Kind.TXN_NOT_FOUND: True, Kind.WRONG_SHARD: True,
            Kind.COMMIT_UNKNOWN: False, Kind.UNAVAILABLE: True,
            Kind.CAUSAL_WAIT_TIMEOUT: False, Kind.INTERNAL: False,
            Kind.RESOURCE_EXHAUSTED: False,  # no retry_after_ms: e.g. disk full
        }
        for kind, expected in cases.items():
            e = from_status(code, "m", details_bin(kind))
            self.assertEqual(e.kind, Kind.Kind.Name(kind))
            self.assertEqual(e.definitely_not_applied, expected, Kind.Kind.Name(kind))
        admission = from_status(grpc.StatusCode.RESOURCE_EXHAUSTED, "m",
                                details_bin(Kind.RESOURCE_EXHAUSTED, limit_name="max_inflight",
                                            retry_after_ms=20, retryable=True))
        self.assertEqual(admission.retry_after_ms, 20)
        self.assertTrue(admission.definitely_not_applied)

    def test_no_detail_means_unknown(self):
        for code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE,
                     grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNKNOWN):
            e = from_status(code, "transport", b"")
            self.assertIsNone(e.kind)
            self.assertFalse(e.retryable)
            self.assertFalse(e.definitely_not_applied, code)

    def test_malformed_or_foreign_trailer_is_no_detail(self):
        self.assertIsNone(decode_error_detail(b"\xff\xff\xff"))
        foreign = common_pb2.RpcStatus(code=5)
        foreign.details.add().Pack(common_pb2.Version(hlc=1))  # not an ErrorDetail
        self.assertIsNone(decode_error_detail(foreign.SerializeToString()))
        self.assertIsNone(from_status(grpc.StatusCode.ABORTED, "m", b"\x0a\x05").kind)

    def test_from_rpc_error_reads_the_trailer(self):
        class FakeRpcError(grpc.RpcError):
            def code(self):
                return grpc.StatusCode.ABORTED

            def details(self):
                return "conflict"

            def trailing_metadata(self):
                return (("other", "x"),
                        ("grpc-status-details-bin", details_bin(Kind.CONFLICT, "w-w conflict")))

        e = from_rpc_error(FakeRpcError(), node="127.0.0.1:9")
        self.assertEqual((e.code, e.kind, e.message, e.node),
                         (grpc.StatusCode.ABORTED, "CONFLICT", "w-w conflict", "127.0.0.1:9"))
        self.assertTrue(e.definitely_not_applied)


class _ScriptedKv(kv_pb2_grpc.KVServicer):
    """Answers Get and Put from a script: a list of (code, kind, fields) or
    None for OK; the last entry repeats. ("sleep", seconds) stalls."""

    def __init__(self, address):
        self.address = address
        self.script = [None]
        self.calls = 0
        self.lock = threading.Lock()

    def _answer(self, context, ok):
        with self.lock:
            self.calls += 1
            step = self.script[min(self.calls - 1, len(self.script) - 1)]
        if step is None:
            return ok
        if step[0] == "sleep":
            time.sleep(step[1])
            return ok
        code, kind, fields = step
        if kind is not None:
            context.set_trailing_metadata(
                (("grpc-status-details-bin", details_bin(kind, "scripted", **fields)),))
        context.abort(code, "scripted")

    def Get(self, request, context):
        return self._answer(context, kv_pb2.GetResponse(
            header=common_pb2.ResponseHeader(node_id=self.address), found=True, value=b"v",
            version=common_pb2.Version(hlc=5, site_id=1)))

    def Put(self, request, context):
        return self._answer(context, kv_pb2.PutResponse(
            header=common_pb2.ResponseHeader(node_id=self.address, commit_hlc=9)))


class FakeServerTest(unittest.TestCase):
    """The retry and redirect rules against scripted in-process servers."""

    def setUp(self):
        self.servers, self.nodes = [], []
        for _ in range(2):
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            port = server.add_insecure_port("127.0.0.1:0")
            kv = _ScriptedKv(f"127.0.0.1:{port}")
            kv_pb2_grpc.add_KVServicer_to_server(kv, server)
            server.start()
            self.servers.append(server)
            self.nodes.append(kv)
        self.a, self.b = self.nodes
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        for s in self.servers:
            s.stop(None)

    def client(self, endpoints, **kw):
        kw.setdefault("timeout", 2.0)
        kw.setdefault("max_backoff", 0.05)
        c = Client(endpoints, **kw)
        self.clients.append(c)
        return c

    def not_leader(self, hint):
        return (grpc.StatusCode.UNAVAILABLE, Kind.NOT_LEADER,
                {"leader_hint": hint, "retryable": True})

    def test_put_follows_leader_hint(self):
        self.a.script = [self.not_leader(self.b.address)]
        r = self.client([self.a.address]).put("k", "v")
        self.assertEqual(r.node, self.b.address)
        self.assertEqual(r.commit_hlc, 9)
        self.assertEqual((self.a.calls, self.b.calls), (1, 1))

    def test_redirects_are_bounded(self):
        self.a.script = [self.not_leader(self.b.address)]
        self.b.script = [self.not_leader(self.a.address)]
        with self.assertRaises(MeridianError) as cm:
            self.client([self.a.address], max_retries=3).put("k", "v")
        self.assertEqual(cm.exception.kind, "NOT_LEADER")
        self.assertTrue(cm.exception.definitely_not_applied)
        self.assertEqual(self.a.calls + self.b.calls, 4)

    def test_unreachable_endpoint_is_skipped_even_for_writes(self):
        dead = f"127.0.0.1:{free_port()}"
        r = self.client([dead, self.a.address]).put("k", "v")
        self.assertEqual(r.node, self.a.address)

    def test_unreachable_cluster_is_not_sent(self):
        dead = f"127.0.0.1:{free_port()}"
        with self.assertRaises(MeridianError) as cm:
            self.client([dead], max_retries=1).put("k", "v")
        self.assertFalse(cm.exception.sent)
        self.assertIsNone(cm.exception.kind)
        self.assertTrue(cm.exception.definitely_not_applied)

    def test_write_deadline_is_unknown_and_not_retried(self):
        self.a.script = [("sleep", 1.0), None]
        with self.assertRaises(MeridianError) as cm:
            self.client([self.a.address, self.b.address], timeout=0.3).put("k", "v")
        e = cm.exception
        self.assertEqual(e.code, grpc.StatusCode.DEADLINE_EXCEEDED)
        self.assertIsNone(e.kind)
        self.assertFalse(e.definitely_not_applied)
        self.assertEqual((self.a.calls, self.b.calls), (1, 0))

    def test_read_deadline_moves_to_next_endpoint(self):
        self.a.script = [("sleep", 1.0)]
        r = self.client([self.a.address, self.b.address], timeout=0.3).get("k")
        self.assertEqual(r.node, self.b.address)
        self.assertEqual(tuple(r), (True, b"v", 5))

    def test_commit_unknown_is_not_retried(self):
        self.a.script = [(grpc.StatusCode.UNKNOWN, Kind.COMMIT_UNKNOWN, {})]
        with self.assertRaises(MeridianError) as cm:
            self.client([self.a.address, self.b.address]).put("k", "v")
        self.assertEqual(cm.exception.kind, "COMMIT_UNKNOWN")
        self.assertFalse(cm.exception.definitely_not_applied)
        self.assertEqual((self.a.calls, self.b.calls), (1, 0))

    def test_unavailable_detail_is_a_refusal_retried_elsewhere_even_for_writes(self):
        unavailable = (grpc.StatusCode.UNAVAILABLE, Kind.UNAVAILABLE, {"retryable": True})
        self.a.script = [unavailable]
        c = self.client([self.a.address, self.b.address])
        self.assertEqual(c.get("k").node, self.b.address)
        # The failure moved the client's preference to b; start at a again.
        self.a.script = [unavailable]
        c2 = self.client([self.a.address, self.b.address])
        self.assertEqual(c2.put("k", "v").node, self.b.address)
        self.assertEqual(self.b.calls, 2)

    def test_a_transport_unavailable_on_a_write_is_not_retried(self):
        self.a.script = [(grpc.StatusCode.UNAVAILABLE, None, {})]
        with self.assertRaises(MeridianError) as cm:
            self.client([self.a.address, self.b.address]).put("k", "v")
        self.assertIsNone(cm.exception.kind)
        self.assertFalse(cm.exception.definitely_not_applied)
        self.assertEqual(self.b.calls, 0)

    def test_admission_refusal_is_retried_after_its_hint(self):
        self.a.script = [(grpc.StatusCode.RESOURCE_EXHAUSTED, Kind.RESOURCE_EXHAUSTED,
                          {"retry_after_ms": 150, "limit_name": "max_inflight"}), None]
        start = time.monotonic()
        r = self.client([self.a.address]).put("k", "v")
        self.assertGreaterEqual(time.monotonic() - start, 0.15)
        self.assertEqual((r.node, self.a.calls), (self.a.address, 2))


class _Daemon:
    """One meridiand on 127.0.0.1 with a fresh data dir."""

    def __init__(self, root, name, extra=(), listen="127.0.0.1:0"):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir)
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "log")
        args = [MERIDIAN_BIN, "--dev", "--data-dir", os.path.join(self.dir, "data"),
                "--port-file", self.port_file, "--listen", listen, "--log-format", "text",
                *extra]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        self.address = None

    def wait_port(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"meridiand exited with {self.proc.returncode}: {self.log()}")
            try:
                with open(self.port_file) as f:
                    text = f.read()
                if text.endswith("\n"):
                    self.address = f"127.0.0.1:{int(text)}"
                    return self.address
            except FileNotFoundError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"meridiand wrote no port within {timeout} s: {self.log()}")

    def log(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@unittest.skipUnless(HAVE_BIN, SKIP_REASON)
class LiveTest(unittest.TestCase):
    """Against a real single-node `meridiand --dev`."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="meridian-pyclient-")
        self.daemon = _Daemon(self.root, "n1")
        self.daemon.wait_port()
        self.client = Client([self.daemon.address], timeout=5.0)
        deadline = time.monotonic() + 30
        while True:  # up once it answers Status
            try:
                self.client.status()
                break
            except MeridianError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def tearDown(self):
        self.client.close()
        self.daemon.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def test_put_get_round_trip(self):
        w = self.client.put("k1", b"value-1")
        self.assertGreater(w.commit_hlc, 0)
        self.assertEqual(w.header.commit_hlc, w.commit_hlc)
        self.assertTrue(w.header.node_id)
        self.assertEqual(w.node, self.daemon.address)
        r = self.client.get(b"k1")
        found, value, version = r
        self.assertEqual((found, value, version), (True, b"value-1", w.commit_hlc))
        self.assertGreaterEqual(r.header.snapshot_hlc, w.commit_hlc)
        self.assertEqual(tuple(self.client.get("absent")), (False, None, 0))

    def test_delete(self):
        self.client.put("d", "x")
        self.assertTrue(self.client.delete("d").existed)
        self.assertFalse(self.client.get("d").found)
        gone = self.client.delete("d")
        self.assertFalse(gone.existed)
        self.assertEqual(gone.commit_hlc, 0)

    def test_scan(self):
        for k in ("s/a", "s/b", "s/c", "t/a"):
            self.client.put(k, k.upper())
        r = self.client.scan("s/", "s0")
        self.assertEqual([(kv.key, kv.value) for kv in r.kvs],
                         [(b"s/a", b"S/A"), (b"s/b", b"S/B"), (b"s/c", b"S/C")])
        self.assertFalse(r.more)
        self.assertTrue(all(kv.version_hlc > 0 for kv in r.kvs))
        limited = self.client.scan("s/", "s0", limit=2)
        self.assertEqual([kv.key for kv in limited.kvs], [b"s/a", b"s/b"])
        self.assertTrue(limited.more)
        self.assertEqual(len(self.client.scan(prefix="t/").kvs), 1)
        with self.assertRaises(MeridianError) as cm:
            self.client.scan("b", "a")
        self.assertEqual(cm.exception.kind, "INVALID_ARGUMENT")
        self.assertFalse(cm.exception.sent)

    def test_interactive_txn_commit(self):
        self.client.put("acct/a", "10")
        with self.client.begin(timeout_ms=5000) as txn:
            self.assertEqual(txn.node, self.daemon.address)
            self.assertGreater(txn.snapshot_hlc, 0)
            found, value, _ = txn.get("acct/a")
            self.assertEqual((found, value), (True, b"10"))
            txn.put("acct/a", "7")
            txn.put("acct/b", "3")
            txn.delete("acct/none")
            self.assertEqual(txn.get("acct/b").value, b"3")  # own writes
            self.assertEqual(len(txn.scan(prefix="acct/").kvs), 2)
            c = txn.commit()
        self.assertGreater(c.commit_hlc, txn.snapshot_hlc)
        self.assertTrue(txn.finished)
        self.assertEqual(self.client.get("acct/a").value, b"7")
        self.assertEqual(self.client.get("acct/b").version_hlc, c.commit_hlc)
        with self.assertRaises(MeridianError) as cm:
            txn.commit()  # refused locally: the first outcome stands
        self.assertFalse(cm.exception.sent)

    def test_conflict(self):
        t1 = self.client.begin()
        t2 = self.client.begin()
        t1.put("c", "one")
        t2.put("c", "two")
        t1.commit()
        with self.assertRaises(MeridianError) as cm:
            t2.commit()
        e = cm.exception
        self.assertEqual(e.kind, "CONFLICT")
        self.assertEqual(e.code, grpc.StatusCode.ABORTED)
        self.assertTrue(e.definitely_not_applied)
        self.assertTrue(t2.finished)
        self.assertEqual(self.client.get("c").value, b"one")

    def test_unknown_txn_is_txn_not_found(self):
        txn = self.client.begin()
        txn.abort()
        txn._finished = False  # pretend the abort was never seen
        with self.assertRaises(MeridianError) as cm:
            txn.put("x", "y")
        self.assertEqual(cm.exception.kind, "TXN_NOT_FOUND")
        self.assertEqual(cm.exception.code, grpc.StatusCode.NOT_FOUND)
        self.assertTrue(cm.exception.definitely_not_applied)

    def test_oversized_key_is_invalid_argument(self):
        limit = self.client.status().limits.max_key_bytes
        self.assertGreater(limit, 0)
        with self.assertRaises(MeridianError) as cm:
            self.client.put(b"k" * (limit + 1), "v")
        e = cm.exception
        self.assertEqual(e.code, grpc.StatusCode.INVALID_ARGUMENT)
        self.assertEqual(e.kind, "INVALID_ARGUMENT")
        self.assertEqual((e.limit_name, e.limit_value), ("max_key_bytes", limit))
        self.assertTrue(e.definitely_not_applied)
        self.assertTrue(e.sent)

    def test_execute_compare_and_set(self):
        w = self.client.put("reg", "1")
        # Holds: 1 -> 2.
        r = self.client.execute(compares=[Compare("reg", "VALUE", "EQUAL", "1")],
                                success=[Put("reg", "2"), ("get", "reg")],
                                failure=[("get", "reg")])
        self.assertTrue(r.succeeded)
        self.assertGreater(r.commit_hlc, w.commit_hlc)
        self.assertEqual([o.op for o in r.results], ["put", "get"])
        self.assertEqual(r.results[1].value, b"2")
        # Fails: the register is 2, not 1; the failure branch reads it.
        r = self.client.execute(
            compares=[{"key": "reg", "target": "value", "result": "==", "value": "1"}],
            success=[{"op": "put", "key": "reg", "value": "3"}],
            failure=[{"op": "get", "key": "reg"}])
        self.assertFalse(r.succeeded)
        self.assertEqual(r.commit_hlc, 0)
        self.assertEqual((r.results[0].found, r.results[0].value), (True, b"2"))
        self.assertEqual(self.client.get("reg").value, b"2")
        # VERSION and EXISTS targets.
        v = self.client.get("reg").version_hlc
        r = self.client.execute([Compare("reg", "VERSION", "EQUAL", version=v),
                                 Compare("nope", "EXISTS", "EQUAL", exists=False)],
                                [("delete", "reg")])
        self.assertTrue(r.succeeded)
        self.assertTrue(r.results[0].existed)

    def test_status_and_members(self):
        s = self.client.status()
        self.assertTrue(s.header.node_id)
        self.assertTrue(s.version)
        m = self.client.members()
        self.assertGreaterEqual(len(m.members), 1)


@unittest.skipUnless(HAVE_BIN, SKIP_REASON)
class LiveClusterTest(unittest.TestCase):
    """A replicated group of 3: a follower's NOT_LEADER hint is followed."""

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="meridian-pyclient-cluster-")
        addresses = [f"127.0.0.1:{free_port()}" for _ in range(3)]
        cluster = ",".join(f"{i + 1}={a}" for i, a in enumerate(addresses))
        self.daemons = []
        self.clients = []
        for i in range(3):
            self.daemons.append(_Daemon(self.root, f"n{i + 1}",
                                        ["--cluster", cluster, "--member-id", str(i + 1)]))
        for d in self.daemons:
            d.wait_port()
        self.addresses = [d.address for d in self.daemons]
        probe = self.client(self.addresses, max_retries=0)
        deadline = time.monotonic() + 30
        self.leader = None
        while self.leader is None:
            for a in self.addresses:
                try:
                    if probe.status(a).is_leader:
                        self.leader = a
                except MeridianError:
                    pass
            if self.leader is None:
                if time.monotonic() > deadline:
                    self.fail("no leader within 30 s")
                time.sleep(0.1)
        # Every node serves data once it has the committed config (and so
        # the session signing keys); before, it answers UNAVAILABLE.
        for a in self.addresses:
            one = self.client([a], max_retries=0)
            while True:
                try:
                    if one.shards().source == "committed":
                        break
                except MeridianError:
                    pass
                if time.monotonic() > deadline:
                    self.fail(f"{a} had no committed config within 30 s")
                time.sleep(0.1)

    def tearDown(self):
        for c in self.clients:
            c.close()
        for d in self.daemons:
            d.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self, endpoints, **kw):
        c = Client(endpoints, **kw)
        self.clients.append(c)
        return c

    def test_not_leader_redirect(self):
        follower = next(a for a in self.addresses if a != self.leader)
        # Without retries (and without the shard map, which names the
        # leader) the follower's answer comes back as it is.
        with self.assertRaises(MeridianError) as cm:
            self.client([follower], max_retries=0, shard_routing=False).put("r", "0")
        e = cm.exception
        self.assertEqual(e.kind, "NOT_LEADER")
        self.assertEqual(e.code, grpc.StatusCode.UNAVAILABLE)
        self.assertEqual(e.leader_hint, self.leader)
        self.assertEqual(e.node, follower)
        self.assertTrue(e.definitely_not_applied)
        # With them the write goes to the leader, and later calls stay there;
        # with the shard map it goes there first.
        for routed in (False, True):
            c = self.client([follower], shard_routing=routed)
            w = c.put("r", "1")
            self.assertEqual(w.node, self.leader)
            r = c.get("r")
            self.assertEqual((r.value, r.version_hlc, r.node), (b"1", w.commit_hlc, self.leader))

    def test_routing_follows_the_shard_map(self):
        c = self.client([self.addresses[0]])
        w = c.put("r", "1")
        self.assertEqual(w.node, self.leader)
        m = c.shard_map()
        self.assertIsNotNone(m)
        self.assertEqual(len(m.shards), 1)

    def test_session_reads_see_the_sessions_writes_at_every_replica(self):
        writer = self.client(self.addresses).session()
        writer.put("s/k", "v1")
        # Another client, carrying the writer's token; its session reads take
        # each replica in turn (a follower without follower reads hands the
        # read to the leader).
        reader = self.client([self.addresses[-1]])
        reader.import_token(writer.export_token())
        for _ in range(2 * len(self.addresses)):
            self.assertEqual(reader.get("s/k", consistency=SESSION).value, b"v1")
        r = reader.scan(prefix="s/", consistency=SESSION)
        self.assertEqual([(kv.key, kv.value) for kv in r.kvs], [(b"s/k", b"v1")])



if __name__ == "__main__":
    unittest.main()
