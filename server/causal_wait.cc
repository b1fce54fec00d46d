#include "server/causal_wait.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/hlc.h"

namespace meridian::server {

uint64_t CausalWaitBudgetMs(std::optional<uint64_t> remaining_ms) {
  if (!remaining_ms) return kMaxCausalWaitMs;
  const uint64_t margin = std::clamp<uint64_t>(*remaining_ms / 5, 5, 100);
  if (*remaining_ms <= margin) return 0;
  return std::min(*remaining_ms - margin, kMaxCausalWaitMs);
}

Result<uint64_t> WaitUntilVisible(const std::function<uint64_t()>& visible, uint64_t target,
                                  Clock* clock, uint64_t budget_ms, std::string_view what,
                                  const std::function<void(uint64_t waited_us)>& while_waiting) {
  const uint64_t start_us = clock->NowMonotonicMicros();
  const uint64_t until_us = start_us + budget_ms * 1000;
  uint64_t pause_us = 50;
  uint64_t reached = visible();
  while (reached < target) {
    const uint64_t now_us = clock->NowMonotonicMicros();
    if (now_us >= until_us) {
      const uint64_t behind_ms = HlcPhysicalMillis(target) -
                                 std::min(HlcPhysicalMillis(target), HlcPhysicalMillis(reached));
      return CausalWaitTimeoutError(absl::StrCat(
          "session read not served: waited ", (now_us - start_us) / 1000, " ms for ",
          std::string(what), " on this node to apply up to the session's ", FormatHlc(target),
          "; it reached ", FormatHlc(reached), " (", behind_ms,
          " ms behind). The replica is lagging or cut off from its leader: retry with a longer "
          "deadline, at another replica, or with LINEARIZABLE at the leader"));
    }
    if (while_waiting) while_waiting(now_us - start_us);
    clock->SleepMicros(std::min(pause_us, until_us - now_us));
    pause_us = std::min<uint64_t>(pause_us * 2, 1000);
    reached = visible();
  }
  return clock->NowMonotonicMicros() - start_us;
}

}  // namespace meridian::server
