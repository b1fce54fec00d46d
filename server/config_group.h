// ConfigGroup: the cluster config as the config group replicates it. The
// group (id kConfigGroupId, every node a voter) runs an ordinary replicated
// TxnStore that no client reaches; the config is one protobuf value in it,
// changed only by compare-and-set, so two proposers never both win.
#pragma once

#include <functional>
#include <optional>

#include "common/status.h"
#include "meridian/v1/cluster.pb.h"
#include "server/replication.h"
#include "txn/txn_store.h"

namespace meridian::server {

class ConfigGroup {
 public:
  // REQUIRES: both outlive this object.
  ConfigGroup(txn::TxnStore* store, Replication* replication)
      : store_(store), replication_(replication) {}

  // The config this replica has applied, or nullopt if none was committed
  // yet. A cache read: it may lag the leader. DATA_LOSS if it does not parse.
  Result<std::optional<v1::ClusterConfig>> ReadApplied();

  // On the config group's leader: commits `initial` with a fresh cluster id
  // and a first signing key, unless a config is already committed (then
  // nothing changes). NOT_LEADER elsewhere.
  Status CommitBootstrap(v1::ClusterConfig initial);

  // On the config group's leader: applies `change` to the committed config
  // and commits the result as the next version, by compare-and-set against
  // the config it read (CONFLICT if another change got in first: read
  // again and retry). `change` returns false to commit nothing (the config
  // already says what it wants). Returns the committed config.
  // FAILED_PRECONDITION before a bootstrap config is committed; NOT_LEADER
  // elsewhere.
  Result<v1::ClusterConfig> Update(const std::function<Result<bool>(v1::ClusterConfig*)>& change);

  Replication* replication() const { return replication_; }

 private:
  txn::TxnStore* const store_;
  Replication* const replication_;
};

}  // namespace meridian::server
