// ShardCaller: reaches the leader of any shard from this node, for the
// transaction coordinator (reads at a snapshot, commits, two-phase commit),
// for readers that recover an abandoned transaction, and for followers
// that ask a leader to close a timestamp (CloseNudger).
//
// A call is local (a direct TxnStore call) when this node leads the shard
// (or, for a read, holds a replica already closed at its snapshot),
// else a gRPC call to the leader: the one this node last learned for the
// shard, else each replica in the shard map in turn; NOT_LEADER and
// WRONG_SHARD hints are followed, a bounded number of times. Calls that are
// safe to repeat (reads, Prepare, Decide, Resolve) are retried after any
// transient failure; CommitWrites only after a refusal that proves nothing
// was done, else it is COMMIT_UNKNOWN.
//
// Implements ShardAccess. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"
#include "server/peer_call_clock.h"
#include "server/router.h"
#include "server/shard_access.h"
#include "server/shard_directory.h"
#include "txn/types.h"

namespace meridian::server {

class ShardCaller final : public ShardAccess {
 public:
  // REQUIRES: router and shards outlive the caller.
  ShardCaller(Router* router, const ShardDirectory* shards, uint32_t site_id);

  Result<txn::ReadResult> Get(uint64_t shard, std::string_view key,
                              uint64_t snapshot_hlc) override;
  Result<std::vector<txn::KeyValue>> Scan(uint64_t shard, const txn::ScanRange& range,
                                          uint64_t snapshot_hlc, bool* more) override;
  Result<txn::CommitInfo> CommitWrites(uint64_t shard, uint64_t snapshot_hlc,
                                       const txn::TxnWrites& writes) override;
  Result<uint64_t> Prepare(uint64_t shard, const txn::PrepareArgs& args) override;
  Result<txn::TxnOutcome> Decide(uint64_t shard, const std::string& txn,
                                 const txn::TxnOutcome& proposal) override;
  Status Resolve(uint64_t shard, const std::string& txn, const txn::TxnOutcome& outcome,
                 const std::vector<std::string>& keys) override;
  // Carries out a split at the shard's leader (TxnStore::Split).
  Status Split(uint64_t shard, const txn::SplitSpec& spec);
  // Closes the shard through `through_hlc` at its leader
  // (Participant.CloseThrough, ServeCloseRequest) and returns the leader's
  // visible timestamp afterwards. Gives up within `timeout_ms` (retries
  // included): DEADLINE_EXCEEDED or the last refusal.
  Result<uint64_t> CloseThrough(uint64_t shard, uint64_t through_hlc, uint64_t timeout_ms);
  // Remote calls made after this carry `caller`'s clock (peer_call_clock.h).
  // REQUIRES: before the first call.
  void set_caller_clock(CallerClock caller) { caller_clock_ = caller; }

 private:
  template <typename T>
  using Local = std::function<Result<T>(txn::TxnStore*)>;
  template <typename T>
  using Remote =
      std::function<Result<T>(const std::shared_ptr<grpc::Channel>&, uint64_t map_version)>;
  // Runs `local` here if this node leads `shard` (or, for a read at
  // `follower_read_at` != 0, holds a replica closed at or above it), else
  // `remote` at the leader (see above). `idempotent`: retry after any
  // transient failure. No retry starts after `give_up_at`.
  template <typename T>
  Result<T> Call(uint64_t shard, bool idempotent, const Local<T>& local, const Remote<T>& remote,
                 uint64_t follower_read_at = 0,
                 std::chrono::system_clock::time_point give_up_at =
                     std::chrono::system_clock::time_point::max());
  std::shared_ptr<grpc::Channel> Channel(const std::string& address);
  // Where to send a call for `shard` next: its known leader, else a
  // replica after `skip` others.
  std::string Target(uint64_t shard, size_t skip);
  void Learn(uint64_t shard, const std::string& leader);

  Router* const router_;
  const ShardDirectory* const shards_;
  const uint32_t site_id_;
  CallerClock caller_clock_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  std::map<uint64_t, std::string> leaders_;  // shard -> last known leader address
};

}  // namespace meridian::server
