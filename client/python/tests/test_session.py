"""Sessions in the Python client SDK, without a server.

TokenTextTest checks the token's text form (the same as the C++ SDK's).
SessionTest runs the Client against three in-process gRPC nodes serving one
shard (replicas 1, 2, 3; node 1 leads) that answer every request with a
fresh session token and record the token and read consistency each request
carried. A follower answers a SESSION read only when follower_reads is on,
else NOT_LEADER, as servers before issue 7's server side do.
"""

import itertools
import threading
import unittest
from concurrent import futures

import support  # noqa: F401  (puts meridian.v1 and meridian_client on sys.path)

import grpc  # noqa: E402
from meridian.v1 import (admin_pb2, admin_pb2_grpc, cluster_pb2, common_pb2, kv_pb2,  # noqa: E402
                         kv_pb2_grpc, txn_pb2, txn_pb2_grpc)

from meridian_client import SESSION, Client, MeridianError  # noqa: E402
from meridian_client.tokens import decode_token, encode_token  # noqa: E402
from support import details_bin  # noqa: E402

Kind = common_pb2.ErrorDetail


def sample_token():
    t = common_pb2.SessionToken(cluster_time=42, key_id=3, signature=b"sig")
    t.observed.entries.add(site_id=1, hlc=420)
    return t


class TokenTextTest(unittest.TestCase):

    def test_round_trip_as_the_cpp_sdk_writes_it(self):
        text = encode_token(sample_token())
        self.assertEqual(text, "mst1.CgcKBQgBEKQDECoYAyIDc2ln")  # client/session_test.cc
        self.assertEqual(decode_token(f"  {text}\n"), sample_token())
        self.assertEqual(decode_token(text + "="), sample_token())  # padding is tolerated
        self.assertEqual(encode_token(common_pb2.SessionToken()), "mst1.")
        self.assertEqual(decode_token("mst1."), common_pb2.SessionToken())

    def test_text_export_did_not_produce_is_refused(self):
        cases = (("", "got nothing"), ("CAEQAg", 'starting with "mst1."'),
                 ("mst2.CAEQAg", 'starting with "mst1."'), ("mst1.a+b/", "not base64url"),
                 ("mst1.abcde", "not base64url"), ("mst1.EP8", "damaged"))
        for text, why in cases:
            with self.assertRaises(MeridianError, msg=text) as cm:
                decode_token(text)
            e = cm.exception
            self.assertEqual((e.kind, e.code, e.sent), ("INVALID_ARGUMENT",
                                                        grpc.StatusCode.INVALID_ARGUMENT, False))
            self.assertIn(why, e.message, text)


class _Node:
    """One fake node: records (method, token cluster_time, consistency) and
    answers with the cluster's next token."""

    def __init__(self, cluster, node_id):
        self.cluster, self.node_id = cluster, node_id
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        self.address = f"127.0.0.1:{self.server.add_insecure_port('127.0.0.1:0')}"
        self.calls = []
        self.follower_reads = False
        self.fail_next = []  # (grpc code, ErrorDetail kind) answered before any work
        kv_pb2_grpc.add_KVServicer_to_server(_Kv(self), self.server)
        txn_pb2_grpc.add_TxnServicer_to_server(_Txn(self), self.server)
        admin_pb2_grpc.add_AdminServicer_to_server(_Admin(self), self.server)
        self.server.start()

    def enter(self, method, header, context, read=False):
        with self.cluster.lock:
            self.calls.append((method, header.session_token.cluster_time
                               if header.HasField("session_token") else None,
                               header.read_consistency))
            self.cluster.headers.append(header)
            fail = self.fail_next.pop(0) if self.fail_next else None
        if fail is not None:
            code, kind = fail
            context.set_trailing_metadata(
                (("grpc-status-details-bin", details_bin(kind, "injected", retryable=True)),))
            context.abort(code, "injected")
        leader = self.cluster.nodes[0]
        follower_read = read and self.follower_reads and \
            header.read_consistency == common_pb2.SESSION
        if self is not leader and not follower_read:
            context.set_trailing_metadata((("grpc-status-details-bin", details_bin(
                Kind.NOT_LEADER, "not the leader", leader_hint=leader.address,
                retryable=True)),))
            context.abort(grpc.StatusCode.UNAVAILABLE, "not the leader")

    def header(self):
        h = common_pb2.ResponseHeader(node_id=f"n{self.node_id}", site_id=1, shard_id=1)
        h.session_token.cluster_time = next(self.cluster.token_times)
        return h

    def methods(self, name):
        return sum(1 for c in self.calls if c[0] == name)


