#include "client/testing/fake_server.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <iostream>
#include <map>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "meridian/v1/cset.grpc.pb.h"
#include "meridian/v1/kv.grpc.pb.h"
#include "meridian/v1/txn.grpc.pb.h"
#include "proto/grpc_status.h"
#include "proto/shard_lookup.h"

namespace meridian::client::testing {

namespace {
constexpr uint32_t kSiteId = 1;

const std::string& OpKey(const v1::Op& op) {
  if (op.has_put()) return op.put().key();
  if (op.has_delete_()) return op.delete_().key();
  return op.get().key();
}

constexpr size_t kMaxKeyBytes = 4096;
constexpr int kScanChunk = 2;    // small, so tests see multi-chunk streams
constexpr uint32_t kSelfId = 1;  // the fake's own member id; it is the leader
constexpr uint32_t kMaxMemberId = 65535;
}  // namespace

struct FakeServer::State {
  struct Version {
    uint64_t hlc;
    std::optional<std::string> value;  // nullopt: a delete
  };
  struct OpenTxn {
    uint64_t snapshot;
    std::map<std::string, std::optional<std::string>> writes;
    uint64_t shard_id = 0;  // in a cluster: the shard it serves
  };
  // JoinCluster's arguments.
  struct Cluster {
    v1::ClusterConfig config;
    uint64_t self = 0;
    std::map<uint64_t, uint64_t> leaders;  // group id -> node id
  };
  struct Fault {
    enum Kind { kAnswer, kLoseReply } kind;
    grpc::Status status;
  };
  // What one call does about injected faults.
  struct Entry {
    std::optional<grpc::Status> answer;  // answer this instead of working
    bool lose_reply = false;
  };

  struct MemberEntry {
    std::string address;
    bool learner = false;
  };
  using MemberMap = std::map<uint32_t, MemberEntry>;

  void FillMembers(v1::MembersResponse* resp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    FillHeader(resp->mutable_header(), 0, 0);
    resp->set_config_index(config_index);
    // Voters first, then learners, as meridiand lists them.
    for (const bool learners : {false, true}) {
      for (const auto& [id, e] : members) {
        if (e.learner != learners) continue;
        v1::Member* m = resp->add_members();
        m->set_member_id(id);
        m->set_node_id(absl::StrCat("fake-", id));
        m->set_site_name("local");
        m->set_site_id(kSiteId);
        m->set_client_url(e.address);
        m->set_is_leader(id == kSelfId);
        m->set_is_learner(e.learner);
      }
    }
  }

  // Commits `next` as the membership, with the checks a replicated group
  // makes of every change (consensus::ValidateChange): at least one voter
  // left, and at most one voter added or removed.
  Status ChangeMembers(MemberMap next, v1::MemberChangeResponse* resp)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    size_t voters = 0, voters_changed = 0;
    const auto is_voter = [](const MemberMap& m, uint32_t id) {
      auto it = m.find(id);
      return it != m.end() && !it->second.learner;
    };
    for (const auto& [id, e] : next) {
      voters += !e.learner;
      voters_changed += !e.learner && !is_voter(members, id);
    }
    for (const auto& [id, e] : members) voters_changed += !e.learner && !is_voter(next, id);
    if (voters == 0) return InvalidArgumentError("a group needs at least one voter");
    if (voters_changed > 1) {
      return InvalidArgumentError(
          "a membership change may add or remove at most one voter; do it in steps");
    }
    members = std::move(next);
    config_index = ++log_index;
    FillHeader(resp->mutable_header(), 0, 0);
    FillMembers(resp->mutable_membership());
    return absl::OkStatus();
  }

