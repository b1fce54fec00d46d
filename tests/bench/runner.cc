#include "tests/bench/runner.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "tests/bench/generators.h"

namespace meridian::bench {
namespace {

enum class Mode { kLoad, kRun, kVerify };

class Issuer;

// What the issuers and the completion callbacks share. Callbacks hold a
// shared_ptr to it, so an operation that completes after its phase gave up
// waiting still finds it alive.
struct State {
  State(Mode m, const RunOptions& o, Driver* d, WrittenKeys* w, Clock* c)
      : mode(m),
        options(o),
        driver(d),
        written(w),
        clock(c),
        namer(o.key_size),
        inserts(std::max(o.records, o.insert_start)) {}

  // Counts a finished operation (if measured) and frees its slot.
  void Done(Issuer* issuer, OpType type, uint64_t intended_us, bool measured, const Status& s,
            std::string_view kind = {});

  const Mode mode;
  const RunOptions options;
  Driver* const driver;
  WrittenKeys* const written;  // may be null
  Clock* const clock;
  const KeyNamer namer;
  InsertCounter inserts;
  Recorder recorder;
  std::vector<uint64_t> keynums;  // kVerify: the keys to read
  uint64_t total = 0;             // kLoad, kVerify: operations to run
  std::atomic<uint64_t> claimed{0};
  uint64_t start_us = 0;
  uint64_t measure_start_us = 0;  // operations due earlier are warmup
  uint64_t end_us = UINT64_MAX;   // nothing is issued from here on
  std::atomic<uint64_t> last_completion_us{0};
  std::vector<std::unique_ptr<Issuer>> issuers;
  std::atomic<int> running_issuers{0};
  absl::Notification issuers_done;
};

// One issuing thread and the clients (slots) it keeps busy.
class Issuer {
 public:
  Issuer(const State& st, int index, int issuers, int clients)
      : index_(index),
        issuers_(issuers),
        clients_(clients),
        rng_(st.options.seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index)),
        ops_(st.options.workload),
        chooser_(MakeKeyChooser(st.options.distribution, st.options.records)) {
    values_.resize(st.options.value_size + 4096);
    for (char& c : values_) c = static_cast<char>('a' + rng_.Uniform(26));
  }

  void Loop(const std::shared_ptr<State>& st);

  uint64_t unsent() const { return unsent_; }

  void Release() {
    absl::MutexLock l(&mu_);
    --inflight_;
  }

  // Waits up to `timeout` for the operations in flight; returns how many
  // are left.
  uint64_t Drain(absl::Duration timeout) {
    mu_.LockWhenWithTimeout(absl::Condition(this, &Issuer::Idle), timeout);
    const int left = inflight_;
    mu_.Unlock();
    return static_cast<uint64_t>(left);
  }

 private:
  bool HasSlot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return inflight_ < clients_; }
  bool Idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return inflight_ == 0; }

  // Counts this issuer's measured operations, from its k-th on, that were
  // due before the end (in closed form: a far-behind run may owe billions).
  void CountUnsent(const State& st, uint64_t k, double interval_us) {
    // This issuer's first operation due at or after time t.
    auto first_due_from = [&](uint64_t t_us) -> uint64_t {
      if (t_us <= st.start_us) return 0;
      const double slots = static_cast<double>(t_us - st.start_us) / interval_us;
      const double kk = std::ceil((slots - index_) / issuers_);
      return kk > 0 ? static_cast<uint64_t>(kk) : 0;
    };
    const uint64_t from = std::max(k, first_due_from(st.measure_start_us));
    const uint64_t to = first_due_from(st.end_us);
    unsent_ = to > from ? to - from : 0;
  }

  std::string Value() { return values_.substr(rng_.Uniform(4096), values_.size() - 4096); }
  void IssueRun(const std::shared_ptr<State>& st, uint64_t intended, bool measured);

  const int index_;
  const int issuers_;
  const int clients_;
  Random rng_;
  OpChooser ops_;
  std::unique_ptr<KeyChooser> chooser_;
  std::string values_;   // values are slices of it
  uint64_t unsent_ = 0;  // written by the issuing thread, read after it joined

  absl::Mutex mu_;
  int inflight_ ABSL_GUARDED_BY(mu_) = 0;
};

