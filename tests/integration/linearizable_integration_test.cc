// Issue 4: single-key operations are linearizable. Six clients run a random
// mix of Get, Put (every value unique) and one-shot compare-and-set on three
// keys of a real 3-node group while its leader is killed with SIGKILL and
// restarted; every operation is recorded with the steady_clock times of its
// invoke and its answer, and each key's history is checked with the
// register checker in tests/integration/linearizability.h.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "tests/integration/cluster_fixture.h"
#include "tests/integration/linearizability.h"

namespace meridian::testing {
namespace {

using lin::Op;
using Clock = std::chrono::steady_clock;

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

constexpr int kClients = 6;
const std::vector<std::string> kKeys = {"lin/a", "lin/b", "lin/c"};
constexpr auto kLoad = std::chrono::milliseconds(7000);
constexpr auto kKillAt = std::chrono::milliseconds(3000);
constexpr auto kDownFor = std::chrono::milliseconds(1000);

struct Recorded {
  size_t key = 0;
  Op op;
};

// Counts of one client (or all), for the report and the floor checks.
struct Tally {
  int ok = 0;             // answered: reads, writes and cas with a known outcome
  int unknown = 0;        // writes/cas with an unknown outcome
  int failed_reads = 0;   // dropped from the history
  int ok_after_kill = 0;  // answered and invoked after the kill
  int ok_after_restart = 0;
  std::map<std::string, int> errors;  // error kind -> count
};

class LinearizableTest : public ClusterTest {
 protected:
  // One client's loop: until `stop`, a random op on a random key. The value
  // of every write is unique ("c<client>-<n>"), so a write the SDK retries
  // is still one op, and a read names the write it saw.
  void RunClient(int id, const std::atomic<bool>& stop, const std::atomic<int64_t>& kill_time,
                 const std::atomic<int64_t>& restart_time, std::vector<Recorded>* out,
                 Tally* tally) {
    client::ClientOptions o;
    o.endpoints = endpoints_;
    o.max_retries = 30;  // as the fixture's client
    o.max_backoff = std::chrono::milliseconds(200);
    o.rpc_timeout = std::chrono::milliseconds(2000);  // bounds the tail after `stop`
    auto connected = client::Client::Connect(o);
    ASSERT_TRUE(connected.ok()) << connected.status();
    client::Client& c = **connected;
    std::mt19937 rng(1000 + id);
    // What this client last saw in each key: the expected value of its cas.
    std::vector<std::optional<std::string>> last(kKeys.size());
    auto fail = [&](const Status& s) {
      ++tally->errors[std::string(ErrorKindName(GetErrorKind(s)))];
    };
    auto answered = [&](int64_t invoke) {
      ++tally->ok;
      if (kill_time.load() != 0 && invoke > kill_time.load()) ++tally->ok_after_kill;
      if (restart_time.load() != 0 && invoke > restart_time.load()) ++tally->ok_after_restart;
    };
    for (int n = 0; !stop.load(); ++n) {
      const size_t k = std::uniform_int_distribution<size_t>(0, kKeys.size() - 1)(rng);
      const std::string& key = kKeys[k];
      const std::string value = absl::StrCat("c", id, "-", n);
      const int dice = std::uniform_int_distribution<int>(0, 99)(rng);
      if (dice < 40) {
        const int64_t invoke = Now();
        auto r = c.Get(key);
        const int64_t complete = Now();
        if (!r.ok()) {
          // A failed read tells nothing.
          ++tally->failed_reads;
          fail(r.status());
          continue;
        }
        std::optional<std::string> seen;
        if (r->has_value()) seen = (*r)->value;
        last[k] = seen;
        out->push_back({k, Op::Read(id, seen, invoke, complete)});
        answered(invoke);
      } else if (dice < 75) {
        const int64_t invoke = Now();
        auto r = c.Put(key, value);
        const int64_t complete = Now();
        if (!r.ok()) {
          // Conservative: any failed write may have applied (the SDK only
          // gives up on a write with kCommitUnknown, or after retrying
          // refusals that say nothing was written).
          out->push_back({k, Op::UnknownWrite(id, value, invoke)});
          ++tally->unknown;
          fail(r.status());
          continue;
        }
        last[k] = value;
        out->push_back({k, Op::Write(id, value, invoke, complete)});
        answered(invoke);
      } else {
        v1::ExecuteRequest req;
        auto* cmp = req.add_compares();
        cmp->set_key(key);
        cmp->set_result(v1::Compare::EQUAL);
        if (last[k]) {
          cmp->set_target(v1::Compare::VALUE);
          cmp->set_value(*last[k]);
        } else {
          cmp->set_target(v1::Compare::EXISTS);
          cmp->set_exists(false);
        }
        auto* put = req.add_success()->mutable_put();
        put->set_key(key);
        put->set_value(value);
        req.add_failure()->mutable_get()->set_key(key);
        const std::optional<std::string> expected = last[k];
        const int64_t invoke = Now();
        auto r = c.Execute(req);
        const int64_t complete = Now();
        if (!r.ok()) {
          out->push_back({k, Op::UnknownCas(id, expected, value, invoke)});
          ++tally->unknown;
          fail(r.status());
          continue;
        }
        if (r->succeeded) {
          last[k] = value;
          out->push_back({k, Op::CasOk(id, expected, value, invoke, complete)});
        } else {
          ASSERT_EQ(r->results.size(), 1u);
          const v1::GetResult& got = r->results[0].get();
          std::optional<std::string> seen;
          if (got.found()) seen = got.value();
          last[k] = seen;
          out->push_back({k, Op::CasFailed(id, expected, value, seen, invoke, complete)});
        }
        answered(invoke);
      }
    }
  }
};

TEST_F(LinearizableTest, SingleKeyOpsAreLinearizableAcrossALeaderKill) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> kill_time{0}, restart_time{0};
  std::vector<std::vector<Recorded>> recorded(kClients);
  std::vector<Tally> tallies(kClients);
  std::vector<std::thread> threads;
  const auto start = Clock::now();
  const int64_t start_ns = Now();
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      RunClient(i, stop, kill_time, restart_time, &recorded[i], &tallies[i]);
    });
  }

  std::this_thread::sleep_until(start + kKillAt);
  int leader = LeaderIndex();
  for (int t = 0; t < 40 && leader < 0; ++t) {  // mid-election: wait a little
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    leader = LeaderIndex();
  }
  EXPECT_GE(leader, 0) << "no leader before the kill";
  if (leader >= 0) {
    kill_time = Now();
    nodes_[leader]->Kill();
    std::this_thread::sleep_for(kDownFor);
    restart_time = Now();
    EXPECT_TRUE(nodes_[leader]->Start().ok()) << nodes_[leader]->Log();
  }
  std::this_thread::sleep_until(start + kLoad);
  stop = true;
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(Clock::now() - start).count();

  Tally total;
  for (const Tally& t : tallies) {
    total.ok += t.ok;
    total.unknown += t.unknown;
    total.failed_reads += t.failed_reads;
    total.ok_after_kill += t.ok_after_kill;
    total.ok_after_restart += t.ok_after_restart;
    for (const auto& [kind, count] : t.errors) total.errors[kind] += count;
  }
  std::printf("%d clients, %.1f s, leader %d killed at %.2f s for %lld ms: %d ops answered "
              "(%d invoked after the kill, %d after the restart), %d writes/cas with an "
              "unknown outcome, %d failed reads\n",
              kClients, seconds, leader + 1,
              static_cast<double>(kill_time.load() - start_ns) / 1e9,
              static_cast<long long>(kDownFor.count()), total.ok, total.ok_after_kill,
              total.ok_after_restart, total.unknown, total.failed_reads);
  for (const auto& [kind, count] : total.errors) std::printf("  error %s: %d\n", kind.c_str(), count);

  std::vector<std::vector<Op>> histories(kKeys.size());
  std::vector<int64_t> answers;  // completion times of answered ops
  for (const auto& per_client : recorded) {
    for (const Recorded& r : per_client) {
      histories[r.key].push_back(r.op);
      if (!r.op.unknown) answers.push_back(r.op.complete);
    }
  }
  std::sort(answers.begin(), answers.end());
  int64_t longest_gap = 0;
  for (size_t i = 1; i < answers.size(); ++i) {
    longest_gap = std::max(longest_gap, answers[i] - answers[i - 1]);
  }
  std::printf("longest stretch without an answer: %.0f ms\n",
              static_cast<double>(longest_gap) / 1e6);
  for (size_t k = 0; k < kKeys.size(); ++k) {
    int reads = 0, writes = 0, cas_ok = 0, cas_failed = 0, unknown = 0;
    for (const Op& op : histories[k]) {
      if (op.unknown) {
        ++unknown;
      } else if (op.kind == Op::Kind::kRead) {
        ++reads;
      } else if (op.kind == Op::Kind::kWrite) {
        ++writes;
      } else {
        ++(op.cas_ok ? cas_ok : cas_failed);
      }
    }
    const auto t0 = Clock::now();
    const lin::CheckResult result = lin::CheckRegister(histories[k]);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::printf("%s: %zu ops (%d reads, %d writes, %d cas ok, %d cas failed, %d unknown "
                "outcome of which %zu never observed and pruned): %s, %zu states, %.1f ms\n",
                kKeys[k].c_str(), histories[k].size(), reads, writes, cas_ok, cas_failed,
                unknown, result.pruned, result.linearizable() ? "linearizable" : "NOT",
                result.states, ms);
    ASSERT_TRUE(result.linearizable()) << kKeys[k] << ": " << result.explanation;
  }

  // Not vacuous: enough answered ops, also after the kill and the restart.
  EXPECT_GE(total.ok, 300) << "too little load to check anything";
  EXPECT_GE(total.ok_after_kill, 30) << "nothing completed after the leader was killed";
  EXPECT_GE(total.ok_after_restart, 30) << "nothing completed after the restart";
  for (size_t k = 0; k < kKeys.size(); ++k) {
    EXPECT_GE(histories[k].size(), 50u) << kKeys[k];
  }

  // And the checker is not vacuous on this history: one stale read (the
  // value of a write that a later write had replaced before the read began)
  // makes it fail.
  std::vector<Op> mutated = histories[0];
  std::vector<const Op*> writes;
  for (const Op& op : mutated) {
    if (!op.unknown && op.kind == Op::Kind::kWrite) writes.push_back(&op);
  }
  std::optional<Op> stale;
  for (const Op* w1 : writes) {
    for (const Op* w2 : writes) {
      if (w1->complete < w2->invoke) {
        stale = Op::Read(99, w1->value, w2->complete + 1, w2->complete + 2);
        break;
      }
    }
    if (stale) break;
  }
  ASSERT_TRUE(stale.has_value());
  mutated.push_back(*stale);
  lin::CheckOptions quick;
  quick.explain = false;
  EXPECT_EQ(lin::CheckRegister(mutated, quick).verdict,
            lin::CheckResult::Verdict::kNotLinearizable)
      << "the checker accepted a stale read";
}

}  // namespace
}  // namespace meridian::testing
