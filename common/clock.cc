#include "common/clock.h"

#include <chrono>
#include <thread>

namespace meridian {
namespace {

class RealClock final : public Clock {
 public:
  uint64_t NowUnixMillis() override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  uint64_t NowUnixMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  uint64_t NowMonotonicMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

void Clock::SleepMicros(uint64_t us) { std::this_thread::sleep_for(std::chrono::microseconds(us)); }

Clock* SystemClock() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace meridian
