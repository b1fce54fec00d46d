// ServiceContext's session half: accepting tokens and the causal wait of
// session reads (services.h; docs/consistency.md, "Sessions").
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "server/causal_wait.h"
#include "server/close_nudger.h"
#include "server/replication.h"
#include "server/server_metrics.h"
#include "server/services.h"
#include "server/session_token.h"

namespace meridian::server {
namespace {

// A follower waits this long before it asks the shard's leader to close
// the session's timestamp: on a shard taking writes the next commit
// usually covers it first, and no request is spent.
constexpr uint64_t kCloseNudgeDelayUs = 2'000;
// A close request slower than this helps no more than the leader's idle
// close (at the default --close-interval); it also bounds how long a
// shutdown waits for one.
constexpr uint64_t kCloseRequestTimeoutMs = 1'000;

// Milliseconds until the client's deadline, or nullopt if it set none.
std::optional<uint64_t> RemainingMs(const grpc::ServerContext& context, Clock* clock) {
  const auto deadline = context.deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return std::nullopt;
  const int64_t deadline_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch()).count();
  const int64_t now_ms = static_cast<int64_t>(clock->NowUnixMillis());
  return static_cast<uint64_t>(std::max<int64_t>(deadline_ms - now_ms, 0));
}

}  // namespace

Status ServiceContext::AcceptSessionToken(const v1::RequestHeader& request,
                                          const grpc::ServerContext* context) const {
  if (!VerifiesSessionTokens() && learns_signing_keys && learns_signing_keys()) {
    // A new cluster's first moments, before its first config commits.
    // Served now, this call would be answered without a token, and its
    // session would not know what it wrote or read here (a later session
    // read at a follower could miss it).
    if (reload_cluster_config) reload_cluster_config();
    if (!VerifiesSessionTokens()) {
      return UnavailableError(
          "this node has not learned the cluster's session signing keys yet (its first config "
          "is not committed); retry shortly");
    }
  }
  const v1::SessionToken& token = request.session_token();
  if (IsEmptyToken(token)) return absl::OkStatus();
  uint64_t latest_acceptable =
      MakeHlc(clock->NowUnixMillis() + config->max_clock_offset_ms, kHlcLogicalMask);
  std::shared_ptr<const v1::ClusterConfig> current = shards->Current().config;
  TokenVerdict verdict = VerifyToken(token, current->signing_keys(), latest_acceptable);
  if (verdict.rejection == TokenRejection::kTooFarAhead) {
    // Signed by the cluster: some node stamped that time while its clock ran
    // ahead (it fences itself, but its timestamps stay in the data, and
    // every commit after them is stamped above them). Refusing would break
    // the session until the clocks pass that time; waiting the excess out,
    // when it is short, keeps the session and its guarantees.
    const uint64_t claimed_ms = HlcPhysicalMillis(NewestTimestamp(token));
    const uint64_t excess_ms = claimed_ms - HlcPhysicalMillis(latest_acceptable);
    const uint64_t budget_ms = std::min(
        kMaxTokenAheadWaitMs,
        context == nullptr ? kMaxTokenAheadWaitMs : CausalWaitBudgetMs(RemainingMs(*context, clock)));
    if (excess_ms <= budget_ms) {
      Metrics().session_token_ahead_waits->Inc();
      clock->SleepMicros(excess_ms * 1000);
      latest_acceptable =
          MakeHlc(clock->NowUnixMillis() + config->max_clock_offset_ms, kHlcLogicalMask);
      verdict = VerifyToken(token, current->signing_keys(), latest_acceptable);
    }
  }
  if (verdict.rejection == TokenRejection::kUnknownKey && reload_cluster_config) {
    // A key newer than this node's newest may come from a rotation it has
    // not picked up yet: look once at what its replica of the config group
    // has applied.
    const v1::SigningKey* newest = NewestKey(current->signing_keys());
    if (newest == nullptr || token.key_id() > newest->key_id()) {
      reload_cluster_config();
      current = shards->Current().config;
      verdict = VerifyToken(token, current->signing_keys(), latest_acceptable);
    }
  }
  if (verdict.rejection == TokenRejection::kUnknownKey &&
      NewestKey(current->signing_keys()) == nullptr) {
    // It cannot tell a real token from a forged one, so it trusts none:
    // served as if it carried no token (CatchUpToSession refuses the reads
    // that would need it).
    return absl::OkStatus();
  }
  if (verdict.rejection != TokenRejection::kNone) {
    Metrics()
        .session_tokens_rejected->With({std::string(TokenRejectionName(verdict.rejection))})
        ->Inc();
    return verdict.status;
  }
  // Within the max offset (checked above), so Observe adopts it.
  return hlc->Observe(NewestTimestamp(token));
}

