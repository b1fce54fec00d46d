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

Status ValidateRange(std::string_view start, std::string_view end) {
  if (!end.empty() && end < start) {
    return InvalidArgumentError("range end is before range start");
  }
  return absl::OkStatus();
}

}  // namespace meridian::txn
