#include "tests/bench/thread_pool.h"

#include <utility>

namespace meridian::bench {

ThreadPool::ThreadPool(size_t max_threads) : max_threads_(max_threads) {}

ThreadPool::~ThreadPool() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock l(&mu_);
    stop_ = true;
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  absl::MutexLock l(&mu_);
  queue_.push_back(std::move(task));
  // Every queued task beyond the idle threads wants a thread of its own.
  // Once stopping, the threads left drain the queue.
  if (!stop_ && queue_.size() > idle_ && threads_.size() < max_threads_) {
    threads_.emplace_back([this] { Work(); });
  }
}

void ThreadPool::Work() {
  absl::MutexLock l(&mu_);
  while (true) {
    ++idle_;
    mu_.Await(absl::Condition(this, &ThreadPool::Ready));
    --idle_;
    if (queue_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    task();
    mu_.Lock();
  }
}

}  // namespace meridian::bench
