"""Shard routing in the Python client SDK, without a server.

ShardRouterTest checks the map cache alone. RoutingTest runs the Client
against a fake sharded cluster: three in-process gRPC nodes that serve KV,
Txn and Admin.Shards by one shard map, answering NOT_LEADER and WRONG_SHARD
as meridiand does, and records where each request went.
"""

import bisect
import threading
import time
import unittest
from concurrent import futures
from typing import NamedTuple

import support  # noqa: F401  (puts meridian.v1 and meridian_client on sys.path)

import grpc  # noqa: E402
from meridian.v1 import (admin_pb2, admin_pb2_grpc, cluster_pb2, common_pb2, kv_pb2,  # noqa: E402
                         kv_pb2_grpc, txn_pb2, txn_pb2_grpc)

from meridian_client import Client, MeridianError, Put  # noqa: E402
from meridian_client.session import _prefix_end  # noqa: E402
from meridian_client.routing import Shard, ShardRouter  # noqa: E402
from support import details_bin  # noqa: E402

Kind = common_pb2.ErrorDetail


def config(version, shards, nodes):
    """A ClusterConfig of site 1: shards are (id, start, end, [node ids]),
    nodes {node id: address}."""
    c = cluster_pb2.ClusterConfig(version=version, sites=[cluster_pb2.SiteInfo(site_id=1)])
    for node_id, address in nodes.items():
        c.nodes.add(node_id=node_id, address=address, site_id=1)
    for shard_id, start, end, replicas in shards:
        s = c.shards.add(shard_id=shard_id, start_key=start, end_key=end, preferred_site=1)
        s.groups.add(site_id=1, group_id=100 + shard_id, replicas=replicas)
    return c


def shards_response(c, leaders):
    return admin_pb2.ShardsResponse(config=c, leaders=[
        admin_pb2.ShardLeader(shard_id=s, leader_address=a) for s, a in leaders.items()])


class ShardRouterTest(unittest.TestCase):
    NODES = {1: "a:1", 2: "b:1", 3: "c:1"}

    def router(self, version=2, leaders=None):
        r = ShardRouter()
        r.update(shards_response(
            config(version, [(1, b"", b"m", [1, 2]), (2, b"m", b"", [2, 3])], self.NODES),
            leaders or {}))
        return r

    def test_lookup_is_start_inclusive_end_exclusive(self):
        r = self.router()
        for key, shard_id in ((b"", 1), (b"l\xff\xff", 1), (b"m", 2), (b"\xff" * 5, 2)):
            self.assertEqual(r.lookup(key), Shard(shard_id, 2), key)

    def test_no_map_routes_nothing(self):
        r = ShardRouter()
        self.assertIsNone(r.lookup(b"k"))
        self.assertEqual(r.version, 0)
        self.assertFalse(r.update(admin_pb2.ShardsResponse()))  # a map without shards
        self.assertIsNone(r.config())

    def test_the_newest_map_wins(self):
        r = self.router(version=2, leaders={1: "a:1"})
        older = config(1, [(1, b"", b"", [1])], self.NODES)
        self.assertFalse(r.update(shards_response(older, {1: "b:1"})))
        self.assertEqual((r.version, r.lookup(b"x"), r.leader(1)), (2, Shard(2, 2), "a:1"))
        newer = config(3, [(1, b"", b"", [1, 2])], self.NODES)
        self.assertTrue(r.update(shards_response(newer, {1: "b:1"})))
        self.assertEqual((r.lookup(b"x"), r.leader(1), r.leader(2)), (Shard(1, 3), "b:1", None))

    def test_same_version_only_adds_unknown_leaders(self):
        r = self.router(leaders={1: "a:1"})
        r.set_leader(1, "b:1")  # a NOT_LEADER hint, fresher than the node's belief
        same = config(2, [(1, b"", b"m", [1, 2]), (2, b"m", b"", [2, 3])], self.NODES)
        r.update(shards_response(same, {1: "a:1", 2: "c:1"}))
        self.assertEqual((r.leader(1), r.leader(2)), ("b:1", "c:1"))

    def test_forget_leader_only_if_unchanged(self):
        r = self.router(leaders={2: "c:1"})
        r.forget_leader(2, "b:1")
        self.assertEqual(r.leader(2), "c:1")
        r.forget_leader(2, "c:1")
        self.assertIsNone(r.leader(2))

    def test_replicas_of_the_preferred_site_come_first(self):
        c = config(1, [(1, b"", b"", [1])], {1: "a:1", 2: "b:1"})
        c.sites.add(site_id=2)
        c.nodes[1].site_id = 2
        c.shards[0].groups.add(site_id=2, group_id=7, replicas=[2])
        c.shards[0].preferred_site = 2
        r = ShardRouter()
        r.update(admin_pb2.ShardsResponse(config=c))
        self.assertEqual(r.replicas(1), ["b:1", "a:1"])
        self.assertEqual(r.replicas(9), [])


