#include "txn/limits.h"

#include "absl/strings/str_cat.h"

namespace meridian::txn {

Status ValidateKey(const Limits& limits, std::string_view key) {
  if (key.empty()) return InvalidArgumentError("key is empty");
  if (key.size() > limits.max_key_bytes) {
    return LimitExceededError("max_key_bytes", limits.max_key_bytes,
                              absl::StrCat("key is ", key.size(), " bytes, over max_key_bytes (",
                                           limits.max_key_bytes, ")"));
  }
  return absl::OkStatus();
}

Status ValidateValue(const Limits& limits, std::string_view value) {
  if (value.size() > limits.max_value_bytes) {
    return LimitExceededError("max_value_bytes", limits.max_value_bytes,
                              absl::StrCat("value is ", value.size(),
                                           " bytes, over max_value_bytes (",
                                           limits.max_value_bytes, ")"));
  }
  return absl::OkStatus();
}

Status CountTxnOp(const Limits& limits, uint64_t* ops) {
  if (++*ops > limits.max_txn_ops) {
    return LimitExceededError("max_txn_ops", limits.max_txn_ops,
                              absl::StrCat("transaction has more than max_txn_ops (",
                                           limits.max_txn_ops, ") operations"));
  }
  return absl::OkStatus();
}

Result<uint64_t> TxnTimeout(uint64_t requested_ms, uint64_t default_ms, uint64_t max_ms) {
  const uint64_t timeout_ms = requested_ms == 0 ? default_ms : requested_ms;
  if (timeout_ms > max_ms) {
    return LimitExceededError("max_txn_timeout_ms", max_ms,
                              absl::StrCat("transaction timeout ", timeout_ms,
                                           " ms is over max_txn_timeout_ms (", max_ms, ")"));
  }
  return timeout_ms;
}

Status ValidateRange(std::string_view start, std::string_view end) {
  if (!end.empty() && end < start) {
    return InvalidArgumentError("range end is before range start");
  }
  return absl::OkStatus();
}

}  // namespace meridian::txn
