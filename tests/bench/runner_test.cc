#include "tests/bench/runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "tests/bench/thread_pool.h"

namespace meridian::bench {
namespace {

// A map behind the Driver interface. With a ManualClock, every operation
// takes exactly `service_ms` of its time and completes inline, so the
// runner's timing can be checked to the microsecond; otherwise operations
// complete on other threads.
class FakeDriver final : public Driver {
 public:
  struct Options {
    ManualClock* clock = nullptr;  // inline completion, advancing this clock
    uint64_t service_ms = 0;
    int fail_every = 0;        // every Nth operation fails with CONFLICT
    int lose_write_every = 0;  // every Nth write reports OK but stores nothing
    Status finish_load;        // what FinishLoad returns
    int rmw_aborts = 0;        // aborts every read-modify-write reports
  };
  explicit FakeDriver(Options o) : o_(o), pool_(4) {}

  std::string Name() const override { return "fake"; }
  std::string Describe() const override { return "fake"; }

  void Read(const std::string& key, ReadDone done) override {
    Complete(
        [this, key, done = std::move(done)](bool fail) {
          if (fail) return done(ConflictError("injected"));
          absl::MutexLock l(&mu_);
          auto it = data_.find(key);
          done(it == data_.end() ? std::nullopt : std::optional<std::string>(it->second));
        },
        key);
  }
  void Write(const std::string& key, const std::string& value, Done done) override {
    Complete(
        [this, key, value, done = std::move(done)](bool fail) {
          if (fail) return done(ConflictError("injected"));
          {
            absl::MutexLock l(&mu_);
            if (o_.lose_write_every == 0 || ++writes_ % o_.lose_write_every != 0)
              data_[key] = value;
          }
          done(absl::OkStatus());
        },
        key);
  }
  // Counts, then writes as Write does.
  void Load(const std::string& key, const std::string& value, Done done) override {
    {
      absl::MutexLock l(&mu_);
      ++loads_;
      loaded_keys_.push_back(key);
    }
    Write(key, value, std::move(done));
  }
  std::vector<std::string> loaded_keys() {
    absl::MutexLock l(&mu_);
    return loaded_keys_;
  }
  Status FinishLoad() override {
    absl::MutexLock l(&mu_);
    ++finish_loads_;
    finish_loads_after_ = loads_;
    return o_.finish_load;
  }
  void Scan(const std::string& start, size_t count, ScanDone done) override {
    Complete(
        [this, start, count, done = std::move(done)](bool fail) {
          if (fail) return done(ConflictError("injected"));
          absl::MutexLock l(&mu_);
          size_t n = 0;
          for (auto it = data_.lower_bound(start); it != data_.end() && n < count; ++it) ++n;
          done(n);
        },
        start);
  }
  void ReadModifyWrite(const std::vector<std::string>& keys, const std::string& value,
                       RmwDone done) override {
    Complete(
        [this, keys, value, done = std::move(done)](bool fail) {
          if (fail) return done(ConflictError("injected"), o_.rmw_aborts);
          {
            absl::MutexLock l(&mu_);
            for (const auto& k : keys) data_[k] = value;
          }
          done(absl::OkStatus(), o_.rmw_aborts);
        },
        keys.empty() ? "" : keys[0]);
  }

  size_t Size() {
    absl::MutexLock l(&mu_);
    return data_.size();
  }
  std::vector<std::string> KeysSeen() {
    absl::MutexLock l(&mu_);
    return seen_;
  }
  uint64_t loads() {
    absl::MutexLock l(&mu_);
    return loads_;
  }
  int finish_loads() {
    absl::MutexLock l(&mu_);
    return finish_loads_;
  }
  // loads() when FinishLoad was last called.
  uint64_t finish_loads_after() {
    absl::MutexLock l(&mu_);
    return finish_loads_after_;
  }

 private:
  void Complete(std::function<void(bool)> op, const std::string& key) {
    bool fail;
    {
      absl::MutexLock l(&mu_);
      seen_.push_back(key);
      fail = o_.fail_every > 0 && ++ops_ % o_.fail_every == 0;
    }
    if (o_.clock != nullptr) {
      o_.clock->AdvanceMillis(o_.service_ms);
      op(fail);
    } else {
      pool_.Submit([op = std::move(op), fail] { op(fail); });
    }
  }

