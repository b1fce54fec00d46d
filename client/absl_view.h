// Debian's abseil has its own absl::string_view, distinct from
// std::string_view, so absl::StrCat and friends need an explicit conversion.
#pragma once

#include <string_view>

#include "absl/strings/string_view.h"

namespace meridian::client {

inline absl::string_view AbslView(std::string_view s) { return {s.data(), s.size()}; }

}  // namespace meridian::client
