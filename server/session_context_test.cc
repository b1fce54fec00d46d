// ServiceContext's session half, without a server: accepting tokens (the
// config reload for a key it does not know yet, no keys at all) and the
// tokens FillHeader hands out (none while fenced).
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "server/fence.h"
#include "server/services.h"
#include "server/session_token.h"
#include "server/shard_directory.h"

namespace meridian::server {
namespace {

v1::SigningKey Key(uint32_t id, char fill) {
  v1::SigningKey k;
  k.set_key_id(id);
  k.set_secret(std::string(32, fill));
  return k;
}

v1::ClusterConfig ConfigWith(uint64_t version, std::initializer_list<v1::SigningKey> keys) {
  v1::ClusterConfig c;
  c.set_version(version);
  for (const v1::SigningKey& k : keys) *c.add_signing_keys() = k;
  return c;
}

class SessionContextTest : public ::testing::Test {
 protected:
  SessionContextTest() : hlc_(&clock_) {
    ctx_.config = &config_;
    ctx_.hlc = &hlc_;
    ctx_.clock = &clock_;
    ctx_.shards = &directory_;
    directory_.Set(ConfigWith(1, {Key(1, 'a')}), "committed");
  }

  v1::RequestHeader SignedBy(const v1::SigningKey& key, uint64_t observed) {
    v1::RequestHeader h;
    MergeObserved(1, observed, h.mutable_session_token()->mutable_observed());
    h.mutable_session_token()->set_cluster_time(observed);
    SignToken(key, h.mutable_session_token());
    return h;
  }

  Config config_;
  ManualClock clock_;
  Hlc hlc_;
  ShardDirectory directory_;
  ServiceContext ctx_;
};

TEST_F(SessionContextTest, AVerifiedTokenAdvancesTheClock) {
  const uint64_t ahead = MakeHlc(clock_.NowUnixMillis() + 300, 5);
  const v1::RequestHeader request = SignedBy(Key(1, 'a'), ahead);
  ASSERT_TRUE(ctx_.AcceptSessionToken(request).ok());
  EXPECT_GT(hlc_.Now(), ahead);
  EXPECT_EQ(ctx_.SessionFloor(request), ahead);
  // No token at all is fine, and moves nothing.
  EXPECT_TRUE(ctx_.AcceptSessionToken(v1::RequestHeader()).ok());
}

TEST_F(SessionContextTest, AKeyNewerThanAnyKnownReloadsTheConfigOnce) {
  int reloads = 0;
  ctx_.reload_cluster_config = [&] {
    ++reloads;
    directory_.Set(ConfigWith(2, {Key(2, 'b'), Key(1, 'a')}), "committed");
  };
  const uint64_t now = MakeHlc(clock_.NowUnixMillis(), 0);
  ASSERT_TRUE(ctx_.AcceptSessionToken(SignedBy(Key(2, 'b'), now)).ok());
  EXPECT_EQ(reloads, 1);
  // An old, unknown key is not worth a reload: it was rotated out.
  ctx_.reload_cluster_config = [&] { ++reloads; };
  directory_.Set(ConfigWith(3, {Key(4, 'd'), Key(3, 'c'), Key(2, 'b')}), "committed");
  Status s = ctx_.AcceptSessionToken(SignedBy(Key(1, 'a'), now));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(reloads, 1);
  // A newer one still unknown after the reload is refused.
  s = ctx_.AcceptSessionToken(SignedBy(Key(9, 'z'), now));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "signed with key 9")) << s;
  EXPECT_EQ(reloads, 2);
}

TEST_F(SessionContextTest, ANodeWithoutKeysIgnoresTokensAndGivesNone) {
  directory_.Set(ConfigWith(5, {}), "committed");
  EXPECT_FALSE(ctx_.VerifiesSessionTokens());
  const uint64_t ahead = MakeHlc(clock_.NowUnixMillis() + 300, 0);
  const v1::RequestHeader request = SignedBy(Key(1, 'a'), ahead);
  // It cannot tell this token from a forgery: it may not move its clock.
  EXPECT_TRUE(ctx_.AcceptSessionToken(request).ok());
  EXPECT_LT(hlc_.Now(), ahead);
  EXPECT_EQ(ctx_.SessionFloor(request), 0u);
  // Unsigned ones are refused all the same.
  v1::RequestHeader unsigned_request;
  MergeObserved(1, ahead, unsigned_request.mutable_session_token()->mutable_observed());
  EXPECT_EQ(ctx_.AcceptSessionToken(unsigned_request).code(), absl::StatusCode::kInvalidArgument);
  v1::ResponseHeader h;
  ctx_.FillHeader(&h, 0, 123);
  EXPECT_FALSE(h.has_session_token());
}

TEST_F(SessionContextTest, TheResponseTokenMergesTheRequestsAndIsSigned) {
  v1::RequestHeader request = SignedBy(Key(1, 'a'), 100);
  MergeObserved(2, 50, request.mutable_session_token()->mutable_observed());  // another site
  v1::ResponseHeader h;
  ctx_.FillHeader(&h, 0, 200, 1, &request);
  const v1::SessionToken& t = h.session_token();
  EXPECT_EQ(ObservedAt(t, 1), 200u);
  EXPECT_EQ(ObservedAt(t, 2), 50u);
  EXPECT_GT(t.cluster_time(), 200u);
  EXPECT_EQ(VerifyToken(t, directory_.Current().config->signing_keys(),
                        MakeHlc(clock_.NowUnixMillis() + 500, 0))
                .rejection,
            TokenRejection::kNone);
}

TEST_F(SessionContextTest, AFencedNodeGivesNoToken) {
  Fence fence;
  ctx_.fence = &fence;
  FenceVerdict fenced;
  fenced.clock = true;
  fenced.reason = "clock offset beyond --max-clock-offset";
  fence.Update(fenced);
  v1::ResponseHeader h;
  ctx_.FillHeader(&h, 10, 0);
  EXPECT_FALSE(h.has_session_token());
  fence.Update(FenceVerdict());
  ctx_.FillHeader(&h, 10, 0);
  EXPECT_TRUE(h.has_session_token());
}

}  // namespace
}  // namespace meridian::server
