// meridian-token-bench: the CPU time causal sessions add to one call, on one
// core, without a network or a cluster (issue 7, "session overhead"). It
// calls the real code: the token functions of server/session_token.h in the
// order AcceptSessionToken (session_context.cc) and FillHeader
// (service_context.cc) call them, common/hlc.h's Hlc, and the SDK's
// client/session_state.h. Each figure is the median over --reps repetitions
// of --iters calls, in ns of this thread's CPU time per call (not wall time:
// on a shared machine a preempted loop would count the other processes'
// turns); min..max of the repetitions beside it. The last lines, for scale,
// time OpenSSL's HMAC alone: as Mac() calls it (one-shot HMAC()), and from a
// context keyed once (what a cached per-key context would cost; not
// Meridian's code).
//
//   meridian-token-bench [--iters=N] [--reps=R] [--sites=S]
//
//   --iters  calls per repetition (default 200000)
//   --reps   repetitions (default 7)
//   --sites  sites in the token's observed vector (default 1, as in
//            tests/bench/sessions.sh's one-site group)
//
// Exits 1 if the server refuses a token the bench signed (the figures would
// then time the wrong path).
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "client/session_state.h"
#include "common/clock.h"
#include "common/hlc.h"
#include "meridian/v1/common.pb.h"
#include "server/session_token.h"

namespace meridian {
namespace {

using client::internal::SessionState;

constexpr uint32_t kSiteId = 1;              // the answering node's site
constexpr uint64_t kMaxClockOffsetMs = 500;  // meridiand's default --max-clock-offset

struct Figure {
  double median_ns = 0, min_ns = 0, max_ns = 0;
};

// This thread's CPU time in ns. A measurement, not a time the code under
// test reads, so not through common/clock.h.
uint64_t ThreadCpuNanos() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Runs `call` iters times per repetition, reps times; CPU ns per call.
Figure Time(uint64_t iters, int reps, const std::function<void()>& call) {
  for (uint64_t i = 0; i < std::min<uint64_t>(iters / 10 + 1, 10000); ++i) call();  // warm up
  std::vector<double> ns;
  for (int r = 0; r < reps; ++r) {
    const uint64_t start = ThreadCpuNanos();
    for (uint64_t i = 0; i < iters; ++i) call();
    ns.push_back(static_cast<double>(ThreadCpuNanos() - start) / static_cast<double>(iters));
  }
  std::sort(ns.begin(), ns.end());
  const size_t n = ns.size();
  const double median = n % 2 ? ns[n / 2] : (ns[n / 2 - 1] + ns[n / 2]) / 2;
  return Figure{median, ns.front(), ns.back()};
}

void Print(std::string_view side, std::string_view what, const Figure& f) {
  std::printf("%-7s %-58s %8.0f ns  (%.0f..%.0f)\n", std::string(side).c_str(),
              std::string(what).c_str(), f.median_ns, f.min_ns, f.max_ns);
}

int Run(int argc, char** argv) {
  uint64_t iters = 200000;
  int reps = 7, sites = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--iters=")) {
      iters = std::strtoull(argv[i] + 8, nullptr, 10);
    } else if (a.starts_with("--reps=")) {
      reps = std::atoi(argv[i] + 7);
    } else if (a.starts_with("--sites=")) {
      sites = std::atoi(argv[i] + 8);
    } else {
      std::fprintf(stderr, "usage: meridian-token-bench [--iters=N] [--reps=R] [--sites=S]\n");
      return 2;
    }
  }
  if (iters == 0 || reps < 1 || sites < 1) {
    std::fprintf(stderr, "meridian-token-bench: --iters, --reps and --sites must be positive\n");
    return 2;
  }

  Clock* const clock = SystemClock();
  Hlc hlc(clock, Hlc::Options{.max_offset_ms = kMaxClockOffsetMs});
  server::SigningKeys keys;
  v1::SigningKey* key = keys.Add();
  key->set_key_id(1);
  key->set_secret(std::string(32, '\x5a'));  // 32 bytes, as session_keys.cc makes them

  // A token as a server returns it: every site observed, signed.
  v1::SessionToken token;
  for (int s = 1; s <= sites; ++s) {
    server::MergeObserved(static_cast<uint32_t>(s), hlc.Now(), token.mutable_observed());
  }
  token.set_cluster_time(hlc.Now());
  server::SignToken(*key, &token);

