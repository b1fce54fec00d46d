// The Meridian C++ SDK.
//
//   auto client = meridian::client::Client::Connect({.endpoints = {"127.0.0.1:2379"}});
//   if (!client.ok()) ...;
//   (*client)->Put("k", "v");
//   meridian::Status s = (*client)->RunTxn([](meridian::client::Txn& txn) -> meridian::Status {
//     MERIDIAN_ASSIGN_OR_RETURN(auto v, txn.Get("k"));
//     return txn.Put("k", v ? *v->value + "!" : "!");
//   });
//
// Errors are meridian::Status values whose ErrorKind (common/status.h) tells
// the caller what to do: kConflict (retry the transaction; RunTxn does it),
// kNotLeader/kUnavailable (retried here with backoff for reads and for writes
// that surely did not apply), kCommitUnknown (the outcome of a write or commit
// is not known: it may or may not have applied; never retried by the SDK),
// kResourceExhausted (with ErrorInfo::retry_after_ms > 0: the server's
// admission control refused the request before doing anything; retried here,
// never sooner than that hint; without a hint, e.g. disk full: final),
// kInvalidArgument (fix the request), kTxnNotFound (the transaction expired
// or was finished), kWrongShard (the request was routed by a stale shard map
// and refused before any work; the SDK refreshes its map and retries, so
// callers see it only when retries run out).
//
// Sharded clusters (docs/api.md, "Shards"): the keyspace is split into
// ranges (shards), each replicated by its own group with its own leader.
// Before its first keyed call the Client reads the shard map from a node
// (Admin.Shards), then sends each keyed call (Get, Put, Delete, Scan, the
// cset calls, Execute, Begin) to the leader of its key's shard, as last
// learned per shard from the map and from NOT_LEADER hints. A WRONG_SHARD
// answer makes it fetch a newer map and route again. A server without
// Admin.Shards (UNIMPLEMENTED) is not sharded: calls go to the endpoints as
// they always did. Calls without a key (Admin, health, backup) go to the
// endpoints.
//
// Sessions (docs/api.md, "Sessions"): every keyed call runs in a Session,
// which carries a causal token (read-your-writes, monotonic reads,
// monotonic writes and writes-follow-reads across nodes and failovers).
// The Client's own calls run in its default session; NewSession() starts
// another with its own token, e.g. one per end user. A token can be
// exported as text and imported in another process to carry causality
// along.
//
// Thread-safety: Client and Session are thread-safe and meant to be shared.
// A Txn is used by one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "meridian/v1/admin.pb.h"
#include "meridian/v1/txn.pb.h"

namespace meridian::client {

struct ClientOptions {
  // host:port of one or more meridiand nodes. Non-empty.
  std::vector<std::string> endpoints;
  // Deadline of each RPC attempt.
  std::chrono::milliseconds rpc_timeout{5000};
  // Retries of a retryable error before giving up (backoff doubles from
  // initial_backoff up to max_backoff, with jitter).
  int max_retries = 8;
  std::chrono::milliseconds initial_backoff{10};
  std::chrono::milliseconds max_backoff{1000};
  // Route keyed calls by the cluster's shard map (Admin.Shards) to each
  // shard's leader. false: send every call to the current endpoint and
  // follow only the server's redirects (to talk to one node on purpose).
  bool route_by_shard = true;
  // Causal sessions (Session below): every call carries its session's
  // token and keeps the newer one from the reply. false turns them off
  // entirely, to measure what they cost: no token is sent or kept,
  // ExportToken gives an empty token and ImportToken fails.
  bool sessions = true;
};

// How fresh a Get or Scan must be (docs/api.md, "Sessions").
enum class ReadConsistency {
  // The shard's leader serves the read at the latest state.
  kLinearizable,
  // Any replica of the shard may serve it once it has caught up with the
  // session's token: the session's own writes and everything it has read
  // are visible, other sessions' latest writes may not be yet. Spreads
  // reads over the replicas. A replica that cannot catch up in time answers
  // kCausalWaitTimeout; the SDK then tries the leader once, and returns the
  // error if that times out too.
  kSession,
};

struct ReadOptions {
  ReadConsistency consistency = ReadConsistency::kLinearizable;
};

struct VersionInfo {
  uint64_t hlc = 0;
  uint32_t site_id = 0;
};

struct GetResult {
  std::string value;
  VersionInfo version;
};

struct WriteResult {
  uint64_t commit_hlc = 0;
};

struct KeyValue {
  std::string key;
  std::string value;
  VersionInfo version;
};

struct ScanSpec {
  std::string start;   // inclusive
  std::string end;     // exclusive; empty = unbounded
  std::string prefix;  // if set, start and end must be empty
  uint64_t limit = 0;  // 0 = all
  bool keys_only = false;
};

struct ScanResult {
  std::vector<KeyValue> kvs;
  bool more = false;  // stopped at the limit with keys left
};

struct ExecuteResult {
  bool succeeded = false;
  std::vector<v1::OpResult> results;
  uint64_t commit_hlc = 0;
};

class Client;
class Session;
namespace internal {
class SessionState;
}  // namespace internal

// An interactive transaction. Writes are buffered on the server until Commit.
// Destroying an unfinished Txn aborts it (best effort).
//
// In a sharded cluster a transaction is kept by the node that served
// Begin (the leader of its routing key's shard, BeginOptions) and may read
// and write keys of every shard: one snapshot, two-phase commit across
// shards (docs/consistency.md).
// Its calls carry the token of the Session that began it.
// REQUIRES: the Client and the Session that began it outlive it.
class Txn {
 public:
  ~Txn();
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;

