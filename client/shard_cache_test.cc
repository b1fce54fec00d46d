#include "client/shard_cache.h"

#include <gtest/gtest.h>

namespace meridian::client::internal {
namespace {

// Nodes 1..3 at n1..n3 in site 1; shard 1 ["", "m") replicated by nodes 1
// and 2 (group 11), shard 2 ["m", end) by nodes 2 and 3 (group 12).
v1::ShardsResponse TwoShards(uint64_t version) {
  v1::ShardsResponse r;
  v1::ClusterConfig* c = r.mutable_config();
  c->set_version(version);
  c->add_sites()->set_site_id(1);
  for (uint64_t id = 1; id <= 3; ++id) {
    v1::NodeInfo* n = c->add_nodes();
    n->set_node_id(id);
    n->set_address("n" + std::to_string(id));
    n->set_site_id(1);
  }
  const auto add_shard = [&](uint64_t id, std::string start, std::string end,
                             std::vector<uint64_t> replicas) {
    v1::ShardInfo* s = c->add_shards();
    s->set_shard_id(id);
    s->set_start_key(start);
    s->set_end_key(end);
    s->set_preferred_site(1);
    v1::ShardGroup* g = s->add_groups();
    g->set_site_id(1);
    g->set_group_id(10 + id);
    for (uint64_t n : replicas) g->add_replicas(n);
  };
  add_shard(1, "", "m", {1, 2});
  add_shard(2, "m", "", {2, 3});
  return r;
}

void AddLeader(v1::ShardsResponse& r, uint64_t shard, uint64_t node) {
  v1::ShardLeader* l = r.add_leaders();
  l->set_shard_id(shard);
  l->set_group_id(10 + shard);
  l->set_leader_id(node);
  l->set_leader_address("n" + std::to_string(node));
}

TEST(ShardCache, NoMapNoRoute) {
  ShardCache cache;
  EXPECT_FALSE(cache.has_map());
  EXPECT_FALSE(cache.Route("k").has_value());
}

TEST(ShardCache, RoutesEachKeyToItsShardsLeader) {
  ShardCache cache;
  v1::ShardsResponse r = TwoShards(5);
  AddLeader(r, 1, 2);
  AddLeader(r, 2, 3);
  ASSERT_TRUE(cache.Update(r));
  std::optional<ShardRoute> a = cache.Route("apple");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->shard_id, 1u);
  EXPECT_EQ(a->map_version, 5u);
  EXPECT_EQ(a->address, "n2");
  std::optional<ShardRoute> z = cache.Route("zebra");
  ASSERT_TRUE(z.has_value());
  EXPECT_EQ(z->shard_id, 2u);
  EXPECT_EQ(z->address, "n3");
  EXPECT_EQ(cache.Route("m")->shard_id, 2u);  // start keys are inclusive
}

TEST(ShardCache, WithoutALeaderTriesEachReplicaThenTheEndpoints) {
  ShardCache cache;
  ASSERT_TRUE(cache.Update(TwoShards(1)));
  EXPECT_EQ(cache.Route("a")->address, "n1");
  cache.Failed(1, "n1");
  EXPECT_EQ(cache.Route("a")->address, "n2");
  cache.Failed(1, "n1");  // a second report of the same failure moves nothing
  EXPECT_EQ(cache.Route("a")->address, "n2");
  cache.Failed(1, "n2");
  EXPECT_EQ(cache.Route("a")->address, "");  // the caller's endpoints
  cache.Failed(1, "");
  EXPECT_EQ(cache.Route("a")->address, "n1");
  EXPECT_EQ(cache.Route("z")->address, "n2");  // the other shard is untouched
}

TEST(ShardCache, NotLeaderHintsArePerShard) {
  ShardCache cache;
  ASSERT_TRUE(cache.Update(TwoShards(1)));
  cache.SetLeader(2, "n3");
  EXPECT_EQ(cache.Route("z")->address, "n3");
  EXPECT_EQ(cache.Route("a")->address, "n1");
  // A failed leader is forgotten; a leader learned since is kept.
  cache.Failed(2, "n2");
  EXPECT_EQ(cache.Route("z")->address, "n3");
  cache.Failed(2, "n3");
  EXPECT_EQ(cache.Route("z")->address, "n2");
}

TEST(ShardCache, KeepsTheNewestMap) {
  ShardCache cache;
  ASSERT_TRUE(cache.Update(TwoShards(3)));
  cache.SetLeader(1, "n2");
  EXPECT_FALSE(cache.Update(TwoShards(2)));
  EXPECT_EQ(cache.version(), 3u);
  // The same version fills in leaders it did not know, and keeps the rest.
  v1::ShardsResponse same = TwoShards(3);
  AddLeader(same, 1, 1);
  AddLeader(same, 2, 3);
  EXPECT_FALSE(cache.Update(same));
  EXPECT_EQ(cache.Route("a")->address, "n2");
  EXPECT_EQ(cache.Route("z")->address, "n3");
  // A newer map drops what was learned of the old one.
  ASSERT_TRUE(cache.Update(TwoShards(4)));
  EXPECT_EQ(cache.Route("a")->address, "n1");
  EXPECT_EQ(cache.Route("a")->map_version, 4u);
}

TEST(ShardCache, IgnoresAnInvalidMap) {
  ShardCache cache;
  v1::ShardsResponse bad = TwoShards(9);
  bad.mutable_config()->mutable_shards(1)->set_start_key("n");  // a gap
  EXPECT_FALSE(cache.Update(bad));
  EXPECT_FALSE(cache.has_map());
}

TEST(ShardCache, LeadersOfAnotherGroupAreIgnored) {
  ShardCache cache;
  v1::ShardsResponse r = TwoShards(1);
  v1::ShardLeader* l = r.add_leaders();
  l->set_shard_id(1);
  l->set_group_id(99);
  l->set_leader_address("elsewhere");
  ASSERT_TRUE(cache.Update(r));
  EXPECT_EQ(cache.Route("a")->address, "n1");
}

}  // namespace
}  // namespace meridian::client::internal