Result<Router::Target> ServiceContext::RouteRead(std::string_view key,
                                                 const v1::RequestHeader& request,
                                                 std::optional<uint64_t> snapshot,
                                                 const grpc::ServerContext& context) const {
  // An explicit snapshot names exactly what to read: the session has no say.
  if (snapshot || request.read_consistency() != v1::SESSION) {
    // A read at a snapshot may be served by a follower that closed it.
    return router->ForSnapshotRead(key, request, snapshot.value_or(0));
  }
  MERIDIAN_ASSIGN_OR_RETURN(Router::Target target, router->ForSessionRead(key, request));
  MERIDIAN_RETURN_IF_ERROR(CatchUpToSession(target, request, context));
  return target;
}

bool ServiceContext::VerifiesSessionTokens() const {
  return NewestKey(shards->Current().config->signing_keys()) != nullptr;
}

uint64_t ServiceContext::SessionFloor(const v1::RequestHeader& request) const {
  return VerifiesSessionTokens() ? ObservedAt(request.session_token(), config->site_id) : 0;
}

Status ServiceContext::CatchUpToSession(const Router::Target& target,
                                        const v1::RequestHeader& request,
                                        const grpc::ServerContext& context) const {
  txn::TxnStore* store = target.store;
  const bool leads = target.replication == nullptr || target.replication->IsLeaderReady();
  if (!VerifiesSessionTokens()) {
    // The leader's state covers every acknowledged write of its shard, so
    // it serves without the token; a follower cannot know how far behind
    // the session it is.
    if (leads || IsEmptyToken(request.session_token())) return absl::OkStatus();
    return UnavailableError(
        "this replica cannot verify session tokens (it has not learned the cluster's signing "
        "keys), so it cannot serve a session read that carries one; retry at another replica or "
        "at the leader");
  }
  const uint64_t needed = ObservedAt(request.session_token(), config->site_id);
  if (store->VisibleHlc() >= needed) return absl::OkStatus();
  const uint64_t start_us = clock->NowMonotonicMicros();
  Status s;
  if (leads) {
    // The token may name a newer commit of another shard: close this one
    // through it (the token was verified, so it is within the clock bound).
    s = store->CloseThrough(needed);
  }
  if (!leads || GetErrorKind(s) == ErrorKind::kNotLeader) {
    const uint64_t budget_ms = CausalWaitBudgetMs(RemainingMs(context, clock));
    // Only the leader's commits move this replica, and on an idle shard
    // those are its idle closes (--close-interval): ask it for one now.
    bool asked = close_nudger == nullptr;
    auto ask_leader_to_close = [&](uint64_t waited_us) {
      if (asked || waited_us < kCloseNudgeDelayUs) return;
      const uint64_t left_ms = budget_ms - std::min(budget_ms, waited_us / 1000);
      if (left_ms == 0) return;
      asked = close_nudger->Nudge(target.shard_id(), needed,
                                  std::min(left_ms, kCloseRequestTimeoutMs)) !=
              CloseNudger::Outcome::kBusy;
    };
    s = WaitUntilVisible([store] { return store->VisibleHlc(); }, needed, clock, budget_ms,
                         absl::StrCat("shard ", target.shard_id()), ask_leader_to_close)
            .status();
    if (GetErrorKind(s) == ErrorKind::kCausalWaitTimeout) Metrics().causal_wait_timeouts->Inc();
  }
  Metrics().causal_wait_seconds->Observe(
      static_cast<double>(clock->NowMonotonicMicros() - start_us) / 1e6);
  return s;
}

}  // namespace meridian::server