  uint64_t id() const { return id_; }
  // Snapshot HLC of the transaction's (single) site.
  uint64_t snapshot_hlc() const { return snapshot_hlc_; }

  // nullopt if the key has no live value in the snapshot (+ own writes).
  Result<std::optional<GetResult>> Get(std::string_view key);
  Status Put(std::string_view key, std::string_view value);
  Status Delete(std::string_view key);
  Result<ScanResult> Scan(const ScanSpec& spec);
  // Returns the commit HLC (0 for a read-only transaction). kConflict when a
  // concurrent transaction committed a write to one of the same keys first;
  // kCommitUnknown when the reply was lost.
  Result<WriteResult> Commit();
  Status Abort();

 private:
  friend class Session;
  Txn(Client* client, internal::SessionState* session, uint64_t id, uint64_t snapshot_hlc);
  Client* client_;
  internal::SessionState* session_;  // the Session that began it
  uint64_t id_;
  uint64_t snapshot_hlc_;
  bool finished_ = false;
  // The endpoint (index into the client's endpoint list) that ran Begin. The
  // transaction lives on that node, so every later call goes there.
  size_t endpoint_ = 0;
};

struct BeginOptions {
  std::chrono::milliseconds timeout{0};  // server-side txn deadline; >= 0; 0 = default
  // A key in the shard the transaction serves (its other keys must be in
  // the same shard). Empty: the first shard. Unsharded clusters ignore it.
  std::string routing_key;
};

struct RunTxnOptions {
  int max_attempts = 10;                 // attempts on kConflict before giving up
  std::chrono::milliseconds timeout{0};  // server-side txn deadline; 0 = default
  // As BeginOptions::routing_key: fn cannot be looked into before it runs,
  // so name a key it touches when the cluster is sharded.
  std::string routing_key;
};

// A causal session: a token and the calls that carry it. Each call sends
// the session's token and keeps the newer token of the reply, so later
// calls of the session see what earlier ones wrote or read, whichever node
// serves them. Cheap to create; independent sessions do not wait for each
// other. The calls behave as the Client's calls of the same name do.
//
// Thread-safe; calls of one session from several threads are ordered only
// as they finish. Movable (a Txn it began stays valid), not copyable; a
// moved-from Session may only be assigned to or destroyed.
// REQUIRES: the Client outlives it.
class Session {
 public:
  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

