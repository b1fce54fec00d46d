// ShardAccess: how the transaction coordinator reaches the leader of any
// shard. ShardCaller (shard_caller.h) is the real one (local calls and
// gRPC); tests/sim/txn_sim.h has a simulated one with seeded faults.
//
// Errors follow ShardCaller's contract: UNAVAILABLE (and NOT_LEADER,
// WRONG_SHARD) from CommitWrites means nothing was written; any other
// failure of a write may have taken effect (COMMIT_UNKNOWN). Prepare,
// Decide and Resolve are idempotent, so a failed one may be repeated.
//
// Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "txn/types.h"

namespace meridian::server {

class ShardAccess {
 public:
  virtual ~ShardAccess() = default;

  virtual Result<txn::ReadResult> Get(uint64_t shard, std::string_view key,
                                      uint64_t snapshot_hlc) = 0;
  // The live keys of `range` (start/end form) in `shard` at the snapshot,
  // at most range.limit (0: all); *more if it stopped at the limit.
  virtual Result<std::vector<txn::KeyValue>> Scan(uint64_t shard, const txn::ScanRange& range,
                                                  uint64_t snapshot_hlc, bool* more) = 0;
  virtual Result<txn::CommitInfo> CommitWrites(uint64_t shard, uint64_t snapshot_hlc,
                                               const txn::TxnWrites& writes) = 0;
  virtual Result<uint64_t> Prepare(uint64_t shard, const txn::PrepareArgs& args) = 0;
  virtual Result<txn::TxnOutcome> Decide(uint64_t shard, const std::string& txn,
                                         const txn::TxnOutcome& proposal) = 0;
  virtual Status Resolve(uint64_t shard, const std::string& txn, const txn::TxnOutcome& outcome,
                         const std::vector<std::string>& keys) = 0;
};

}  // namespace meridian::server
