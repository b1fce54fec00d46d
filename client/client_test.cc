// The SDK against an in-process fake server: retries, failover, RunTxn and
// the rule that a write with a lost reply is never retried.
#include "meridian/client.h"

#include <gtest/gtest.h>

#include <chrono>

#include "client/testing/fake_server.h"
#include "client/testing/fast_options.h"

namespace meridian::client {
namespace {

using testing::FakeServer;

using testing::FastOptions;

std::unique_ptr<Client> ConnectTo(const FakeServer& server) {
  Result<std::unique_ptr<Client>> c = Client::Connect(FastOptions({server.address()}));
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(c).value();
}

TEST(Connect, ValidatesOptions) {
  EXPECT_EQ(GetErrorKind(Client::Connect(ClientOptions{}).status()), ErrorKind::kInvalidArgument);
  ClientOptions o = FastOptions({"127.0.0.1:1"});
  o.max_backoff = std::chrono::milliseconds(0);
  EXPECT_FALSE(Client::Connect(o).ok());
  // Channels are lazy: an unreachable endpoint is not an error yet.
  EXPECT_TRUE(Client::Connect(FastOptions({"127.0.0.1:1"})).ok());
}

TEST(Client, PutGetDeleteRoundTrip) {
  FakeServer server;
  auto c = ConnectTo(server);
  Result<WriteResult> put = c->Put("k", std::string("v\0w", 3));
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GT(put->commit_hlc, 0u);
  Result<std::optional<GetResult>> got = c->Get("k");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->value, std::string("v\0w", 3));
  EXPECT_EQ((*got)->version.hlc, put->commit_hlc);
  EXPECT_EQ((*got)->version.site_id, 1u);
  EXPECT_EQ(c->Delete("k").value_or(false), true);
  EXPECT_EQ(c->Delete("k").value_or(true), false);
  got = c->Get("k");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST(Client, ServerErrorsKeepTheirKind) {
  FakeServer server;
  auto c = ConnectTo(server);
  const Status s = c->Put(std::string(5000, 'k'), "v").status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kInvalidArgument);
  EXPECT_EQ(GetErrorInfo(s).limit_name, "max_key_bytes");
  EXPECT_EQ(server.Calls("KV/Put"), 1);
}

TEST(Client, ScanDrainsEveryChunk) {
  FakeServer server;
  auto c = ConnectTo(server);
  for (const char* k : {"a/1", "a/2", "a/3", "a/4", "a/5", "b/1"}) ASSERT_TRUE(c->Put(k, k).ok());
  Result<ScanResult> all = c->Scan({.prefix = "a/"});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->kvs.size(), 5u);  // the fake sends chunks of 2
  EXPECT_EQ(all->kvs[4].key, "a/5");
  EXPECT_EQ(all->kvs[4].value, "a/5");
  EXPECT_FALSE(all->more);

  Result<ScanResult> limited = c->Scan({.start = "a/2", .end = "b", .limit = 2, .keys_only = true});
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->kvs.size(), 2u);
  EXPECT_EQ(limited->kvs[0].key, "a/2");
  EXPECT_EQ(limited->kvs[0].value, "");
  EXPECT_TRUE(limited->more);

  EXPECT_EQ(GetErrorKind(c->Scan({.start = "a", .prefix = "a"}).status()),
            ErrorKind::kInvalidArgument);
}

TEST(Client, ReadsRetryTransportFailures) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectBareError("KV/Get", grpc::StatusCode::UNAVAILABLE, 2);
  EXPECT_TRUE(c->Get("k").ok());
  EXPECT_EQ(server.Calls("KV/Get"), 3);
}

TEST(Client, WritesRetryTypedRefusals) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectError("KV/Put", UnavailableError("no quorum"));
  server.InjectError("KV/Put", OverloadedError("max_inflight", 8, 1, "overloaded"));
  ASSERT_TRUE(c->Put("k", "v").ok());
  EXPECT_EQ(server.Calls("KV/Put"), 3);
  EXPECT_EQ(server.Value("k"), "v");
}

TEST(Client, OverloadRefusalIsRetriedNoSoonerThanItsHint) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectError("KV/Put",
                     OverloadedError("client_rate_limit", 10, 150, "rate limit; retry after 150 ms"));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c->Put("k", "v").ok());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(150));
  EXPECT_EQ(server.Calls("KV/Put"), 2);
  EXPECT_EQ(server.Value("k"), "v");
}