  v1::RequestHeader request_on;  // what a session stamps on a request
  *request_on.mutable_session_token() = token;
  request_on.set_shard_map_version(7);
  request_on.set_shard_id(1);
  v1::RequestHeader request_off = request_on;  // --no-sessions: no token
  request_off.clear_session_token();
  v1::ResponseHeader reply;  // what the SDK receives
  *reply.mutable_session_token() = token;

  uint64_t sink = 0;  // results the loops must not discard
  bool refused = false;

  // AcceptSessionToken's token path: is there a token, check it against the
  // clock bound and the keys, advance this node's clock to it.
  auto verify = [&] {
    const v1::SessionToken& t = request_on.session_token();
    if (server::IsEmptyToken(t)) return;
    const uint64_t latest = MakeHlc(clock->NowUnixMillis() + kMaxClockOffsetMs, kHlcLogicalMask);
    const server::TokenVerdict v = server::VerifyToken(t, keys, latest);
    if (v.rejection != server::TokenRejection::kNone) refused = true;
    sink += hlc.Observe(server::NewestTimestamp(t)).ok();
  };
  // FillHeader's token half, into a fresh response header as each handler
  // has: the request's vector with this site raised, the cluster time, the MAC.
  auto fill = [&](const v1::RequestHeader& request) {
    v1::ResponseHeader header;
    const v1::SigningKey* k = server::NewestKey(keys);
    v1::SessionToken* t = header.mutable_session_token();
    *t->mutable_observed() = request.session_token().observed();
    server::MergeObserved(kSiteId, hlc.Now(), t->mutable_observed());
    t->set_cluster_time(hlc.Now());
    server::SignToken(*k, t);
    sink += t->signature().size();
  };

  SessionState on(true), off(false);
  on.Merge(token);
  auto observe = [&](SessionState* s) { s->Observe(reply); };
  auto stamp = [&](SessionState* s) {
    v1::RequestHeader h;  // the SDK builds each request afresh
    s->Stamp(&h);
    sink += h.has_session_token();
  };
  // Marshalling: gRPC serializes each message once and parses it once.
  auto wire = [&](const auto& message) {
    std::string bytes;
    message.SerializeToString(&bytes);
    std::remove_cvref_t<decltype(message)> parsed;
    sink += parsed.ParseFromString(bytes);
  };
  v1::ResponseHeader reply_without = reply;
  reply_without.clear_session_token();

  verify();
  if (refused) {
    std::fprintf(stderr, "meridian-token-bench: the server refused the bench's token\n");
    return 1;
  }

