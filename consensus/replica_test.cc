// Unit tests of the Replica core's leases and read-index, on a tiny
// lock-step harness: every node ticks together, messages are delivered
// instantly unless a link is cut, and a Ready is persisted whole. The
// randomized protocol checks live in tests/sim.
#include "consensus/replica.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <memory>
#include <set>

namespace meridian::consensus {
namespace {

class Group {
 public:
  explicit Group(int n, int election_ticks = 10) : election_ticks_(n > 0 ? election_ticks : 1) {
    for (NodeId id = 1; id <= static_cast<NodeId>(n); ++id) members_.push_back(id);
    for (NodeId id : members_) Start(id);
  }

  Replica& at(NodeId id) { return *nodes_.at(id).replica; }

  // A node that joins the running group: it knows no membership.
  void Join(NodeId id) { Start(id, /*joining=*/true); }

  void Start(NodeId id, bool joining = false) {
    Node& node = nodes_[id];
    node.random = std::make_unique<Random>(id * 7919);
    Replica::Options o;
    o.id = id;
    if (!joining) o.members = members_;
    o.election_ticks = election_ticks_;
    std::vector<Entry> entries;
    for (const auto& [index, e] : node.log) entries.push_back(e);
    node.replica =
        std::make_unique<Replica>(o, node.random.get(), node.hard, entries, node.applied.size());
  }
  void Crash(NodeId id) { nodes_.at(id).replica.reset(); }
  void Cut(NodeId id) { cut_.insert(id); }
  void Heal() { cut_.clear(); }

  // Delivers messages until the group is quiet.
  void Settle() {
    for (int rounds = 0; rounds < 1000; ++rounds) {
      bool any = false;
      for (auto& [id, node] : nodes_) {
        if (!node.replica || !node.replica->HasReady()) continue;
        any = true;
        Ready ready = node.replica->TakeReady();
        if (ready.hard_state) node.hard = *ready.hard_state;
        for (const Entry& e : ready.entries) node.log[e.index] = e;
        for (const ReadState& r : ready.reads) reads_[id].push_back(r);
        for (const Entry& e : ready.committed) {
          if (e.index > node.applied.size()) node.applied.push_back(e.noop ? "" : e.command);
        }
        for (const SnapshotRequest& r : ready.snapshots) snapshot_requests_.push_back(r);
        for (const Message& m : ready.messages) queue_.push_back(m);
        for (const Message& m : ready.messages_after_persist) queue_.push_back(m);
        node.replica->Advance(ready);
      }
      while (!queue_.empty()) {
        Message m = queue_.front();
        queue_.pop_front();
        any = true;
        if (cut_.count(m.from) || cut_.count(m.to)) continue;
        auto it = nodes_.find(m.to);
        if (it != nodes_.end() && it->second.replica) (void)it->second.replica->Step(m);
      }
      if (!any) return;
    }
    FAIL() << "the group never went quiet";
  }

  void Tick(int ticks = 1) {
    for (int i = 0; i < ticks; ++i) {
      for (auto& [id, node] : nodes_) {
        if (node.replica) node.replica->Tick();
      }
      Settle();
    }
  }

  // Ticks until some node leads; returns it.
  NodeId ElectLeader() {
    for (int i = 0; i < 200; ++i) {
      for (auto& [id, node] : nodes_) {
        if (node.replica && node.replica->is_leader() && !cut_.count(id)) return id;
      }
      Tick();
    }
    return kNoNode;
  }

  // The state machine: command per applied index (no-ops as "").
  const std::vector<std::string>& applied(NodeId id) { return nodes_.at(id).applied; }
  std::vector<SnapshotRequest> TakeSnapshotRequests() {
    std::vector<SnapshotRequest> out;
    out.swap(snapshot_requests_);
    return out;
  }
  // What the driver does for a snapshot request: copy the state machine.
  void SendSnapshot(NodeId from, NodeId to) {
    nodes_.at(to).applied = nodes_.at(from).applied;
    nodes_.at(to).replica->InstallSnapshot(nodes_.at(to).applied.size(),
                                           nodes_.at(from).replica->config(),
                                           nodes_.at(from).replica->config_index());
    Settle();
  }

  std::vector<ReadState> TakeReads(NodeId id) {
    std::vector<ReadState> out;
    out.swap(reads_[id]);
    return out;
  }