class PrefixEndTest(unittest.TestCase):

    def test_as_the_server_computes_it(self):
        for prefix, end in ((b"k/", b"k0"), (b"a\xff", b"b"), (b"a\xfe\xff", b"a\xff"),
                            (b"\xff\xff", b""), (b"", b"")):
            self.assertEqual(_prefix_end(prefix), end, prefix)


class Call(NamedTuple):
    node: str
    method: str
    key: bytes
    map_version: int
    shard_id: int
    request: object


class FakeCluster:
    """Three nodes (1, 2, 3 = self.a, self.b, self.c) serving one shard map
    (set_map) from one store. A keyed request at a node that does not host
    the key's shard, or that names another shard, gets WRONG_SHARD (hint:
    the shard's leader); at a replica that does not lead it, NOT_LEADER."""

    SNAPSHOT_HLC = 500

    def __init__(self, serve_shards=True):
        self.lock = threading.Lock()
        self.calls = []
        self.shards_asked = []
        self.store = {}
        self.advertise_leaders = True
        self.serve_shards = serve_shards
        self.servers = []
        self.addresses = []
        for _ in range(3):
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            address = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
            kv_pb2_grpc.add_KVServicer_to_server(_Kv(self, address), server)
            txn_pb2_grpc.add_TxnServicer_to_server(_Txn(self, address), server)
            admin_pb2_grpc.add_AdminServicer_to_server(_Admin(self, address), server)
            server.start()
            self.servers.append(server)
            self.addresses.append(address)
        self.a, self.b, self.c = self.addresses
        self.nodes = {i + 1: a for i, a in enumerate(self.addresses)}

    def set_map(self, version, shards, leaders):
        """shards: (id, start, end, [node ids]); leaders: {shard id: node id}."""
        with self.lock:
            self.config = config(version, shards, self.nodes)
            self.leaders = {s: self.nodes[n] for s, n in leaders.items()}

    def stop(self):
        for s in self.servers:
            s.stop(None)

    def keyed(self, node, method, key, header, request, context):
        """Records the call; aborts as meridiand would unless `node` leads
        the key's shard."""
        with self.lock:
            self.calls.append(Call(node, method, key, header.shard_map_version, header.shard_id,
                                   request))
            starts = [s.start_key for s in self.config.shards]
            shard = self.config.shards[bisect.bisect_right(starts, key) - 1]
            hosts = [self.nodes[r] for r in shard.groups[0].replicas]
            leader = self.leaders[shard.shard_id]
            version = self.config.version
        if node not in hosts or header.shard_id not in (0, shard.shard_id):
            abort(context, grpc.StatusCode.FAILED_PRECONDITION, Kind.WRONG_SHARD,
                  leader_hint=leader, shard_map_version=version, retryable=True)
        if node != leader:
            abort(context, grpc.StatusCode.UNAVAILABLE, Kind.NOT_LEADER, leader_hint=leader,
                  retryable=True)
        return shard

    def methods(self, *names):
        return [(c.node, c.key) for c in self.calls if c.method in names]


def abort(context, code, kind, **fields):
    context.set_trailing_metadata((("grpc-status-details-bin", details_bin(kind, "fake", **fields)),))
    context.abort(code, "fake")