  std::optional<std::string> ReadAt(const std::string& key, uint64_t snapshot) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = data.find(key);
    if (it == data.end()) return std::nullopt;
    for (auto v = it->second.rbegin(); v != it->second.rend(); ++v) {
      if (v->hlc <= snapshot) return v->value;
    }
    return std::nullopt;
  }
  uint64_t LatestHlc(const std::string& key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = data.find(key);
    return it == data.end() || it->second.empty() ? 0 : it->second.back().hlc;
  }
  // The live version's hlc, 0 when absent or deleted.
  uint64_t LiveHlc(const std::string& key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = data.find(key);
    if (it == data.end() || it->second.empty() || !it->second.back().value) return 0;
    return it->second.back().hlc;
  }

  Entry Enter(const std::string& method, const v1::RequestHeader* header) {
    absl::MutexLock l(&mu);
    ++calls[method];
    if (header != nullptr) {
      last_token_seen = header->session_token().cluster_time();
      last_header = *header;
    }
    Entry e;
    auto it = faults.find(method);
    if (it == faults.end() || it->second.empty()) return e;
    Fault f = it->second.front();
    it->second.pop_front();
    if (f.kind == Fault::kAnswer) {
      e.answer = f.status;
    } else {
      e.lose_reply = true;
    }
    return e;
  }

  // Holds a reply the test wants lost until the client gave up on it.
  static grpc::Status Leave(grpc::ServerContext* ctx, const Entry& e) {
    if (!e.lose_reply) return grpc::Status::OK;
    for (int i = 0; i < 6000 && !ctx->IsCancelled(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "reply lost (injected)");
  }

  void FillHeader(v1::ResponseHeader* h, uint64_t snapshot, uint64_t commit_hlc)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    h->set_node_id("fake-1");
    h->set_site_id(kSiteId);
    h->set_site_name("local");
    if (snapshot != 0) {
      auto* e = h->mutable_snapshot()->add_entries();
      e->set_site_id(kSiteId);
      e->set_hlc(snapshot);
    }
    h->set_commit_hlc(commit_hlc);
    h->mutable_session_token()->set_cluster_time(++token_time);
  }

  static std::optional<grpc::Status> CheckKey(const std::string& key) {
    if (key.size() <= kMaxKeyBytes) return std::nullopt;
    return ToGrpcStatus(LimitExceededError(
        "max_key_bytes", kMaxKeyBytes,
        "key is " + std::to_string(key.size()) + " bytes, over max_key_bytes (4096)"));
  }

  // Live keys of a range or prefix at `snapshot`, overlaid with `writes`.
  std::vector<v1::KeyValue> Range(
      const std::string& start, const std::string& end, const std::string& prefix,
      uint64_t snapshot, const std::map<std::string, std::optional<std::string>>& writes) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::map<std::string, v1::KeyValue> view;
    const auto in_range = [&](const std::string& k) {
      if (!prefix.empty()) return k.starts_with(prefix);
      return k >= start && (end.empty() || k < end);
    };
    for (const auto& [k, versions] : data) {
      if (!in_range(k)) continue;
      for (auto v = versions.rbegin(); v != versions.rend(); ++v) {
        if (v->hlc > snapshot) continue;
        if (v->value) {
          v1::KeyValue& kv = view[k];
          kv.set_key(k);
          kv.set_value(*v->value);
          kv.mutable_version()->set_hlc(v->hlc);
          kv.mutable_version()->set_site_id(kSiteId);
        }
        break;
      }
    }
    for (const auto& [k, v] : writes) {
      if (!in_range(k)) continue;
      if (!v) {
        view.erase(k);
        continue;
      }
      v1::KeyValue& kv = view[k];
      kv.set_key(k);
      kv.set_value(*v);
    }
    std::vector<v1::KeyValue> out;
    for (auto& [k, kv] : view) out.push_back(std::move(kv));
    return out;
  }

  // The address of the leader of `shard`'s group (the fake's clusters have
  // one site), else of its first replica.
  std::string LeaderAddress(const v1::ShardInfo& shard) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const v1::ShardGroup& g = shard.groups(0);
    if (auto it = cluster->leaders.find(g.group_id()); it != cluster->leaders.end()) {
      if (std::string a = NodeAddress(cluster->config, it->second); !a.empty()) return a;
    }
    return g.replicas().empty() ? "" : NodeAddress(cluster->config, g.replicas(0));
  }

  // nullopt if this node serves `key` for a request routed by `header`
  // (null: none), else the refusal meridiand would answer (fake_server.h).
  std::optional<grpc::Status> Misrouted(const v1::RequestHeader* header, std::string_view key) {
    absl::MutexLock l(&mu);
    if (!cluster) return std::nullopt;
    const v1::ShardInfo* shard = FindShard(cluster->config, key);
    const uint64_t id = shard->shard_id();
    const uint64_t version = cluster->config.version();
    if (header != nullptr && header->shard_id() != 0 && header->shard_id() != id) {
      return ToGrpcStatus(WrongShardError(
          LeaderAddress(*shard), version,
          absl::StrCat("the key is in shard ", id, ", not in shard ", header->shard_id())));
    }
    const v1::ShardGroup& g = shard->groups(0);
    if (std::find(g.replicas().begin(), g.replicas().end(), cluster->self) == g.replicas().end()) {
      return ToGrpcStatus(
          WrongShardError(LeaderAddress(*shard), version,
                          absl::StrCat("node ", cluster->self, " does not host shard ", id)));
    }
    const bool follower_read = header != nullptr && follower_reads &&
                               header->read_consistency() == v1::SESSION;
    if (cluster->leaders[g.group_id()] != cluster->self && !follower_read) {
      return ToGrpcStatus(
          NotLeaderError(LeaderAddress(*shard), absl::StrCat("not the leader of shard ", id)));
    }
    return std::nullopt;
  }

  // INVALID_ARGUMENT if `key` is outside shard `shard_id` (0: not in a
  // cluster), as for a transaction's keys.
  std::optional<grpc::Status> OutsideShard(uint64_t shard_id, std::string_view key) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!cluster || shard_id == 0) return std::nullopt;
    const v1::ShardInfo* shard = FindShardById(cluster->config, shard_id);
    if (shard == nullptr) return ToGrpcStatus(TxnNotFoundError("the shard is gone"));
    if (ShardContains(*shard, key)) return std::nullopt;
    return ToGrpcStatus(InvalidArgumentError(
        absl::StrCat("the key is in shard ", FindShard(cluster->config, key)->shard_id(),
                     ", the transaction in shard ", shard->shard_id())));
  }

  void FillShards(v1::ShardsResponse* resp) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Reads no data, so no session token: the tests' token counts stay as
    // without sharding.
    resp->mutable_header()->set_node_id("fake-1");
    resp->mutable_header()->set_site_id(kSiteId);
    if (!cluster) {
      // A --dev node: one shard, here.
      v1::ClusterConfig* c = resp->mutable_config();
      c->set_version(1);
      c->set_replication_factor(1);
      c->add_sites()->set_site_id(kSiteId);
      v1::NodeInfo* n = c->add_nodes();
      n->set_node_id(kSelfId);
      n->set_address(address);
      n->set_site_id(kSiteId);
      v1::ShardInfo* s = c->add_shards();
      s->set_shard_id(1);
      s->set_preferred_site(kSiteId);
      v1::ShardGroup* g = s->add_groups();
      g->set_site_id(kSiteId);
      g->set_group_id(1);
      g->add_replicas(kSelfId);
      v1::ShardLeader* l = resp->add_leaders();
      l->set_shard_id(1);
      l->set_group_id(1);
      l->set_leader_id(kSelfId);
      l->set_leader_address(address);
      resp->set_source("static");
      return;
    }
    *resp->mutable_config() = cluster->config;
    for (const v1::ShardInfo& shard : cluster->config.shards()) {
      v1::ShardLeader* l = resp->add_leaders();
      l->set_shard_id(shard.shard_id());
      l->set_group_id(shard.groups(0).group_id());
      if (auto it = cluster->leaders.find(shard.groups(0).group_id());
          it != cluster->leaders.end()) {
        l->set_leader_id(it->second);
        l->set_leader_address(NodeAddress(cluster->config, it->second));
      }
    }
    resp->set_source("committed");
  }

  mutable absl::Mutex mu;
  std::optional<Cluster> cluster ABSL_GUARDED_BY(mu);
  v1::RequestHeader last_header ABSL_GUARDED_BY(mu);
  std::map<std::string, std::vector<Version>> data ABSL_GUARDED_BY(mu);
  uint64_t hlc ABSL_GUARDED_BY(mu) = 1000;
  std::map<uint64_t, OpenTxn> txns ABSL_GUARDED_BY(mu);
  uint64_t next_txn ABSL_GUARDED_BY(mu) = 1;
  std::map<std::string, std::map<std::string, int64_t>> csets ABSL_GUARDED_BY(mu);
  std::map<std::string, std::deque<Fault>> faults ABSL_GUARDED_BY(mu);
  std::map<std::string, int> calls ABSL_GUARDED_BY(mu);
  bool serving ABSL_GUARDED_BY(mu) = true;
  bool follower_reads ABSL_GUARDED_BY(mu) = false;
  std::vector<uint32_t> signing_keys ABSL_GUARDED_BY(mu);  // newest first
  uint64_t signing_config_version ABSL_GUARDED_BY(mu) = 0;
  uint64_t token_time ABSL_GUARDED_BY(mu) = 0;
  uint64_t last_token_seen ABSL_GUARDED_BY(mu) = 0;
  MemberMap members ABSL_GUARDED_BY(mu);
  uint64_t config_index ABSL_GUARDED_BY(mu) = 0;  // 0: the bootstrap membership
  uint64_t log_index ABSL_GUARDED_BY(mu) = 0;     // stands in for the replicated log
  std::string address;
};