  std::printf(
      "meridian-token-bench: %llu calls x %d reps; %d site(s) in the token, %zu B on the wire; "
      "median CPU ns per call (min..max of the reps)\n",
      static_cast<unsigned long long>(iters), reps, sites, token.ByteSizeLong());
  const Figure v = Time(iters, reps, verify);
  const Figure f_on = Time(iters, reps, [&] { fill(request_on); });
  const Figure f_off = Time(iters, reps, [&] { fill(request_off); });
  const Figure obs = Time(iters, reps, [&] { observe(&on); });
  const Figure st = Time(iters, reps, [&] { stamp(&on); });
  const Figure disabled = Time(iters, reps, [&] {
    observe(&off);
    stamp(&off);
  });
  const Figure req_with = Time(iters, reps, [&] { wire(request_on); });
  const Figure req_without = Time(iters, reps, [&] { wire(request_off); });
  const Figure rep_with = Time(iters, reps, [&] { wire(reply); });
  const Figure rep_without = Time(iters, reps, [&] { wire(reply_without); });
  // One call's whole token path, the token evolving as in a session.
  SessionState chain(true);
  chain.Merge(token);
  const Figure whole = Time(iters, reps, [&] {
    v1::RequestHeader req;
    chain.Stamp(&req);
    const uint64_t latest = MakeHlc(clock->NowUnixMillis() + kMaxClockOffsetMs, kHlcLogicalMask);
    if (server::VerifyToken(req.session_token(), keys, latest).rejection !=
        server::TokenRejection::kNone) {
      refused = true;
    }
    sink += hlc.Observe(server::NewestTimestamp(req.session_token())).ok();
    v1::ResponseHeader resp;
    v1::SessionToken* t = resp.mutable_session_token();
    *t->mutable_observed() = req.session_token().observed();
    server::MergeObserved(kSiteId, hlc.Now(), t->mutable_observed());
    t->set_cluster_time(hlc.Now());
    server::SignToken(*server::NewestKey(keys), t);
    chain.Observe(resp);
  });
  if (refused) {
    std::fprintf(stderr, "meridian-token-bench: the server refused a token of the chain\n");
    return 1;
  }
  // For scale: the MAC's input alone, and the MAC alone two ways.
  const Figure canon =
      Time(iters, reps, [&] { sink += server::CanonicalTokenBytes(token).size(); });
  const std::string canonical = server::CanonicalTokenBytes(token);
  const auto* in = reinterpret_cast<const unsigned char*>(canonical.data());
  unsigned char mac[EVP_MAX_MD_SIZE];
  const Figure one_shot = Time(iters, reps, [&] {
    unsigned int len = 0;
    HMAC(EVP_sha256(), key->secret().data(), static_cast<int>(key->secret().size()), in,
         canonical.size(), mac, &len);
    sink += len;
  });
  EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* keyed = hmac != nullptr ? EVP_MAC_CTX_new(hmac) : nullptr;
  char sha256[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256, 0),
                               OSSL_PARAM_END};
  if (keyed == nullptr ||
      EVP_MAC_init(keyed, reinterpret_cast<const unsigned char*>(key->secret().data()),
                   key->secret().size(), params) != 1) {
    std::fprintf(stderr, "meridian-token-bench: cannot key an HMAC context\n");
    return 1;
  }
  const Figure reused = Time(iters, reps, [&] {
    EVP_MAC_CTX* c = EVP_MAC_CTX_dup(keyed);
    size_t len = 0;
    EVP_MAC_update(c, in, canonical.size());
    EVP_MAC_final(c, mac, &len, sizeof(mac));
    EVP_MAC_CTX_free(c);
    sink += len;
  });
  EVP_MAC_CTX_free(keyed);
  EVP_MAC_free(hmac);

  Print("server", "verify the request's token (AcceptSessionToken)", v);
  Print("server", "make + sign the reply's token, request had one", f_on);
  Print("server", "make + sign the reply's token, request had none (off)", f_off);
  Print("client", "keep the reply's token (SessionState::Observe)", obs);
  Print("client", "stamp it on the next request (SessionState::Stamp)", st);
  Print("client", "Observe + Stamp, sessions off", disabled);
  Print("wire", "request header serialize + parse, with token", req_with);
  Print("wire", "request header serialize + parse, without token", req_without);
  Print("wire", "reply header serialize + parse, with token", rep_with);
  Print("wire", "reply header serialize + parse, without token", rep_without);
  Print("chain", "Stamp, verify, make + sign reply, Observe (one loop)", whole);
  Print("scale", "CanonicalTokenBytes alone (the MAC's input)", canon);
  Print("scale", "HMAC-SHA256 of it, one-shot HMAC() as Mac() calls it", one_shot);
  Print("scale", "the same from a context keyed once, dup'ed per call", reused);

  const double server_on = v.median_ns + f_on.median_ns;
  const double client_on = obs.median_ns + st.median_ns;
  const double wire_req = req_with.median_ns - req_without.median_ns;
  const double wire_rep = rep_with.median_ns - rep_without.median_ns;
  const double on_total = server_on + client_on + wire_req + wire_rep;
  const double off_total = f_off.median_ns + disabled.median_ns + wire_rep;
  std::printf("\nper request (sums of the medians above):\n");
  std::printf("  sessions on:  %6.0f ns  (server %.0f, client %.0f, wire %.0f)\n", on_total,
              server_on, client_on, wire_req + wire_rep);
  std::printf(
      "  sessions off: %6.0f ns  (the server signs a reply token either way: server %.0f, "
      "client %.0f, wire %.0f)\n",
      off_total, f_off.median_ns, disabled.median_ns, wire_rep);
  std::printf("  on - off:     %6.0f ns  (what sessions.sh's on/off comparison can see)\n",
              on_total - off_total);
  return sink == 0 ? 1 : 0;
}

}  // namespace
}  // namespace meridian

int main(int argc, char** argv) { return meridian::Run(argc, argv); }
