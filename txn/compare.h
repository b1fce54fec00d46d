// Evaluating one compare of a one-shot transaction (etcd's If) against the
// current value of its key; shared by TxnStore::Execute (one shard) and the
// server's coordinator (keys across shards).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "txn/types.h"

namespace meridian::txn {

// Whether `c` holds for a key whose live value at the snapshot is `value`
// (nullopt: absent) committed at `version_hlc`. An absent key fails every
// value comparison, as in etcd; its version is 0.
bool CompareHolds(const Compare& c, std::optional<std::string_view> value, uint64_t version_hlc);

}  // namespace meridian::txn
