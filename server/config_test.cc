#include "server/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace meridian::server {
namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    unsetenv("MERIDIAN_LISTEN");
    unsetenv("MERIDIAN_NODE_ID");
    unsetenv("MERIDIAN_CONFIG");
    unsetenv("MERIDIAN_MAX_KEY_BYTES");
  }
  std::string WriteFile(const std::string& text) {
    std::string path = ::testing::TempDir() + "/meridian_config_" + std::to_string(::getpid()) +
                       "_" + std::to_string(n_++) + ".yaml";
    std::ofstream(path) << text;
    return path;
  }
  Result<Config> Load(std::vector<std::string> args) {
    args.insert(args.begin(), "meridiand");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    bool exit_now = false;
    std::string message;
    return LoadConfig(static_cast<int>(argv.size()), argv.data(), &exit_now, &message);
  }
  int n_ = 0;
};

TEST_F(ConfigTest, DefaultsAreTheEmbeddedOnes) {
  auto c = Load({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "127.0.0.1:2379");
  EXPECT_EQ(c->limits.max_key_bytes, 4096u);
  EXPECT_EQ(c->limits.max_value_bytes, 1u << 20);
  EXPECT_EQ(c->limits.max_txn_ops, 10000u);
  EXPECT_EQ(c->txn_timeout_ms, 10000u);
}

TEST_F(ConfigTest, FlagsBeatEnvBeatFile) {
  std::string file = WriteFile("listen: 127.0.0.1:1111\nnode_id: from-file\nsite: eu\n"
                               "max_key_bytes: 1KiB\ntxn_timeout: 2s\n");
  setenv("MERIDIAN_LISTEN", "127.0.0.1:2222", 1);
  setenv("MERIDIAN_NODE_ID", "from-env", 1);
  auto c = Load({"--config", file, "--node-id", "from-flag"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->node_id, "from-flag");
  EXPECT_EQ(c->listen, "127.0.0.1:2222");
  EXPECT_EQ(c->site, "eu");
  EXPECT_EQ(c->limits.max_key_bytes, 1024u);
  EXPECT_EQ(c->txn_timeout_ms, 2000u);
}

TEST_F(ConfigTest, ConfigFileFromEnvironment) {
  setenv("MERIDIAN_CONFIG", WriteFile("site: ap\n").c_str(), 1);
  auto c = Load({});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->site, "ap");
}

TEST_F(ConfigTest, MalformedFileIsAClearError) {
  auto c = Load({"--config", WriteFile("listen: [unclosed\n")});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("malformed config file"), absl::string_view::npos)
      << c.status();
  EXPECT_NE(c.status().message().find("line"), absl::string_view::npos);

  auto list = Load({"--config", WriteFile("- a\n- b\n")});
  ASSERT_FALSE(list.ok());
  EXPECT_NE(list.status().message().find("mapping"), absl::string_view::npos);
}

