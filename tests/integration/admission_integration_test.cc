// Admission control under overload (issue 8): a meridiand with a small
// --max-inflight and a --client-rate-limit, driven by many more concurrent
// writers than it admits. The excess is refused at once with
// RESOURCE_EXHAUSTED and a retry-after hint, admitted requests keep a
// bounded p99, and nothing is lost: every acknowledged write reads back
// and no refused write is present.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/daemon.h"

namespace meridian::testing {
namespace {

using Clock = std::chrono::steady_clock;

struct Outcomes {
  std::mutex mu;
  std::map<std::string, std::string> acked;  // key -> value
  std::set<std::string> refused;             // keys whose write was refused
  std::set<std::string> unknown;             // outcome unknown (should not happen)
  std::vector<double> admitted_ms;           // latency of each acknowledged write
  std::map<std::string, int> refusals_by_limit;
  int refusals_without_hint = 0;
  std::vector<std::string> other_errors;
};

// Drives `threads` writers, each with its own client (no retries, so that
// refusals surface), for `duration`. Keys and values are unique.
void Overload(const std::string& endpoint, int threads, std::chrono::milliseconds duration,
              Outcomes* out) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      client::ClientOptions o;
      o.endpoints = {endpoint};
      o.max_retries = 0;
      auto connected = client::Client::Connect(o);
      ASSERT_TRUE(connected.ok()) << connected.status();
      auto c = std::move(connected).value();
      for (int i = 0; !stop.load(); ++i) {
        const std::string key = "adm/" + std::to_string(t) + "/" + std::to_string(i);
        const std::string value = "v-" + std::to_string(t) + "-" + std::to_string(i);
        const auto start = Clock::now();
        const Status s = c->Put(key, value).status();
        const double ms =
            std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        std::lock_guard<std::mutex> l(out->mu);
        if (s.ok()) {
          out->acked[key] = value;
          out->admitted_ms.push_back(ms);
          continue;
        }
        const ErrorInfo info = GetErrorInfo(s);
        if (s.code() == absl::StatusCode::kResourceExhausted) {
          out->refused.insert(key);
          ++out->refusals_by_limit[info.limit_name];
          if (info.retry_after_ms == 0) ++out->refusals_without_hint;
        } else if (info.kind == ErrorKind::kCommitUnknown) {
          out->unknown.insert(key);
        } else if (out->other_errors.size() < 10) {
          out->other_errors.push_back(s.ToString());
        }
        // A refused client backs off a little (less than the hint: this is
        // an overload test) rather than spinning.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  }
  std::this_thread::sleep_for(duration);
  stop = true;
  for (auto& w : workers) w.join();
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

TEST(Admission, OverloadIsShedWithAHintAdmittedP99IsBoundedAndNothingIsLost) {
  std::string dir;
  Outcomes out;
  {
    TestDaemon daemon("", {"--max-inflight", "8", "--client-rate-limit", "400",
                           "--client-rate-burst", "50"});
    ASSERT_TRUE(daemon.Start().ok()) << daemon.Log();
    dir = daemon.data_dir();
    Overload(daemon.endpoint(), 32, std::chrono::milliseconds(3000), &out);
    EXPECT_EQ(daemon.Stop(), 0) << daemon.Log();
  }
  const double p50 = Percentile(out.admitted_ms, 0.50);
  const double p99 = Percentile(out.admitted_ms, 0.99);
  std::string limits;
  for (const auto& [name, n] : out.refusals_by_limit) limits += " " + name + "=" + std::to_string(n);
  std::printf("admitted %zu (p50 %.1f ms, p99 %.1f ms), refused %zu (by limit:%s), unknown %zu\n",
              out.acked.size(), p50, p99, out.refused.size(), limits.c_str(), out.unknown.size());

  EXPECT_TRUE(out.other_errors.empty()) << out.other_errors.front();
  // (a) A clear share of the offered load was refused, every refusal with a
  // machine-readable hint and the limit it hit.
  ASSERT_GT(out.acked.size(), 100u);
  EXPECT_GT(out.refused.size(), out.acked.size() / 2);
  EXPECT_EQ(out.refusals_without_hint, 0);
  for (const auto& [name, n] : out.refusals_by_limit) {
    EXPECT_TRUE(name == "max_inflight" || name == "client_rate_limit") << name;
  }
  // 3 s at 400 ops/s plus the burst of 50, with slack for timing.
  EXPECT_LE(out.acked.size(), 400u * 4 + 50);
  // (b) Admitted requests do not queue behind the excess. The bound is
  // generous for a noisy 2-core machine; unlimited, 32 writers queue far
  // longer than this.
  EXPECT_LT(p99, 250.0);
  EXPECT_TRUE(out.unknown.empty());

  // (c) Nothing lost, nothing extra: restart without limits and read all.
  TestDaemon reader(dir);
  ASSERT_TRUE(reader.Start().ok()) << reader.Log();
  auto c = reader.Connect();
  ASSERT_NE(c, nullptr);
  auto all = c->Scan({.prefix = "adm/"});
  ASSERT_TRUE(all.ok()) << all.status();
  std::map<std::string, std::string> present;
  for (const auto& kv : all->kvs) present[kv.key] = kv.value;
  for (const auto& [key, value] : out.acked) {
    auto it = present.find(key);
    ASSERT_NE(it, present.end()) << "acknowledged write lost: " << key;
    EXPECT_EQ(it->second, value) << key;
  }
  for (const auto& key : out.refused) EXPECT_EQ(present.count(key), 0u) << "refused write applied: " << key;
  for (const auto& [key, value] : present) {
    EXPECT_TRUE(out.acked.count(key) || out.unknown.count(key)) << "write from nowhere: " << key;
  }
  EXPECT_EQ(reader.Stop(), 0) << reader.Log();
}

}  // namespace
}  // namespace meridian::testing