 private:
  struct Node {
    std::unique_ptr<Random> random;
    std::unique_ptr<Replica> replica;
    HardState hard;
    std::map<uint64_t, Entry> log;
    std::vector<std::string> applied;
  };
  const int election_ticks_;
  std::vector<NodeId> members_;
  std::map<NodeId, Node> nodes_;
  std::deque<Message> queue_;
  std::set<NodeId> cut_;
  std::map<NodeId, std::vector<ReadState>> reads_;
  std::vector<SnapshotRequest> snapshot_requests_;
};

TEST(ReplicaLeaseTest, LeaderGetsALeaseThatEndsWhenAcksStop) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  ASSERT_NE(leader, kNoNode);
  g.Tick(2);
  ASSERT_TRUE(g.at(leader).HasLease());
  // (election_ticks - 1) * 4 / 5 = 7 ticks after the last acknowledged round.
  EXPECT_LE(g.at(leader).lease_expiry_tick(), g.at(leader).now_ticks() + 7);
  g.Cut(leader);
  int held = 0;
  while (g.at(leader).HasLease()) {
    g.Tick();
    ASSERT_LE(++held, 7);
  }
  EXPECT_GE(held, 5);
}

// The safety property: while the old leader may still read locally, nobody
// else leads.
TEST(ReplicaLeaseTest, NoOtherLeaderWhileTheLeaseHolds) {
  for (int trial = 0; trial < 20; ++trial) {
    Group g(3);
    const NodeId old_leader = g.ElectLeader();
    ASSERT_NE(old_leader, kNoNode);
    g.Tick(1 + trial % 3);
    ASSERT_TRUE(g.at(old_leader).HasLease());
    g.Cut(old_leader);
    bool replaced = false;
    for (int i = 0; i < 100 && !replaced; ++i) {
      g.Tick();
      for (NodeId id : {1u, 2u, 3u}) {
        if (id != old_leader && g.at(id).is_leader()) {
          replaced = true;
          EXPECT_FALSE(g.at(old_leader).HasLease()) << "trial " << trial;
        }
      }
    }
    EXPECT_TRUE(replaced) << "the majority never elected a new leader";
  }
}

// A follower that crashes and restarts at once forgets when it last heard
// the leader; it must still not help elect another leader during the lease.
TEST(ReplicaLeaseTest, ARestartedFollowerHonoursTheLease) {
  Group g(3);
  const NodeId old_leader = g.ElectLeader();
  ASSERT_NE(old_leader, kNoNode);
  g.Tick(1);
  ASSERT_TRUE(g.at(old_leader).HasLease());
  const NodeId a = old_leader == 1 ? 2 : 1;
  const NodeId b = 6 - old_leader - a;
  g.Cut(old_leader);
  g.Crash(a);
  g.Crash(b);
  g.Start(a);
  g.Start(b);
  for (int i = 0; i < 60; ++i) {
    g.Tick();
    if (g.at(a).is_leader() || g.at(b).is_leader()) {
      EXPECT_FALSE(g.at(old_leader).HasLease());
      return;
    }
  }
  FAIL() << "no new leader after the restart";
}

// The lease rests on one follower's acks (the other is cut off and keeps
// timing out); that follower restarts and the cut-off node asks it for
// votes at once. The restarted node must refuse until the lease is over.
TEST(ReplicaLeaseTest, ARestartedVoucherRefusesOthersDuringTheLease) {
  for (int offset = 0; offset < 20; ++offset) {
    Group g(3);
    const NodeId old_leader = g.ElectLeader();
    ASSERT_NE(old_leader, kNoNode);
    const NodeId voucher = old_leader == 1 ? 2 : 1;
    const NodeId lagger = 6 - old_leader - voucher;
    g.Cut(lagger);
    g.Tick(30 + offset);
    ASSERT_TRUE(g.at(old_leader).HasLease());
    g.Crash(voucher);
    g.Start(voucher);
    g.Heal();
    g.Cut(old_leader);
    for (int i = 0; i < 60; ++i) {
      g.Tick();
      if (g.at(voucher).is_leader() || g.at(lagger).is_leader()) {
        ASSERT_FALSE(g.at(old_leader).HasLease()) << "offset " << offset;
      }
    }
  }
}

TEST(ReplicaLeaseTest, TransferEndsTheLease) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  g.Tick(2);
  ASSERT_TRUE(g.at(leader).HasLease());
  const NodeId target = leader == 3 ? 1 : leader + 1;
  ASSERT_TRUE(g.at(leader).TransferLeadership(target).ok());
  EXPECT_FALSE(g.at(leader).HasLease());
  g.Settle();
  g.Tick(2);
  EXPECT_TRUE(g.at(target).is_leader());
}

