// A pool of threads for drivers whose target calls block (the SDK's Scan and
// RunTxn, a synchronous storage engine): the driver's asynchronous methods
// hand the blocking call to the pool and return at once.
//
// Thread-safe. Tasks run in submission order on up to `max_threads` threads,
// started as the queue needs them. The destructor runs every queued task,
// then joins.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace meridian::bench {

class ThreadPool {
 public:
  // REQUIRES: max_threads >= 1.
  explicit ThreadPool(size_t max_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);

 private:
  void Work();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); }

  const size_t max_threads_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace meridian::bench
