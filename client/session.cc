// Session (client.h): the keyed calls, each carrying its session's token,
// and the interactive transactions a session begins.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/client_impl.h"
#include "client/session_state.h"
#include "meridian/client.h"

namespace meridian::client {
namespace {

using internal::CallKind;
using internal::Endpoint;
using internal::ScanPart;
using internal::SessionState;
using internal::ShardRoute;
using internal::ToGetResult;
using internal::ToVersionInfo;

KeyValue ToKeyValue(const v1::KeyValue& kv) {
  return KeyValue{.key = kv.key(), .value = kv.value(), .version = ToVersionInfo(kv.version())};
}

// The transaction's snapshot at the serving site (the vector has one entry
// per site; a transaction reads at one site).
uint64_t SiteSnapshot(const v1::ResponseHeader& h) {
  for (const auto& e : h.snapshot().entries()) {
    if (e.site_id() == h.site_id()) return e.hlc();
  }
  return h.snapshot().entries_size() > 0 ? h.snapshot().entries(0).hlc() : 0;
}

Status ValidateScanSpec(const ScanSpec& spec) {
  if (!spec.prefix.empty() && (!spec.start.empty() || !spec.end.empty())) {
    return InvalidArgumentError("scan: prefix cannot be combined with start/end");
  }
  if (!spec.end.empty() && spec.end < spec.start) {
    return InvalidArgumentError("scan: end is before start");
  }
  return absl::OkStatus();
}

bool HasWrites(const google::protobuf::RepeatedPtrField<v1::Op>& ops) {
  return std::any_of(ops.begin(), ops.end(), [](const v1::Op& op) { return !op.has_get(); });
}

const std::string& OpKey(const v1::Op& op) {
  if (op.has_put()) return op.put().key();
  if (op.has_delete_()) return op.delete_().key();
  return op.get().key();
}

// The key an Execute is routed by: its first, in the order compares,
// success ops, failure ops. nullopt if it has none.
std::optional<std::string_view> FirstKey(const v1::ExecuteRequest& r) {
  if (!r.compares().empty()) return r.compares(0).key();
  if (!r.success().empty()) return OpKey(r.success(0));
  if (!r.failure().empty()) return OpKey(r.failure(0));
  return std::nullopt;
}

// The smallest key after every key starting with `prefix`; "" (the end of
// the keyspace) if there is none.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty() && static_cast<unsigned char>(prefix.back()) == 0xff) prefix.pop_back();
  if (!prefix.empty()) prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

}  // namespace

Session::Session(Client* client, bool enabled)
    : client_(client), state_(std::make_unique<SessionState>(enabled)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

std::string Session::ExportToken() const { return internal::EncodeTokenText(state_->token()); }

Status Session::ImportToken(std::string_view token) {
  if (!state_->enabled()) {
    return InvalidArgumentError(
        "cannot import a session token: sessions are off (ClientOptions::sessions)");
  }
  MERIDIAN_ASSIGN_OR_RETURN(v1::SessionToken t, internal::DecodeTokenText(token));
  state_->Merge(t);
  return absl::OkStatus();
}

Result<std::optional<GetResult>> Session::Get(std::string_view key, const ReadOptions& options) {
  v1::GetRequest req;
  req.set_key(std::string(key));
  if (options.consistency == ReadConsistency::kSession) {
    req.mutable_header()->set_read_consistency(v1::SESSION);
  }
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::GetResponse resp,
      client_->impl_->Unary({.kind = CallKind::kRead,
                             .key = key,
                             .session = state_.get(),
                             .session_read = options.consistency == ReadConsistency::kSession},
                            &v1::KV::Stub::Get, std::move(req)));
  return ToGetResult(std::move(resp));
}

Result<WriteResult> Session::Put(std::string_view key, std::string_view value) {
  v1::PutRequest req;
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::PutResponse resp,
      client_->impl_->Unary({.kind = CallKind::kWrite, .key = key, .session = state_.get()},
                            &v1::KV::Stub::Put, std::move(req)));
  return WriteResult{.commit_hlc = resp.header().commit_hlc()};
}

