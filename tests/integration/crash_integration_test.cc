// kill -9 after acknowledged writes: every acknowledged write survives.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

TEST(CrashIntegrationTest, KillDashNineLosesNoAcknowledgedWrite) {
  TestDaemon daemon;
  ASSERT_TRUE(daemon.Start().ok());

  // Writers run until the daemon dies under them; only acknowledged writes
  // are recorded. Each writer owns its keys, so the last acknowledged value
  // of a key is the one that must be there.
  constexpr int kWriters = 4;
  std::mutex mu;
  std::map<std::string, std::string> acked;
  std::atomic<bool> stop{false};
  std::atomic<int> acks{0};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      client::ClientOptions options{.endpoints = {daemon.endpoint()},
                                    .rpc_timeout = std::chrono::milliseconds(2000),
                                    .max_retries = 0};
      auto c = client::Client::Connect(options);
      ASSERT_TRUE(c.ok());
      for (int i = 0; !stop; ++i) {
        std::string key = "w" + std::to_string(w) + "/" + std::to_string(i % 50);
        std::string value = std::to_string(i);
        if ((*c)->Put(key, value).ok()) {
          std::lock_guard<std::mutex> lock(mu);
          acked[key] = value;
          ++acks;
        }
      }
    });
  }
  // Also a transaction that commits several keys at once.
  auto c = daemon.Connect();
  auto t = c->Begin();
  ASSERT_TRUE(t.ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE((*t)->Put("txn/" + std::to_string(i), "all").ok());
  ASSERT_TRUE((*t)->Commit().ok());

  while (acks < 300) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  daemon.Kill();
  stop = true;
  for (auto& th : writers) th.join();

  ASSERT_TRUE(daemon.Start().ok()) << daemon.Log();
  auto after = daemon.Connect();
  int checked = 0;
  for (const auto& [key, value] : acked) {
    auto v = after->Get(key);
    ASSERT_TRUE(v.ok()) << v.status();
    ASSERT_TRUE(v->has_value()) << "acknowledged write of " << key << " lost";
    // A later unacknowledged write may have landed too, never an older one.
    EXPECT_GE(std::stoi((*v)->value), std::stoi(value)) << key;
    ++checked;
  }
  EXPECT_GT(checked, 0);
  auto txn_keys = after->Scan({.prefix = "txn/"});
  ASSERT_TRUE(txn_keys.ok());
  EXPECT_EQ(txn_keys->kvs.size(), 10u);
  EXPECT_EQ(daemon.Stop(), 0);
}

}  // namespace
}  // namespace meridian::testing