  Result<std::optional<GetResult>> Get(std::string_view key, const ReadOptions& options = {});
  Result<WriteResult> Put(std::string_view key, std::string_view value);
  Result<bool> Delete(std::string_view key);
  Result<ScanResult> Scan(const ScanSpec& spec, const ReadOptions& options = {});
  Result<ExecuteResult> Execute(const v1::ExecuteRequest& request);
  Result<std::unique_ptr<Txn>> Begin(const BeginOptions& options = {});
  Status RunTxn(const std::function<Status(Txn&)>& fn, const RunTxnOptions& options = {});
  Status CsetAdd(std::string_view key, std::string_view element);
  Status CsetRemove(std::string_view key, std::string_view element);
  Result<std::map<std::string, int64_t>> CsetRead(std::string_view key);

  // The session's token as text, to hand to another process or session:
  // "mst1." then the token in base64url. Opaque; an empty token (no call
  // answered yet, or sessions off) is "mst1.".
  std::string ExportToken() const;
  // Makes this session causally follow the one that exported `token`: of
  // the two tokens it keeps the newer (the server merges what each has
  // observed). kInvalidArgument, with what is wrong, for text that
  // ExportToken did not produce, and when sessions are off.
  Status ImportToken(std::string_view token);

 private:
  friend class Client;
  Session(Client* client, bool enabled);
  Client* client_;
  std::unique_ptr<internal::SessionState> state_;
};

class Client {
 public:
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);
  ~Client();

  // A new session with an empty token.
  Session NewSession();
  // The session the Client's own keyed calls (Get ... CsetRead, GetAsync,
  // PutAsync) run in.
  Session& DefaultSession() { return *default_session_; }

  // The calls below run in the default session.

  // `options.consistency`: ReadConsistency; kLinearizable by default.
  Result<std::optional<GetResult>> Get(std::string_view key, const ReadOptions& options = {});
  Result<WriteResult> Put(std::string_view key, std::string_view value);
  // Returns whether a live value was deleted.
  Result<bool> Delete(std::string_view key);
  // Reads the range; the server streams it in chunks. Within one shard the
  // range is read at one snapshot. A range that spans shards is read shard
  // by shard, each at that shard's own snapshot (not one snapshot of the
  // whole range until cross-shard snapshots land), and the parts are
  // concatenated in key order, with `limit` counted over all of them.
  Result<ScanResult> Scan(const ScanSpec& spec, const ReadOptions& options = {});

  // One-shot transaction: compares, then success or failure ops, atomically.
  // Routed by its first key (compares, then success, then failure ops). With
  // keys in several shards it runs as a transaction at one snapshot and may
  // fail with kConflict (retry).
  Result<ExecuteResult> Execute(const v1::ExecuteRequest& request);