void State::Done(Issuer* issuer, OpType type, uint64_t intended_us, bool measured, const Status& s,
                 std::string_view kind) {
  if (measured) {
    const uint64_t now = clock->NowMonotonicMicros();
    if (s.ok()) {
      recorder.Ok(type, now > intended_us ? now - intended_us : 0);
    } else if (!kind.empty()) {
      recorder.Error(type, kind, std::string_view(s.message().data(), s.message().size()));
    } else {
      recorder.Error(type, s);
    }
    uint64_t last = last_completion_us.load();
    while (last < now && !last_completion_us.compare_exchange_weak(last, now)) {
    }
  }
  issuer->Release();
}

void Issuer::Loop(const std::shared_ptr<State>& st) {
  const bool open = st->mode == Mode::kRun && st->options.rate > 0;
  // Issuer i of n takes due times i, i + n, i + 2n, ... of the global schedule.
  const double interval_us = open ? 1e6 / st->options.rate : 0;
  uint64_t k = 0;
  while (true) {
    const uint64_t now = st->clock->NowMonotonicMicros();
    uint64_t intended = now;
    if (open) {
      const double slot = static_cast<double>(k) * issuers_ + index_;
      intended = st->start_us + static_cast<uint64_t>(slot * interval_us);
      if (intended >= st->end_us) break;
      if (now >= st->end_us) {
        // Out of time with operations still due: the target fell behind.
        CountUnsent(*st, k, interval_us);
        break;
      }
      if (intended > now) {
        std::this_thread::sleep_for(
            std::chrono::microseconds(std::min<uint64_t>(intended - now, 10'000)));
        continue;
      }
    } else if (now >= st->end_us) {
      break;
    }
    mu_.LockWhen(absl::Condition(this, &Issuer::HasSlot));
    ++inflight_;
    mu_.Unlock();
    // Closed loop: the operation starts once a client is free.
    if (!open) {
      intended = st->clock->NowMonotonicMicros();
      if (intended >= st->end_us) {
        Release();
        break;
      }
    }
    const bool measured = intended >= st->measure_start_us;

    uint64_t index = 0;
    if (st->mode != Mode::kRun) {
      index = st->claimed.fetch_add(1);
      if (index >= st->total) {
        Release();
        break;
      }
    } else if (measured && st->options.ops > 0 && st->claimed.fetch_add(1) >= st->options.ops) {
      Release();
      break;
    }
    ++k;

    if (st->mode == Mode::kLoad) {
      const uint64_t keynum = st->keynums.empty() ? index : st->keynums[index];
      st->driver->Load(st->namer.Key(keynum), Value(), [st, this, intended, keynum](Status s) {
        if (s.ok() && st->written != nullptr) st->written->Add(keynum);
        st->Done(this, OpType::kInsert, intended, true, s);
      });
    } else if (st->mode == Mode::kVerify) {
      const uint64_t keynum = st->keynums[index];
      st->driver->Read(st->namer.Key(keynum), [st, this, intended,
                                               keynum](Result<std::optional<std::string>> r) {
        if (!r.ok()) return st->Done(this, OpType::kRead, intended, true, r.status());
        const std::string key = st->namer.Key(keynum);
        if (!r->has_value()) {
          return st->Done(this, OpType::kRead, intended, true,
                          absl::NotFoundError("written key " + key + " not found"), "NOT_FOUND");
        }
        if ((*r)->size() != st->options.value_size) {
          return st->Done(this, OpType::kRead, intended, true,
                          absl::DataLossError("key " + key + " holds " +
                                              std::to_string((*r)->size()) + " bytes"),
                          "WRONG_SIZE");
        }
        st->Done(this, OpType::kRead, intended, true, absl::OkStatus());
      });
    } else {
      IssueRun(st, intended, measured);
    }
  }
}

void Issuer::IssueRun(const std::shared_ptr<State>& st, uint64_t intended, bool measured) {
  const OpType type = ops_.Next(rng_);
  const uint64_t limit = st->inserts.Limit();
  Driver& driver = *st->driver;
  switch (type) {
    case OpType::kRead: {
      const uint64_t k = chooser_->Next(rng_, limit);
      driver.Read(st->namer.Key(k), [st, this, intended, measured,
                                     k](Result<std::optional<std::string>> r) {
        Status s = r.status();
        if (s.ok() && !r->has_value()) {
          return st->Done(this, OpType::kRead, intended, measured,
                          absl::NotFoundError("no value at " + st->namer.Key(k)), "NOT_FOUND");
        }
        st->Done(this, OpType::kRead, intended, measured, s);
      });
      return;
    }
    case OpType::kUpdate:
    case OpType::kInsert: {
      const uint64_t k =
          type == OpType::kInsert ? st->inserts.Allocate() : chooser_->Next(rng_, limit);
      driver.Write(st->namer.Key(k), Value(), [st, this, type, intended, measured, k](Status s) {
        if (type == OpType::kInsert) st->inserts.Finish(k);
        if (s.ok() && st->written != nullptr) st->written->Add(k);
        st->Done(this, type, intended, measured, s);
      });
      return;
    }
    case OpType::kScan: {
      const uint64_t k = chooser_->Next(rng_, limit);
      const size_t count = 1 + rng_.Uniform(static_cast<uint64_t>(st->options.max_scan_length));
      driver.Scan(st->namer.Key(k), count, [st, this, intended, measured](Result<size_t> r) {
        st->Done(this, OpType::kScan, intended, measured, r.status());
      });
      return;
    }
    case OpType::kReadModifyWrite: {
      // Distinct keys; a skewed chooser may need several draws, and a tiny
      // key space may not have enough.
      const size_t want = std::min<uint64_t>(st->options.workload.rmw_keys, limit);
      std::set<uint64_t> picked;
      for (size_t draws = 0; picked.size() < want && draws < 100 * want; ++draws) {
        picked.insert(chooser_->Next(rng_, limit));
      }
      std::vector<std::string> keys;
      for (uint64_t k : picked) keys.push_back(st->namer.Key(k));
      driver.ReadModifyWrite(
          keys, Value(), [st, this, intended, measured, picked](Status s, int aborts) {
            if (s.ok() && st->written != nullptr) {
              for (uint64_t k : picked) st->written->Add(k);
            }
            if (measured && aborts > 0) {
              st->recorder.Aborts(OpType::kReadModifyWrite, static_cast<uint64_t>(aborts));
            }
            st->Done(this, OpType::kReadModifyWrite, intended, measured, s);
          });
      return;
    }
  }
}

std::string FormatMillis(uint64_t us) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3fms", static_cast<double>(us) / 1000);
  return buf;
}

// Prints the progress line once per second until the issuers finish.
void ReportProgress(State& st) {
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  const char* name = st.mode == Mode::kLoad ? "load" : st.mode == Mode::kVerify ? "verify" : "run";
  uint64_t last_us = st.clock->NowMonotonicMicros();
  uint64_t last_done = 0;
  bool printed = false;
  while (!st.issuers_done.WaitForNotificationWithTimeout(absl::Seconds(1))) {
    if (!st.options.progress) continue;
    const uint64_t now = st.clock->NowMonotonicMicros();
    const uint64_t done = st.recorder.ok_count() + st.recorder.error_count();
    const double rate = static_cast<double>(done - last_done) * 1e6 /
                        static_cast<double>(std::max<uint64_t>(now - last_us, 1));
    last_us = now;
    last_done = done;
    char line[256];
    const double elapsed = static_cast<double>(now - st.start_us) / 1e6;
    if (st.mode == Mode::kRun) {
      const bool warmup = now < st.measure_start_us;
      const uint64_t p99 = warmup ? 0 : st.recorder.Snapshot().Total().latency_us.Percentile(99);
      std::snprintf(line, sizeof(line), "%s [%6.1fs]%s ops %llu  ops/s %.0f  p99 %s  errors %llu",
                    name, elapsed, warmup ? " warmup" : "",
                    static_cast<unsigned long long>(st.recorder.ok_count()), rate,
                    FormatMillis(p99).c_str(),
                    static_cast<unsigned long long>(st.recorder.error_count()));
    } else {
      std::snprintf(
          line, sizeof(line), "%s [%6.1fs] %llu/%llu keys (%.0f%%)  %.0f keys/s  errors %llu", name,
          elapsed, static_cast<unsigned long long>(done), static_cast<unsigned long long>(st.total),
          100.0 * static_cast<double>(done) / static_cast<double>(std::max<uint64_t>(st.total, 1)),
          rate, static_cast<unsigned long long>(st.recorder.error_count()));
    }
    // On a terminal the line rewrites itself; in a log it is one line a second.
    std::fprintf(stderr, tty ? "\r%s\33[K" : "%s\n", line);
    printed = true;
  }
  if (tty && printed) std::fprintf(stderr, "\n");
}

PhaseResult RunPhase(Mode mode, Driver& driver, const RunOptions& options, WrittenKeys* written,
                     std::vector<uint64_t> keynums, Clock* clock) {
  auto st = std::make_shared<State>(mode, options, &driver, written, clock);
  st->keynums = std::move(keynums);
  st->total = mode == Mode::kLoad ? options.records : st->keynums.size();
  st->start_us = clock->NowMonotonicMicros();
  st->measure_start_us = st->start_us;
  if (mode == Mode::kRun) {
    st->measure_start_us += static_cast<uint64_t>(options.warmup_s * 1e6);
    if (options.ops == 0)
      st->end_us = st->measure_start_us + static_cast<uint64_t>(options.duration_s * 1e6);
  }

  const int n = std::clamp(options.issuer_threads, 1, std::max(options.clients, 1));
  for (int i = 0; i < n; ++i) {
    const int clients = options.clients / n + (i < options.clients % n ? 1 : 0);
    st->issuers.push_back(std::make_unique<Issuer>(*st, i, n, clients));
  }
  st->running_issuers = n;
  std::vector<std::thread> threads;
  for (auto& issuer : st->issuers) {
    threads.emplace_back([st, is = issuer.get()] {
      is->Loop(st);
      if (st->running_issuers.fetch_sub(1) == 1) st->issuers_done.Notify();
    });
  }
  ReportProgress(*st);
  for (auto& t : threads) t.join();

  PhaseResult result;
  const uint64_t deadline_us =
      clock->NowMonotonicMicros() + static_cast<uint64_t>(options.drain_timeout_s) * 1'000'000;
  for (auto& issuer : st->issuers) {
    const uint64_t now = clock->NowMonotonicMicros();
    const uint64_t left_us = deadline_us > now ? deadline_us - now : 0;
    result.stuck += issuer->Drain(absl::Microseconds(static_cast<int64_t>(left_us)));
    result.unsent += issuer->unsent();
  }
  result.stats = st->recorder.Snapshot();
  result.next_insert = st->inserts.Next();
  uint64_t end = st->last_completion_us.load();
  if (mode == Mode::kLoad && result.stuck == 0) {
    const uint64_t finish_start = clock->NowMonotonicMicros();
    result.finish = driver.FinishLoad();
    end = clock->NowMonotonicMicros();
    result.finish_seconds = static_cast<double>(end - finish_start) / 1e6;
  }
  if (end <= st->measure_start_us) end = clock->NowMonotonicMicros();
  result.seconds = static_cast<double>(end - st->measure_start_us) / 1e6;
  return result;
}

}  // namespace

PhaseResult Load(Driver& driver, const RunOptions& options, WrittenKeys* written, Clock* clock) {
  std::vector<uint64_t> order;
  if (options.load_sorted) {
    // Key(k) is the zero-padded decimal of Scramble(k): key order is the
    // order of the scrambled numbers.
    const KeyNamer namer(options.key_size);
    std::vector<std::pair<uint64_t, uint64_t>> by_name(options.records);
    for (uint64_t k = 0; k < options.records; ++k) by_name[k] = {namer.Scramble(k), k};
    std::sort(by_name.begin(), by_name.end());
    order.reserve(options.records);
    for (const auto& [scrambled, k] : by_name) order.push_back(k);
  }
  return RunPhase(Mode::kLoad, driver, options, written, std::move(order), clock);
}

PhaseResult RunWorkload(Driver& driver, const RunOptions& options, WrittenKeys* written,
                        Clock* clock) {
  return RunPhase(Mode::kRun, driver, options, written, {}, clock);
}

PhaseResult Verify(Driver& driver, const RunOptions& options, const std::vector<uint64_t>& keynums,
                   Clock* clock) {
  return RunPhase(Mode::kVerify, driver, options, nullptr, keynums, clock);
}

}  // namespace meridian::bench