TEST(Client, OverloadRefusalSurfacesWithItsHintWhenRetriesRunOut) {
  FakeServer server;
  ClientOptions o = FastOptions({server.address()});
  o.max_retries = 0;
  auto c = Client::Connect(o).value();
  server.InjectError("KV/Put", OverloadedError("max_inflight", 8, 5, "overloaded"));
  const Status s = c->Put("k", "v").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetErrorInfo(s).retry_after_ms, 5u);
  EXPECT_EQ(server.Calls("KV/Put"), 1);
}

TEST(Client, DiskFullIsFinal) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectError("KV/Put", ResourceExhaustedError("no space left on device (disk full)"));
  EXPECT_EQ(c->Put("k", "v").status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(server.Calls("KV/Put"), 1);
}

TEST(Client, RetriesGiveUpAfterMaxRetries) {
  FakeServer server;
  ClientOptions o = FastOptions({server.address()});
  o.max_retries = 2;
  auto c = Client::Connect(o).value();
  server.InjectError("KV/Put", UnavailableError("no quorum"), 10);
  EXPECT_EQ(GetErrorKind(c->Put("k", "v").status()), ErrorKind::kUnavailable);
  EXPECT_EQ(server.Calls("KV/Put"), 3);
}

// Regression: a write whose reply is lost may have applied, so retrying it
// could apply it twice.
TEST(Client, WriteWithLostReplyIsCommitUnknownAndNotRetried) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectLostReply("KV/Put");
  const Status s = c->Put("k", "v").status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kCommitUnknown) << s;
  EXPECT_EQ(server.Calls("KV/Put"), 1);
  EXPECT_EQ(server.Value("k"), "v");  // it did apply: the outcome was truly unknown

  server.InjectBareError("Cset/Add", grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(GetErrorKind(c->CsetAdd("s", "e")), ErrorKind::kCommitUnknown);
  EXPECT_EQ(server.Calls("Cset/Add"), 1);
}

TEST(Client, NotLeaderHintMovesToTheLeader) {
  FakeServer follower, leader;
  auto c = Client::Connect(FastOptions({follower.address()})).value();
  follower.InjectError("KV/Put", NotLeaderError(leader.address(), "not the leader"));
  ASSERT_TRUE(c->Put("k", "v").ok());
  EXPECT_EQ(follower.Calls("KV/Put"), 1);
  EXPECT_EQ(leader.Calls("KV/Put"), 1);
  // The hint sticks for later calls.
  ASSERT_TRUE(c->Get("k").ok());
  EXPECT_EQ(leader.Calls("KV/Get"), 1);
  EXPECT_EQ(follower.Calls("KV/Get"), 0);
}

TEST(Client, FailsOverPastAnUnreachableEndpoint) {
  FakeServer server;
  auto c = Client::Connect(FastOptions({"127.0.0.1:1", server.address()})).value();
  // Nothing was sent to the dead endpoint, so even a write moves on.
  ASSERT_TRUE(c->Put("k", "v").ok());
  EXPECT_EQ(server.Calls("KV/Put"), 1);
}

TEST(Client, UnreachableClusterIsUnavailable) {
  ClientOptions o = FastOptions({"127.0.0.1:1"});
  o.max_retries = 1;
  auto c = Client::Connect(o).value();
  EXPECT_EQ(GetErrorKind(c->Put("k", "v").status()), ErrorKind::kUnavailable);
  EXPECT_EQ(GetErrorKind(c->Get("k").status()), ErrorKind::kUnavailable);
}

TEST(Client, SendsBackTheNewestSessionToken) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->Put("k", "v").ok());
  EXPECT_EQ(server.LastTokenSeen(), 0u);
  ASSERT_TRUE(c->Get("k").ok());
  EXPECT_EQ(server.LastTokenSeen(), 1u);  // the token of the Put's reply
  ASSERT_TRUE(c->CsetRead("s").ok());
  EXPECT_EQ(server.LastTokenSeen(), 2u);
}

TEST(Client, ExecuteTakesTheBranchOfTheCompares) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->Put("k", "old").ok());
  v1::ExecuteRequest req;
  v1::Compare* cmp = req.add_compares();
  cmp->set_target(v1::Compare::VALUE);
  cmp->set_key("k");
  cmp->set_value("old");
  req.add_success()->mutable_put()->set_key("k");
  req.mutable_success(0)->mutable_put()->set_value("new");
  req.add_failure()->mutable_get()->set_key("k");

  Result<ExecuteResult> r = c->Execute(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->succeeded);
  EXPECT_GT(r->commit_hlc, 0u);
  r = c->Execute(req);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->succeeded);
  ASSERT_EQ(r->results.size(), 1u);
  EXPECT_EQ(r->results[0].get().value(), "new");
}