namespace {

using State = FakeServer::State;

// Starts a handler: counts the call and applies an injected fault.
#define FAKE_ENTER(method, header)                      \
  const State::Entry entry = s_->Enter(method, header); \
  if (entry.answer) return *entry.answer

// Refuses a keyed request this node may not serve (JoinCluster).
#define FAKE_ROUTE(header, key) \
  if (auto refusal = s_->Misrouted(header, key)) return *refusal

class KvService final : public v1::KV::Service {
 public:
  explicit KvService(State* s) : s_(s) {}

  grpc::Status Get(grpc::ServerContext* ctx, const v1::GetRequest* req,
                   v1::GetResponse* resp) override {
    FAKE_ENTER("KV/Get", &req->header());
    FAKE_ROUTE(&req->header(), req->key());
    if (auto bad = State::CheckKey(req->key())) return *bad;
    absl::MutexLock l(&s_->mu);
    if (auto v = s_->ReadAt(req->key(), s_->hlc)) {
      resp->set_found(true);
      resp->set_value(*v);
      resp->mutable_version()->set_hlc(s_->LatestHlc(req->key()));
      resp->mutable_version()->set_site_id(kSiteId);
    }
    s_->FillHeader(resp->mutable_header(), s_->hlc, 0);
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext* ctx, const v1::PutRequest* req,
                   v1::PutResponse* resp) override {
    FAKE_ENTER("KV/Put", &req->header());
    FAKE_ROUTE(&req->header(), req->key());
    if (auto bad = State::CheckKey(req->key())) return *bad;
    {
      absl::MutexLock l(&s_->mu);
      const uint64_t hlc = ++s_->hlc;
      s_->data[req->key()].push_back({hlc, req->value()});
      s_->FillHeader(resp->mutable_header(), 0, hlc);
    }
    return State::Leave(ctx, entry);
  }

