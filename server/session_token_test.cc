#include "server/session_token.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "common/hlc.h"

namespace meridian::server {
namespace {

constexpr uint64_t kNow = MakeHlc(1'700'000'000'000, 0);
constexpr uint64_t kLatest = MakeHlc(1'700'000'000'500, kHlcLogicalMask);

v1::SigningKey Key(uint32_t id, char fill) {
  v1::SigningKey k;
  k.set_key_id(id);
  k.set_secret(std::string(32, fill));
  return k;
}

SigningKeys Keys(std::initializer_list<v1::SigningKey> keys) {
  SigningKeys out;
  for (const v1::SigningKey& k : keys) *out.Add() = k;
  return out;
}

v1::SessionToken Token(uint64_t observed, uint64_t cluster_time) {
  v1::SessionToken t;
  MergeObserved(1, observed, t.mutable_observed());
  t.set_cluster_time(cluster_time);
  return t;
}

TEST(SessionToken, ASignedTokenVerifies) {
  const SigningKeys keys = Keys({Key(1, 'a')});
  v1::SessionToken t = Token(kNow - 10, kNow);
  SignToken(keys[0], &t);
  EXPECT_EQ(t.key_id(), 1u);
  EXPECT_EQ(t.signature().size(), 32u);
  const TokenVerdict v = VerifyToken(t, keys, kLatest);
  EXPECT_EQ(v.rejection, TokenRejection::kNone);
  EXPECT_TRUE(v.status.ok()) << v.status;
}

TEST(SessionToken, TheOrderOfObservedEntriesDoesNotChangeTheMac) {
  v1::SessionToken a;
  a.set_cluster_time(kNow);
  for (uint32_t site : {3u, 1u, 2u}) {
    auto* e = a.mutable_observed()->add_entries();
    e->set_site_id(site);
    e->set_hlc(kNow - site);
  }
  v1::SessionToken b = a;
  b.mutable_observed()->mutable_entries()->SwapElements(0, 2);
  EXPECT_EQ(CanonicalTokenBytes(a), CanonicalTokenBytes(b));
  const SigningKeys keys = Keys({Key(1, 'a')});
  SignToken(keys[0], &a);
  *b.mutable_signature() = a.signature();
  b.set_key_id(1);
  EXPECT_EQ(VerifyToken(b, keys, kLatest).rejection, TokenRejection::kNone);
}

TEST(SessionToken, EveryCoveredFieldIsBoundByTheMac) {
  const SigningKeys keys = Keys({Key(1, 'a'), Key(2, 'b')});
  v1::SessionToken signed_token = Token(kNow - 10, kNow);
  SignToken(keys[0], &signed_token);
  std::vector<v1::SessionToken> altered(4, signed_token);
  altered[0].mutable_observed()->mutable_entries(0)->set_hlc(kNow - 9);
  altered[1].set_cluster_time(kNow + 1);
  altered[2].mutable_observed()->mutable_entries(0)->set_site_id(2);
  altered[3].set_key_id(2);  // a valid key, but not the one that signed
  for (const v1::SessionToken& t : altered) {
    const TokenVerdict v = VerifyToken(t, keys, kLatest);
    EXPECT_EQ(v.rejection, TokenRejection::kBadSignature) << t.ShortDebugString();
    EXPECT_TRUE(absl::StrContains(v.status.message(), "signature does not match")) << v.status;
  }
}

TEST(SessionToken, AFlippedSignatureByteIsAForgery) {
  const SigningKeys keys = Keys({Key(1, 'a')});
  v1::SessionToken t = Token(kNow - 10, kNow);
  SignToken(keys[0], &t);
  for (size_t i : {size_t{0}, size_t{31}}) {
    v1::SessionToken forged = t;
    (*forged.mutable_signature())[i] ^= 0x01;
    EXPECT_EQ(VerifyToken(forged, keys, kLatest).rejection, TokenRejection::kBadSignature);
  }
  v1::SessionToken truncated = t;
  truncated.mutable_signature()->pop_back();
  EXPECT_EQ(VerifyToken(truncated, keys, kLatest).rejection, TokenRejection::kBadSignature);
}

TEST(SessionToken, AKeyOfAnotherClusterDoesNotVerify) {
  v1::SessionToken t = Token(kNow - 10, kNow);
  SignToken(Key(1, 'x'), &t);
  EXPECT_EQ(VerifyToken(t, Keys({Key(1, 'a')}), kLatest).rejection, TokenRejection::kBadSignature);
}

TEST(SessionToken, UnsignedTokensAreRefused) {
  const SigningKeys keys = Keys({Key(1, 'a')});
  v1::SessionToken no_key = Token(kNow - 10, kNow);
  no_key.set_signature(std::string(32, 'z'));
  v1::SessionToken no_signature = Token(kNow - 10, 0);
  no_signature.set_key_id(1);
  for (const v1::SessionToken& t : {no_key, no_signature}) {
    const TokenVerdict v = VerifyToken(t, keys, kLatest);
    EXPECT_EQ(v.rejection, TokenRejection::kUnsigned);
    EXPECT_EQ(v.status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(v.status.message(), "unsigned session token")) << v.status;
  }
}

TEST(SessionToken, ATokenClaimingNothingIsNoToken) {
  EXPECT_TRUE(IsEmptyToken(v1::SessionToken()));
  v1::SessionToken zeros;
  zeros.mutable_observed()->add_entries()->set_site_id(1);
  zeros.set_key_id(3);
  EXPECT_TRUE(IsEmptyToken(zeros));
  EXPECT_FALSE(IsEmptyToken(Token(0, 1)));
  EXPECT_FALSE(IsEmptyToken(Token(1, 0)));
}

TEST(SessionToken, AnUnknownKeyIsNamed) {
  v1::SessionToken t = Token(kNow - 10, kNow);
  SignToken(Key(7, 'q'), &t);
  const TokenVerdict v = VerifyToken(t, Keys({Key(2, 'b'), Key(3, 'c')}), kLatest);
  EXPECT_EQ(v.rejection, TokenRejection::kUnknownKey);
  EXPECT_TRUE(absl::StrContains(v.status.message(), "signed with key 7")) << v.status;
  EXPECT_TRUE(absl::StrContains(v.status.message(), "knows keys 3, 2")) << v.status;
}

TEST(SessionToken, OldKeysStillVerifyAfterARotation) {
  v1::SessionToken t = Token(kNow - 10, kNow);
  SignToken(Key(1, 'a'), &t);
  const SigningKeys rotated = Keys({Key(3, 'c'), Key(2, 'b'), Key(1, 'a')});
  EXPECT_EQ(NewestKey(rotated)->key_id(), 3u);
  EXPECT_EQ(VerifyToken(t, rotated, kLatest).rejection, TokenRejection::kNone);
  const SigningKeys dropped = Keys({Key(4, 'd'), Key(3, 'c'), Key(2, 'b')});
  EXPECT_EQ(VerifyToken(t, dropped, kLatest).rejection, TokenRejection::kUnknownKey);
}

TEST(SessionToken, ASignedTokenTooFarAheadIsRefused) {
  const SigningKeys keys = Keys({Key(1, 'a')});
  v1::SessionToken at_bound = Token(kNow, kLatest);
  SignToken(keys[0], &at_bound);
  EXPECT_EQ(VerifyToken(at_bound, keys, kLatest).rejection, TokenRejection::kNone);

  v1::SessionToken ahead = Token(kNow, kLatest + 1);
  SignToken(keys[0], &ahead);
  const TokenVerdict v = VerifyToken(ahead, keys, kLatest);
  EXPECT_EQ(v.rejection, TokenRejection::kTooFarAhead);
  EXPECT_EQ(v.status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(v.status.message(), "too far ahead")) << v.status;

  // An observed entry counts as much as the cluster time.
  v1::SessionToken entry_ahead = Token(kLatest + 1, kNow);
  SignToken(keys[0], &entry_ahead);
  EXPECT_EQ(VerifyToken(entry_ahead, keys, kLatest).rejection, TokenRejection::kTooFarAhead);
}

TEST(SessionToken, MergeKeepsOneMaximumPerSite) {
  v1::VectorTimestamp v;
  MergeObserved(2, 20, &v);
  MergeObserved(1, 10, &v);
  MergeObserved(2, 15, &v);
  MergeObserved(1, 12, &v);
  MergeObserved(3, 0, &v);
  ASSERT_EQ(v.entries_size(), 2);
  EXPECT_EQ(v.entries(0).site_id(), 1u);
  EXPECT_EQ(v.entries(0).hlc(), 12u);
  EXPECT_EQ(v.entries(1).site_id(), 2u);
  EXPECT_EQ(v.entries(1).hlc(), 20u);
  v1::SessionToken t;
  *t.mutable_observed() = v;
  EXPECT_EQ(ObservedAt(t, 2), 20u);
  EXPECT_EQ(ObservedAt(t, 3), 0u);
}

}  // namespace
}  // namespace meridian::server