// A node that may not lead (a fenced one) neither runs when the leader
// dies nor takes over on a transfer; it still votes, so the others elect.
TEST(ReplicaLeadershipTest, ANodeThatMayNotLeadNeverRunsButStillVotes) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId barred = leader % 3 + 1;
  g.at(barred).set_may_lead(false);
  ASSERT_TRUE(g.at(leader).TransferLeadership(barred).ok());
  g.Settle();
  g.Tick(2);
  EXPECT_FALSE(g.at(barred).is_leader()) << "a transfer does not make it run";

  // The leader dies: only the third node may take over, with the barred
  // node's vote. Repeatedly, so the barred node's timer fires first too.
  g.Crash(leader);
  const NodeId other = 6 - leader - barred;
  for (int i = 0; i < 20 && !g.at(other).is_leader(); ++i) g.Tick(5);
  EXPECT_TRUE(g.at(other).is_leader());
  EXPECT_FALSE(g.at(barred).is_leader());

  // Allowed again, it can be handed leadership.
  g.at(barred).set_may_lead(true);
  ASSERT_TRUE(g.at(other).TransferLeadership(barred).ok());
  g.Settle();
  g.Tick(2);
  EXPECT_TRUE(g.at(barred).is_leader());
}

// Regression test for meridian_replication_peer_lag_entries: the leader
// knows how far each peer's commit lags its log; followers report nothing.
TEST(ReplicaProgressTest, LeaderKnowsHowFarEachPeerLags) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  ASSERT_NE(leader, kNoNode);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(g.at(leader).Propose("c" + std::to_string(i)).ok());
  g.Tick(2);
  const uint64_t last = g.at(leader).last_index();
  EXPECT_EQ(last, g.at(leader).commit_index());
  auto peers = g.at(leader).PeerCommitIndexes();
  ASSERT_EQ(peers.size(), 2u);
  for (const auto& [peer, committed] : peers) EXPECT_EQ(committed, last) << "peer " << peer;
  const NodeId behind = leader % 3 + 1;
  EXPECT_TRUE(g.at(behind).PeerCommitIndexes().empty()) << "a follower knows no progress";

  g.Cut(behind);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(g.at(leader).Propose("d" + std::to_string(i)).ok());
  g.Tick(2);
  EXPECT_EQ(g.at(leader).last_index(), last + 5);
  peers = g.at(leader).PeerCommitIndexes();
  EXPECT_EQ(peers.at(behind), last) << "the cut-off peer reported nothing since";
  for (const auto& [peer, committed] : peers) {
    if (peer != behind) {
      EXPECT_EQ(committed, last + 5) << "peer " << peer;
    }
  }
}

TEST(ReplicaReadIndexTest, LeaseReadsAnswerAtOnce) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  g.Tick(2);
  ASSERT_TRUE(g.at(leader).HasLease());
  ASSERT_TRUE(g.at(leader).Propose("x").ok());
  g.Settle();
  ASSERT_TRUE(g.at(leader).ReadIndex(7).ok());
  Ready ready = g.at(leader).TakeReady();
  ASSERT_EQ(ready.reads.size(), 1u);
  EXPECT_TRUE(ready.reads[0].ok);
  EXPECT_EQ(ready.reads[0].id, 7u);
  EXPECT_EQ(ready.reads[0].index, g.at(leader).commit_index());
  g.at(leader).Advance(ready);
}

