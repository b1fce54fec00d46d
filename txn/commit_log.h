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
  //
  // `epoch`, if not 0, is a LeaderEpoch() read before the caller checked the
  // command against its store: the command is proposed only while this node
  // still leads in that epoch, else NotLeader and nothing is written.
  virtual Status Commit(std::string command, const std::function<void()>& queued = {},
                        uint64_t* applied_hlc = nullptr, uint64_t epoch = 0) = 0;

  // Nonzero while this node leads and has applied every command chosen
  // before its election: its store then reflects the whole log up to its own
  // proposals, so a check made against it (first-committer-wins, compares,
  // intents) holds for a command proposed in the same epoch. A node that
  // loses leadership and wins it back gets a new epoch: the leadership in
  // between may have ordered commits its store has not applied yet, unseen
  // by a check made before. 0: not the leader, or not caught up yet.
  virtual uint64_t LeaderEpoch() = 0;
};

}  // namespace meridian::txn
