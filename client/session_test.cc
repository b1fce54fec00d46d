// Sessions in the SDK: the token's text form, each Session carrying and
// keeping its own token, export and import, sessions turned off, and where
// SESSION reads go (any replica, back to the leader when a follower cannot
// serve, CAUSAL_WAIT_TIMEOUT retried once).
#include <gtest/gtest.h>

#include <chrono>

#include "absl/strings/escaping.h"
#include "client/session_state.h"
#include "client/testing/fake_cluster.h"
#include "client/testing/fake_server.h"
#include "client/testing/fast_options.h"
#include "meridian/client.h"

namespace meridian::client {
namespace {

using testing::FakeCluster;
using testing::FakeServer;

using testing::FastOptions;

v1::SessionToken Token(uint64_t cluster_time) {
  v1::SessionToken t;
  t.set_cluster_time(cluster_time);
  t.set_key_id(3);
  t.set_signature("sig");
  v1::SiteTimestamp* e = t.mutable_observed()->add_entries();
  e->set_site_id(1);
  e->set_hlc(cluster_time * 10);
  return t;
}

TEST(TokenText, RoundTripsEveryField) {
  const std::string text = internal::EncodeTokenText(Token(42));
  EXPECT_TRUE(text.starts_with("mst1.")) << text;
  EXPECT_EQ(text.find_first_of("+/="), std::string::npos) << "not unpadded base64url: " << text;
  Result<v1::SessionToken> back = internal::DecodeTokenText("  " + text + "\n");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->SerializeAsString(), Token(42).SerializeAsString());
  // The Python SDK (client/python/tests/test_session.py) writes the same.
  EXPECT_EQ(text, "mst1.CgcKBQgBEKQDECoYAyIDc2ln");
  EXPECT_EQ(internal::EncodeTokenText(v1::SessionToken()), "mst1.");
  EXPECT_TRUE(internal::DecodeTokenText("mst1.").ok());
}

TEST(TokenText, RejectsWhatExportDidNotProduce) {
  const auto error_of = [](std::string_view text) {
    Result<v1::SessionToken> r = internal::DecodeTokenText(text);
    EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kInvalidArgument) << text;
    return std::string(r.status().message());
  };
  EXPECT_NE(error_of("").find("got nothing"), std::string::npos);
  EXPECT_NE(error_of("CAEQAg").find("starting with \"mst1.\""), std::string::npos);
  EXPECT_NE(error_of("mst2.CAEQAg").find("starting with \"mst1.\""), std::string::npos);
  EXPECT_NE(error_of("mst1.a+b/").find("not base64url"), std::string::npos);
  // Valid base64url of bytes that are no SessionToken (a truncated varint).
  EXPECT_NE(error_of("mst1." + absl::WebSafeBase64Escape("\x10\xff")).find("damaged"),
            std::string::npos);
}

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() : client_(Client::Connect(FastOptions({server_.address()})).value()) {}

  uint64_t TokenSent() { return server_.LastTokenSeen(); }

  FakeServer server_;
  std::unique_ptr<Client> client_;
};

TEST_F(SessionTest, EachSessionSendsBackItsOwnNewestToken) {
  Session a = client_->NewSession();
  Session b = client_->NewSession();
  ASSERT_TRUE(a.Put("k", "1").ok());  // the fake answers token 1
  ASSERT_TRUE(a.Get("k").ok());
  EXPECT_EQ(TokenSent(), 1u);
  ASSERT_TRUE(b.Get("k").ok());
  EXPECT_EQ(TokenSent(), 0u) << "b has seen nothing yet";
  ASSERT_TRUE(a.CsetAdd("s", "x").ok());
  EXPECT_EQ(TokenSent(), 2u) << "a kept token 2 from its Get";
  ASSERT_TRUE(client_->Get("k").ok());
  EXPECT_EQ(TokenSent(), 0u) << "the default session is a third one";
}

TEST_F(SessionTest, TransactionsCarryAndAdvanceTheirSessionsToken) {
  Session a = client_->NewSession();
  ASSERT_TRUE(a.Put("k", "1").ok());  // token 1
  Status s = a.RunTxn([](Txn& txn) { return txn.Put("k", "2"); });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(TokenSent(), 1u) << "Begin carried a's token";
  // Begin, Txn/Put and Commit answered tokens 2, 3 and 4.
  ASSERT_TRUE(a.Get("k").ok());
  EXPECT_EQ(TokenSent(), 4u);
}