  grpc::Status Delete(grpc::ServerContext* ctx, const v1::DeleteRequest* req,
                      v1::DeleteResponse* resp) override {
    FAKE_ENTER("KV/Delete", &req->header());
    FAKE_ROUTE(&req->header(), req->key());
    {
      absl::MutexLock l(&s_->mu);
      const bool existed = s_->LiveHlc(req->key()) != 0;
      resp->set_existed(existed);
      uint64_t hlc = 0;
      if (existed) {
        hlc = ++s_->hlc;
        s_->data[req->key()].push_back({hlc, std::nullopt});
      }
      s_->FillHeader(resp->mutable_header(), 0, hlc);
    }
    return State::Leave(ctx, entry);
  }

  grpc::Status Scan(grpc::ServerContext* ctx, const v1::ScanRequest* req,
                    grpc::ServerWriter<v1::ScanResponse>* writer) override {
    FAKE_ENTER("KV/Scan", &req->header());
    const std::string& from = req->prefix().empty() ? req->start() : req->prefix();
    FAKE_ROUTE(&req->header(), from);
    std::vector<v1::KeyValue> kvs;
    v1::ScanResponse first;
    // In a cluster: where the shard serving the scan ends ("" = the end).
    std::string shard_end;
    {
      absl::MutexLock l(&s_->mu);
      kvs = s_->Range(req->start(), req->end(), req->prefix(), s_->hlc, {});
      s_->FillHeader(first.mutable_header(), s_->hlc, 0);
      if (s_->cluster) {
        const v1::ShardInfo* shard = FindShard(s_->cluster->config, from);
        shard_end = shard->end_key();
        std::erase_if(kvs,
                      [&](const v1::KeyValue& kv) { return !ShardContains(*shard, kv.key()); });
      }
    }
    bool more = false;
    if (req->limit() != 0 && kvs.size() > req->limit()) {
      kvs.resize(req->limit());
      more = true;
    }
    // The range goes on past this shard: the rest starts at its end.
    std::string resume_key;
    if (!more && !shard_end.empty()) {
      // A prefix's range goes past a shard end that starts with the prefix.
      const bool past = req->prefix().empty() ? req->end().empty() || req->end() > shard_end
                                              : shard_end.starts_with(req->prefix());
      if (past) resume_key = shard_end;
    }
    size_t i = 0;
    v1::ScanResponse chunk = first;
    do {
      for (int n = 0; n < kScanChunk && i < kvs.size(); ++n, ++i) {
        v1::KeyValue* kv = chunk.add_kvs();
        *kv = kvs[i];
        if (req->keys_only()) kv->clear_value();
      }
      if (i == kvs.size()) {
        chunk.set_more(more);
        chunk.set_resume_key(resume_key);
      }
      writer->Write(chunk);
      chunk.Clear();
    } while (i < kvs.size());
    return grpc::Status::OK;
  }

 private:
  State* s_;
};

class TxnService final : public v1::Txn::Service {
 public:
  explicit TxnService(State* s) : s_(s) {}

