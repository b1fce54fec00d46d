#include "txn/compare.h"

namespace meridian::txn {
namespace {

template <typename T>
int ThreeWay(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

bool Holds(Compare::Op op, int cmp) {
  switch (op) {
    case Compare::Op::kEqual: return cmp == 0;
    case Compare::Op::kNotEqual: return cmp != 0;
    case Compare::Op::kGreater: return cmp > 0;
    case Compare::Op::kLess: return cmp < 0;
  }
  return false;
}

}  // namespace

bool CompareHolds(const Compare& c, std::optional<std::string_view> value, uint64_t version_hlc) {
  const bool live = value.has_value();
  switch (c.target) {
    case Compare::Target::kValue:
      if (!live) return false;
      return Holds(c.op, ThreeWay<std::string_view>(*value, c.value));
    case Compare::Target::kVersion:
      return Holds(c.op, ThreeWay<uint64_t>(live ? version_hlc : 0, c.version));
    case Compare::Target::kExists:
      return Holds(c.op, ThreeWay<int>(live ? 1 : 0, c.exists ? 1 : 0));
  }
  return false;
}

}  // namespace meridian::txn
