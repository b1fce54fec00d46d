// Router: which of this node's stores serves a request, by its key's shard.
//
// Every data request names a key (or, for a transaction, the shard its id
// encodes). The router finds the key's shard in the node's cached shard map
// and answers with the local store of that shard's group once the group's
// read barrier passed. Refusals, each before any work:
//   - WRONG_SHARD (with this node's map version) if the client routed the
//     request by another shard than the key's, or this node hosts no
//     replica of the key's shard (the hint names one that does);
//   - NOT_LEADER (hint: the group's leader) if it hosts one but does not
//     lead the group.
// Thread-safe. Local groups are added (a split's new group), never removed.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "meridian/v1/common.pb.h"
#include "server/shard_directory.h"
#include "txn/txn_store.h"

namespace meridian::server {

class Replication;

class Router {
 public:
  // One shard group this node hosts. `replication` null: an unreplicated
  // single node, which always leads.
  struct LocalGroup {
    txn::TxnStore* store = nullptr;
    Replication* replication = nullptr;
  };

  struct Target {
    std::shared_ptr<const v1::ClusterConfig> config;  // keeps `shard` alive
    const v1::ShardInfo* shard = nullptr;
    txn::TxnStore* store = nullptr;
    Replication* replication = nullptr;  // the store's group; null on a single node
    uint64_t shard_id() const { return shard->shard_id(); }
  };

  // REQUIRES: directory outlives the router and holds a config.
  Router(const ShardDirectory* directory, uint32_t site_id, std::map<uint64_t, LocalGroup> local);

  // The local store serving `key`, after its group's read barrier.
  Result<Target> ForKey(std::string_view key, const v1::RequestHeader& header) const;
  // The same for a shard named by id (a transaction's), TXN_NOT_FOUND if the
  // map has no such shard.
  Result<Target> ForShard(uint64_t shard_id) const;
  // For a read at snapshot `snapshot_hlc`: as ForKey/ForShard, but a
  // follower serves it too once its applied (closed) timestamp reached the
  // snapshot, with no round to the leader (a follower read).
  Result<Target> ForSnapshotRead(std::string_view key, const v1::RequestHeader& header,
                                 uint64_t snapshot_hlc) const;
  Result<Target> ForShardSnapshotRead(uint64_t shard_id, uint64_t snapshot_hlc) const;
  // For a session read: the local replica of `key`'s shard, leader or
  // follower, with no read barrier (the caller waits for it to cover the
  // session's token). WRONG_SHARD as ForKey.
  Result<Target> ForSessionRead(std::string_view key, const v1::RequestHeader& header) const;
  // A group this node hosts from now on (a split's new group).
  void AddLocal(uint64_t group, LocalGroup local);
  // The local group, if hosted.
  std::optional<LocalGroup> Local(uint64_t group) const;
  // The stores of the replicated groups this node leads now.
  std::vector<txn::TxnStore*> LedStores() const;
  // INVALID_ARGUMENT unless `key` is in the target's shard: a transaction
  // lives in one shard until cross-shard commits exist.
  static Status CheckSameShard(const Target& target, std::string_view key);

  // Transaction ids on the wire carry their shard: shard << kTxnShardShift
  // | the store's own id.
  static constexpr int kTxnShardShift = txn::kTxnIdBits;
  static uint64_t WireTxnId(uint64_t shard_id, uint64_t local_id) {
    return (shard_id << kTxnShardShift) | local_id;
  }
  static uint64_t TxnShard(uint64_t wire_id) { return wire_id >> kTxnShardShift; }
  static uint64_t LocalTxnId(uint64_t wire_id) {
    return wire_id & ((uint64_t{1} << kTxnShardShift) - 1);
  }

  // Shards in the current map.
  size_t ShardCount() const;
  // The leader of `group` as this node believes it (id, address), if hosted.
  std::pair<uint64_t, std::string> LeaderOf(uint64_t group) const;

 private:
  // Which replicas may serve: only the leader (after its read barrier); or
  // also a follower whose store is closed at or above `follower_read_at`
  // (!= 0); or any replica (`any_replica`).
  struct Serving {
    uint64_t follower_read_at = 0;
    bool any_replica = false;
  };
  // The shard of `key`, WRONG_SHARD if the client routed it by another.
  Result<std::pair<std::shared_ptr<const v1::ClusterConfig>, const v1::ShardInfo*>> ShardOfKey(
      std::string_view key, const v1::RequestHeader& header) const;
  Result<Target> Serve(std::shared_ptr<const v1::ClusterConfig> config, const v1::ShardInfo* shard,
                       Serving serving) const;

  const ShardDirectory* const directory_;
  const uint32_t site_id_;
  mutable std::mutex mu_;
  std::map<uint64_t, LocalGroup> local_;  // guarded by mu_
};

// A prefix scan continued at a resume key (prefix and start set, end
// empty) becomes [max(start, prefix), PrefixEnd(prefix)).
void ResumePrefixScan(txn::ScanRange* range);
// The first key a scan of `range` can return: its start, or its prefix.
std::string_view ScanFirstKey(const txn::ScanRange& range);
// Narrows `range` (whose first key is in `shard`) to the part inside the
// shard, and returns the key the rest starts at, or "" if nothing is left
// outside. A cut prefix range becomes [prefix, the prefix's end).
std::string ClipScanToShard(const v1::ShardInfo& shard, txn::ScanRange* range);

// Passes once a read of `r`'s state is linearizable here (Replication::
// ReadBarrier); NOT_LEADER carries the group's leader address. OK for null.
Status GroupReadBarrier(Replication* r);

}  // namespace meridian::server
