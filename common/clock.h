// The one seam for wall-clock time. Only clock.cc reads std::chrono clocks;
// everything else takes a Clock*, so tests and the simulator can drive time.
#pragma once

#include <atomic>
#include <cstdint>

namespace meridian {

// Thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Milliseconds since the Unix epoch (wall clock, may jump).
  virtual uint64_t NowUnixMillis() = 0;
  // Microseconds since the Unix epoch (the same wall clock); clocks without
  // a finer one report NowUnixMillis() * 1000.
  virtual uint64_t NowUnixMicros() { return NowUnixMillis() * 1000; }
  // Microseconds from an arbitrary fixed point; never goes backwards.
  virtual uint64_t NowMonotonicMicros() = 0;
  // Lets `us` microseconds of this clock's time pass: the calling thread
  // sleeps (real time, also for ManualClock). A simulator's clock advances
  // itself instead, so a waiting loop never hangs on a frozen clock.
  virtual void SleepMicros(uint64_t us);
};

// The operating system's clocks. Never destroyed.
Clock* SystemClock();

// A clock that moves only when told. Thread-safe.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(uint64_t unix_millis = 1'700'000'000'000) : unix_ms_(unix_millis) {}
  uint64_t NowUnixMillis() override { return unix_ms_.load(); }
  uint64_t NowMonotonicMicros() override { return mono_us_.load(); }
  void AdvanceMillis(uint64_t ms) {
    unix_ms_ += ms;
    mono_us_ += ms * 1000;
  }
  // Sets the wall clock, possibly backwards (the monotonic clock stays put).
  void SetUnixMillis(uint64_t ms) { unix_ms_ = ms; }

 private:
  std::atomic<uint64_t> unix_ms_;
  std::atomic<uint64_t> mono_us_{0};
};

}  // namespace meridian
