// CommitLog: where TxnStore sends its commits when the store is replicated.
// The server implements it with MultiPaxos; txn/ does not know consensus.
#pragma once

#include <string>

#include "common/status.h"

namespace meridian::txn {

class CommitLog {
 public:
  virtual ~CommitLog() = default;
  // Replicates `command` and returns once it is durable on a majority and
  // applied to this node's store (through TxnStore::ApplyCommitted).
  // NotLeader/Unavailable: it was not committed. CommitUnknown: it may have
  // been.
  virtual Status Commit(std::string command) = 0;
};

}  // namespace meridian::txn