TEST(ReplicaReadIndexTest, WithoutALeaseAMajorityMustConfirm) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  g.Tick(2);
  const NodeId target = leader == 3 ? 1 : leader + 1;
  // Block the lease by starting a transfer the target never hears of.
  g.Cut(target);
  ASSERT_TRUE(g.at(leader).TransferLeadership(target).ok());
  g.Settle();
  ASSERT_FALSE(g.at(leader).HasLease());
  ASSERT_TRUE(g.at(leader).ReadIndex(1).ok());
  // One follower is cut: the other one plus the leader make a majority.
  g.Settle();
  std::vector<ReadState> reads = g.TakeReads(leader);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_TRUE(reads[0].ok);
  EXPECT_GE(reads[0].index, g.at(leader).leader_start_index());

  // With both followers cut, no answer comes, and stepping down fails it.
  const NodeId other = 6 - leader - target;
  g.Cut(other);
  ASSERT_TRUE(g.at(leader).ReadIndex(2).ok());
  g.Settle();
  EXPECT_TRUE(g.TakeReads(leader).empty());
  for (int i = 0; i < 30 && g.at(leader).is_leader(); ++i) g.Tick();
  ASSERT_FALSE(g.at(leader).is_leader());
  reads = g.TakeReads(leader);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_FALSE(reads[0].ok);
}

TEST(ReplicaReadIndexTest, FollowersRefuse) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  const NodeId follower = leader == 1 ? 2 : 1;
  Status s = g.at(follower).ReadIndex(1);
  EXPECT_EQ(GetErrorKind(s), ErrorKind::kNotLeader) << s;
}

TEST(ReplicaReadIndexTest, AGroupOfOneNeedsNobody) {
  Group g(1);
  ASSERT_EQ(g.ElectLeader(), 1u);
  g.Tick();
  EXPECT_TRUE(g.at(1).HasLease());
  ASSERT_TRUE(g.at(1).ReadIndex(3).ok());
  g.Settle();
  std::vector<ReadState> reads = g.TakeReads(1);
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_TRUE(reads[0].ok);
}

TEST(ReplicaCompactionTest, AFollowerBehindTheCompactedLogGetsASnapshotThenTheTail) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  ASSERT_NE(leader, kNoNode);
  const NodeId lagger = leader == 1 ? 2 : 1;
  g.Cut(lagger);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(g.at(leader).Propose("a" + std::to_string(i)).ok());
  g.Settle();
  const uint64_t applied = g.at(leader).applied_index();
  ASSERT_GE(applied, 50u);
  g.at(leader).Compact(applied);
  EXPECT_EQ(g.at(leader).compacted_through(), applied);
  EXPECT_EQ(g.at(leader).EntryAt(applied), nullptr);
  Ready ready = g.at(leader).TakeReady();
  EXPECT_EQ(ready.compacted_through, applied);
  g.at(leader).Advance(ready);

  g.Heal();
  g.Tick(2);
  std::vector<SnapshotRequest> requests = g.TakeSnapshotRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].to, lagger);
  EXPECT_EQ(requests[0].min_index, applied);
  // Not asked again while the first one is under way.
  g.Tick(3);
  EXPECT_TRUE(g.TakeSnapshotRequests().empty());

  g.SendSnapshot(leader, lagger);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(g.at(leader).Propose("b" + std::to_string(i)).ok());
  g.Settle();
  g.Tick(2);
  EXPECT_EQ(g.at(lagger).commit_index(), g.at(leader).commit_index());
  EXPECT_EQ(g.applied(lagger), g.applied(leader));
  EXPECT_EQ(g.applied(lagger).back(), "b9");
}

TEST(ReplicaCompactionTest, ARestartedReplicaStartsAfterWhatItsStateMachineHolds) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(g.at(leader).Propose("x").ok());
  g.Settle();
  g.Tick(2);
  const NodeId follower = leader == 1 ? 2 : 1;
  const uint64_t applied = g.applied(follower).size();
  ASSERT_GE(applied, 20u);
  g.Crash(follower);
  g.Start(follower);  // with applied_index = what its state machine holds
  EXPECT_EQ(g.at(follower).applied_index(), applied);
  EXPECT_GE(g.at(follower).commit_index(), applied);
  EXPECT_EQ(g.at(follower).EntryAt(applied), nullptr);
  ASSERT_TRUE(g.at(leader).Propose("y").ok());
  g.Settle();
  g.Tick(2);
  EXPECT_EQ(g.applied(follower), g.applied(leader));
}

