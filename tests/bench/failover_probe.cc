// failover-probe: measures one failover. It writes continuously to a
// Meridian group or an etcd cluster through meridian-bench's drivers, kills
// one process (the leader, picked by the caller) with SIGKILL, and reports
// how long after the kill the first write succeeded. failover.sh runs it once
// per trial; docs/benchmarks.md describes the measurement.
//
// Each of --writers threads issues one write at a time, every write to a new
// key, with a short deadline (--rpc-timeout-ms); after a failure it pauses
// --pause-ms so that a cluster without a leader is not flooded with refused
// requests by a busy loop on the same two CPUs. Only writes *sent* after the
// kill count: one acknowledged just after the kill may have been committed
// before it.
//
// stdout, one line: failover_ms F sent_after_kill N failed_after_kill M
// last_pre_kill_ok_ms L, where L is when the last success of a write sent
// before the kill came, relative to the kill (negative: before it). Exit codes: 0 measured; 1 no write succeeded
// before the kill, the kill failed, or none succeeded within --timeout-s
// after it; 2 usage.
#include <signal.h>
#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/clock.h"
#include "tests/bench/driver.h"

namespace meridian::bench {
namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
constexpr uint64_t kNotYet = UINT64_MAX;

// What the writers saw; every time is monotonic microseconds.
class Observations {
 public:
  void Ok(uint64_t sent, uint64_t done) {
    std::lock_guard<std::mutex> l(mu_);
    ++ok_;
    if (kill_us_ == kNotYet || sent < kill_us_) {
      last_pre_kill_ok_ = std::max(last_pre_kill_ok_, done);
      return;
    }
    ++sent_after_kill_;
    if (first_ok_after_kill_ == kNotYet) {
      first_ok_after_kill_ = done;
      cv_.notify_all();
    }
  }
  void Failed(uint64_t sent) {
    std::lock_guard<std::mutex> l(mu_);
    if (kill_us_ != kNotYet && sent >= kill_us_) {
      ++sent_after_kill_;
      ++failed_after_kill_;
    }
  }
  void Killed(uint64_t at) {
    std::lock_guard<std::mutex> l(mu_);
    kill_us_ = at;
  }
  uint64_t ok() {
    std::lock_guard<std::mutex> l(mu_);
    return ok_;
  }
  // Waits until a write sent after the kill succeeded or `until` (monotonic
  // µs on `clock`) passed; returns its completion time or kNotYet.
  uint64_t WaitFirstOk(Clock* clock, uint64_t until) {
    std::unique_lock<std::mutex> l(mu_);
    while (first_ok_after_kill_ == kNotYet) {
      const uint64_t now = clock->NowMonotonicMicros();
      if (now >= until) break;
      cv_.wait_for(l, std::chrono::microseconds(std::min<uint64_t>(until - now, 10'000)));
    }
    return first_ok_after_kill_;
  }
  std::string Summary() {
    std::lock_guard<std::mutex> l(mu_);
    const double last_pre_kill =
        (static_cast<double>(last_pre_kill_ok_) - static_cast<double>(kill_us_)) / 1e3;
    return absl::StrCat("sent_after_kill ", sent_after_kill_, " failed_after_kill ",
                        failed_after_kill_, " last_pre_kill_ok_ms ", last_pre_kill);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t ok_ = 0;
  uint64_t kill_us_ = kNotYet;
  uint64_t last_pre_kill_ok_ = 0;
  uint64_t first_ok_after_kill_ = kNotYet;
  uint64_t sent_after_kill_ = 0;
  uint64_t failed_after_kill_ = 0;
};

// One writer thread: a write at a time, each to a new key.
void WriteLoop(Driver* driver, Clock* clock, Observations* seen, const std::atomic<bool>* stop,
               const std::string& key_prefix, int pause_ms) {
  const std::string value(100, 'v');
  for (uint64_t seq = 0; !stop->load(); ++seq) {
    auto result = std::make_shared<std::promise<Status>>();
    std::future<Status> done = result->get_future();
    const uint64_t sent = clock->NowMonotonicMicros();
    driver->Write(absl::StrCat(key_prefix, seq), value,
                  [result](Status s) { result->set_value(std::move(s)); });
    const Status s = done.get();
    if (s.ok()) {
      seen->Ok(sent, clock->NowMonotonicMicros());
    } else {
      seen->Failed(sent);
      std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
    }
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"failover-probe: time from SIGKILL of a leader to the next successful write",
               "failover-probe"};
  std::string driver_name, endpoints_flag, key_prefix = "failover/";
  DriverOptions d;
  d.rpc_timeout_ms = 100;
  pid_t kill_pid = 0;
  int writers = 4, pause_ms = 5, warmup_ms = 1000;
  double timeout_s = 30;
  app.add_option("--driver", driver_name, "target kind")
      ->required()
      ->check(CLI::IsMember({"meridian", "etcd"}));
  app.add_option("--endpoints", endpoints_flag, "host:port[,host:port...] of every member")
      ->required();
  app.add_option("--kill-pid", kill_pid, "process to SIGKILL (the leader)")
      ->required()
      ->check(CLI::Range(2, INT32_MAX));
  app.add_option("--writers", writers, "threads writing, one write in flight each")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--rpc-timeout-ms", d.rpc_timeout_ms, "deadline per write")
      ->capture_default_str()
      ->check(CLI::Range(1, 60'000));
  app.add_option("--pause-ms", pause_ms, "a writer's pause after a failed write")
      ->capture_default_str()
      ->check(CLI::Range(0, 10'000));
  app.add_option("--warmup-ms", warmup_ms, "write this long (and at least 10 writes) before the kill")
      ->capture_default_str()
      ->check(CLI::Range(0, 600'000));
  app.add_option("--timeout-s", timeout_s, "give up this long after the kill")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--key-prefix", key_prefix, "keys are PREFIX<writer>/<n>")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& err) {
    return app.exit(err) == 0 ? kExitOk : kExitUsage;
  }
  d.endpoints = absl::StrSplit(endpoints_flag, ',', absl::SkipEmpty());
  Result<std::unique_ptr<Driver>> driver =
      driver_name == "meridian" ? MakeMeridianDriver(d) : MakeEtcdDriver(d);
  if (!driver.ok()) {
    std::cerr << "failover-probe: " << driver.status().ToString() << "\n";
    return kExitFailed;
  }

  Clock* clock = SystemClock();
  Observations seen;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back(WriteLoop, driver->get(), clock, &seen, &stop,
                         absl::StrCat(key_prefix, w, "/"), pause_ms);
  }
  int code = kExitOk;
  auto finish = [&] {
    stop = true;
    for (std::thread& t : threads) t.join();
    return code;
  };

  // Warm up: the connections are up and writes succeed.
  const uint64_t start = clock->NowMonotonicMicros();
  const uint64_t warm_deadline = start + 30'000'000;
  while (seen.ok() < 10 || clock->NowMonotonicMicros() < start + warmup_ms * 1000ull) {
    if (clock->NowMonotonicMicros() > warm_deadline) {
      std::cerr << "failover-probe: fewer than 10 writes succeeded in 30 s before the kill\n";
      code = kExitFailed;
      return finish();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  const uint64_t killed = clock->NowMonotonicMicros();
  seen.Killed(killed);
  if (kill(kill_pid, SIGKILL) != 0) {
    std::cerr << "failover-probe: kill " << kill_pid << ": " << std::strerror(errno) << "\n";
    code = kExitFailed;
    return finish();
  }
  const uint64_t first =
      seen.WaitFirstOk(clock, killed + static_cast<uint64_t>(timeout_s * 1e6));
  if (first == kNotYet) {
    std::cerr << "failover-probe: no write succeeded within " << timeout_s
              << " s after the kill\n";
    std::cout << "failover_ms timeout " << seen.Summary() << "\n";
    code = kExitFailed;
    return finish();
  }
  std::printf("failover_ms %.1f %s\n", (first - killed) / 1e3, seen.Summary().c_str());
  std::fflush(stdout);
  return finish();
}

}  // namespace
}  // namespace meridian::bench

int main(int argc, char** argv) { return meridian::bench::Main(argc, argv); }