class _Kv(kv_pb2_grpc.KVServicer):
    def __init__(self, node):
        self.node = node

    def Get(self, request, context):
        self.node.enter("Get", request.header, context, read=True)
        value = self.node.cluster.store.get(request.key)
        return kv_pb2.GetResponse(header=self.node.header(), found=value is not None,
                                  value=value or b"")

    def Put(self, request, context):
        self.node.enter("Put", request.header, context)
        self.node.cluster.store[request.key] = request.value
        return kv_pb2.PutResponse(header=self.node.header())

    def Scan(self, request, context):
        self.node.enter("Scan", request.header, context, read=True)
        store = self.node.cluster.store
        keys = sorted(k for k in store if k.startswith(request.prefix))
        yield kv_pb2.ScanResponse(header=self.node.header(), kvs=[
            common_pb2.KeyValue(key=k, value=store[k]) for k in keys])


class _Txn(txn_pb2_grpc.TxnServicer):
    def __init__(self, node):
        self.node = node

    def Begin(self, request, context):
        self.node.enter("Begin", request.header, context)
        return txn_pb2.BeginResponse(header=self.node.header(), txn_id=7)

    def Put(self, request, context):
        return txn_pb2.TxnPutResponse(header=self.node.header())

    def Commit(self, request, context):
        return txn_pb2.CommitResponse(header=self.node.header())


class _Admin(admin_pb2_grpc.AdminServicer):
    def __init__(self, node):
        self.node = node
        self.keys = []

    def Shards(self, request, context):
        cl = self.node.cluster
        c = cluster_pb2.ClusterConfig(version=1, sites=[cluster_pb2.SiteInfo(site_id=1)])
        for n in cl.nodes:
            c.nodes.add(node_id=n.node_id, address=n.address, site_id=1)
        s = c.shards.add(shard_id=1, preferred_site=1)
        s.groups.add(site_id=1, group_id=101, replicas=[1, 2, 3])
        return admin_pb2.ShardsResponse(config=c, leaders=[
            admin_pb2.ShardLeader(shard_id=1, group_id=101, leader_id=1,
                                  leader_address=cl.nodes[0].address)])

    def RotateSigningKey(self, request, context):
        if self.node.cluster.old_server:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, "")
        self.keys.insert(0, len(self.keys) + 1)
        return admin_pb2.RotateSigningKeyResponse(header=self.node.header(), key_id=self.keys[0],
                                                  kept_key_ids=self.keys[:3],
                                                  config_version=10 + len(self.keys))


class _Cluster:
    def __init__(self):
        self.lock = threading.Lock()
        self.token_times = itertools.count(1)
        self.store = {}
        self.headers = []
        self.old_server = False  # without Admin.RotateSigningKey
        self.nodes = []
        self.nodes = [_Node(self, i) for i in (1, 2, 3)]

    def stop(self):
        for n in self.nodes:
            n.server.stop(None)

    def last_token(self):
        h = self.headers[-1]
        return h.session_token.cluster_time if h.HasField("session_token") else None


