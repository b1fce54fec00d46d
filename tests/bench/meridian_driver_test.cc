// The meridian driver and the SDK's GetAsync/PutAsync under it, against the
// SDK's in-process fake server.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "client/testing/fake_server.h"
#include "meridian/client.h"
#include "tests/bench/driver.h"

namespace meridian::bench {
namespace {

using client::testing::FakeServer;

std::unique_ptr<Driver> Connect(const FakeServer& server, int timeout_ms = 5000) {
  DriverOptions o;
  o.endpoints = {server.address()};
  o.rpc_timeout_ms = timeout_ms;
  Result<std::unique_ptr<Driver>> d = MakeMeridianDriver(o);
  EXPECT_TRUE(d.ok()) << d.status();
  return std::move(*d);
}

Status Write(Driver& d, const std::string& k, const std::string& v) {
  std::promise<Status> p;
  d.Write(k, v, [&p](Status s) { p.set_value(s); });
  return p.get_future().get();
}

Result<std::optional<std::string>> Read(Driver& d, const std::string& k) {
  std::promise<Result<std::optional<std::string>>> p;
  d.Read(k, [&p](Result<std::optional<std::string>> r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

std::pair<Status, int> ReadModifyWrite(Driver& d, const std::vector<std::string>& keys,
                                       const std::string& v) {
  std::promise<std::pair<Status, int>> p;
  d.ReadModifyWrite(keys, v, [&p](Status s, int aborts) { p.set_value({s, aborts}); });
  return p.get_future().get();
}

TEST(MeridianDriverTest, ReadsWhatItWrote) {
  FakeServer server;
  auto d = Connect(server);
  EXPECT_EQ(d->Name(), "meridian");
  EXPECT_EQ(d->Describe().rfind("meridian", 0), 0u);
  ASSERT_TRUE(Write(*d, "k", "v").ok());
  EXPECT_EQ(server.Value("k"), "v");
  Result<std::optional<std::string>> r = Read(*d, "k");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "v");
  r = Read(*d, "missing");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, std::nullopt);
}

TEST(MeridianDriverTest, ScanAndReadModifyWrite) {
  FakeServer server;
  auto d = Connect(server);
  for (const char* k : {"a1", "a2", "a3", "a4", "a5"}) ASSERT_TRUE(Write(*d, k, "x").ok());
  std::promise<Result<size_t>> scanned;
  d->Scan("a2", 3, [&](Result<size_t> r) { scanned.set_value(r); });
  Result<size_t> n = scanned.get_future().get();
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3u);

  std::pair<Status, int> rmw = ReadModifyWrite(*d, {"a1", "new"}, "y");
  ASSERT_TRUE(rmw.first.ok()) << rmw.first;
  EXPECT_EQ(rmw.second, 0);
  EXPECT_EQ(server.Value("a1"), "y");
  EXPECT_EQ(server.Value("new"), "y");
}

// The aborts a read-modify-write reports are its attempts that conflicted,
// at the commit or at a read, and no others.
TEST(MeridianDriverTest, ReadModifyWriteCountsItsConflictedAttempts) {
  FakeServer server;
  auto d = Connect(server);
  server.InjectError("Txn/Commit", ConflictError("first committer won"), 2);
  std::pair<Status, int> rmw = ReadModifyWrite(*d, {"k1", "k2"}, "v");
  ASSERT_TRUE(rmw.first.ok()) << rmw.first;
  EXPECT_EQ(rmw.second, 2);
  EXPECT_EQ(server.Calls("Txn/Begin"), 3);
  EXPECT_EQ(server.Calls("Txn/Commit"), 3);
  EXPECT_EQ(server.Value("k2"), "v");

  server.InjectError("Txn/Get", ConflictError("a read saw a newer version"), 1);
  rmw = ReadModifyWrite(*d, {"k1"}, "w");
  ASSERT_TRUE(rmw.first.ok()) << rmw.first;
  EXPECT_EQ(rmw.second, 1);
  EXPECT_EQ(server.Value("k1"), "w");

  // Another error ends the operation and is no abort; the conflict before
  // it is one.
  server.InjectError("Txn/Commit", ConflictError("first committer won"), 1);
  server.InjectError("Txn/Commit", InvalidArgumentError("injected"), 1);
  rmw = ReadModifyWrite(*d, {"k1"}, "x");
  EXPECT_EQ(rmw.first.code(), absl::StatusCode::kInvalidArgument) << rmw.first;
  EXPECT_EQ(rmw.second, 1);

  // Giving up after RunTxn's 10 attempts counts all 10.
  server.InjectError("Txn/Commit", ConflictError("busy key"), 100);
  rmw = ReadModifyWrite(*d, {"k1"}, "x");
  EXPECT_EQ(GetErrorKind(rmw.first), ErrorKind::kConflict);
  EXPECT_EQ(rmw.second, 10);
  EXPECT_EQ(server.Value("k1"), "w");
}

TEST(MeridianDriverTest, HundredsInFlightFromOneThread) {
  FakeServer server;
  auto d = Connect(server);
  constexpr int kOps = 500;
  absl::BlockingCounter left(kOps);
  std::atomic<int> failed{0};
  for (int i = 0; i < kOps; ++i) {
    d->Write("key" + std::to_string(i), "v", [&](Status s) {
      if (!s.ok()) ++failed;
      left.DecrementCount();
    });
  }
  left.Wait();
  EXPECT_EQ(failed, 0);
  for (int i = 0; i < kOps; i += 50) EXPECT_EQ(server.Value("key" + std::to_string(i)), "v");
}

TEST(ClientAsyncTest, ErrorsComeBackUnretried) {
  FakeServer server;
  auto c = client::Client::Connect({.endpoints = {server.address()}});
  ASSERT_TRUE(c.ok());
  server.InjectError("KV/Get", ConflictError("injected"));
  std::promise<Result<std::optional<client::GetResult>>> got;
  (*c)->GetAsync("k", [&](auto r) { got.set_value(std::move(r)); });
  Result<std::optional<client::GetResult>> r = got.get_future().get();
  EXPECT_EQ(GetErrorKind(r.status()), ErrorKind::kConflict);
  EXPECT_EQ(server.Calls("KV/Get"), 1);

  // A typed refusal of a write proves it did not apply.
  server.InjectError("KV/Put", UnavailableError("injected"));
  std::promise<Result<client::WriteResult>> put;
  (*c)->PutAsync("k", "v", [&](auto r) { put.set_value(std::move(r)); });
  EXPECT_EQ(GetErrorKind(put.get_future().get().status()), ErrorKind::kUnavailable);
  EXPECT_EQ(server.Calls("KV/Put"), 1);
  EXPECT_EQ(server.Value("k"), std::nullopt);
}

TEST(ClientAsyncTest, LostPutReplyIsCommitUnknown) {
  FakeServer server;
  auto c = client::Client::Connect(
      {.endpoints = {server.address()}, .rpc_timeout = std::chrono::milliseconds(300)});
  ASSERT_TRUE(c.ok());
  server.InjectLostReply("KV/Put");
  std::promise<Result<client::WriteResult>> put;
  (*c)->PutAsync("k", "v", [&](auto r) { put.set_value(std::move(r)); });
  EXPECT_EQ(GetErrorKind(put.get_future().get().status()), ErrorKind::kCommitUnknown);
  EXPECT_EQ(server.Value("k"), "v");  // it did apply
}

TEST(ClientAsyncTest, CarriesTheSessionToken) {
  FakeServer server;
  auto c = client::Client::Connect({.endpoints = {server.address()}});
  ASSERT_TRUE(c.ok());
  std::promise<Result<client::WriteResult>> put;
  (*c)->PutAsync("k", "v", [&](auto r) { put.set_value(std::move(r)); });
  ASSERT_TRUE(put.get_future().get().ok());
  std::promise<Result<std::optional<client::GetResult>>> got;
  (*c)->GetAsync("k", [&](auto r) { got.set_value(std::move(r)); });
  Result<std::optional<client::GetResult>> r = got.get_future().get();
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->has_value());
  EXPECT_EQ((*r)->value, "v");
  // The Get sent the token the Put's reply carried.
  EXPECT_GT(server.LastTokenSeen(), 0u);
}

// Regression test: the callback once ran `done` before releasing the call's
// gRPC state, and a caller that destroyed the Client as soon as it was told
// crashed gRPC (refcount assertion, segfault) in about one run in five.
TEST(ClientAsyncTest, ClientMayGoAsSoonAsDoneRan) {
  FakeServer server;
  for (int i = 0; i < 30; ++i) {
    auto c = client::Client::Connect({.endpoints = {server.address()}});
    ASSERT_TRUE(c.ok());
    std::promise<Status> put, get;
    (*c)->PutAsync("k", "v", [&](auto r) { put.set_value(r.status()); });
    ASSERT_TRUE(put.get_future().get().ok());
    (*c)->GetAsync("k", [&](auto r) { get.set_value(r.status()); });
    ASSERT_TRUE(get.get_future().get().ok());
    c->reset();
  }
}

TEST(ClientAsyncTest, UnreachableEndpointFails) {
  // Nothing listens on port 1.
  auto c = client::Client::Connect(
      {.endpoints = {"127.0.0.1:1"}, .rpc_timeout = std::chrono::milliseconds(2000)});
  ASSERT_TRUE(c.ok());
  std::promise<Result<client::WriteResult>> put;
  (*c)->PutAsync("k", "v", [&](auto r) { put.set_value(std::move(r)); });
  const Status s = put.get_future().get().status();
  EXPECT_FALSE(s.ok());
}

}  // namespace
}  // namespace meridian::bench
