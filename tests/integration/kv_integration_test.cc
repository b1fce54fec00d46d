// Single-key operations, scans and csets against a real meridiand.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

class KvIntegrationTest : public SharedDaemonTest<KvIntegrationTest> {
};

TEST_F(KvIntegrationTest, PutGetDeleteRoundTrip) {
  auto put = client_->Put("greeting", "hello");
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->commit_hlc, 0u);
  auto got = client_->Get("greeting");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, "hello");
  EXPECT_EQ((*got)->version.hlc, put->commit_hlc);

  auto del = client_->Delete("greeting");
  ASSERT_TRUE(del.ok());
  EXPECT_TRUE(*del);
  auto gone = client_->Get("greeting");
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(gone->has_value());
}

TEST_F(KvIntegrationTest, BinaryKeysAndValues) {
  std::string key("bin\0key\xff", 8), value("\0\1\2\xfe\xff", 5);
  ASSERT_TRUE(client_->Put(key, value).ok());
  auto got = client_->Get(key);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->value, value);
}

TEST_F(KvIntegrationTest, ScanRangePrefixAndLimit) {
  for (int i = 0; i < 1200; ++i) {
    char key[32];
    std::snprintf(key, sizeof(key), "scan/%04d", i);
    ASSERT_TRUE(client_->Put(key, std::to_string(i)).ok());
  }
  ASSERT_TRUE(client_->Put("scan0", "outside").ok());

  auto all = client_->Scan({.prefix = "scan/"});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->kvs.size(), 1200u);  // more than one streamed chunk
  EXPECT_EQ(all->kvs.front().key, "scan/0000");
  EXPECT_EQ(all->kvs.back().value, "1199");
  EXPECT_FALSE(all->more);

  auto range = client_->Scan({.start = "scan/0010", .end = "scan/0020"});
  ASSERT_TRUE(range.ok());
  ASSERT_EQ(range->kvs.size(), 10u);
  EXPECT_EQ(range->kvs[9].key, "scan/0019");

  auto limited = client_->Scan({.prefix = "scan/", .limit = 5, .keys_only = true});
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->kvs.size(), 5u);
  EXPECT_TRUE(limited->more);
  EXPECT_EQ(limited->kvs[0].value, "");
}

TEST_F(KvIntegrationTest, ConcurrentCsetAddsAllApply) {
  constexpr int kThreads = 4, kAdds = 50;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto c = daemon_->Connect();
      for (int i = 0; i < kAdds; ++i) {
        if (!c->CsetAdd("visitors", "page" + std::to_string(i % 2)).ok()) ++failures;
        if (!c->CsetAdd("visitors", "thread" + std::to_string(t)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto read = client_->CsetRead("visitors");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ((*read)["page0"], kThreads * kAdds / 2);
  EXPECT_EQ((*read)["page1"], kThreads * kAdds / 2);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ((*read)["thread" + std::to_string(t)], kAdds);
  ASSERT_TRUE(client_->CsetRemove("visitors", "thread0").ok());
  EXPECT_EQ((*client_->CsetRead("visitors"))["thread0"], kAdds - 1);
}

TEST_F(KvIntegrationTest, StatusMembersAndHealth) {
  ASSERT_TRUE(client_->Put("status/probe", "x").ok());  // applied_index > 0 whatever ran before
  auto status = client_->NodeStatus();
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->engine(), "pagestore");  // the default for a new data dir
  EXPECT_EQ(status->header().node_id(), "node1");
  EXPECT_EQ(status->limits().max_key_bytes(), 4096u);
  EXPECT_GT(status->applied_index(), 0u);
  auto members = client_->Members();
  ASSERT_TRUE(members.ok());
  ASSERT_EQ(members->members_size(), 1);
  EXPECT_EQ(members->members(0).client_url(), daemon_->endpoint());
  auto healthy = client_->Healthy();
  ASSERT_TRUE(healthy.ok());
  EXPECT_TRUE(*healthy);
}

}  // namespace
}  // namespace meridian::testing