Result<bool> Session::Delete(std::string_view key) {
  v1::DeleteRequest req;
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::DeleteResponse resp,
      client_->impl_->Unary({.kind = CallKind::kWrite, .key = key, .session = state_.get()},
                            &v1::KV::Stub::Delete, std::move(req)));
  return resp.existed();
}

Result<ScanResult> Session::Scan(const ScanSpec& spec, const ReadOptions& options) {
  MERIDIAN_RETURN_IF_ERROR(ValidateScanSpec(spec));
  const bool session_read = options.consistency == ReadConsistency::kSession;
  v1::ScanRequest req;
  if (session_read) req.mutable_header()->set_read_consistency(v1::SESSION);
  req.set_start(spec.start);
  req.set_end(spec.end);
  req.set_prefix(spec.prefix);
  req.set_limit(spec.limit);
  req.set_keys_only(spec.keys_only);
  std::string from = spec.prefix.empty() ? spec.start : spec.prefix;
  ScanResult result;
  // Set once the limit is used up exactly where a shard ends: the next
  // shards are read one key at a time only to learn whether keys are left.
  bool probing = false;
  while (true) {
    MERIDIAN_ASSIGN_OR_RETURN(ScanPart part,
                              client_->impl_->ScanShard(req, from, state_.get(), session_read));
    if (probing) {
      result.more = !part.kvs.empty() || part.more;
    } else {
      for (KeyValue& kv : part.kvs) result.kvs.push_back(std::move(kv));
      result.more = part.more;
    }
    if (result.more || part.resume_key.empty()) return result;
    if (part.resume_key <= from) {
      return absl::InternalError("scan: the server's resume_key does not move forward");
    }
    // The rest of the range, in the next shard.
    from = std::move(part.resume_key);
    if (!spec.prefix.empty()) {
      req.clear_prefix();
      req.set_end(PrefixEnd(spec.prefix));
    }
    req.set_start(from);
    if (spec.limit != 0) {
      const uint64_t left = spec.limit - result.kvs.size();
      probing = left == 0;
      req.set_limit(probing ? 1 : left);
      if (probing) req.set_keys_only(true);
    }
  }
}

Result<ExecuteResult> Session::Execute(const v1::ExecuteRequest& request) {
  // Execute with only gets changes nothing and may be retried like a read.
  const bool writes = HasWrites(request.success()) || HasWrites(request.failure());
  const std::optional<std::string_view> key = FirstKey(request);
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::ExecuteResponse resp,
      client_->impl_->Unary({.kind = writes ? CallKind::kWrite : CallKind::kRead,
                             .key = key,
                             .session = state_.get()},
                            &v1::Txn::Stub::Execute, request));
  ExecuteResult result;
  result.succeeded = resp.succeeded();
  result.results.assign(resp.results().begin(), resp.results().end());
  result.commit_hlc = resp.header().commit_hlc();
  return result;
}

Result<std::unique_ptr<Txn>> Session::Begin(const BeginOptions& options) {
  if (options.timeout.count() < 0) return InvalidArgumentError("negative transaction timeout");
  v1::BeginRequest req;
  req.set_timeout_ms(static_cast<uint64_t>(options.timeout.count()));
  req.set_routing_key(options.routing_key);
  size_t served = 0;
  // A retried Begin may leave an unused transaction behind on a node; it
  // holds no locks and expires at its deadline.
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::BeginResponse resp,
      client_->impl_->Unary(
          {.kind = CallKind::kRead, .key = options.routing_key, .session = state_.get()},
          &v1::Txn::Stub::Begin, std::move(req), &served));
  std::unique_ptr<Txn> txn(
      new Txn(client_, state_.get(), resp.txn_id(), SiteSnapshot(resp.header())));
  txn->endpoint_ = served;
  return txn;
}