TEST(Client, CsetReadOmitsZeroCounts) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->CsetAdd("s", "a").ok());
  ASSERT_TRUE(c->CsetAdd("s", "a").ok());
  ASSERT_TRUE(c->CsetAdd("s", "b").ok());
  ASSERT_TRUE(c->CsetRemove("s", "b").ok());
  ASSERT_TRUE(c->CsetRemove("s", "c").ok());
  Result<std::map<std::string, int64_t>> r = c->CsetRead("s");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::map<std::string, int64_t>{{"a", 2}, {"c", -1}}));
}

TEST(Client, HealthAndAdmin) {
  FakeServer server;
  auto c = ConnectTo(server);
  EXPECT_EQ(c->Healthy().value_or(false), true);
  server.SetServing(false);
  EXPECT_EQ(c->Healthy().value_or(true), false);
  Result<v1::StatusResponse> st = c->NodeStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->header().node_id(), "fake-1");
  Result<v1::MembersResponse> m = c->Members();
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->members_size(), 1);

  auto down = Client::Connect(FastOptions({"127.0.0.1:1"})).value();
  EXPECT_EQ(GetErrorKind(down->Healthy().status()), ErrorKind::kUnavailable);
}

TEST(Client, RotateSigningKeyReturnsTheNewKeyAndTheKeptOnes) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->RotateSigningKey().ok());
  Result<v1::RotateSigningKeyResponse> r = c->RotateSigningKey();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->key_id(), 2u);
  EXPECT_EQ(std::vector<uint32_t>(r->kept_key_ids().begin(), r->kept_key_ids().end()),
            (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(r->config_version(), 2u);
  // A lost reply may have added a key: never sent twice.
  server.InjectLostReply("Admin/RotateSigningKey");
  EXPECT_EQ(GetErrorKind(c->RotateSigningKey().status()), ErrorKind::kCommitUnknown);
  EXPECT_EQ(server.Calls("Admin/RotateSigningKey"), 3);
}

// --- membership -------------------------------------------------------------

// "id:role" per member, in the order listed.
std::string Roles(const v1::MembersResponse& m) {
  std::string out;
  for (const v1::Member& member : m.members()) {
    if (!out.empty()) out += " ";
    out += std::to_string(member.member_id()) + (member.is_learner() ? ":learner" : ":voter");
  }
  return out;
}

TEST(Membership, AddPromoteRemove) {
  FakeServer server;
  auto c = ConnectTo(server);
  Result<v1::MembersResponse> m = c->Members();
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Roles(*m), "1:voter");
  EXPECT_EQ(m->config_index(), 0u);

  m = c->MemberAdd(2, "127.0.0.1:2390");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Roles(*m), "1:voter 2:learner");
  EXPECT_EQ(m->members(1).client_url(), "127.0.0.1:2390");
  EXPECT_EQ(m->config_index(), 1u);
  m = c->MemberPromote(2);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Roles(*m), "1:voter 2:voter");
  m = c->MemberAdd(3, "127.0.0.1:2391", /*as_voter=*/true);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Roles(*m), "1:voter 2:voter 3:voter");
  m = c->MemberRemove(1);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(Roles(*m), "2:voter 3:voter");
  EXPECT_EQ(m->config_index(), 4u);
  // What a change returns is what Members reads afterwards.
  m = c->Members();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(Roles(*m), "2:voter 3:voter");
  EXPECT_EQ(m->config_index(), 4u);
}

TEST(Membership, RefusedChangesKeepTheirKindAndAreNotRetried) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->MemberAdd(2, "127.0.0.1:2390").ok());
  Status s = c->MemberAdd(2, "127.0.0.1:2390").status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kInvalidArgument) << s;
  EXPECT_EQ(s.message(), "member 2 is already in the group");
  EXPECT_EQ(server.Calls("Admin/MemberAdd"), 2);
  s = c->MemberPromote(1).status();
  EXPECT_EQ(s.message(), "member 1 is not a learner") << s;
  s = c->MemberRemove(9).status();
  EXPECT_EQ(s.message(), "member 9 is not in the group") << s;
  s = c->MemberRemove(1).status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kInvalidArgument) << s;
  EXPECT_EQ(s.message(), "a group needs at least one voter");
  EXPECT_EQ(server.Calls("Admin/MemberRemove"), 2);
  EXPECT_EQ(Roles(c->Members().value()), "1:voter 2:learner");
}