  // Begin({.timeout = timeout}).
  Result<std::unique_ptr<Txn>> Begin(
      std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Starts a transaction at the leader of the shard holding
  // options.routing_key. The Txn stays with the node that served Begin: a
  // later NOT_LEADER (the transaction is gone with the leadership) comes
  // back as an error, never retried elsewhere.
  Result<std::unique_ptr<Txn>> Begin(const BeginOptions& options);
  // Runs fn in a fresh transaction and commits; on kConflict (from fn or from
  // Commit) retries with backoff up to max_attempts. Any other error from fn
  // aborts and is returned; kCommitUnknown is returned, never retried.
  Status RunTxn(const std::function<Status(Txn&)>& fn, const RunTxnOptions& options = {});

  // Asynchronous single-key operations, for load generators that keep many
  // requests in flight from few threads. `done` runs exactly once, on a gRPC
  // thread (or inline on a local failure), and must not block. Only
  // redirects are retried (NOT_LEADER, WRONG_SHARD, or an endpoint that
  // cannot be reached); other errors come back as they are, and a Put whose reply is
  // lost is kCommitUnknown. They are routed as the synchronous calls are; the
  // first keyed call of a Client (sync or async) may block while it reads
  // the shard map, and a WRONG_SHARD refreshes it without blocking.
  // They read linearizably.
  // REQUIRES: the Client outlives every pending callback.
  void GetAsync(std::string key, std::function<void(Result<std::optional<GetResult>>)> done);
  void PutAsync(std::string key, std::string value, std::function<void(Result<WriteResult>)> done);

  Status CsetAdd(std::string_view key, std::string_view element);
  Status CsetRemove(std::string_view key, std::string_view element);
  // element -> count, elements with a zero count omitted.
  Result<std::map<std::string, int64_t>> CsetRead(std::string_view key);

  Result<v1::StatusResponse> NodeStatus();
  Result<v1::MembersResponse> Members();
  // The shard map and shard leaders as the preferred endpoint knows them
  // (Admin.Shards). The client also adopts the map if it is newer than its
  // own. Fails with code UNIMPLEMENTED from a server without shards.
  Result<v1::ShardsResponse> Shards();
  // Hands the leadership of `shard_id`'s group (0: the config group) to
  // member `to_member_id`; returns the new leader once it moved (the call
  // follows NOT_LEADER to the group's current leader).
  Result<v1::ShardLeader> LeaderTransfer(uint64_t shard_id, uint32_t to_member_id);
  // Splits the shard holding `split_key` there, online (Admin.SplitShard):
  // the keys from it to the shard's end move to a new shard. Returns once
  // the new map is committed; the client adopts it.
  Result<v1::SplitShardResponse> SplitShard(const std::string& split_key);
  // Adds a new session-token signing key and makes it the one new tokens
  // are signed with (Admin.RotateSigningKey), once the config is committed.
  // Tokens signed with the kept keys still verify. Not retried after a
  // lost reply (kCommitUnknown): a key may have been added. Code
  // UNIMPLEMENTED from a server that predates signed tokens.
  Result<v1::RotateSigningKeyResponse> RotateSigningKey();

  // Membership changes of a replicated group (docs/cli.md, "Membership").
  // Each goes to the leader, returns once the change is committed, and
  // returns the membership after it. They are writes: NOT_LEADER and
  // UNAVAILABLE (e.g. another change is still pending) are retried with
  // backoff, but a change whose reply was lost may have committed, so it
  // comes back as kCommitUnknown and is never retried: read Members()
  // before trying again. kInvalidArgument when the change is not allowed
  // (already a member, not a member, more than one voter at a time, ...).
  //
  // Adds `member_id` (1..65535), serving at `address` (host:port), as a
  // learner, or as a voter with `as_voter`. The node must be running with
  // --join.
  Result<v1::MembersResponse> MemberAdd(uint32_t member_id, const std::string& address,
                                        bool as_voter = false);
  // Makes a learner a voter. Promote a learner only once it has caught up.
  Result<v1::MembersResponse> MemberPromote(uint32_t member_id);
  // Removes a voter or a learner. Removing the leader makes it step down.
  Result<v1::MembersResponse> MemberRemove(uint32_t member_id);

  // grpc.health.v1 Check of the given endpoint ("" = the overall service).
  Result<bool> Healthy(const std::string& service = "");

  // Backup and restore of the client group (docs/cli.md, "snapshot";
  // docs/formats/backup.md).
  //
  // Streams a backup from the leader: `on_start` runs once the leader has
  // fixed the snapshot, then `on_records` for each chunk of records, in
  // order. If the stream breaks with a retryable error (NOT_LEADER,
  // UNAVAILABLE, a broken connection, or no message within rpc_timeout),
  // the backup starts over at another node at a new snapshot: `on_start`
  // runs again, and the receiver must drop what it got before. An error
  // from a callback ends the backup and is returned as it is; a stream that
  // ends short is kInternal (DATA_LOSS). Returns the number of records.
  Result<uint64_t> Backup(const std::function<Status(const v1::BackupHeader&)>& on_start,
                          const std::function<Status(const v1::BackupChunk&)>& on_records);
  // A restore, in order: RestoreBegin, RestoreChunk for each block from the
  // progress RestoreBegin returns, then RestoreFinish. The server applies
  // each idempotently, so each is retried on any retryable failure, a lost
  // reply (kCommitUnknown) included. FAILED_PRECONDITION (kInternal) when
  // the target may not take the restore (docs/cli.md says which cases).
  Result<v1::RestoreProgress> RestoreBegin(const v1::RestoreIdentity& backup);
  Result<v1::RestoreProgress> RestoreChunk(const v1::RestoreChunkRequest& request);
  Result<v1::RestoreProgress> RestoreFinish(const v1::RestoreIdentity& backup);

 private:
  friend class Txn;
  friend class Session;
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::unique_ptr<Session> default_session_;
};

}  // namespace meridian::client