Status Session::RunTxn(const std::function<Status(Txn&)>& fn, const RunTxnOptions& options) {
  if (options.max_attempts < 1) return InvalidArgumentError("max_attempts must be >= 1");
  Status last;
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    if (attempt > 0) client_->impl_->Sleep(attempt - 1);
    MERIDIAN_ASSIGN_OR_RETURN(
        std::unique_ptr<Txn> txn,
        Begin(BeginOptions{.timeout = options.timeout, .routing_key = options.routing_key}));
    last = fn(*txn);
    if (last.ok()) {
      // fn may finish the transaction itself; then there is nothing to commit.
      if (txn->finished_) return absl::OkStatus();
      last = txn->Commit().status();
      if (last.ok()) return last;
    } else {
      (void)txn->Abort();
    }
    // Only a conflict proves the attempt had no effect and may be rerun;
    // kCommitUnknown in particular must reach the caller.
    if (GetErrorKind(last) != ErrorKind::kConflict) return last;
  }
  return MakeError({.kind = ErrorKind::kConflict},
                   absl::StrCat("transaction conflicted ", options.max_attempts,
                                " times; last: ", last.message()));
}

Status Session::CsetAdd(std::string_view key, std::string_view element) {
  v1::CsetAddRequest req;
  req.set_key(std::string(key));
  req.set_element(std::string(element));
  return client_->impl_
      ->Unary({.kind = CallKind::kWrite, .key = key, .session = state_.get()}, &v1::Cset::Stub::Add,
              std::move(req))
      .status();
}

Status Session::CsetRemove(std::string_view key, std::string_view element) {
  v1::CsetRemoveRequest req;
  req.set_key(std::string(key));
  req.set_element(std::string(element));
  return client_->impl_
      ->Unary({.kind = CallKind::kWrite, .key = key, .session = state_.get()},
              &v1::Cset::Stub::Remove, std::move(req))
      .status();
}

Result<std::map<std::string, int64_t>> Session::CsetRead(std::string_view key) {
  v1::CsetReadRequest req;
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::CsetReadResponse resp,
      client_->impl_->Unary({.kind = CallKind::kRead, .key = key, .session = state_.get()},
                            &v1::Cset::Stub::Read, std::move(req)));
  std::map<std::string, int64_t> out;
  for (const auto& e : resp.entries()) {
    if (e.count() != 0) out[e.element()] = e.count();
  }
  return out;
}

Result<ScanPart> Client::Impl::ScanShard(v1::ScanRequest req, std::string_view from,
                                         SessionState* session, bool session_read) {
  session->Stamp(req.mutable_header());
  ScanPart part;
  v1::ResponseHeader header;
  MERIDIAN_RETURN_IF_ERROR(Invoke(
      {.kind = CallKind::kRead, .key = from, .session = session, .session_read = session_read},
      [&](Endpoint& ep, grpc::ClientContext* ctx, const ShardRoute& route) {
        part = ScanPart();
        header.Clear();
        req.mutable_header()->set_shard_map_version(route.map_version);
        req.mutable_header()->set_shard_id(route.shard_id);
        std::unique_ptr<grpc::ClientReader<v1::ScanResponse>> reader = ep.kv->Scan(ctx, req);
        v1::ScanResponse chunk;
        bool first = true;
        while (reader->Read(&chunk)) {
          if (first) header = chunk.header();
          first = false;
          for (const auto& kv : chunk.kvs()) part.kvs.push_back(ToKeyValue(kv));
          part.more = chunk.more();
          part.resume_key = chunk.resume_key();
        }
        return reader->Finish();
      }));
  session->Observe(header);
  return part;
}

// ---------------------------------------------------------------------------
// Txn

Txn::Txn(Client* client, internal::SessionState* session, uint64_t id, uint64_t snapshot_hlc)
    : client_(client), session_(session), id_(id), snapshot_hlc_(snapshot_hlc) {}

Txn::~Txn() {
  if (!finished_) (void)Abort();
}

