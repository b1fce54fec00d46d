#include "server/session_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/coding.h"
#include "common/hlc.h"

namespace meridian::server {
namespace {

// Bumped if the encoding ever changes, so old MACs cannot be reinterpreted.
constexpr std::string_view kEncodingTag = "meridian-session-token-v1";
constexpr size_t kMacBytes = 32;  // SHA-256

std::string Mac(const v1::SigningKey& key, const v1::SessionToken& token) {
  const std::string bytes = CanonicalTokenBytes(token);
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.secret().data(), static_cast<int>(key.secret().size()),
       reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

TokenVerdict Reject(TokenRejection why, std::string_view message) {
  return TokenVerdict{why, InvalidArgumentError(message)};
}

std::string KeyIds(const SigningKeys& keys) {
  std::vector<uint32_t> ids;
  for (const v1::SigningKey& k : keys) ids.push_back(k.key_id());
  std::sort(ids.rbegin(), ids.rend());
  return ids.empty() ? "none" : absl::StrJoin(ids, ", ");
}

}  // namespace

std::string_view TokenRejectionName(TokenRejection r) {
  switch (r) {
    case TokenRejection::kNone:
      return "none";
    case TokenRejection::kUnsigned:
      return "unsigned";
    case TokenRejection::kUnknownKey:
      return "unknown_key";
    case TokenRejection::kBadSignature:
      return "bad_signature";
    case TokenRejection::kTooFarAhead:
      return "too_far_ahead";
  }
  return "none";
}

bool IsEmptyToken(const v1::SessionToken& token) { return NewestTimestamp(token) == 0; }

uint64_t NewestTimestamp(const v1::SessionToken& token) {
  uint64_t newest = token.cluster_time();
  for (const v1::SiteTimestamp& e : token.observed().entries()) newest = std::max(newest, e.hlc());
  return newest;
}

std::string CanonicalTokenBytes(const v1::SessionToken& token) {
  std::vector<std::pair<uint32_t, uint64_t>> entries;
  entries.reserve(token.observed().entries_size());
  for (const v1::SiteTimestamp& e : token.observed().entries()) {
    entries.emplace_back(e.site_id(), e.hlc());
  }
  std::sort(entries.begin(), entries.end());
  std::string out(kEncodingTag);
  PutBigEndian32(&out, token.key_id());
  PutBigEndian64(&out, token.cluster_time());
  PutBigEndian32(&out, static_cast<uint32_t>(entries.size()));
  for (const auto& [site, hlc] : entries) {
    PutBigEndian32(&out, site);
    PutBigEndian64(&out, hlc);
  }
  return out;
}

void SignToken(const v1::SigningKey& key, v1::SessionToken* token) {
  token->set_key_id(key.key_id());
  token->set_signature(Mac(key, *token));
}

const v1::SigningKey* NewestKey(const SigningKeys& keys) {
  const v1::SigningKey* newest = nullptr;
  for (const v1::SigningKey& k : keys) {
    if (newest == nullptr || k.key_id() > newest->key_id()) newest = &k;
  }
  return newest;
}

const v1::SigningKey* FindKey(const SigningKeys& keys, uint32_t key_id) {
  for (const v1::SigningKey& k : keys) {
    if (k.key_id() == key_id) return &k;
  }
  return nullptr;
}

TokenVerdict VerifyToken(const v1::SessionToken& token, const SigningKeys& keys,
                         uint64_t latest_acceptable_hlc) {
  if (token.key_id() == 0 || token.signature().empty()) {
    return Reject(TokenRejection::kUnsigned,
                  "unsigned session token: it claims timestamps but carries no signature; send "
                  "back the token a server returned, unchanged");
  }
  const v1::SigningKey* key = FindKey(keys, token.key_id());
  if (key == nullptr || key->secret().empty()) {
    return Reject(TokenRejection::kUnknownKey,
                  absl::StrCat("session token is signed with key ", token.key_id(),
                               ", which this node does not know (it knows keys ", KeyIds(keys),
                               "): the key was rotated out, or the token is forged"));
  }
  const std::string expected = Mac(*key, token);
  if (token.signature().size() != kMacBytes || expected.size() != kMacBytes ||
      CRYPTO_memcmp(expected.data(), token.signature().data(), kMacBytes) != 0) {
    return Reject(TokenRejection::kBadSignature,
                  absl::StrCat("session token signature does not match (key ", token.key_id(),
                               "): the token was altered or forged"));
  }
  const uint64_t claimed = NewestTimestamp(token);
  if (claimed > latest_acceptable_hlc) {
    return Reject(
        TokenRejection::kTooFarAhead,
        absl::StrCat("session token time ", FormatHlc(claimed),
                     " is too far ahead of this node's clock (it accepts up to ",
                     FormatHlc(latest_acceptable_hlc), "): a clock ran beyond --max-clock-offset"));
  }
  return TokenVerdict{};
}

uint64_t ObservedAt(const v1::SessionToken& token, uint32_t site_id) {
  uint64_t out = 0;
  for (const v1::SiteTimestamp& e : token.observed().entries()) {
    if (e.site_id() == site_id) out = std::max(out, e.hlc());
  }
  return out;
}

void MergeObserved(uint32_t site_id, uint64_t hlc, v1::VectorTimestamp* observed) {
  std::vector<std::pair<uint32_t, uint64_t>> merged;
  for (const v1::SiteTimestamp& e : observed->entries()) merged.emplace_back(e.site_id(), e.hlc());
  merged.emplace_back(site_id, hlc);
  std::sort(merged.begin(), merged.end());
  observed->clear_entries();
  for (size_t i = 0; i < merged.size(); ++i) {
    // Sorted by (site, hlc): the last of a site's run is its maximum.
    if (i + 1 < merged.size() && merged[i + 1].first == merged[i].first) continue;
    if (merged[i].second == 0) continue;
    v1::SiteTimestamp* e = observed->add_entries();
    e->set_site_id(merged[i].first);
    e->set_hlc(merged[i].second);
  }
}

}  // namespace meridian::server