TEST(Membership, ChangeFollowsNotLeaderToTheLeader) {
  FakeServer follower, leader;
  auto c = Client::Connect(FastOptions({follower.address()})).value();
  follower.InjectError("Admin/MemberAdd", NotLeaderError(leader.address(), "not the leader"));
  Result<v1::MembersResponse> m = c->MemberAdd(2, "127.0.0.1:2390");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(follower.Calls("Admin/MemberAdd"), 1);
  EXPECT_EQ(leader.Calls("Admin/MemberAdd"), 1);
  EXPECT_EQ(Roles(*m), "1:voter 2:learner");
  // The hint sticks for the next change.
  ASSERT_TRUE(c->MemberPromote(2).ok());
  EXPECT_EQ(leader.Calls("Admin/MemberPromote"), 1);
  EXPECT_EQ(follower.Calls("Admin/MemberPromote"), 0);
}

// UNAVAILABLE from the server (another change still pending) proves this
// one was not made, so it is retried like a refused write.
TEST(Membership, ChangeRetriesWhileAnotherIsPending) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->MemberAdd(2, "127.0.0.1:2390").ok());
  server.InjectError("Admin/MemberPromote",
                     UnavailableError("another membership change is in progress"), 2);
  Result<v1::MembersResponse> m = c->MemberPromote(2);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(server.Calls("Admin/MemberPromote"), 3);
  EXPECT_EQ(Roles(*m), "1:voter 2:voter");
}

// Regression: a change whose reply is lost may have committed; sending it
// again would fail ("already in the group") or, for a remove-then-add
// replacement, undo work.
TEST(Membership, ChangeWithALostReplyIsCommitUnknownAndNotRetried) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectLostReply("Admin/MemberAdd");
  Status s = c->MemberAdd(2, "127.0.0.1:2390").status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kCommitUnknown) << s;
  EXPECT_EQ(server.Calls("Admin/MemberAdd"), 1);
  EXPECT_EQ(Roles(c->Members().value()), "1:voter 2:learner");  // it did commit

  server.InjectBareError("Admin/MemberRemove", grpc::StatusCode::UNAVAILABLE);
  s = c->MemberRemove(2).status();
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kCommitUnknown) << s;
  EXPECT_EQ(server.Calls("Admin/MemberRemove"), 1);
}

// --- interactive transactions ---------------------------------------------

TEST(Txn, ReadsItsOwnWritesAndCommits) {
  FakeServer server;
  auto c = ConnectTo(server);
  ASSERT_TRUE(c->Put("a", "1").ok());
  auto txn = c->Begin().value();
  EXPECT_GT(txn->snapshot_hlc(), 0u);
  ASSERT_TRUE(txn->Put("b", "2").ok());
  ASSERT_TRUE(txn->Delete("a").ok());
  EXPECT_FALSE(txn->Get("a").value().has_value());
  EXPECT_EQ(txn->Get("b").value()->value, "2");
  Result<ScanResult> scan = txn->Scan({});
  ASSERT_TRUE(scan.ok());
  ASSERT_EQ(scan->kvs.size(), 1u);
  EXPECT_EQ(scan->kvs[0].key, "b");
  EXPECT_FALSE(server.Value("b").has_value());
  Result<WriteResult> commit = txn->Commit();
  ASSERT_TRUE(commit.ok()) << commit.status();
  EXPECT_GT(commit->commit_hlc, 0u);
  EXPECT_EQ(server.Value("b"), "2");
  EXPECT_FALSE(server.Value("a").has_value());
  // Finished: further calls fail without reaching the server.
  EXPECT_EQ(GetErrorKind(txn->Put("c", "3")), ErrorKind::kTxnNotFound);
  EXPECT_EQ(server.Calls("Txn/Put"), 1);
}

TEST(Txn, DestructorAbortsAnUnfinishedTransaction) {
  FakeServer server;
  auto c = ConnectTo(server);
  {
    auto txn = c->Begin().value();
    ASSERT_TRUE(txn->Put("k", "v").ok());
  }
  EXPECT_EQ(server.Calls("Txn/Abort"), 1);
  EXPECT_EQ(server.Calls("Txn/Commit"), 0);
  EXPECT_FALSE(server.Value("k").has_value());
  {
    auto txn = c->Begin().value();
    ASSERT_TRUE(txn->Commit().ok());
  }
  EXPECT_EQ(server.Calls("Txn/Abort"), 1);  // nothing left to abort
}