  grpc::Status Execute(grpc::ServerContext* ctx, const v1::ExecuteRequest* req,
                       v1::ExecuteResponse* resp) override {
    FAKE_ENTER("Txn/Execute", &req->header());
    std::vector<std::string_view> keys;
    for (const v1::Compare& c : req->compares()) keys.push_back(c.key());
    for (const auto* ops : {&req->success(), &req->failure()}) {
      for (const v1::Op& op : *ops) keys.push_back(OpKey(op));
    }
    if (!keys.empty()) FAKE_ROUTE(&req->header(), keys[0]);
    {
      absl::MutexLock l(&s_->mu);
      if (s_->cluster && !keys.empty()) {
        const uint64_t shard = FindShard(s_->cluster->config, keys[0])->shard_id();
        for (std::string_view k : keys) {
          if (auto bad = s_->OutsideShard(shard, k)) return *bad;
        }
      }
      bool ok = true;
      for (const v1::Compare& c : req->compares()) ok = ok && Holds(c);
      resp->set_succeeded(ok);
      uint64_t commit = 0;
      for (const v1::Op& op : ok ? req->success() : req->failure()) {
        v1::OpResult* r = resp->add_results();
        if (op.has_get()) {
          auto v = s_->ReadAt(op.get().key(), s_->hlc);
          r->mutable_get()->set_found(v.has_value());
          if (v) {
            r->mutable_get()->set_value(*v);
            r->mutable_get()->mutable_version()->set_hlc(s_->LatestHlc(op.get().key()));
            r->mutable_get()->mutable_version()->set_site_id(kSiteId);
          }
        } else if (op.has_put()) {
          if (commit == 0) commit = ++s_->hlc;
          s_->data[op.put().key()].push_back({commit, op.put().value()});
          r->mutable_put();
        } else {
          const bool existed = s_->LiveHlc(op.delete_().key()) != 0;
          r->mutable_delete_()->set_existed(existed);
          if (existed) {
            if (commit == 0) commit = ++s_->hlc;
            s_->data[op.delete_().key()].push_back({commit, std::nullopt});
          }
        }
      }
      s_->FillHeader(resp->mutable_header(), s_->hlc, commit);
    }
    return State::Leave(ctx, entry);
  }

  grpc::Status Begin(grpc::ServerContext* ctx, const v1::BeginRequest* req,
                     v1::BeginResponse* resp) override {
    FAKE_ENTER("Txn/Begin", &req->header());
    FAKE_ROUTE(&req->header(), req->routing_key());
    absl::MutexLock l(&s_->mu);
    const uint64_t shard =
        s_->cluster ? FindShard(s_->cluster->config, req->routing_key())->shard_id() : 0;
    // As meridiand: the shard id in the top bits.
    const uint64_t id = shard << 40 | s_->next_txn++;
    s_->txns[id] = {.snapshot = s_->hlc, .writes = {}, .shard_id = shard};
    resp->set_txn_id(id);
    s_->FillHeader(resp->mutable_header(), s_->hlc, 0);
    return grpc::Status::OK;
  }

  grpc::Status Get(grpc::ServerContext* ctx, const v1::TxnGetRequest* req,
                   v1::TxnGetResponse* resp) override {
    FAKE_ENTER("Txn/Get", nullptr);
    absl::MutexLock l(&s_->mu);
    State::OpenTxn* t = Find(req->txn_id());
    if (t == nullptr) return NotFound();
    if (auto bad = s_->OutsideShard(t->shard_id, req->key())) return *bad;
    std::optional<std::string> v;
    if (auto w = t->writes.find(req->key()); w != t->writes.end()) {
      v = w->second;
    } else {
      v = s_->ReadAt(req->key(), t->snapshot);
    }
    resp->set_found(v.has_value());
    if (v) resp->set_value(*v);
    s_->FillHeader(resp->mutable_header(), t->snapshot, 0);
    return grpc::Status::OK;
  }

  grpc::Status Put(grpc::ServerContext* ctx, const v1::TxnPutRequest* req,
                   v1::TxnPutResponse* resp) override {
    FAKE_ENTER("Txn/Put", nullptr);
    if (auto bad = State::CheckKey(req->key())) return *bad;
    absl::MutexLock l(&s_->mu);
    State::OpenTxn* t = Find(req->txn_id());
    if (t == nullptr) return NotFound();
    if (auto bad = s_->OutsideShard(t->shard_id, req->key())) return *bad;
    t->writes[req->key()] = req->value();
    s_->FillHeader(resp->mutable_header(), t->snapshot, 0);
    return grpc::Status::OK;
  }

  grpc::Status Delete(grpc::ServerContext* ctx, const v1::TxnDeleteRequest* req,
                      v1::TxnDeleteResponse* resp) override {
    FAKE_ENTER("Txn/Delete", nullptr);
    absl::MutexLock l(&s_->mu);
    State::OpenTxn* t = Find(req->txn_id());
    if (t == nullptr) return NotFound();
    if (auto bad = s_->OutsideShard(t->shard_id, req->key())) return *bad;
    t->writes[req->key()] = std::nullopt;
    s_->FillHeader(resp->mutable_header(), t->snapshot, 0);
    return grpc::Status::OK;
  }

