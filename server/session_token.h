// Session tokens (docs/api.md, "Sessions"): what a client carries from one
// request to the next so that any node can serve it causally.
//
// A token holds the per-site timestamps the session observed or wrote and
// the cluster time of the node that answered, and is signed with
// HMAC-SHA256 under one of the cluster's signing keys (ClusterConfig.
// signing_keys, rotated by Admin.RotateSigningKey). The MAC covers a
// canonical encoding, so the order of the observed entries on the wire does
// not matter. A node trusts a token only once it verified it: only then may
// the token advance its clock or make a read wait.
//
// Pure functions, no I/O; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "meridian/v1/cluster.pb.h"
#include "meridian/v1/common.pb.h"

namespace meridian::server {

using SigningKeys = google::protobuf::RepeatedPtrField<v1::SigningKey>;

// Why a token was refused; also the `reason` label of
// meridian_session_tokens_rejected_total.
enum class TokenRejection {
  kNone,
  kUnsigned,      // key id 0 or no signature, but it claims timestamps
  kUnknownKey,    // signed with a key this node does not know
  kBadSignature,  // the MAC does not match: forged or altered
  kTooFarAhead,   // its time is beyond this node's clock + max offset
};
std::string_view TokenRejectionName(TokenRejection r);

// True for a token that claims nothing (no timestamps at all): it is
// treated as no token, signed or not.
bool IsEmptyToken(const v1::SessionToken& token);

// The bytes the MAC covers: a version tag, the key id, the cluster time and
// the observed entries sorted by (site, hlc), all fixed-width big-endian.
std::string CanonicalTokenBytes(const v1::SessionToken& token);

// Sets token->key_id and token->signature for `key`.
// REQUIRES: key.secret() is not empty.
void SignToken(const v1::SigningKey& key, v1::SessionToken* token);

// The key new tokens are signed with: the one with the highest id, or null
// if there is none.
const v1::SigningKey* NewestKey(const SigningKeys& keys);
const v1::SigningKey* FindKey(const SigningKeys& keys, uint32_t key_id);

// The highest timestamp a token claims (its cluster time or an observed
// entry).
uint64_t NewestTimestamp(const v1::SessionToken& token);

struct TokenVerdict {
  TokenRejection rejection = TokenRejection::kNone;
  Status status;  // INVALID_ARGUMENT naming the problem, unless kNone
};

// Checks a non-empty token: it must be signed, with a key of `keys`, with a
// matching MAC (compared in constant time), and claim no timestamp above
// `latest_acceptable_hlc` (this node's physical clock + max offset).
// REQUIRES: !IsEmptyToken(token).
TokenVerdict VerifyToken(const v1::SessionToken& token, const SigningKeys& keys,
                         uint64_t latest_acceptable_hlc);

// The observed timestamp of `site_id` in the token (0 if none).
uint64_t ObservedAt(const v1::SessionToken& token, uint32_t site_id);

// Raises the entry of `site_id` in `*observed` to at least `hlc` (adding it
// if missing); other sites' entries are kept. Entries end up sorted by site,
// one per site.
void MergeObserved(uint32_t site_id, uint64_t hlc, v1::VectorTimestamp* observed);

}  // namespace meridian::server