TEST(Txn, CommitRetriesWhenTheServerRefusedIt) {
  FakeServer server;
  auto c = ConnectTo(server);
  auto txn = c->Begin().value();
  ASSERT_TRUE(txn->Put("k", "v").ok());
  server.InjectError("Txn/Commit", OverloadedError("max_inflight", 8, 1, "overloaded"));
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(server.Calls("Txn/Commit"), 2);
}

// --- RunTxn ----------------------------------------------------------------

TEST(RunTxn, RetriesConflictsWithAFreshTransaction) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectError("Txn/Commit", ConflictError("first committer won"), 2);
  int runs = 0;
  const Status s = c->RunTxn([&](Txn& txn) -> Status {
    ++runs;
    MERIDIAN_ASSIGN_OR_RETURN(auto v, txn.Get("counter"));
    return txn.Put("counter", (v ? v->value : "") + "x");
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(server.Calls("Txn/Begin"), 3);
  EXPECT_EQ(server.Calls("Txn/Commit"), 3);
  EXPECT_EQ(server.Value("counter"), "x");  // only the last attempt applied
}

TEST(RunTxn, RetriesAConflictReturnedByFn) {
  FakeServer server;
  auto c = ConnectTo(server);
  int runs = 0;
  const Status s = c->RunTxn([&](Txn& txn) -> Status {
    if (++runs == 1) return ConflictError("seen by a read");
    return txn.Put("k", "v");
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(server.Calls("Txn/Abort"), 1);
}

TEST(RunTxn, GivesUpAfterMaxAttempts) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectError("Txn/Commit", ConflictError("busy key"), 100);
  int runs = 0;
  const Status s = c->RunTxn(
      [&](Txn& txn) -> Status {
        ++runs;
        return txn.Put("k", "v");
      },
      {.max_attempts = 3});
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kConflict) << s;
  EXPECT_EQ(runs, 3);
}

// Regression: a commit whose reply was lost must reach the caller as
// kCommitUnknown, and the transaction must not run again.
TEST(RunTxn, NeverRetriesACommitWithALostReply) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectLostReply("Txn/Commit");
  int runs = 0;
  const Status s = c->RunTxn([&](Txn& txn) -> Status {
    ++runs;
    return txn.Put("k", "v");
  });
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kCommitUnknown) << s;
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(server.Calls("Txn/Commit"), 1);
  EXPECT_EQ(server.Calls("Txn/Abort"), 0);
  EXPECT_EQ(server.Value("k"), "v");
}

TEST(RunTxn, NeverRetriesACommitWhoseConnectionBroke) {
  FakeServer server;
  auto c = ConnectTo(server);
  server.InjectBareError("Txn/Commit", grpc::StatusCode::UNAVAILABLE);
  int runs = 0;
  const Status s = c->RunTxn([&](Txn& txn) -> Status {
    ++runs;
    return txn.Put("k", "v");
  });
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kCommitUnknown) << s;
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(server.Calls("Txn/Commit"), 1);
}

TEST(RunTxn, OtherErrorsFromFnAbortAndReturn) {
  FakeServer server;
  auto c = ConnectTo(server);
  int runs = 0;
  const Status s = c->RunTxn([&](Txn& txn) -> Status {
    ++runs;
    MERIDIAN_RETURN_IF_ERROR(txn.Put("k", "v"));
    return InvalidArgumentError("caller gave up");
  });
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kInvalidArgument);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(server.Calls("Txn/Abort"), 1);
  EXPECT_EQ(server.Calls("Txn/Commit"), 0);
  EXPECT_FALSE(server.Value("k").has_value());
}

TEST(RunTxn, RealConflictBetweenTwoTransactions) {
  FakeServer server;
  auto c = ConnectTo(server);
  int runs = 0;
  const Status s = c->RunTxn([&](Txn& txn) -> Status {
    MERIDIAN_RETURN_IF_ERROR(txn.Put("k", "mine"));
    // Someone else commits the same key after our snapshot, once.
    if (++runs == 1) MERIDIAN_RETURN_IF_ERROR(c->Put("k", "theirs").status());
    return absl::OkStatus();
  });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(runs, 2);
  EXPECT_EQ(server.Value("k"), "mine");
}

}  // namespace
}  // namespace meridian::client