  grpc::Status Scan(grpc::ServerContext* ctx, const v1::TxnScanRequest* req,
                    v1::TxnScanResponse* resp) override {
    FAKE_ENTER("Txn/Scan", nullptr);
    absl::MutexLock l(&s_->mu);
    State::OpenTxn* t = Find(req->txn_id());
    if (t == nullptr) return NotFound();
    std::vector<v1::KeyValue> kvs =
        s_->Range(req->start(), req->end(), req->prefix(), t->snapshot, t->writes);
    if (req->limit() != 0 && kvs.size() > req->limit()) {
      kvs.resize(req->limit());
      resp->set_more(true);
    }
    for (auto& kv : kvs) *resp->add_kvs() = std::move(kv);
    s_->FillHeader(resp->mutable_header(), t->snapshot, 0);
    return grpc::Status::OK;
  }

  grpc::Status Commit(grpc::ServerContext* ctx, const v1::CommitRequest* req,
                      v1::CommitResponse* resp) override {
    FAKE_ENTER("Txn/Commit", nullptr);
    {
      absl::MutexLock l(&s_->mu);
      State::OpenTxn* t = Find(req->txn_id());
      if (t == nullptr) return NotFound();
      State::OpenTxn txn = std::move(*t);
      s_->txns.erase(req->txn_id());
      // First committer wins.
      for (const auto& [k, v] : txn.writes) {
        if (s_->LatestHlc(k) > txn.snapshot) {
          return ToGrpcStatus(ConflictError("write-write conflict on a key"));
        }
      }
      uint64_t commit = 0;
      if (!txn.writes.empty()) {
        commit = ++s_->hlc;
        for (const auto& [k, v] : txn.writes) s_->data[k].push_back({commit, v});
      }
      s_->FillHeader(resp->mutable_header(), 0, commit);
    }
    return State::Leave(ctx, entry);
  }

  grpc::Status Abort(grpc::ServerContext* ctx, const v1::AbortRequest* req,
                     v1::AbortResponse* resp) override {
    FAKE_ENTER("Txn/Abort", nullptr);
    absl::MutexLock l(&s_->mu);
    if (s_->txns.erase(req->txn_id()) == 0) return NotFound();
    s_->FillHeader(resp->mutable_header(), 0, 0);
    return grpc::Status::OK;
  }

 private:
  bool Holds(const v1::Compare& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu) {
    const auto cmp = [&](auto a, auto b) {
      switch (c.result()) {
        case v1::Compare::EQUAL:
          return a == b;
        case v1::Compare::NOT_EQUAL:
          return a != b;
        case v1::Compare::GREATER:
          return a > b;
        case v1::Compare::LESS:
          return a < b;
        default:
          return false;
      }
    };
    const auto v = s_->ReadAt(c.key(), s_->hlc);
    switch (c.target()) {
      case v1::Compare::VALUE:
        return v.has_value() && cmp(*v, c.value());
      case v1::Compare::VERSION:
        return cmp(s_->LiveHlc(c.key()), c.version());
      case v1::Compare::EXISTS:
        return cmp(v.has_value(), c.exists());
      default:
        return false;
    }
  }
  State::OpenTxn* Find(uint64_t id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s_->mu) {
    auto it = s_->txns.find(id);
    return it == s_->txns.end() ? nullptr : &it->second;
  }
  static grpc::Status NotFound() { return ToGrpcStatus(TxnNotFoundError("no such transaction")); }

  State* s_;
};

class CsetService final : public v1::Cset::Service {
 public:
  explicit CsetService(State* s) : s_(s) {}

  grpc::Status Add(grpc::ServerContext* ctx, const v1::CsetAddRequest* req,
                   v1::CsetAddResponse* resp) override {
    FAKE_ENTER("Cset/Add", &req->header());
    FAKE_ROUTE(&req->header(), req->key());
    {
      absl::MutexLock l(&s_->mu);
      ++s_->csets[req->key()][req->element()];
      s_->FillHeader(resp->mutable_header(), 0, ++s_->hlc);
    }
    return State::Leave(ctx, entry);
  }

  grpc::Status Remove(grpc::ServerContext* ctx, const v1::CsetRemoveRequest* req,
                      v1::CsetRemoveResponse* resp) override {
    FAKE_ENTER("Cset/Remove", &req->header());
    FAKE_ROUTE(&req->header(), req->key());
    {
      absl::MutexLock l(&s_->mu);
      --s_->csets[req->key()][req->element()];
      s_->FillHeader(resp->mutable_header(), 0, ++s_->hlc);
    }
    return State::Leave(ctx, entry);
  }