TEST_F(ConfigTest, UnknownKeyAndBadValuesAreNamed) {
  auto unknown = Load({"--config", WriteFile("listne: x\n")});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown option 'listne'"), absl::string_view::npos);

  auto bad = Load({"--txn-timeout", "ten seconds"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("--txn-timeout"), absl::string_view::npos);

  setenv("MERIDIAN_MAX_KEY_BYTES", "lots", 1);
  auto env = Load({});
  ASSERT_FALSE(env.ok());
  EXPECT_NE(env.status().message().find("MERIDIAN_MAX_KEY_BYTES"), absl::string_view::npos);

  EXPECT_FALSE(Load({"--config", "/nonexistent/meridian.yaml"}).ok());
  EXPECT_FALSE(Load({"--no-such-flag"}).ok());
  EXPECT_FALSE(Load({"--engine", "leveldb"}).ok());
}

TEST_F(ConfigTest, ClusterMembershipAndJoin) {
  const std::string cluster = "1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003";
  auto member = Load({"--cluster", cluster, "--member-id", "2"});
  ASSERT_TRUE(member.ok()) << member.status();
  EXPECT_EQ(member->listen, "127.0.0.1:7002");
  EXPECT_FALSE(member->join);

  auto stranger = Load({"--cluster", cluster, "--member-id", "4"});
  ASSERT_FALSE(stranger.ok());
  EXPECT_NE(stranger.status().message().find("--join"), std::string::npos) << stranger.status();

  auto joining = Load({"--cluster", cluster, "--member-id", "4", "--join", "--listen",
                       "127.0.0.1:7004"});
  ASSERT_TRUE(joining.ok()) << joining.status();
  EXPECT_TRUE(joining->join);
  EXPECT_EQ(joining->listen, "127.0.0.1:7004");

  EXPECT_FALSE(Load({"--cluster", cluster}).ok()) << "--cluster without --member-id";
}

TEST_F(ConfigTest, ConsensusTimingIsValidated) {
  auto c = Load({"--tick", "20ms", "--election-ticks", "15", "--wal-io", "posix"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->tick_ms, 20u);
  EXPECT_EQ(c->election_ticks, 15u);
  EXPECT_EQ(c->wal_io, "posix");
  EXPECT_FALSE(Load({"--tick", "0ms"}).ok());
  EXPECT_FALSE(Load({"--election-ticks", "2"}).ok());
  auto ratio = Load({"--heartbeat-ticks", "5", "--election-ticks", "10"});
  ASSERT_FALSE(ratio.ok());
  EXPECT_NE(ratio.status().message().find("heartbeat_ticks"), std::string::npos);
  EXPECT_FALSE(Load({"--wal-io", "magic"}).ok());
  EXPECT_FALSE(Load({"--compact-every", "1"}).ok());
}

TEST_F(ConfigTest, ShardsAreBounded) {
  EXPECT_EQ(Load({})->shards, 1u);
  auto c = Load({"--cluster", "1=127.0.0.1:7001", "--member-id", "1", "--shards", "16"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->shards, 16u);
  auto single = Load({"--shards", "16"});
  ASSERT_FALSE(single.ok());
  EXPECT_NE(single.status().message().find("replicated mode"), std::string::npos) << single.status();
  auto zero = Load({"--shards", "0"});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("--shards"), std::string::npos) << zero.status();
  EXPECT_FALSE(Load({"--shards", "5000"}).ok());
  EXPECT_EQ(Load({})->replication_factor, 3u);
  EXPECT_FALSE(Load({"--replication-factor", "0"}).ok());
}

TEST_F(ConfigTest, SplitPointsAreEscapedSortedAndSetTheShardCount) {
  auto c = Load({"--cluster", "1=127.0.0.1:7001", "--member-id", "1", "--split-points",
                 "b,m\\x00,t"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->shards, 4u);
  ASSERT_EQ(c->split_points.size(), 3u);
  EXPECT_EQ(c->split_points[1], std::string("m\0", 2));
  auto unsorted = Load({"--split-points", "m,b"});
  ASSERT_FALSE(unsorted.ok());
  EXPECT_NE(unsorted.status().message().find("sorted"), std::string::npos) << unsorted.status();
  EXPECT_FALSE(Load({"--split-points", "a,,b"}).ok());
  EXPECT_FALSE(Load({"--split-points", "a\\q"}).ok());
  auto disagree = Load({"--cluster", "1=127.0.0.1:7001", "--member-id", "1", "--split-points",
                        "b", "--shards", "5"});
  ASSERT_FALSE(disagree.ok());
  EXPECT_NE(disagree.status().message().find("disagree"), std::string::npos) << disagree.status();
}

TEST_F(ConfigTest, MetricsListenIsOffByDefaultAndValidated) {
  EXPECT_EQ(Load({})->metrics_listen, "");
  for (const std::string ok : {"127.0.0.1:9464", "127.0.0.1:0", "[::1]:9464", ":9464",
                               "localhost:9464"}) {
    auto c = Load({"--metrics-listen", ok});
    ASSERT_TRUE(c.ok()) << ok << ": " << c.status();
    EXPECT_EQ(c->metrics_listen, ok);
  }
  setenv("MERIDIAN_METRICS_LISTEN", "127.0.0.1:9100", 1);
  EXPECT_EQ(Load({})->metrics_listen, "127.0.0.1:9100");
  unsetenv("MERIDIAN_METRICS_LISTEN");
  for (const std::string bad : {"9464", "nonsense", "127.0.0.1:", "127.0.0.1:65536",
                                "127.0.0.1:-1", "::1:9464", "[::1]9464", "127.0.0.1:http"}) {
    auto c = Load({"--metrics-listen", bad});
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_NE(c.status().message().find("--metrics-listen"), std::string::npos) << c.status();
    EXPECT_NE(c.status().message().find(bad), std::string::npos) << c.status();
  }
  auto hp = ParseHostPort("[::1]:80");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->first, "::1");
  EXPECT_EQ(hp->second, 80);
}

TEST_F(ConfigTest, DurationsAndSizes) {
  EXPECT_EQ(*ParseDurationMs("500ms"), 500u);
  EXPECT_EQ(*ParseDurationMs("10s"), 10000u);
  EXPECT_EQ(*ParseDurationMs("1.5s"), 1500u);
  EXPECT_EQ(*ParseDurationMs("5m"), 300000u);
  EXPECT_EQ(*ParseDurationMs("1h"), 3600000u);
  EXPECT_FALSE(ParseDurationMs("10").ok());
  EXPECT_FALSE(ParseDurationMs("-1s").ok());
  EXPECT_FALSE(ParseDurationMs("s").ok());
  EXPECT_EQ(*ParseBytes("4096"), 4096u);
  EXPECT_EQ(*ParseBytes("4KiB"), 4096u);
  EXPECT_EQ(*ParseBytes("1MiB"), 1u << 20);
  EXPECT_FALSE(ParseBytes("4KB").ok());
}

TEST_F(ConfigTest, AdmissionControl) {
  auto d = Load({});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->max_inflight, 4096u);
  EXPECT_EQ(d->client_rate_limit, 0);
  EXPECT_EQ(d->client_rate_burst, 0u);
  auto c = Load({"--max-inflight", "8", "--client-rate-limit", "2.5", "--client-rate-burst", "10"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->max_inflight, 8u);
  EXPECT_EQ(c->client_rate_limit, 2.5);
  EXPECT_EQ(c->client_rate_burst, 10u);
  EXPECT_EQ(Load({"--max-inflight", "0"})->max_inflight, 0u) << "0 = unlimited";
  EXPECT_FALSE(Load({"--max-inflight", "-1"}).ok());
  EXPECT_FALSE(Load({"--max-inflight", "lots"}).ok());
  EXPECT_FALSE(Load({"--client-rate-limit", "-5"}).ok());
  EXPECT_FALSE(Load({"--client-rate-limit", "nan"}).ok());
  EXPECT_FALSE(Load({"--client-rate-limit", "fast"}).ok());
  auto burst_alone = Load({"--client-rate-burst", "5"});
  ASSERT_FALSE(burst_alone.ok());
  EXPECT_NE(burst_alone.status().message().find("client_rate_limit"), absl::string_view::npos);
}

}  // namespace
}  // namespace meridian::server
