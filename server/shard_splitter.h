// ShardSplitter: online range splits (docs/operations.md, "Splits").
//
// A split is driven by the config group's leader, in three steps, each of
// which may be repeated after any failure:
//   1. Accept: one config change records a PendingSplit (the shard, the
//      split key, and the child shard id it reserves from next_shard_id).
//   2. Carry out: the shard's leader runs TxnStore::Split through the
//      shard's log (Participant.Split). Every replica seeds the child's
//      store from its own copy at that log index and hands it to the node
//      (Node::SeedSplitChild), which starts the child's group.
//   3. Publish: one config change ends the shard at the split key, adds the
//      child shard (same replicas, group id = child shard id) and drops the
//      pending split. Clients refused with WRONG_SHARD in between retry
//      until their node caches the new map.
// Pending splits a leader could not finish (a failover, an intent in the
// moved range) are retried from the maintenance loop.
//
// Splits start by `meridianctl shard split` (Admin.SplitShard, any node:
// forwarded to the config group's leader) or by size: a shard leader whose
// store's live data exceeds --split-size asks for a split at its middle key.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <string>

#include "common/status.h"
#include "meridian/v1/admin.pb.h"
#include "server/config_group.h"
#include "server/router.h"
#include "server/shard_caller.h"
#include "server/shard_directory.h"

namespace meridian::server {

class ShardSplitter {
 public:
  struct Options {
    uint32_t site_id = 1;
    uint64_t split_size_bytes = 0;  // 0: no size-triggered splits
  };

  // REQUIRES: the pointers outlive the splitter.
  ShardSplitter(ConfigGroup* config, ShardDirectory* directory, ShardCaller* caller,
                Router* router, const Options& options);

  // Splits the shard holding `split_key` there (all three steps), on the
  // config group's leader; elsewhere, with may_forward, it forwards the
  // request to that leader (else NOT_LEADER with its address). `reason` is
  // recorded in the pending split ("manual", "size: N bytes").
  Result<v1::SplitShardResponse> Split(const std::string& split_key, const std::string& reason,
                                       bool may_forward);

  // A background thread: on the config group's leader it finishes pending
  // splits (every 500 ms); on shard leaders it asks for the splits
  // --split-size calls for (every check_interval_ms).
  void Start(uint64_t check_interval_ms);
  // Joins the thread. Idempotent.
  void Stop();
  ~ShardSplitter() { Stop(); }

 private:
  // Step 1 on the config group's leader; returns the pending split (an
  // equal one already pending is returned as is).
  Result<v1::PendingSplit> Accept(const std::string& split_key, const std::string& reason);
  // Steps 2 and 3; returns the committed map's version.
  Result<uint64_t> Finish(const v1::PendingSplit& pending);
  void FinishPending();
  void CheckSizes();
  // Applies the committed config to the directory at once (the maintenance
  // loop would, a moment later).
  void Publish(const v1::ClusterConfig& config);

  ConfigGroup* const config_;
  ShardDirectory* const directory_;
  ShardCaller* const caller_;
  Router* const router_;
  const Options options_;
  std::mutex mu_;  // one split at a time from this node
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace meridian::server
