// Membership changes on a group of real meridiand processes: a new node
// joins as a learner, catches up, is promoted, and a dead member is removed;
// the group then depends on the new node.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "proto/grpc_status.h"
#include "tests/integration/cluster_fixture.h"

namespace meridian::testing {
namespace {

class MembershipTest : public ClusterTest {
 protected:
  // Runs an Admin call on the current leader.
  template <typename Request>
  Result<v1::MemberChangeResponse> Change(
      grpc::Status (v1::Admin::Stub::*call)(grpc::ClientContext*, const Request&,
                                            v1::MemberChangeResponse*),
      const Request& req) {
    const int leader = LeaderIndex();
    if (leader < 0) return UnavailableError("no leader");
    auto stub = v1::Admin::NewStub(
        grpc::CreateChannel(endpoints_[leader], grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::MemberChangeResponse resp;
    MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(((*stub).*call)(&ctx, req, &resp)));
    return resp;
  }
  Result<v1::MemberChangeResponse> Add(uint32_t id, const std::string& address) {
    v1::MemberAddRequest req;
    req.set_member_id(id);
    req.set_address(address);
    return Change(&v1::Admin::Stub::MemberAdd, req);
  }
  Result<v1::MemberChangeResponse> Promote(uint32_t id) {
    v1::MemberPromoteRequest req;
    req.set_member_id(id);
    return Change(&v1::Admin::Stub::MemberPromote, req);
  }
  Result<v1::MemberChangeResponse> Remove(uint32_t id) {
    v1::MemberRemoveRequest req;
    req.set_member_id(id);
    return Change(&v1::Admin::Stub::MemberRemove, req);
  }
  std::string Cluster() const {
    std::string out;
    for (int i = 0; i < 3; ++i) absl::StrAppend(&out, i ? "," : "", i + 1, "=", endpoints_[i]);
    return out;
  }
};

TEST_F(MembershipTest, ReplaceADeadMemberWithANewOne) {
  std::map<std::string, std::string> acked;
  for (int i = 0; i < 60; ++i) {
    std::string key = absl::StrCat("k", i);
    ASSERT_TRUE(client_->Put(key, "v").ok());
    acked[key] = "v";
  }
  const int leader = LeaderIndex();
  ASSERT_GE(leader, 0);
  const int dead = (leader + 1) % 3;
  const int survivor = (leader + 2) % 3;
  nodes_[dead]->Kill();

  // The replacement, member 4, starts empty and waits to be added.
  const std::string address = absl::StrCat("127.0.0.1:", FreePort());
  auto fresh = std::make_unique<TestDaemon>(
      "", std::vector<std::string>{"--cluster", Cluster(), "--member-id", "4", "--join",
                                   "--listen", address});
  ASSERT_TRUE(fresh->Start().ok()) << fresh->Log();

  // Until it is added it is fenced: not a member, it refuses data requests
  // with UNAVAILABLE (clients move on).
  {
    client::ClientOptions o;
    o.endpoints = {address};
    o.max_retries = 0;
    o.route_by_shard = false;  // the shard map would send it to the leader
    auto only = client::Client::Connect(o);
    ASSERT_TRUE(only.ok());
    Status refused;
    for (int t = 0; t < 40; ++t) {
      refused = (*only)->Put("joining", "v").status();
      if (absl::StrContains(refused.message(), "fenced")) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
    EXPECT_TRUE(absl::StrContains(refused.message(),
                                  "this node is fenced: not a member of group 1"))
        << refused;
  }

  // Bad requests are refused with a reason, and change nothing.
  auto twice = Add(uint32_t(leader + 1), "127.0.0.1:1");
  EXPECT_EQ(GetErrorKind(twice.status()), ErrorKind::kInvalidArgument) << twice.status();
  EXPECT_EQ(GetErrorKind(Promote(9).status()), ErrorKind::kInvalidArgument);

  auto added = Add(4, address);
  ASSERT_TRUE(added.ok()) << added.status();
  bool learner = false;
  for (const auto& m : added->membership().members()) learner |= m.member_id() == 4 && m.is_learner();
  EXPECT_TRUE(learner);
  auto status = [&](TestDaemon* d) { return d->Connect()->NodeStatus(); };
  const uint64_t target = Applied(leader);
  for (int t = 0; t < 200; ++t) {
    auto s = status(fresh.get());
    if (s.ok() && s->applied_index() >= target) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  auto caught_up = status(fresh.get());
  ASSERT_TRUE(caught_up.ok());
  EXPECT_GE(caught_up->applied_index(), target) << "the learner did not catch up";

  ASSERT_TRUE(Promote(4).ok());
  auto removed = Remove(uint32_t(dead + 1));
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->membership().members_size(), 3);
  EXPECT_GT(removed->membership().config_index(), 0u);

  // The group is now {leader, survivor, 4}: with the survivor gone, every
  // write needs member 4.
  nodes_[survivor]->Kill();
  for (int i = 0; i < 20; ++i) {
    std::string key = absl::StrCat("after", i);
    auto put = client_->Put(key, "w");
    ASSERT_TRUE(put.ok()) << put.status();
    acked[key] = "w";
  }
  // Member 4 restarts and keeps its membership (from its store).
  ASSERT_EQ(fresh->Stop(), 0) << fresh->Log();
  ASSERT_TRUE(fresh->Start().ok()) << fresh->Log();
  for (const auto& [key, value] : acked) {
    auto got = client_->Get(key);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "acknowledged " << key << " lost";
  }
  auto members = client_->Members();
  ASSERT_TRUE(members.ok());
  int voters = 0;
  for (const auto& m : members->members()) voters += !m.is_learner();
  EXPECT_EQ(voters, 3);
  EXPECT_EQ(fresh->Stop(), 0) << fresh->Log();
}

}  // namespace
}  // namespace meridian::testing