  const Options o_;
  absl::Mutex mu_;
  std::map<std::string, std::string> data_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> seen_ ABSL_GUARDED_BY(mu_);
  uint64_t ops_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> loaded_keys_ ABSL_GUARDED_BY(mu_);
  uint64_t loads_ ABSL_GUARDED_BY(mu_) = 0;
  int finish_loads_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t finish_loads_after_ ABSL_GUARDED_BY(mu_) = 0;
  ThreadPool pool_;
};

RunOptions Options(const char* workload) {
  RunOptions o;
  o.workload = *WorkloadByName(workload);
  o.distribution = o.workload.distribution;
  o.records = 1000;
  o.value_size = 10;
  o.progress = false;
  return o;
}

TEST(RunnerTest, ClosedLoopLatencyIsTheServiceTime) {
  ManualClock clock;
  FakeDriver driver({.clock = &clock, .service_ms = 10});
  RunOptions o = Options("write");
  o.clients = 1;
  o.issuer_threads = 1;
  o.ops = 100;
  PhaseResult r = RunWorkload(driver, o, nullptr, &clock);
  const OpStats& update = r.stats.by_op[static_cast<int>(OpType::kUpdate)];
  EXPECT_EQ(update.ok(), 100u);
  EXPECT_EQ(update.latency_us.min(), 10'000u);
  EXPECT_EQ(update.latency_us.max(), 10'000u);
  EXPECT_DOUBLE_EQ(r.seconds, 1.0);
}

// Regression test for coordinated omission: a target that serves one
// operation per 10 ms, asked for one per 1 ms, falls further behind with
// every operation, and the latencies must say so.
TEST(RunnerTest, OpenLoopMeasuresFromTheIntendedTime) {
  ManualClock clock;
  FakeDriver driver({.clock = &clock, .service_ms = 10});
  RunOptions o = Options("write");
  o.clients = 1;
  o.issuer_threads = 1;
  o.rate = 1000;
  o.ops = 100;
  PhaseResult r = RunWorkload(driver, o, nullptr, &clock);
  const Histogram& h = r.stats.by_op[static_cast<int>(OpType::kUpdate)].latency_us;
  ASSERT_EQ(h.count(), 100u);
  // Operation k is due at k ms and completes at 10 (k + 1) ms.
  EXPECT_EQ(h.min(), 10'000u);
  EXPECT_EQ(h.max(), 901'000u);
  EXPECT_NEAR(static_cast<double>(h.Percentile(50)), 451'000, 451'000 / 128.0);
  EXPECT_NEAR(static_cast<double>(h.Percentile(99)), 892'000, 892'000 / 128.0);
}

TEST(RunnerTest, OpenLoopEndsOnTimeAndCountsTheBacklog) {
  ManualClock clock;
  FakeDriver driver({.clock = &clock, .service_ms = 10});
  RunOptions o = Options("write");
  o.clients = 1;
  o.issuer_threads = 1;
  o.rate = 1000;
  o.duration_s = 0.1;  // 100 operations due; 10 fit
  PhaseResult r = RunWorkload(driver, o, nullptr, &clock);
  EXPECT_EQ(r.stats.Total().ok(), 10u);
  EXPECT_EQ(r.unsent, 90u);
}

TEST(RunnerTest, WarmupIsLeftOut) {
  ManualClock clock;
  FakeDriver driver({.clock = &clock, .service_ms = 10});
  RunOptions o = Options("write");
  o.clients = 1;
  o.issuer_threads = 1;
  o.warmup_s = 0.5;
  o.duration_s = 1;
  PhaseResult r = RunWorkload(driver, o, nullptr, &clock);
  // 50 operations start in the warmup, 100 after it.
  EXPECT_EQ(driver.KeysSeen().size(), 150u);
  EXPECT_EQ(r.stats.Total().ok(), 100u);
  EXPECT_DOUBLE_EQ(r.seconds, 1.0);
}

// The aborts a driver reports are summed per operation type, over the
// measured operations only (failed ones included).
TEST(RunnerTest, RmwAbortsAreSummedOverMeasuredOperations) {
  ManualClock clock;
  FakeDriver driver({.clock = &clock, .service_ms = 10, .fail_every = 5, .rmw_aborts = 3});
  RunOptions o = Options("txn");
  o.clients = 1;
  o.issuer_threads = 1;
  o.warmup_s = 0.5;
  o.duration_s = 1;
  PhaseResult r = RunWorkload(driver, o, nullptr, &clock);
  const OpStats& rmw = r.stats.by_op[static_cast<int>(OpType::kReadModifyWrite)];
  // 100 measured operations after 50 in the warmup; every 5th fails.
  EXPECT_EQ(rmw.ok(), 80u);
  EXPECT_EQ(rmw.errors, 20u);
  EXPECT_EQ(rmw.aborts, 300u);
  EXPECT_DOUBLE_EQ(rmw.AbortsPerOk(), 300.0 / 80);
  EXPECT_EQ(r.stats.Total().aborts, 300u);
  EXPECT_EQ(r.stats.by_op[static_cast<int>(OpType::kRead)].aborts, 0u);
}

TEST(RunnerTest, SameSeedSameOperations) {
  auto keys = [](uint64_t seed) {
    ManualClock clock;
    FakeDriver driver({.clock = &clock, .service_ms = 1});
    RunOptions o = Options("a");
    o.clients = 1;
    o.issuer_threads = 1;
    o.ops = 200;
    o.seed = seed;
    RunWorkload(driver, o, nullptr, &clock);
    return driver.KeysSeen();
  };
  EXPECT_EQ(keys(7), keys(7));
  EXPECT_NE(keys(7), keys(8));
}

TEST(RunnerTest, ManyClientsOnFewThreadsRunExactlyTheOps) {
  FakeDriver driver({});
  for (const char* w : {"a", "b", "c", "d", "e", "f", "write", "txn", "scan"}) {
    SCOPED_TRACE(w);
    RunOptions o = Options(w);
    o.clients = 64;
    o.issuer_threads = 2;
    o.ops = 3000;
    PhaseResult r = RunWorkload(driver, o, nullptr, SystemClock());
    const OpStats total = r.stats.Total();
    EXPECT_EQ(total.ok() + total.errors, 3000u);
    EXPECT_EQ(r.stuck, 0u);
    EXPECT_GT(r.seconds, 0);
  }
}

TEST(RunnerTest, ErrorsAreCountedByKind) {
  FakeDriver driver({.fail_every = 10});
  RunOptions o = Options("a");
  o.ops = 1000;
  PhaseResult r = RunWorkload(driver, o, nullptr, SystemClock());
  const OpStats total = r.stats.Total();
  EXPECT_EQ(total.ok() + total.errors, 1000u);
  // Reads of keys never loaded are NOT_FOUND; injected failures CONFLICT.
  ASSERT_TRUE(r.stats.errors_by_kind.count("CONFLICT"));
  EXPECT_NEAR(static_cast<double>(r.stats.errors_by_kind.at("CONFLICT").count), 100, 5);
  EXPECT_EQ(r.stats.errors_by_kind.at("CONFLICT").first_message, "injected");
  EXPECT_TRUE(r.stats.errors_by_kind.count("NOT_FOUND"));
}

TEST(RunnerTest, LoadThenReadsFindEveryKey) {
  FakeDriver driver({});
  RunOptions o = Options("c");
  WrittenKeys written;
  PhaseResult load = Load(driver, o, &written, SystemClock());
  EXPECT_EQ(load.stats.Total().ok(), 1000u);
  EXPECT_EQ(written.size(), 1000u);
  EXPECT_EQ(driver.Size(), 1000u);
  o.ops = 2000;
  PhaseResult run = RunWorkload(driver, o, nullptr, SystemClock());
  EXPECT_EQ(run.stats.Total().ok(), 2000u);
  EXPECT_TRUE(run.stats.errors_by_kind.empty());
}

// A sorted load issues the same keys as a hashed one, in key order.
TEST(RunnerTest, SortedLoadIssuesEveryKeyInKeyOrder) {
  std::vector<std::string> keys[2];
  for (bool sorted : {false, true}) {
    FakeDriver driver({});
    RunOptions o = Options("c");
    o.clients = 1;  // one issuer, one in flight: arrival order is issue order
    o.issuer_threads = 1;
    o.load_sorted = sorted;
    WrittenKeys written;
    PhaseResult load = Load(driver, o, &written, SystemClock());
    EXPECT_EQ(load.stats.Total().ok(), 1000u);
    EXPECT_EQ(written.size(), 1000u);
    keys[sorted] = driver.loaded_keys();
    EXPECT_EQ(std::is_sorted(keys[sorted].begin(), keys[sorted].end()), sorted);
  }
  std::sort(keys[0].begin(), keys[0].end());
  EXPECT_EQ(keys[0], keys[1]);
  EXPECT_EQ(std::adjacent_find(keys[1].begin(), keys[1].end()), keys[1].end());
}

TEST(RunnerTest, LoadUsesLoadThenFinishLoadOnce) {
  FakeDriver driver({});
  RunOptions o = Options("c");
  PhaseResult load = Load(driver, o, nullptr, SystemClock());
  EXPECT_TRUE(load.finish.ok()) << load.finish;
  EXPECT_EQ(driver.loads(), 1000u);
  EXPECT_EQ(driver.finish_loads(), 1);
  EXPECT_EQ(driver.finish_loads_after(), 1000u);  // after every Load
  EXPECT_LE(load.finish_seconds, load.seconds);
}

// Regression test: a driver that acknowledges loaded records before it
// writes them reports a failed write from FinishLoad, and the load must
// carry it rather than count only the acknowledgements.
TEST(RunnerTest, LoadCarriesAFailedFinishLoad) {
  FakeDriver driver({.finish_load = absl::DataLossError("batch lost")});
  RunOptions o = Options("c");
  PhaseResult load = Load(driver, o, nullptr, SystemClock());
  EXPECT_EQ(load.stats.Total().errors, 0u);
  EXPECT_EQ(load.finish.code(), absl::StatusCode::kDataLoss);
}

// Regression test: runs of an inserting workload in separate invocations
// on one data set must not insert the same key numbers again; each run
// starts where the previous one stopped (insert_start = its next_insert).
TEST(RunnerTest, InsertsContinueFromInsertStart) {
  FakeDriver driver({});
  RunOptions o = Options("d");
  Load(driver, o, nullptr, SystemClock());
  o.ops = 2000;
  WrittenKeys first;
  PhaseResult r1 = RunWorkload(driver, o, &first, SystemClock());
  ASSERT_GT(first.size(), 0u);
  EXPECT_EQ(first.Sorted().front(), o.records);
  EXPECT_EQ(r1.next_insert, o.records + first.size());

  o.insert_start = r1.next_insert;
  o.seed = 2;
  WrittenKeys second;
  PhaseResult r2 = RunWorkload(driver, o, &second, SystemClock());
  ASSERT_GT(second.size(), 0u);
  EXPECT_EQ(second.Sorted().front(), r1.next_insert);
  EXPECT_EQ(r2.next_insert, r1.next_insert + second.size());
  EXPECT_EQ(driver.Size(), o.records + first.size() + second.size());
  // Reads may pick any key below the limit; every one of them exists.
  EXPECT_TRUE(r2.stats.errors_by_kind.empty());
}

TEST(RunnerTest, VerifyFindsEveryWrittenKey) {
  FakeDriver driver({});
  RunOptions o = Options("write");
  o.ops = 2000;
  WrittenKeys written;
  RunWorkload(driver, o, &written, SystemClock());
  const std::vector<uint64_t> keys = written.Sorted();
  EXPECT_EQ(keys.size(), driver.Size());
  PhaseResult v = Verify(driver, o, keys, SystemClock());
  EXPECT_EQ(v.stats.Total().ok(), keys.size());
  EXPECT_EQ(v.stats.Total().errors, 0u);
}

TEST(RunnerTest, VerifyReportsLostWritesAndWrongSizes) {
  FakeDriver driver({.lose_write_every = 7});
  RunOptions o = Options("write");
  o.distribution = Distribution::kUniform;
  o.ops = 500;
  WrittenKeys written;
  RunWorkload(driver, o, &written, SystemClock());
  PhaseResult v = Verify(driver, o, written.Sorted(), SystemClock());
  EXPECT_GT(v.stats.Total().errors, 0u);
  ASSERT_TRUE(v.stats.errors_by_kind.count("NOT_FOUND"));
  EXPECT_NE(v.stats.errors_by_kind.at("NOT_FOUND").first_message.find("user"), std::string::npos);
}

TEST(RunnerTest, VerifyReportsWrongSizes) {
  FakeDriver driver({});
  RunOptions o = Options("c");
  Load(driver, o, nullptr, SystemClock());
  o.value_size = 11;
  PhaseResult v = Verify(driver, o, {0, 1, 2}, SystemClock());
  EXPECT_EQ(v.stats.Total().errors, 3u);
  ASSERT_TRUE(v.stats.errors_by_kind.count("WRONG_SIZE"));
  EXPECT_EQ(v.stats.errors_by_kind.at("WRONG_SIZE").count, 3u);
}

}  // namespace
}  // namespace meridian::bench