  grpc::Status Read(grpc::ServerContext* ctx, const v1::CsetReadRequest* req,
                    v1::CsetReadResponse* resp) override {
    FAKE_ENTER("Cset/Read", &req->header());
    FAKE_ROUTE(&req->header(), req->key());
    absl::MutexLock l(&s_->mu);
    for (const auto& [element, count] : s_->csets[req->key()]) {
      if (count == 0) continue;
      v1::CsetEntry* e = resp->add_entries();
      e->set_element(element);
      e->set_count(count);
    }
    s_->FillHeader(resp->mutable_header(), s_->hlc, 0);
    return grpc::Status::OK;
  }

 private:
  State* s_;
};

class AdminService final : public v1::Admin::Service {
 public:
  explicit AdminService(State* s) : s_(s) {}

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override {
    FAKE_ENTER("Admin/Status", nullptr);
    absl::MutexLock l(&s_->mu);
    s_->FillHeader(resp->mutable_header(), 0, 0);
    resp->set_version("0.0.0-fake");
    resp->set_engine("memory");
    resp->set_applied_index(s_->hlc - 1000);
    resp->set_durable_index(s_->hlc - 1000);
    resp->set_now_hlc(s_->hlc);
    resp->set_db_size_bytes(12345);
    resp->set_open_txns(s_->txns.size());
    resp->set_is_leader(true);
    return grpc::Status::OK;
  }

  grpc::Status Shards(grpc::ServerContext* ctx, const v1::ShardsRequest* req,
                      v1::ShardsResponse* resp) override {
    FAKE_ENTER("Admin/Shards", nullptr);
    absl::MutexLock l(&s_->mu);
    s_->FillShards(resp);
    return grpc::Status::OK;
  }

  grpc::Status Members(grpc::ServerContext* ctx, const v1::MembersRequest* req,
                       v1::MembersResponse* resp) override {
    FAKE_ENTER("Admin/Members", nullptr);
    absl::MutexLock l(&s_->mu);
    s_->FillMembers(resp);
    return grpc::Status::OK;
  }

  grpc::Status RotateSigningKey(grpc::ServerContext* ctx, const v1::RotateSigningKeyRequest* req,
                                v1::RotateSigningKeyResponse* resp) override {
    FAKE_ENTER("Admin/RotateSigningKey", nullptr);
    {
      absl::MutexLock l(&s_->mu);
      const uint32_t key = s_->signing_keys.empty() ? 1 : s_->signing_keys.front() + 1;
      s_->signing_keys.insert(s_->signing_keys.begin(), key);
      if (s_->signing_keys.size() > 3) s_->signing_keys.resize(3);
      s_->FillHeader(resp->mutable_header(), 0, 0);
      resp->set_key_id(key);
      for (uint32_t k : s_->signing_keys) resp->add_kept_key_ids(k);
      resp->set_config_version(++s_->signing_config_version);
    }
    return State::Leave(ctx, entry);
  }

  // The checks and messages follow meridiand's (server/admin_service.cc).
  grpc::Status MemberAdd(grpc::ServerContext* ctx, const v1::MemberAddRequest* req,
                         v1::MemberChangeResponse* resp) override {
    FAKE_ENTER("Admin/MemberAdd", nullptr);
    return Change(ctx, entry, resp, [&](State::MemberMap& next) -> meridian::Status {
      const uint32_t id = req->member_id();
      if (id == 0 || id > kMaxMemberId) {
        return InvalidArgumentError("member_id must be in [1, 65535]");
      }
      if (req->address().find(':') == std::string::npos) {
        return InvalidArgumentError("address must be host:port");
      }
      if (next.count(id)) {
        return InvalidArgumentError(absl::StrCat("member ", id, " is already in the group"));
      }
      next[id] = {.address = req->address(), .learner = !req->as_voter()};
      return absl::OkStatus();
    });
  }

  grpc::Status MemberPromote(grpc::ServerContext* ctx, const v1::MemberPromoteRequest* req,
                             v1::MemberChangeResponse* resp) override {
    FAKE_ENTER("Admin/MemberPromote", nullptr);
    return Change(ctx, entry, resp, [&](State::MemberMap& next) -> meridian::Status {
      auto it = next.find(req->member_id());
      if (it == next.end() || !it->second.learner) {
        return InvalidArgumentError(absl::StrCat("member ", req->member_id(), " is not a learner"));
      }
      it->second.learner = false;
      return absl::OkStatus();
    });
  }

  grpc::Status MemberRemove(grpc::ServerContext* ctx, const v1::MemberRemoveRequest* req,
                            v1::MemberChangeResponse* resp) override {
    FAKE_ENTER("Admin/MemberRemove", nullptr);
    return Change(ctx, entry, resp, [&](State::MemberMap& next) -> meridian::Status {
      if (next.erase(req->member_id()) == 0) {
        return InvalidArgumentError(
            absl::StrCat("member ", req->member_id(), " is not in the group"));
      }
      return absl::OkStatus();
    });
  }