def header(node, shard_id):
    h = common_pb2.ResponseHeader(node_id=node, shard_id=shard_id)
    h.snapshot.entries.add(site_id=1, hlc=FakeCluster.SNAPSHOT_HLC)
    return h


class _Kv(kv_pb2_grpc.KVServicer):
    def __init__(self, cluster, address):
        self.cluster, self.address = cluster, address

    def Get(self, request, context):
        shard = self.cluster.keyed(self.address, "Get", request.key, request.header, request,
                                   context)
        value = self.cluster.store.get(request.key)
        return kv_pb2.GetResponse(header=header(self.address, shard.shard_id),
                                  found=value is not None, value=value or b"")

    def Put(self, request, context):
        shard = self.cluster.keyed(self.address, "Put", request.key, request.header, request,
                                   context)
        self.cluster.store[request.key] = request.value
        return kv_pb2.PutResponse(header=header(self.address, shard.shard_id))

    def Scan(self, request, context):
        start = request.prefix or request.start
        end = _prefix_end(request.prefix) if request.prefix else request.end
        shard = self.cluster.keyed(self.address, "Scan", start, request.header, request, context)
        stop = min(end or b"\xff" * 64, shard.end_key or b"\xff" * 64)
        keys = sorted(k for k in self.cluster.store if start <= k < stop)
        limit = request.limit or len(keys)
        more = len(keys) > limit
        # One key per chunk; the header on the first, more/resume_key on the last.
        chunks = [kv_pb2.ScanResponse(kvs=[common_pb2.KeyValue(key=k, value=self.cluster.store[k])])
                  for k in keys[:limit]] or [kv_pb2.ScanResponse()]
        chunks[0].header.CopyFrom(header(self.address, shard.shard_id))
        chunks[-1].more = more
        if not more and shard.end_key and (not end or end > shard.end_key):
            chunks[-1].resume_key = shard.end_key
        yield from chunks


class _Txn(txn_pb2_grpc.TxnServicer):
    def __init__(self, cluster, address):
        self.cluster, self.address = cluster, address

    def Begin(self, request, context):
        shard = self.cluster.keyed(self.address, "Begin", request.routing_key, request.header,
                                   request, context)
        return txn_pb2.BeginResponse(header=header(self.address, shard.shard_id), txn_id=7)

    def Execute(self, request, context):
        key = request.compares[0].key if request.compares else request.success[0].put.key
        shard = self.cluster.keyed(self.address, "Execute", key, request.header, request,
                                   context)
        return txn_pb2.ExecuteResponse(header=header(self.address, shard.shard_id),
                                       succeeded=True)

    def Get(self, request, context):
        with self.cluster.lock:
            self.cluster.calls.append(Call(self.address, "TxnGet", request.key, 0, 0, request))
        return txn_pb2.TxnGetResponse(header=header(self.address, 0))