// A replica far behind must not lead: a promiser compacted chosen entries
// the candidate lacks and could not report them to its merge. Nor may it
// disrupt: its probe is refused by anyone that compacted past its log.
TEST(ReplicaCompactionTest, ACandidateDoesNotCountAPromiserThatCompactedPastIt) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  const NodeId lagger = leader == 1 ? 2 : 1;
  const NodeId other = 6 - leader - lagger;
  g.Cut(lagger);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(g.at(leader).Propose("c" + std::to_string(i)).ok());
  g.Settle();
  g.Tick(2);
  g.at(other).Compact(g.at(other).applied_index());
  g.Settle();
  ASSERT_GT(g.at(other).compacted_through(), g.at(lagger).commit_index());
  // The leader dies; the lagger and the compacted replica are left.
  g.Crash(leader);
  g.Heal();
  for (int i = 0; i < 200 && !g.at(other).is_leader(); ++i) {
    g.Tick();
    ASSERT_FALSE(g.at(lagger).is_leader()) << "a replica missing chosen entries took over";
    // Its probe is refused, so it never even disrupts the survivor.
    ASSERT_NE(g.at(other).ballot().leader, lagger) << "the survivor promised the lagger";
  }
  ASSERT_TRUE(g.at(other).is_leader());
  g.Tick(2);
  // 30 commands between the first leader's no-op and the new leader's.
  ASSERT_EQ(g.applied(other).size(), 32u);
  EXPECT_EQ(g.applied(other)[30], "c29");
  // The lagger is caught up by a snapshot.
  bool asked = false;
  for (const SnapshotRequest& r : g.TakeSnapshotRequests()) asked |= r.to == lagger;
  ASSERT_TRUE(asked);
  g.SendSnapshot(other, lagger);
  ASSERT_TRUE(g.at(other).Propose("d").ok());
  g.Settle();
  g.Tick(2);
  EXPECT_EQ(g.applied(lagger), g.applied(other));
}

Membership Voters(std::initializer_list<NodeId> voters,
                  std::initializer_list<NodeId> learners = {}) {
  Membership m;
  for (NodeId id : voters) m.voters[id] = "";
  for (NodeId id : learners) m.learners[id] = "";
  return m;
}

TEST(ReplicaMembershipTest, AddALearnerCatchItUpPromoteItThenRemoveTheOldLeader) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  ASSERT_NE(leader, kNoNode);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(g.at(leader).Propose("a" + std::to_string(i)).ok());
  g.Settle();
  g.Join(4);
  g.Tick(20);
  EXPECT_FALSE(g.at(4).is_leader());
  EXPECT_TRUE(g.applied(4).empty()) << "a node outside the membership got the log";

  ASSERT_TRUE(g.at(leader).ProposeConfig(Voters({1, 2, 3}, {4})).ok());
  g.Settle();
  g.Tick(3);
  EXPECT_EQ(g.at(4).config(), Voters({1, 2, 3}, {4}));
  EXPECT_EQ(g.applied(4), g.applied(leader)) << "the learner did not catch up";

  // A learner does not vote: with two voters cut, nothing commits.
  const NodeId a = leader == 1 ? 2 : 1;
  const NodeId b = 6 - leader - a;
  g.Cut(a);
  g.Cut(b);
  const uint64_t commit = g.at(leader).commit_index();
  ASSERT_TRUE(g.at(leader).Propose("blocked").ok());
  g.Settle();
  EXPECT_EQ(g.at(leader).commit_index(), commit);
  g.Heal();
  g.Tick(3);
  EXPECT_GT(g.at(leader).commit_index(), commit);

  // Two voters at once is refused; one at a time works.
  EXPECT_FALSE(g.at(leader).ProposeConfig(Voters({1, 2, 3, 4, 5})).ok());
  ASSERT_TRUE(g.at(leader).ProposeConfig(Voters({1, 2, 3, 4})).ok());
  EXPECT_FALSE(g.at(leader).ProposeConfig(Voters({1, 2, 3})).ok()) << "two changes in flight";
  g.Settle();
  g.Tick(3);
  EXPECT_TRUE(g.at(4).config().IsVoter(4));

  // Remove the leader: it steps down and the other three go on.
  std::initializer_list<NodeId> rest = {1, 2, 3, 4};
  Membership without = Voters(rest);
  without.voters.erase(leader);
  ASSERT_TRUE(g.at(leader).ProposeConfig(without).ok());
  g.Settle();
  g.Tick(2);
  EXPECT_FALSE(g.at(leader).is_leader());
  NodeId next = kNoNode;
  for (int i = 0; i < 200 && next == kNoNode; ++i) {
    g.Tick();
    for (NodeId id : {1u, 2u, 3u, 4u}) {
      if (id != leader && g.at(id).is_leader()) next = id;
    }
  }
  ASSERT_NE(next, kNoNode);
  ASSERT_TRUE(g.at(next).Propose("after").ok());
  g.Settle();
  g.Tick(2);
  EXPECT_EQ(g.applied(next).back(), "after");
  EXPECT_NE(g.applied(leader).back(), "after") << "a removed member still gets the log";
  EXPECT_FALSE(g.at(leader).is_leader());
}

