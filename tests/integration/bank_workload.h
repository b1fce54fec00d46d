// BankWorkload: the bank invariant on a real cluster, for the shard tests.
// Every account (a key) starts at 100. Writers move 5 between two random
// accounts in one transaction (RunTxn: read both, write both); one reader
// sums every account in one transaction. Every sum a reader completes must
// be the total: a snapshot that saw part of a transfer counts as a bad read.
#pragma once

#include <atomic>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "meridian/client.h"

namespace meridian::testing {

class BankWorkload {
 public:
  BankWorkload(std::vector<std::string> accounts, std::vector<std::string> endpoints)
      : accounts_(std::move(accounts)), endpoints_(std::move(endpoints)) {}
  ~BankWorkload() { Stop(); }

  int Total() const { return 100 * static_cast<int>(accounts_.size()); }

  Status Seed(client::Client& c) {
    for (const std::string& a : accounts_) MERIDIAN_RETURN_IF_ERROR(c.Put(a, "100").status());
    return absl::OkStatus();
  }

  // Starts `writers` writer threads and one reader.
  void Start(int writers) {
    for (int i = 0; i < writers; ++i) threads_.emplace_back([this, i] { Run(i, false); });
    threads_.emplace_back([this] { Run(99, true); });
  }

  // From now on, committed transfers also count in TransfersSinceMark.
  void Mark() { marked_ = true; }

  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }

  // The sum of every account, read in one transaction.
  Result<int> Sum(client::Client& c) {
    int sum = 0;
    Status s = c.RunTxn([&](client::Txn& t) -> Status {
      sum = 0;
      for (const std::string& a : accounts_) {
        auto v = t.Get(a);
        if (!v.ok()) return v.status();
        sum += *v ? std::stoi((**v).value) : 0;
      }
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    return sum;
  }

  int Transfers() const { return transfers_.load(); }
  int TransfersSinceMark() const { return since_mark_.load(); }
  int Reads() const { return reads_.load(); }
  int BadReads() const { return bad_reads_.load(); }

 private:
  void Run(int seed, bool reader) {
    client::ClientOptions o;
    o.endpoints = endpoints_;
    o.max_retries = 40;
    o.max_backoff = std::chrono::milliseconds(200);
    auto c = client::Client::Connect(o);
    if (!c.ok()) return;
    std::mt19937 rng(seed);
    while (!stop_.load()) {
      if (reader) {
        Result<int> sum = Sum(**c);
        if (sum.ok()) {
          ++reads_;
          if (*sum != Total()) ++bad_reads_;
        }
        continue;
      }
      const size_t from = rng() % accounts_.size();
      const size_t to = (from + 1 + rng() % (accounts_.size() - 1)) % accounts_.size();
      Status s = (*c)->RunTxn([&](client::Txn& t) -> Status {
        auto f = t.Get(accounts_[from]);
        if (!f.ok()) return f.status();
        auto g = t.Get(accounts_[to]);
        if (!g.ok()) return g.status();
        const int fv = std::stoi((**f).value), tv = std::stoi((**g).value);
        if (fv < 5) return absl::OkStatus();
        MERIDIAN_RETURN_IF_ERROR(t.Put(accounts_[from], std::to_string(fv - 5)));
        return t.Put(accounts_[to], std::to_string(tv + 5));
      });
      if (s.ok()) {
        ++transfers_;
        if (marked_.load()) ++since_mark_;
      }
    }
  }

  const std::vector<std::string> accounts_;
  const std::vector<std::string> endpoints_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> marked_{false};
  std::atomic<int> transfers_{0}, since_mark_{0}, reads_{0}, bad_reads_{0};
};

}  // namespace meridian::testing