class SessionTest(unittest.TestCase):

    def setUp(self):
        self.cluster = _Cluster()
        self.n1, self.n2, self.n3 = self.cluster.nodes
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.cluster.stop()

    def client(self, **kw):
        c = Client([self.n1.address], timeout=2.0, max_backoff=0.05, **kw)
        self.clients.append(c)
        return c

    def gets(self):
        return [n.methods("Get") for n in self.cluster.nodes]

    def test_each_session_sends_back_its_own_newest_token(self):
        c = self.client()
        a, b = c.session(), c.session()
        a.put("k", "1")  # token 1
        a.get("k")
        self.assertEqual(self.cluster.last_token(), 1)
        b.get("k")
        self.assertEqual(self.cluster.last_token(), 0, "b has seen nothing yet")
        a.put("k", "2")
        self.assertEqual(self.cluster.last_token(), 2, "a kept its get's token")
        c.get("k")
        self.assertEqual(self.cluster.last_token(), 0, "the default session is a third one")

    def test_a_transaction_carries_and_advances_its_sessions_token(self):
        a = self.client().session()
        a.put("k", "1")  # token 1
        with a.begin() as txn:
            self.assertEqual(self.cluster.last_token(), 1, "Begin carried a's token")
            txn.put("k", "2")
            txn.commit()  # Begin, Put and Commit answered tokens 2, 3 and 4
        a.get("k")
        self.assertEqual(self.cluster.last_token(), 4)

    def test_an_imported_token_carries_causality_to_another_client(self):
        writer = self.client().session()
        writer.put("k", "1")
        writer.put("k", "2")  # token 2
        text = writer.export_token()
        self.assertTrue(text.startswith("mst1."))
        reader = self.client()
        reader.import_token(text)
        self.assertEqual(reader.export_token(), text)
        reader.get("k")
        self.assertEqual(self.cluster.last_token(), 2)

    def test_import_keeps_the_newer_token(self):
        c = self.client()
        old, s = c.session(), c.session()
        old.put("k", "1")  # token 1
        s.put("k", "2")  # token 2
        newer = s.export_token()
        s.import_token(old.export_token())
        self.assertEqual(s.export_token(), newer)
        old.import_token(newer)
        self.assertEqual(old.export_token(), newer)

    def test_a_malformed_token_is_refused_and_changes_nothing(self):
        s = self.client().session()
        s.put("k", "1")
        before = s.export_token()
        with self.assertRaises(MeridianError) as cm:
            s.import_token("eyJhbGciOi")
        self.assertEqual(cm.exception.kind, "INVALID_ARGUMENT")
        self.assertIn("mst1.", str(cm.exception))
        self.assertEqual(s.export_token(), before)

    def test_sessions_off_send_and_keep_no_token(self):
        c = self.client(sessions=False)
        c.put("k", "1")
        c.get("k")
        s = c.session()
        s.put("k", "2")
        self.assertEqual(self.cluster.last_token(), None)
        self.assertEqual(s.export_token(), "mst1.")
        with self.assertRaises(MeridianError) as cm:
            s.import_token(encode_token(sample_token()))
        self.assertIn("sessions are off", cm.exception.message)

    def test_linearizable_reads_go_to_the_leader(self):
        for n in self.cluster.nodes:
            n.follower_reads = True
        c = self.client()
        for _ in range(3):
            c.get("k")
        self.assertEqual(self.gets(), [3, 0, 0])
        self.assertEqual(self.n1.calls[-1][2], common_pb2.READ_CONSISTENCY_UNSPECIFIED)

    def test_session_reads_spread_over_every_replica(self):
        for n in self.cluster.nodes:
            n.follower_reads = True
        c = self.client()
        c.put("k", "v")
        for _ in range(6):
            self.assertEqual(c.get("k", consistency=SESSION).value, b"v")
        self.assertEqual(self.gets(), [2, 2, 2])
        self.assertEqual(self.n3.calls[-1][2], common_pb2.SESSION)
        # Node 3 answered last; that did not make it the leader.
        c.put("k", "w")
        self.assertEqual([n.methods("Put") for n in self.cluster.nodes], [2, 0, 0])
        r = c.scan(prefix="k", consistency=SESSION)
        self.assertEqual([kv.value for kv in r.kvs], [b"w"])
        self.assertEqual(self.n1.calls[-1][:3:2], ("Scan", common_pb2.SESSION))

    def test_a_follower_that_refuses_hands_the_read_to_the_leader(self):
        c = self.client()
        for _ in range(3):
            c.get("k", consistency=SESSION)
        self.assertEqual(self.gets(), [3, 1, 1])
        c.get("k")  # the leader is still known: no extra hop
        self.assertEqual(self.gets(), [4, 1, 1])

    def test_causal_wait_timeout_at_a_follower_is_retried_at_the_leader(self):
        for n in self.cluster.nodes:
            n.follower_reads = True
        c = self.client()
        c.get("k", consistency=SESSION)  # node 1's turn
        self.n2.fail_next = [(grpc.StatusCode.DEADLINE_EXCEEDED, Kind.CAUSAL_WAIT_TIMEOUT)]
        c.get("k", consistency=SESSION)  # node 2's turn, then node 1
        self.assertEqual(self.gets(), [2, 1, 0])

    def test_causal_wait_timeout_is_raised_after_one_retry(self):
        for n in self.cluster.nodes:
            n.follower_reads = True
            n.fail_next = [(grpc.StatusCode.DEADLINE_EXCEEDED, Kind.CAUSAL_WAIT_TIMEOUT)]
        c = self.client()
        with self.assertRaises(MeridianError) as cm:
            c.get("k", consistency=SESSION)  # node 1, then node 2
        e = cm.exception
        self.assertEqual((e.kind, e.code), ("CAUSAL_WAIT_TIMEOUT",
                                            grpc.StatusCode.DEADLINE_EXCEEDED))
        self.assertEqual(e.message, "no replica caught up with the session's token in time "
                                    f"(tried {self.n1.address}, {self.n2.address}): injected")
        self.assertFalse(e.definitely_not_applied)
        self.assertEqual(self.gets(), [1, 1, 0])

    def test_an_unknown_consistency_is_refused(self):
        c = self.client()
        c.put("k", "v")
        with self.assertRaises(ValueError):
            c.get("k", consistency="eventual")
        self.assertEqual(self.gets(), [0, 0, 0])

    def test_rotate_signing_key(self):
        c = self.client()
        c.rotate_signing_key()
        r = c.rotate_signing_key()
        self.assertEqual((r.key_id, list(r.kept_key_ids), r.config_version), (2, [2, 1], 12))
        self.cluster.old_server = True
        with self.assertRaises(MeridianError) as cm:
            c.rotate_signing_key()
        self.assertEqual(cm.exception.code, grpc.StatusCode.UNIMPLEMENTED)
        self.assertIn("predates signed session tokens", cm.exception.message)


if __name__ == "__main__":
    unittest.main()
