// An in-memory stand-in for meridiand, for the SDK's and meridianctl's
// tests: the KV, Txn, Cset and Admin services and grpc.health.v1 over a
// std::map, on 127.0.0.1 at a port the OS picks. Test-only: nothing outside
// tests links it.
//
// It keeps real semantics where the client depends on them (versions,
// first-committer-wins conflicts, scan chunks and limits, compares), and
// lets a test inject what a real cluster does under faults: typed errors
// (CONFLICT, NOT_LEADER with a hint, ...), bare gRPC failures, and replies
// lost after the work was done.
//
// Admin/RotateSigningKey adds signing key 1, 2, ... each time, keeps the
// newest three, and bumps a config version.
//
// Membership: the fake is member 1 ("fake-1", at address()) and the leader
// of an in-memory group. Admin/MemberAdd, MemberPromote and MemberRemove
// change it with meridiand's checks and INVALID_ARGUMENT answers (already
// in the group, not a learner, not in the group, no voter left, more than
// one voter changed); each change bumps config_index. "Another change is in
// progress" (UNAVAILABLE) is what InjectError is for.
//
// Shards: alone, the fake is a --dev node: Admin/Shards answers a one-shard
// map (version 1, source "static") with the fake as node 1 and leader, and
// it serves every key. JoinCluster makes it one node of a sharded cluster
// (testing/fake_cluster.h builds one). An old server without Admin/Shards is
// InjectBareError("Admin/Shards", UNIMPLEMENTED, many).
//
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "meridian/v1/cluster.pb.h"
#include "meridian/v1/common.pb.h"

namespace meridian::client::testing {

class FakeServer {
 public:
  // Starts serving. Aborts the test process if it cannot bind.
  FakeServer();
  ~FakeServer();
  FakeServer(const FakeServer&) = delete;
  FakeServer& operator=(const FakeServer&) = delete;

  // host:port to connect to.
  const std::string& address() const { return address_; }

  // Methods are named "Service/Method", e.g. "KV/Put", "Txn/Commit",
  // "Health/Check".

  // The next `times` calls of `method` answer `error` (with its typed
  // ErrorDetail, as meridiand would) without doing anything.
  void InjectError(const std::string& method, const Status& error, int times = 1);
  // The next `times` calls answer a bare gRPC status (no ErrorDetail), as
  // a proxy or a failing transport would, without doing anything.
  void InjectBareError(const std::string& method, grpc::StatusCode code, int times = 1);
  // The next `times` calls do their work (a commit applies) and then never
  // answer: the reply is held until the client's deadline passes.
  void InjectLostReply(const std::string& method, int times = 1);

  // How many calls of `method` arrived, injected failures included.
  int Calls(const std::string& method) const;
  // The health status reported by Health/Check.
  void SetServing(bool serving);
  // The cluster_time of the session token in the last request that carried
  // a RequestHeader (0 if none). Each response carries a token with a
  // cluster_time one higher than the last.
  uint64_t LastTokenSeen() const;
  // Whether this node, as a follower of a shard (JoinCluster), serves
  // SESSION reads (RequestHeader.read_consistency) instead of answering
  // NOT_LEADER, as meridiand does once follower reads land. Off by default:
  // a follower refuses them, as meridiand does before issue 7's server side.
  void SetFollowerReads(bool on);
  // Test access to the data, bypassing the API.
  std::optional<std::string> Value(const std::string& key) const;
  // The RequestHeader of the last request that carried one.
  v1::RequestHeader LastHeader() const;

  // Makes the fake node `self` of a sharded cluster with map `config`, in
  // which node `leaders[g]` leads group g. From then on it checks keyed
  // requests (KV, Cset, Execute by its first key, Begin by its routing key)
  // as meridiand does (docs/api.md, "Shards"), in order:
  //   - a header naming a shard (non-zero) that does not hold the key, or a
  //     key of a shard this node does not host: WRONG_SHARD with this map's
  //     version and a hint at the shard's leader (else a replica);
  //   - a hosted shard it does not lead: NOT_LEADER with the leader's address.
  // A Scan stops at the end of the shard of its first key and says where the
  // rest begins (resume_key). Begin's txn_id carries the shard (id >> 40),
  // and the transaction's keys, as Execute's, must all be in that shard
  // (INVALID_ARGUMENT). Calling it again installs a new map or new leaders.
  // Data stays where it was written.
  void JoinCluster(const v1::ClusterConfig& config, uint64_t self,
                   std::map<uint64_t, uint64_t> leaders);

  struct State;

 private:
  std::unique_ptr<State> state_;
  std::shared_ptr<void> services_;  // the gRPC services; outlive server_
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace meridian::client::testing