class _Admin(admin_pb2_grpc.AdminServicer):
    def __init__(self, cluster, address):
        self.cluster, self.address = cluster, address

    def Shards(self, request, context):
        with self.cluster.lock:
            self.cluster.shards_asked.append(self.address)
            if not self.cluster.serve_shards:
                context.abort(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")
            leaders = self.cluster.leaders if self.cluster.advertise_leaders else {}
            return shards_response(self.cluster.config, leaders)


# Shard 1 is [, k/m) on nodes 1 and 2, led by 1; shard 2 is [k/m, ) on
# nodes 2 and 3, led by 3. Node 2 hosts both and leads neither.
TWO_SHARDS = [(1, b"", b"k/m", [1, 2]), (2, b"k/m", b"", [2, 3])]


class RoutingTest(unittest.TestCase):

    def setUp(self):
        self.cluster = FakeCluster()
        self.cluster.set_map(2, TWO_SHARDS, {1: 1, 2: 3})
        self.clients = []

    def tearDown(self):
        for c in self.clients:
            c.close()
        self.cluster.stop()

    def client(self, endpoints, **kw):
        kw.setdefault("timeout", 2.0)
        kw.setdefault("max_backoff", 0.05)
        c = Client(endpoints, **kw)
        self.clients.append(c)
        return c

    def test_keyed_calls_go_to_their_shards_leader(self):
        cl = self.cluster
        c = self.client([cl.b])
        self.assertEqual(c.put("a", "1").node, cl.a)
        self.assertEqual(c.put("x", "2").node, cl.c)
        self.assertEqual(tuple(c.get("a"))[:2], (True, b"1"))
        self.assertEqual(c.get("x").node, cl.c)
        self.assertEqual(cl.methods("Put", "Get"),
                         [(cl.a, b"a"), (cl.c, b"x"), (cl.a, b"a"), (cl.c, b"x")])
        self.assertEqual([(k.map_version, k.shard_id) for k in cl.calls],
                         [(2, 1), (2, 2), (2, 1), (2, 2)])
        self.assertEqual(cl.shards_asked, [cl.b])  # once, at the first keyed call
        self.assertEqual(c.shard_map().version, 2)

    def test_not_leader_hint_is_kept_per_shard(self):
        cl = self.cluster
        cl.advertise_leaders = False  # the client learns leaders only from hints
        c = self.client([cl.a])
        c.put("x", "1")  # shard 2: first to replica 2, which names 3
        c.put("y", "2")
        c.put("a", "3")  # shard 1: replica 1 leads it
        self.assertEqual(cl.methods("Put"), [(cl.b, b"x"), (cl.c, b"x"), (cl.c, b"y"),
                                             (cl.a, b"a")])

    def test_wrong_shard_refreshes_the_map_and_retries(self):
        cl = self.cluster
        cl.set_map(1, [(1, b"", b"", [1, 2])], {1: 1})
        c = self.client([cl.a])
        self.assertEqual(c.put("x", "1").node, cl.a)
        cl.set_map(2, TWO_SHARDS, {1: 1, 2: 3})  # the shard splits; 3 leads the new one
        w = c.put("x", "2")
        self.assertEqual(w.node, cl.c)
        puts = [(k.node, k.map_version, k.shard_id) for k in cl.calls if k.method == "Put"]
        self.assertEqual(puts, [(cl.a, 1, 1), (cl.a, 1, 1), (cl.c, 2, 2)])
        self.assertEqual(cl.shards_asked, [cl.a, cl.a])  # first use, then from the refuser
        self.assertEqual(c.shard_map().version, 2)
        self.assertEqual(cl.store[b"x"], b"2")

    def test_wrong_shard_to_the_end_is_definitely_not_applied(self):
        cl = self.cluster
        c = self.client([cl.a], max_retries=2)
        c.shards()
        # Every node now believes the key's shard lives on node 1 alone, yet
        # names node 2 as its leader: no attempt can succeed.
        cl.set_map(2, [(1, b"", b"k/m", [1, 2]), (2, b"k/m", b"", [1])], {1: 1, 2: 2})
        with self.assertRaises(MeridianError) as cm:
            c.put("x", "1")
        e = cm.exception
        self.assertEqual((e.kind, e.code), ("WRONG_SHARD", grpc.StatusCode.FAILED_PRECONDITION))
        self.assertEqual(e.shard_map_version, 2)
        self.assertTrue(e.definitely_not_applied)
        self.assertEqual(len(cl.methods("Put")), 3)  # max_retries + 1
        self.assertNotIn(b"x", cl.store)

    def test_scan_concatenates_across_resume_key(self):
        cl = self.cluster
        c = self.client([cl.b])
        for k in (b"a", b"k/a", b"k/b", b"k/n", b"k/z", b"z"):
            cl.store[k] = k.upper()
        r = c.scan()
        self.assertEqual([kv.key for kv in r.kvs], [b"a", b"k/a", b"k/b", b"k/n", b"k/z", b"z"])
        self.assertEqual([kv.value for kv in r.kvs][:2], [b"A", b"K/A"])
        self.assertFalse(r.more)
        self.assertEqual((r.node, r.header.shard_id), (cl.a, 1))
        first, second = [k for k in cl.calls if k.method == "Scan"]
        self.assertEqual((first.node, first.shard_id, second.node, second.shard_id),
                         (cl.a, 1, cl.c, 2))
        self.assertEqual((second.request.start, second.request.end), (b"k/m", b""))
        # The later part reads at the first part's snapshot.
        self.assertEqual([(e.site_id, e.hlc) for e in second.request.snapshot.entries],
                         [(1, FakeCluster.SNAPSHOT_HLC)])

    def test_scan_limit_and_prefix_carry_over(self):
        cl = self.cluster
        c = self.client([cl.a])
        for k in (b"a", b"k/a", b"k/b", b"k/n", b"k/z", b"z"):
            cl.store[k] = b"v"
        r = c.scan("k/", limit=3)
        self.assertEqual([kv.key for kv in r.kvs], [b"k/a", b"k/b", b"k/n"])
        self.assertTrue(r.more)
        self.assertEqual(cl.calls[-1].request.limit, 1)  # 3 less the 2 of the first part
        r = c.scan(prefix="k/")
        self.assertEqual([kv.key for kv in r.kvs], [b"k/a", b"k/b", b"k/n", b"k/z"])
        last = cl.calls[-1].request
        self.assertEqual((last.start, last.end, last.prefix), (b"k/m", b"k0", b""))
        # A range inside one shard is one call.
        before = len(cl.calls)
        self.assertEqual(len(c.scan("k/a", "k/c").kvs), 2)
        self.assertEqual(len(cl.calls), before + 1)

    def test_begin_goes_to_the_routing_keys_shard(self):
        cl = self.cluster
        c = self.client([cl.b])
        txn = c.begin(routing_key="x")
        self.assertEqual(txn.node, cl.c)
        txn.get("x")  # later calls stay with the node that began it
        self.assertEqual(cl.calls[-1].node, cl.c)
        self.assertEqual(c.begin().node, cl.a)  # no routing key: the first shard
        self.assertEqual([(k.node, k.shard_id) for k in cl.calls if k.method == "Begin"],
                         [(cl.c, 2), (cl.a, 1)])

    def test_execute_goes_to_its_first_keys_shard(self):
        cl = self.cluster
        c = self.client([cl.a])
        self.assertEqual(c.execute(success=[Put("x", "1")]).node, cl.c)
        self.assertEqual(c.execute(compares=[{"key": "a", "target": "exists"}],
                                   success=[Put("x", "1")]).node, cl.a)

    def test_without_a_map_calls_go_unrouted_until_one_is_fetched(self):
        cl = self.cluster
        dead = f"127.0.0.1:{support.free_port()}"
        c = self.client([dead, cl.b])
        self.assertEqual(c.put("x", "1").node, cl.c)  # the map was asked of the dead node
        self.assertIsNone(c.shard_map())
        time.sleep(0.1)  # max_backoff: the map is asked for again
        self.assertEqual(c.put("a", "1").node, cl.a)
        self.assertEqual([(k.node, k.map_version, k.shard_id) for k in cl.calls],
                         [(cl.b, 0, 0), (cl.c, 0, 0), (cl.a, 2, 1)])

    def test_old_server_is_not_routed(self):
        cl = FakeCluster(serve_shards=False)
        self.addCleanup(cl.stop)
        # Every node hosts both shards: an old server never says WRONG_SHARD.
        cl.set_map(2, [(1, b"", b"k/m", [1, 2, 3]), (2, b"k/m", b"", [1, 2, 3])], {1: 1, 2: 3})
        c = self.client([cl.b])
        self.assertEqual(c.put("a", "1").node, cl.a)  # by NOT_LEADER hints, as before
        self.assertEqual(c.put("x", "1").node, cl.c)
        c.get("a")
        self.assertEqual(cl.shards_asked, [cl.b])  # asked once only
        self.assertIsNone(c.shard_map())
        self.assertEqual({(k.map_version, k.shard_id) for k in cl.calls}, {(0, 0)})
        self.assertEqual(cl.methods("Put"), [(cl.b, b"a"), (cl.a, b"a"), (cl.a, b"x"),
                                             (cl.c, b"x")])


if __name__ == "__main__":
    unittest.main()
