#include "server/fenced_leadership.h"

#include <gtest/gtest.h>

namespace meridian::server {
namespace {

consensus::Membership Voters(std::vector<consensus::NodeId> ids) {
  consensus::Membership m;
  for (consensus::NodeId id : ids) m.voters[id] = "127.0.0.1:" + std::to_string(5000 + id);
  return m;
}

Replication::Snapshot Lags(std::vector<std::pair<consensus::NodeId, uint64_t>> lags) {
  Replication::Snapshot s;
  s.is_leader = true;
  for (const auto& [peer, entries] : lags) s.peer_lag.push_back({peer, "", entries});
  return s;
}

TEST(PickSuccessor, TheVoterLeastBehindOtherThanItself) {
  EXPECT_EQ(PickSuccessor(Lags({{1, 40}, {3, 2}}), Voters({1, 2, 3}), 2), 3u);
  EXPECT_EQ(PickSuccessor(Lags({{1, 0}, {3, 2}}), Voters({1, 2, 3}), 2), 1u);
}

TEST(PickSuccessor, TiesGoToTheLowestIdAndUnreportedVotersComeLast) {
  EXPECT_EQ(PickSuccessor(Lags({{4, 5}, {3, 5}}), Voters({1, 3, 4}), 1), 3u);
  // Voter 2 has not reported progress; voter 5 has.
  EXPECT_EQ(PickSuccessor(Lags({{5, 900}}), Voters({1, 2, 5}), 1), 5u);
  EXPECT_EQ(PickSuccessor(Lags({}), Voters({1, 2, 5}), 1), 2u) << "none reported: the lowest id";
}

TEST(PickSuccessor, LearnersAndASoleVoterGiveNone) {
  consensus::Membership m = Voters({1});
  m.learners[2] = "127.0.0.1:5002";
  EXPECT_EQ(PickSuccessor(Lags({{2, 0}}), m, 1), std::nullopt);
}

}  // namespace
}  // namespace meridian::server