TEST(ReplicaMembershipTest, ARestartedReplicaTakesTheMembershipItsStateMachineHolds) {
  Random random(1);
  Replica::Options o;
  o.id = 2;
  o.members = {1, 2, 3};  // the bootstrap list, superseded
  o.config = Voters({2, 3, 4});
  o.config_index = 40;
  Replica r(o, &random, {}, {}, 50);
  EXPECT_EQ(r.config(), Voters({2, 3, 4}));
  EXPECT_EQ(r.config_index(), 40u);
}

// A pending change counts in every quorum: adding a voter that is down
// leaves 3 of 4 needed, so one more failure stops commits, rather than the
// old config's 2 of 3 going on without the new voter ever seeing them.
TEST(ReplicaMembershipTest, APendingConfigJoinsEveryQuorum) {
  Group g(3);
  const NodeId leader = g.ElectLeader();
  g.Tick(2);
  ASSERT_TRUE(g.at(leader).ProposeConfig(Voters({1, 2, 3, 4})).ok());  // 4 never runs
  const NodeId a = leader == 1 ? 2 : 1;
  g.Cut(a);
  g.Settle();
  g.Tick(3);
  EXPECT_TRUE(g.at(leader).config_pending());
  EXPECT_FALSE(g.at(leader).config().IsVoter(4));
  g.Heal();
  g.Tick(3);
  EXPECT_FALSE(g.at(leader).config_pending());
  EXPECT_TRUE(g.at(leader).config().IsVoter(4));
}

// A candidate that missed two changes runs with its old config, {1,2,3}.
// The promise it gets from 2 carries the newer configs; it must then win a
// majority of those too, or it could miss a value chosen by {1,4,5}.
TEST(ReplicaMembershipTest, ACandidateMustWinTheConfigsItsPromisesReveal) {
  Group g(3);
  g.Join(4);
  g.Join(5);
  NodeId leader = kNoNode;
  for (int i = 0; i < 200 && leader != 1; ++i) {
    leader = g.ElectLeader();
    if (leader != 1) {  // make node 1 the leader, for a simple script
      ASSERT_TRUE(g.at(leader).TransferLeadership(1).ok());
      g.Settle();
      g.Tick(2);
      leader = g.at(1).is_leader() ? 1 : kNoNode;
    }
  }
  ASSERT_EQ(leader, 1u);
  g.Tick(2);
  g.Cut(3);
  ASSERT_TRUE(g.at(1).ProposeConfig(Voters({1, 2, 3, 4})).ok());
  g.Tick(3);
  ASSERT_TRUE(g.at(1).ProposeConfig(Voters({1, 2, 3, 4, 5})).ok());
  g.Tick(3);
  ASSERT_TRUE(g.at(1).config().IsVoter(5));
  ASSERT_FALSE(g.at(3).config().IsVoter(4));
  g.Heal();
  g.Cut(3);
  g.Cut(2);
  ASSERT_TRUE(g.at(1).Propose("X").ok());
  g.Tick(3);
  ASSERT_EQ(g.applied(4).back(), "X");  // chosen by 1, 4 and 5

  g.Heal();
  g.Cut(1);
  g.Cut(4);
  g.Cut(5);
  for (int i = 0; i < 300; ++i) {
    g.Tick();
    ASSERT_FALSE(g.at(3).is_leader()) << "won with {2,3}: a majority of its stale config only";
    ASSERT_FALSE(g.at(2).is_leader());
  }
}

}  // namespace
}  // namespace meridian::consensus