 private:
  // Applies `edit` to a copy of the membership and commits the result; an
  // injected lost reply is lost after the commit, as a real one would be.
  grpc::Status Change(grpc::ServerContext* ctx, const State::Entry& entry,
                      v1::MemberChangeResponse* resp,
                      const std::function<meridian::Status(State::MemberMap& next)>& edit) {
    {
      absl::MutexLock l(&s_->mu);
      State::MemberMap next = s_->members;
      meridian::Status st = edit(next);
      if (st.ok()) st = s_->ChangeMembers(std::move(next), resp);
      if (!st.ok()) return ToGrpcStatus(st);
    }
    return State::Leave(ctx, entry);
  }

  State* s_;
};

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  explicit HealthService(State* s) : s_(s) {}

  grpc::Status Check(grpc::ServerContext* ctx, const grpc::health::v1::HealthCheckRequest* req,
                     grpc::health::v1::HealthCheckResponse* resp) override {
    FAKE_ENTER("Health/Check", nullptr);
    absl::MutexLock l(&s_->mu);
    resp->set_status(s_->serving ? grpc::health::v1::HealthCheckResponse::SERVING
                                 : grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    return grpc::Status::OK;
  }

 private:
  State* s_;
};

#undef FAKE_ENTER
#undef FAKE_ROUTE

// Owns the services so they outlive the grpc::Server that calls them.
struct Services {
  explicit Services(State* s) : kv(s), txn(s), cset(s), admin(s), health(s) {}
  KvService kv;
  TxnService txn;
  CsetService cset;
  AdminService admin;
  HealthService health;
};

}  // namespace

FakeServer::FakeServer() : state_(std::make_unique<State>()) {
  auto services = std::make_shared<Services>(state_.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&services->kv);
  builder.RegisterService(&services->txn);
  builder.RegisterService(&services->cset);
  builder.RegisterService(&services->admin);
  builder.RegisterService(&services->health);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port == 0) {
    std::cerr << "FakeServer: cannot listen on 127.0.0.1\n";
    std::abort();
  }
  address_ = "127.0.0.1:" + std::to_string(port);
  absl::MutexLock l(&state_->mu);
  state_->address = address_;
  state_->members[kSelfId] = {.address = address_, .learner = false};
  services_ = std::move(services);
}

FakeServer::~FakeServer() {
  // Held replies poll for cancellation, so a short deadline ends them.
  const auto now = std::chrono::system_clock::time_point(
      std::chrono::milliseconds(SystemClock()->NowUnixMillis()));
  server_->Shutdown(now + std::chrono::seconds(1));
}

void FakeServer::InjectError(const std::string& method, const Status& error, int times) {
  absl::MutexLock l(&state_->mu);
  for (int i = 0; i < times; ++i) {
    state_->faults[method].push_back({State::Fault::kAnswer, ToGrpcStatus(error)});
  }
}

void FakeServer::InjectBareError(const std::string& method, grpc::StatusCode code, int times) {
  absl::MutexLock l(&state_->mu);
  for (int i = 0; i < times; ++i) {
    state_->faults[method].push_back(
        {State::Fault::kAnswer, grpc::Status(code, "injected transport failure")});
  }
}

void FakeServer::InjectLostReply(const std::string& method, int times) {
  absl::MutexLock l(&state_->mu);
  for (int i = 0; i < times; ++i) {
    state_->faults[method].push_back({State::Fault::kLoseReply, grpc::Status::OK});
  }
}

int FakeServer::Calls(const std::string& method) const {
  absl::MutexLock l(&state_->mu);
  auto it = state_->calls.find(method);
  return it == state_->calls.end() ? 0 : it->second;
}

void FakeServer::SetFollowerReads(bool on) {
  absl::MutexLock l(&state_->mu);
  state_->follower_reads = on;
}

void FakeServer::SetServing(bool serving) {
  absl::MutexLock l(&state_->mu);
  state_->serving = serving;
}

uint64_t FakeServer::LastTokenSeen() const {
  absl::MutexLock l(&state_->mu);
  return state_->last_token_seen;
}

v1::RequestHeader FakeServer::LastHeader() const {
  absl::MutexLock l(&state_->mu);
  return state_->last_header;
}

void FakeServer::JoinCluster(const v1::ClusterConfig& config, uint64_t self,
                             std::map<uint64_t, uint64_t> leaders) {
  absl::MutexLock l(&state_->mu);
  state_->cluster = State::Cluster{.config = config, .self = self, .leaders = std::move(leaders)};
}

std::optional<std::string> FakeServer::Value(const std::string& key) const {
  absl::MutexLock l(&state_->mu);
  return state_->ReadAt(key, state_->hlc);
}

}  // namespace meridian::client::testing
