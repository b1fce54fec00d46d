#include "server/close_request.h"

#include "absl/strings/str_cat.h"

namespace meridian::server {

Result<uint64_t> ServeCloseRequest(txn::TxnStore* store, uint64_t through_hlc, Hlc* hlc,
                                   Clock* clock, uint64_t max_clock_offset_ms) {
  const uint64_t now_ms = clock->NowUnixMillis();
  const uint64_t through_ms = HlcPhysicalMillis(through_hlc);
  if (through_ms > now_ms + max_clock_offset_ms) {
    // Closing it would stamp this shard's commits that far ahead for good.
    return InvalidArgumentError(absl::StrCat(
        "cannot close through ", FormatHlc(through_hlc), ": it is ", through_ms - now_ms,
        " ms ahead of this leader's clock, beyond --max-clock-offset (", max_clock_offset_ms,
        " ms); the asking node's clock, or the session token it waits for, runs ahead"));
  }
  MERIDIAN_RETURN_IF_ERROR(hlc->Observe(through_hlc));
  MERIDIAN_RETURN_IF_ERROR(store->CloseThrough(through_hlc));
  return store->VisibleHlc();
}

}  // namespace meridian::server
