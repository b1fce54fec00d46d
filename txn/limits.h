// Request limits (DESIGN §3). A request over a limit gets INVALID_ARGUMENT
// naming the limit, and nothing is written.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace meridian::txn {

struct Limits {
  uint64_t max_key_bytes = 4096;      // bytes; > 0
  uint64_t max_value_bytes = 1 << 20; // bytes
  uint64_t max_txn_ops = 10'000;      // reads + writes in one transaction; > 0
  uint64_t max_scan_limit = 10'000;   // keys per transactional scan call; > 0
  // Bytes one commit writes (keys, values and per-record overhead, as
  // storage::ApproximateBytes counts them). A commit is one log record (the
  // consensus WAL's, or PageStore's redo log's), whose 64 MiB segments must
  // hold it: at most kMaxTxnBytesCeiling.
  uint64_t max_txn_bytes = 32ull << 20;
};

inline constexpr uint64_t kMaxTxnBytesCeiling = 48ull << 20;

// Non-empty and at most max_key_bytes.
Status ValidateKey(const Limits& limits, std::string_view key);
Status ValidateValue(const Limits& limits, std::string_view value);
// [start, end) is well-formed: end empty (unbounded) or end >= start.
Status ValidateRange(std::string_view start, std::string_view end);
// Counts one more operation of a transaction (*ops); over max_txn_ops is
// INVALID_ARGUMENT naming the limit.
Status CountTxnOp(const Limits& limits, uint64_t* ops);
// A transaction's timeout: `requested_ms`, or `default_ms` for 0; over
// `max_ms` is INVALID_ARGUMENT naming max_txn_timeout_ms.
Result<uint64_t> TxnTimeout(uint64_t requested_ms, uint64_t default_ms, uint64_t max_ms);

}  // namespace meridian::txn