TEST_F(SessionTest, AMovedSessionKeepsItsTokenAndItsTransactions) {
  Session a = client_->NewSession();
  ASSERT_TRUE(a.Put("k", "1").ok());             // token 1
  Result<std::unique_ptr<Txn>> txn = a.Begin();  // token 2
  ASSERT_TRUE(txn.ok()) << txn.status();
  Session moved = std::move(a);
  ASSERT_TRUE((*txn)->Put("k", "2").ok());  // token 3, kept by `moved`
  ASSERT_TRUE((*txn)->Commit().ok());       // token 4
  ASSERT_TRUE(moved.Get("k").ok());
  EXPECT_EQ(TokenSent(), 4u);
}

TEST_F(SessionTest, ImportedTokenCarriesCausalityToAnotherSession) {
  Session writer = client_->NewSession();
  ASSERT_TRUE(writer.Put("k", "1").ok());
  ASSERT_TRUE(writer.Put("k", "2").ok());
  const std::string text = writer.ExportToken();
  EXPECT_TRUE(text.starts_with("mst1."));

  std::unique_ptr<Client> other = Client::Connect(FastOptions({server_.address()})).value();
  Session reader = other->NewSession();
  ASSERT_TRUE(reader.ImportToken(text).ok());
  EXPECT_EQ(reader.ExportToken(), text);
  ASSERT_TRUE(reader.Get("k").ok());
  EXPECT_EQ(TokenSent(), 2u);
}

TEST_F(SessionTest, ImportKeepsTheNewerOfTheTwoTokens) {
  Session old_one = client_->NewSession();
  ASSERT_TRUE(old_one.Put("k", "1").ok());  // token 1
  Session s = client_->NewSession();
  ASSERT_TRUE(s.Put("k", "2").ok());  // token 2
  const std::string newer = s.ExportToken();
  ASSERT_TRUE(s.ImportToken(old_one.ExportToken()).ok());
  EXPECT_EQ(s.ExportToken(), newer);
  ASSERT_TRUE(old_one.ImportToken(newer).ok());
  EXPECT_EQ(old_one.ExportToken(), newer);
}

TEST_F(SessionTest, MalformedTokenIsRejectedAndChangesNothing) {
  Session s = client_->NewSession();
  ASSERT_TRUE(s.Put("k", "1").ok());
  const std::string before = s.ExportToken();
  const Status bad = s.ImportToken("eyJhbGciOi");
  EXPECT_EQ(GetErrorKind(bad), ErrorKind::kInvalidArgument);
  EXPECT_NE(bad.message().find("mst1."), std::string_view::npos) << bad;
  EXPECT_EQ(s.ExportToken(), before);
}

TEST(SessionsOff, NoTokenIsSentOrKept) {
  FakeServer server;
  ClientOptions o = FastOptions({server.address()});
  o.sessions = false;
  std::unique_ptr<Client> c = Client::Connect(o).value();
  ASSERT_TRUE(c->Put("k", "1").ok());
  ASSERT_TRUE(c->Get("k").ok());
  EXPECT_FALSE(server.LastHeader().has_session_token());
  Session s = c->NewSession();
  ASSERT_TRUE(s.Put("k", "2").ok());
  EXPECT_FALSE(server.LastHeader().has_session_token());
  EXPECT_EQ(s.ExportToken(), "mst1.");
  const Status imported = s.ImportToken(internal::EncodeTokenText(Token(7)));
  EXPECT_EQ(GetErrorKind(imported), ErrorKind::kInvalidArgument);
  EXPECT_NE(imported.message().find("sessions are off"), std::string_view::npos) << imported;
}

TEST(SessionsOn, AFreshSessionSendsAnEmptyToken) {
  FakeServer server;
  std::unique_ptr<Client> c = Client::Connect(FastOptions({server.address()})).value();
  ASSERT_TRUE(c->Get("k").ok());
  EXPECT_TRUE(server.LastHeader().has_session_token());
}

