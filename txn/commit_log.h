// CommitLog: where TxnStore sends its commits when the store is replicated.
// The server implements it with MultiPaxos; txn/ does not know consensus.
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace meridian::txn {

class CommitLog {
 public:
  virtual ~CommitLog() = default;
  // Replicates `command` and returns once it is durable on a majority and
  // applied to this node's store (through TxnStore::ApplyCommitted).
  // NotLeader/Unavailable: it was not committed. CommitUnknown: it may have
  // been. `queued`, if set, runs once the command has its place in the log
  // order (before the wait), so the caller can let the next commit in while
  // this one replicates: commits queued in order are applied in that order.
  // `applied_hlc`, if set, receives the timestamp the command was applied at:
  // TxnStore::ApplyCommitted may raise the one the command was stamped with,
  // to keep commit timestamps increasing in log order.
  virtual Status Commit(std::string command, const std::function<void()>& queued = {},
                        uint64_t* applied_hlc = nullptr) = 0;
};

}  // namespace meridian::txn