namespace {
Status Finished() { return TxnNotFoundError("transaction already committed or aborted"); }
}  // namespace

Result<std::optional<GetResult>> Txn::Get(std::string_view key) {
  if (finished_) return Finished();
  v1::TxnGetRequest req;
  req.set_txn_id(id_);
  req.set_key(std::string(key));
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::TxnGetResponse resp,
      client_->impl_->Unary({.kind = CallKind::kRead, .pinned = endpoint_, .session = session_},
                            &v1::Txn::Stub::Get, std::move(req)));
  return ToGetResult(std::move(resp));
}

// Buffered writes change nothing until Commit, and buffering the same write
// twice is harmless, so they are retried like reads.
Status Txn::Put(std::string_view key, std::string_view value) {
  if (finished_) return Finished();
  v1::TxnPutRequest req;
  req.set_txn_id(id_);
  req.set_key(std::string(key));
  req.set_value(std::string(value));
  return client_->impl_
      ->Unary({.kind = CallKind::kRead, .pinned = endpoint_, .session = session_},
              &v1::Txn::Stub::Put, std::move(req))
      .status();
}

Status Txn::Delete(std::string_view key) {
  if (finished_) return Finished();
  v1::TxnDeleteRequest req;
  req.set_txn_id(id_);
  req.set_key(std::string(key));
  return client_->impl_
      ->Unary({.kind = CallKind::kRead, .pinned = endpoint_, .session = session_},
              &v1::Txn::Stub::Delete, std::move(req))
      .status();
}

Result<ScanResult> Txn::Scan(const ScanSpec& spec) {
  if (finished_) return Finished();
  MERIDIAN_RETURN_IF_ERROR(ValidateScanSpec(spec));
  v1::TxnScanRequest req;
  req.set_txn_id(id_);
  req.set_start(spec.start);
  req.set_end(spec.end);
  req.set_prefix(spec.prefix);
  req.set_limit(spec.limit);
  MERIDIAN_ASSIGN_OR_RETURN(
      v1::TxnScanResponse resp,
      client_->impl_->Unary({.kind = CallKind::kRead, .pinned = endpoint_, .session = session_},
                            &v1::Txn::Stub::Scan, std::move(req)));
  ScanResult result;
  result.more = resp.more();
  for (const auto& kv : resp.kvs()) {
    result.kvs.push_back(ToKeyValue(kv));
    // TxnScanRequest has no keys_only, so values are dropped here.
    if (spec.keys_only) result.kvs.back().value.clear();
  }
  return result;
}

Result<WriteResult> Txn::Commit() {
  if (finished_) return Finished();
  v1::CommitRequest req;
  req.set_txn_id(id_);
  Result<v1::CommitResponse> resp =
      client_->impl_->Unary({.kind = CallKind::kWrite, .pinned = endpoint_, .session = session_},
                            &v1::Txn::Stub::Commit, std::move(req));
  if (!resp.ok()) {
    const Status& s = resp.status();
    // Left open only when the server proved the commit did not happen and
    // the transaction may still exist; the destructor then aborts it.
    const ErrorKind kind = GetErrorKind(s);
    finished_ = !(kind == ErrorKind::kUnavailable || kind == ErrorKind::kNotLeader ||
                  kind == ErrorKind::kResourceExhausted);
    return s;
  }
  finished_ = true;
  return WriteResult{.commit_hlc = resp->header().commit_hlc()};
}

Status Txn::Abort() {
  if (finished_) return absl::OkStatus();
  // Finished either way: if the abort is lost, the server expires the
  // transaction at its deadline.
  finished_ = true;
  v1::AbortRequest req;
  req.set_txn_id(id_);
  return client_->impl_
      ->Unary({.kind = CallKind::kRead, .pinned = endpoint_, .no_retry = true, .session = session_},
              &v1::Txn::Stub::Abort, std::move(req))
      .status();
}

}  // namespace meridian::client