// One shard on nodes 1, 2 and 3, led by node 1; the client knows node 2.
class SessionReadTest : public ::testing::Test {
 protected:
  SessionReadTest()
      : cluster_(3, {{.id = 1, .start_key = "", .replicas = {1, 2, 3}, .leader = 1}}) {
    client_ = Client::Connect(FastOptions({cluster_.node(2).address()})).value();
  }
  FakeServer& node(uint64_t id) { return cluster_.node(id); }
  void FollowerReads(bool on) {
    for (uint64_t id : {1, 2, 3}) node(id).SetFollowerReads(on);
  }
  std::vector<int> Gets() {
    return {node(1).Calls("KV/Get"), node(2).Calls("KV/Get"), node(3).Calls("KV/Get")};
  }
  Result<std::optional<GetResult>> SessionGet() {
    return client_->Get("k", {.consistency = ReadConsistency::kSession});
  }

  FakeCluster cluster_;
  std::unique_ptr<Client> client_;
};

TEST_F(SessionReadTest, LinearizableReadsGoToTheLeader) {
  FollowerReads(true);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client_->Get("k").ok());
  EXPECT_EQ(Gets(), (std::vector<int>{3, 0, 0}));
  EXPECT_EQ(node(1).LastHeader().read_consistency(), v1::READ_CONSISTENCY_UNSPECIFIED);
}

TEST_F(SessionReadTest, SessionReadsSpreadOverEveryReplica) {
  FollowerReads(true);
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(SessionGet().ok());
  EXPECT_EQ(Gets(), (std::vector<int>{2, 2, 2}));
  EXPECT_EQ(node(3).LastHeader().read_consistency(), v1::SESSION);
  Result<ScanResult> scan =
      client_->Scan({.prefix = "k"}, {.consistency = ReadConsistency::kSession});
  ASSERT_TRUE(scan.ok()) << scan.status();
}

TEST_F(SessionReadTest, AFollowerThatRefusesHandsTheReadToTheLeader) {
  // Followers answer NOT_LEADER, as servers without follower reads do.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(SessionGet().ok());
  EXPECT_EQ(Gets(), (std::vector<int>{3, 1, 1}));
  // The refusals did not unsettle the leader cache: no extra hop.
  ASSERT_TRUE(client_->Get("k").ok());
  EXPECT_EQ(Gets(), (std::vector<int>{4, 1, 1}));
}

TEST_F(SessionReadTest, AnUnavailableFollowerHandsTheReadToTheLeader) {
  FollowerReads(true);
  node(2).InjectError("KV/Get", UnavailableError("fenced"));
  ASSERT_TRUE(SessionGet().ok());  // node 1's turn
  ASSERT_TRUE(SessionGet().ok());  // node 2's turn: unavailable, then node 1
  EXPECT_EQ(Gets(), (std::vector<int>{2, 1, 0}));
}

TEST_F(SessionReadTest, CausalWaitTimeoutAtAFollowerIsRetriedAtTheLeader) {
  FollowerReads(true);
  node(2).InjectError("KV/Get", MakeError({.kind = ErrorKind::kCausalWaitTimeout}, "behind"));
  ASSERT_TRUE(SessionGet().ok());  // node 1's turn
  Result<std::optional<GetResult>> r = SessionGet();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Gets(), (std::vector<int>{2, 1, 0}));
}

TEST_F(SessionReadTest, CausalWaitTimeoutIsReturnedAfterOneRetry) {
  FollowerReads(true);
  const Status behind = MakeError({.kind = ErrorKind::kCausalWaitTimeout}, "replica behind");
  for (uint64_t id : {1, 2, 3}) node(id).InjectError("KV/Get", behind);
  Result<std::optional<GetResult>> r = SessionGet();  // node 1, then node 2
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kCausalWaitTimeout) << r.status();
  EXPECT_EQ(r.status().message(), "no replica caught up with the session's token in time (tried " +
                                      node(1).address() + ", " + node(2).address() +
                                      "): replica behind");
  EXPECT_EQ(Gets(), (std::vector<int>{1, 1, 0}));
}

TEST(SessionRead, ASingleNodeServesItsOwnSessionReads) {
  FakeServer server;
  std::unique_ptr<Client> c = Client::Connect(FastOptions({server.address()})).value();
  ASSERT_TRUE(c->Put("k", "v").ok());
  Result<std::optional<GetResult>> r = c->Get("k", {.consistency = ReadConsistency::kSession});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->value, "v");
  EXPECT_EQ(server.LastHeader().read_consistency(), v1::SESSION);
}

}  // namespace
}  // namespace meridian::client
