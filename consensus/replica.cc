#include "consensus/replica.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meridian::consensus {

Replica::Replica(const Options& options, Random* random, HardState hard_state,
                 std::vector<Entry> entries, uint64_t applied_index)
    : options_(options), random_(random), hard_(hard_state) {
  // What the state machine holds is chosen: commit it, and keep only the
  // entries after it (the persisted commit index may lag, since it is not
  // synced on its own; the driver replays committed entries above
  // applied_index).
  hard_.commit_index = std::max(hard_.commit_index, applied_index);
  applied_ = collected_ = compacted_ = applied_index;
  if (!options_.config.voters.empty() || !options_.config.learners.empty()) {
    config_ = options_.config;
    config_index_ = options_.config_index;
  } else {
    for (NodeId id : options_.members) config_.voters[id] = "";
  }
  for (Entry& e : entries) {
    if (e.index <= applied_index) continue;
    NotePendingConfig(e);
    log_[e.index] = std::move(e);
  }
  ballot_ = hard_.promised;
  ResetElectionTimer();
}

template <typename Set>
bool Replica::IsQuorum(const Set& yes, const std::vector<Membership>& extra) const {
  if (!config_.IsMajority(yes)) return false;
  for (const auto& [index, m] : pending_configs_) {
    if (!m.IsMajority(yes)) return false;
  }
  for (const Membership& m : extra) {
    if (!m.IsMajority(yes)) return false;
  }
  return true;
}

std::map<NodeId, std::string> Replica::KnownMembers() const {
  std::map<NodeId, std::string> all;
  auto add = [&](const Membership& m) {
    for (const auto& [id, address] : m.voters) all[id] = address;
    for (const auto& [id, address] : m.learners) all[id] = address;
  };
  add(config_);
  for (const auto& [index, m] : pending_configs_) add(m);
  return all;
}

std::vector<NodeId> Replica::Peers() const {
  std::vector<NodeId> out;
  for (const auto& [id, address] : KnownMembers()) {
    if (id != options_.id) out.push_back(id);
  }
  return out;
}

void Replica::NotePendingConfig(const Entry& e) {
  if (e.index <= config_index_) return;
  Membership m;
  if (e.config && DecodeMembership(e.command, &m)) {
    pending_configs_[e.index] = std::move(m);
  } else {
    pending_configs_.erase(e.index);
  }
}

void Replica::CommitConfig(const Entry& e) {
  Membership m;
  if (!DecodeMembership(e.command, &m)) return;  // never proposed so
  config_ = std::move(m);
  config_index_ = e.index;
  pending_configs_.erase(pending_configs_.begin(), pending_configs_.upper_bound(e.index));
}

void Replica::StepDownIfNoVoter() {
  // A leader outside its config: removed by a change that just committed,
  // or elected as a voter of a pending change its merge then replaced.
  // Once what it must finish is chosen (its first entry, any pending
  // change), it stops leading; the voters elect one of their own.
  if (role_ != Role::kLeader || config_.IsVoter(options_.id)) return;
  if (!pending_configs_.empty() || collected_ < leader_start_index_) return;
  role_ = Role::kFollower;
  leader_ = kNoNode;
  ResetElectionTimer();
}

Result<uint64_t> Replica::ProposeConfig(const Membership& next) {
  if (role_ != Role::kLeader) {
    return NotLeader();
  }
  if (hard_.commit_index < leader_start_index_ || !pending_configs_.empty()) {
    return UnavailableError("another membership change is in progress; retry when it commits");
  }
  MERIDIAN_RETURN_IF_ERROR(ValidateChange(config_, next));
  return AppendAsLeader(EncodeMembership(next), /*config=*/true);
}

Status Replica::NotLeader() const {
  return NotLeaderError(leader_ == kNoNode ? "" : absl::StrCat(leader_),
                        "this replica does not lead its group");
}

uint64_t Replica::AppendAsLeader(std::string command, bool config) {
  Entry e{next_index_++, ballot_, std::move(command), false, config};
  const uint64_t index = e.index;
  Store(e);
  unsent_.push_back(e);
  acks_[index];
  return index;
}

void Replica::Compact(uint64_t through) {
  through = std::min(through, applied_);
  if (through <= compacted_) return;
  log_.erase(log_.begin(), log_.upper_bound(through));
  compacted_ = through;
  ready_.compacted_through = through;
}

void Replica::InstallSnapshot(uint64_t index, const Membership& config, uint64_t config_index) {
  if (index <= applied_) return;
  log_.erase(log_.begin(), log_.upper_bound(index));
  if (!config.voters.empty()) {
    config_ = config;
    config_index_ = config_index;
  }
  pending_configs_.erase(pending_configs_.begin(), pending_configs_.upper_bound(index));
  compacted_ = applied_ = collected_ = index;
  if (index > hard_.commit_index) {
    hard_.commit_index = index;
    hard_dirty_ = true;
  }
  ready_.compacted_through = index;
}

uint64_t Replica::LowestPeerCommit() const {
  if (role_ != Role::kLeader) return applied_;
  uint64_t lowest = applied_;
  for (NodeId peer : Peers()) {
    auto it = peer_commit_.find(peer);
    lowest = std::min(lowest, it == peer_commit_.end() ? 0 : it->second);
  }
  return lowest;
}

std::map<NodeId, uint64_t> Replica::PeerCommitIndexes() const {
  std::map<NodeId, uint64_t> out;
  if (role_ != Role::kLeader) return out;
  for (NodeId peer : Peers()) {
    auto it = peer_commit_.find(peer);
    out[peer] = it == peer_commit_.end() ? 0 : it->second;
  }
  return out;
}

uint64_t Replica::last_index() const {
  if (role_ == Role::kLeader) return next_index_ - 1;
  return log_.empty() ? 0 : log_.rbegin()->first;
}

void Replica::RequestSnapshot(NodeId peer) {
  auto [it, fresh] = snapshot_asked_tick_.emplace(peer, now_ticks_);
  if (!fresh) {
    if (now_ticks_ - it->second < static_cast<uint64_t>(options_.snapshot_retry_ticks)) return;
    it->second = now_ticks_;
  }
  ready_.snapshots.push_back({peer, compacted_});
}

const Entry* Replica::EntryAt(uint64_t index) const {
  auto it = log_.find(index);
  return it == log_.end() ? nullptr : &it->second;
}

void Replica::ResetElectionTimer() {
  election_elapsed_ = 0;
  const int adaptive = gap_estimate_x16_ * 4 / 16;
  const int base = std::max(options_.election_ticks, adaptive);
  election_timeout_ = base + static_cast<int>(random_->Uniform(options_.election_ticks + 1));
}

void Replica::Send(Message m, bool after_persist) {
  m.from = options_.id;
  (after_persist ? ready_.messages_after_persist : ready_.messages).push_back(std::move(m));
}

void Replica::Promise(const Ballot& b) {
  if (b > hard_.promised) {
    hard_.promised = b;
    hard_dirty_ = true;
  }
}

void Replica::Store(Entry e) {
  NotePendingConfig(e);
  ready_.entries.push_back(e);
  log_[e.index] = std::move(e);
}

void Replica::Tick() {
  ++now_ticks_;
  ++last_leader_contact_;
  if (role_ == Role::kLeader) {
    if (++heartbeat_elapsed_ >= options_.heartbeat_ticks) {
      heartbeat_elapsed_ = 0;
      Heartbeat();
    }
    // Check quorum: a leader that has not heard from a majority within an
    // election timeout steps down, so it stops claiming leadership.
    if (++quorum_elapsed_ >= options_.election_ticks) {
      quorum_elapsed_ = 0;
      std::set<NodeId> heard = heard_this_term_;
      heard.insert(options_.id);
      if (!IsQuorum(heard)) {
        role_ = Role::kFollower;
        leader_ = kNoNode;
        ResetElectionTimer();
      }
      heard_this_term_.clear();
    }
    return;
  }
  if (++election_elapsed_ >= election_timeout_ && CanRun()) StartProbe();
}

bool Replica::LeaderAlive(NodeId asking) const {
  if (role_ == Role::kLeader) return true;
  // Before the crash this node may have acknowledged a heartbeat that gave
  // some leader its lease; it keeps that promise for its first election
  // timeout after a restart.
  if (now_ticks_ < static_cast<uint64_t>(options_.election_ticks)) return true;
  return leader_ != kNoNode && leader_ != asking && last_leader_contact_ < options_.election_ticks;
}

int Replica::LeaseTicks() const {
  const int safe = (options_.election_ticks - 1) * 4 / 5;
  return options_.lease_ticks > 0 ? std::min(options_.lease_ticks, safe) : safe;
}

bool Replica::HasLease() const {
  return role_ == Role::kLeader && !lease_blocked_ && now_ticks_ < lease_expiry_ &&
         hard_.commit_index >= leader_start_index_;
}

Status Replica::ReadIndex(uint64_t id) {
  if (role_ != Role::kLeader) {
    return NotLeader();
  }
  // Everything committed when the read arrived; at least the new leader's
  // own no-op, below which lie all values chosen before its election.
  const uint64_t index = std::max(hard_.commit_index, leader_start_index_);
  if (HasLease() || IsQuorum(std::set<NodeId>{options_.id})) {
    ready_.reads.push_back({id, index, true});
    return absl::OkStatus();
  }
  // Confirm leadership with a heartbeat round sent after this request; all
  // reads arriving before the next TakeReady share it.
  pending_reads_.push_back({id, index, hb_seq_ + 1});
  read_round_due_ = true;
  return absl::OkStatus();
}

void Replica::OnHeartbeatAcked(NodeId peer, uint64_t seq) {
  if (peer != options_.id) {
    uint64_t& acked = peer_acked_seq_[peer];
    acked = std::max(acked, seq);
  }
  // The newest round a quorum (this leader included) acknowledged: try the
  // rounds peers reported, newest first.
  std::set<uint64_t> rounds = {hb_seq_};
  for (const auto& [id, acked] : peer_acked_seq_) rounds.insert(acked);
  uint64_t round = 0;
  for (auto r = rounds.rbegin(); r != rounds.rend() && *r > 0; ++r) {
    std::set<NodeId> yes = {options_.id};
    for (const auto& [id, acked] : peer_acked_seq_) {
      if (acked >= *r) yes.insert(id);
    }
    if (IsQuorum(yes)) {
      round = *r;
      break;
    }
  }
  if (round == 0) return;
  if (auto it = hb_sent_tick_.find(round); it != hb_sent_tick_.end() && !lease_blocked_) {
    lease_expiry_ = std::max(lease_expiry_, it->second + LeaseTicks());
  }
  hb_sent_tick_.erase(hb_sent_tick_.begin(), hb_sent_tick_.lower_bound(round));
  auto confirmed = std::stable_partition(pending_reads_.begin(), pending_reads_.end(),
                                         [&](const PendingRead& r) { return r.seq > round; });
  for (auto it = confirmed; it != pending_reads_.end(); ++it) {
    ready_.reads.push_back({it->id, it->index, true});
  }
  pending_reads_.erase(confirmed, pending_reads_.end());
}

void Replica::FailPendingReads() {
  for (const PendingRead& r : pending_reads_) ready_.reads.push_back({r.id, 0, false});
  pending_reads_.clear();
  read_round_due_ = false;
}

void Replica::StartProbe() {
  role_ = Role::kProber;
  leader_ = kNoNode;
  probe_ballot_ = Ballot{std::max({hard_.promised.round, ballot_.round, max_round_seen_}) + 1,
                         options_.id};
  probe_grants_ = {options_.id};
  ResetElectionTimer();
  if (IsQuorum(probe_grants_)) {
    StartPhase1(/*force=*/false);
    return;
  }
  for (NodeId peer : Peers()) {
    Message m;
    m.type = MessageType::kProbe;
    m.to = peer;
    m.ballot = probe_ballot_;
    m.index = hard_.commit_index + 1;  // where our prepare would start
    Send(std::move(m));
  }
}

void Replica::OnProbe(const Message& m) {
  Message reply;
  reply.type = MessageType::kProbeReply;
  reply.to = m.from;
  reply.ballot = m.ballot;
  // A prober whose log ends below our compaction point could not merge
  // what we compacted, so it could never win with our promise: refuse it
  // before it disrupts anyone. The most up-to-date replica is never
  // refused this way (every replica compacts only what it has applied).
  reply.reject = LeaderAlive(m.from) || m.ballot <= hard_.promised || m.index <= compacted_;
  reply.index = hard_.promised.round;  // lets a prober that is behind catch up its rounds
  Send(std::move(reply));
}

void Replica::OnProbeReply(const Message& m) {
  max_round_seen_ = std::max(max_round_seen_, m.index);
  if (role_ != Role::kProber || m.ballot != probe_ballot_ || m.reject) return;
  probe_grants_.insert(m.from);
  if (IsQuorum(probe_grants_)) StartPhase1(/*force=*/false);
}

void Replica::StartPhase1(bool force) {
  role_ = Role::kCandidate;
  leader_ = kNoNode;
  const uint64_t round =
      std::max({hard_.promised.round, ballot_.round, max_round_seen_}) + 1;
  ballot_ = Ballot{round, options_.id};
  Promise(ballot_);
  promises_.clear();
  prepared_.clear();
  phase1_force_ = force;
  ResetElectionTimer();
  // Our own promise counts once it is durable (see Advance).
  for (NodeId peer : Peers()) SendPrepare(peer);
}

void Replica::SendPrepare(NodeId peer) {
  prepared_.insert(peer);
  Message m;
  m.type = MessageType::kPrepare;
  m.to = peer;
  m.ballot = ballot_;
  m.index = hard_.commit_index + 1;
  m.force = phase1_force_;
  Send(std::move(m));
}

std::vector<Membership> Replica::PromisedConfigs() const {
  std::vector<Membership> out;
  for (const auto& [from, promise] : promises_) {
    for (const Entry& e : promise.entries) {
      Membership m;
      if (e.config && e.index > config_index_ && DecodeMembership(e.command, &m)) {
        out.push_back(std::move(m));
      }
    }
  }
  return out;
}

void Replica::MaybeWin() {
  if (role_ != Role::kCandidate || !promises_.count(options_.id)) return;
  // A config the promises carry (perhaps chosen, perhaps not) may hold
  // voters we never asked: ask them, and win only with a majority of them
  // too, so we intersect every quorum that could have chosen a value.
  const std::vector<Membership> extra = PromisedConfigs();
  for (const Membership& m : extra) {
    for (const auto& [id, address] : m.voters) {
      if (id != options_.id && !prepared_.count(id)) SendPrepare(id);
    }
  }
  if (IsQuorum(promises_, extra)) BecomeLeader();
}

void Replica::BecomeFollower(const Ballot& b) {
  role_ = Role::kFollower;
  ballot_ = b;
  leader_ = b.leader;
  promises_.clear();
  acks_.clear();
  unsent_.clear();
  ResetElectionTimer();
}

void Replica::BecomeLeader() {
  // Merge: above our commit index, each slot takes the value accepted in the
  // highest ballot by any promiser; slots nobody accepted become no-ops.
  const uint64_t start = hard_.commit_index + 1;
  std::map<uint64_t, Entry> merged;
  auto consider = [&](const Entry& e) {
    if (e.index < start) return;
    auto it = merged.find(e.index);
    if (it == merged.end() || it->second.ballot < e.ballot) merged[e.index] = e;
  };
  for (auto it = log_.lower_bound(start); it != log_.end(); ++it) consider(it->second);
  for (const auto& [from, promise] : promises_) {
    for (const Entry& e : promise.entries) consider(e);
  }
  const uint64_t last = merged.empty() ? start - 1 : merged.rbegin()->first;

  role_ = Role::kLeader;
  leader_ = options_.id;
  promises_.clear();
  acks_.clear();
  unsent_.clear();
  peer_commit_.clear();
  heard_this_term_.clear();
  hb_sent_tick_.clear();
  peer_acked_seq_.clear();
  lease_expiry_ = 0;
  lease_blocked_ = false;
  quorum_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  // Re-propose every slot in our ballot, so followers can tell the current
  // leader's values from stale ones by ballot alone.
  for (uint64_t i = start; i <= last; ++i) {
    Entry e;
    if (auto it = merged.find(i); it != merged.end()) {
      e = it->second;
    } else {
      e.noop = true;
    }
    e.index = i;
    e.ballot = ballot_;
    Store(e);
    unsent_.push_back(e);
    acks_[i];
  }
  next_index_ = last + 1;
  // An empty no-op in the new ballot commits the merged prefix promptly and
  // tells followers who leads.
  Entry noop{next_index_++, ballot_, "", true};
  leader_start_index_ = noop.index;
  Store(noop);
  unsent_.push_back(noop);
  acks_[noop.index];
  Heartbeat();
}

Result<uint64_t> Replica::Propose(std::string command) {
  if (role_ != Role::kLeader) {
    return NotLeader();
  }
  return AppendAsLeader(std::move(command), /*config=*/false);
}

Status Replica::TransferLeadership(NodeId target) {
  if (role_ != Role::kLeader) return NotLeaderError("", "only the leader can transfer");
  if (!config_.IsVoter(target) || target == options_.id) {
    return InvalidArgumentError("transfer target is not another voter");
  }
  // The target's forced phase 1 ignores the followers' lease promises, so
  // this leader stops reading locally from now on.
  lease_blocked_ = true;
  // Bring the target up to date first, so its phase 1 finds everything.
  SendAccepts(target, std::max(peer_commit_[target], compacted_) + 1, next_index_ - 1);
  Message m;
  m.type = MessageType::kTimeoutNow;
  m.to = target;
  m.ballot = ballot_;
  Send(std::move(m));
  return absl::OkStatus();
}

void Replica::SendAccepts(NodeId peer, uint64_t from, uint64_t to) {
  if (from == 0) from = 1;
  if (from <= compacted_) {
    RequestSnapshot(peer);
    return;
  }
  while (from <= to) {
    Message m;
    m.type = MessageType::kAccept;
    m.to = peer;
    m.ballot = ballot_;
    m.commit_index = hard_.commit_index;
    for (uint64_t i = from; i <= to && m.entries.size() < options_.max_batch_entries; ++i) {
      auto it = log_.find(i);
      if (it == log_.end()) break;  // never happens on a leader; be safe
      Entry e = it->second;
      e.ballot = ballot_;
      m.entries.push_back(std::move(e));
    }
    if (m.entries.empty()) return;
    from = m.entries.back().index + 1;
    Send(std::move(m));
  }
}

void Replica::Heartbeat() {
  hb_sent_tick_[++hb_seq_] = now_ticks_;
  if (hb_sent_tick_.size() > 1024) hb_sent_tick_.erase(hb_sent_tick_.begin());
  OnHeartbeatAcked(options_.id, hb_seq_);  // a group of one needs nobody else
  for (NodeId peer : Peers()) {
    Message m;
    m.type = MessageType::kCommit;
    m.to = peer;
    m.ballot = ballot_;
    m.commit_index = hard_.commit_index;
    m.seq = hb_seq_;
    Send(std::move(m));
    // Retransmit what this peer has not acknowledged (lost Accepts).
    for (auto& [index, acceptors] : acks_) {
      if (!acceptors.count(peer)) {
        SendAccepts(peer, index, std::min(next_index_ - 1, index + options_.max_batch_entries - 1));
        break;
      }
    }
  }
}

void Replica::AdvanceLeaderCommit() {
  uint64_t commit = hard_.commit_index;
  while (true) {
    auto it = acks_.find(commit + 1);
    if (it == acks_.end() || !IsQuorum(it->second)) break;
    acks_.erase(it);
    ++commit;
  }
  // The commit index is not made durable on its own (it can be relearned
  // from the leader); it rides along whenever the promise is persisted.
  hard_.commit_index = commit;
}

void Replica::AdvanceFollowerCommit(uint64_t leader_commit) {
  uint64_t commit = hard_.commit_index;
  while (commit < leader_commit) {
    auto it = log_.find(commit + 1);
    // Only an entry accepted in the current leader's ballot is known to hold
    // the value that leader committed there.
    if (it == log_.end() || it->second.ballot != ballot_) break;
    ++commit;
  }
  hard_.commit_index = commit;
}

void Replica::CollectCommitted() {
  if (collected_ < applied_) collected_ = applied_;
  while (collected_ < hard_.commit_index) {
    auto it = log_.find(collected_ + 1);
    if (it == log_.end()) break;
    if (it->second.config) CommitConfig(it->second);
    ready_.committed.push_back(it->second);
    ++collected_;
  }
  StepDownIfNoVoter();
}

Status Replica::Step(const Message& m) {
  if (m.to != options_.id) return InvalidArgumentError("message for another node");
  switch (m.type) {
    case MessageType::kPrepare: OnPrepare(m); break;
    case MessageType::kPromise: OnPromise(m); break;
    case MessageType::kAccept: OnAccept(m); break;
    case MessageType::kAccepted: OnAccepted(m); break;
    case MessageType::kCommit: OnCommit(m); break;
    case MessageType::kCommitAck: OnCommitAck(m); break;
    case MessageType::kProbe: OnProbe(m); break;
    case MessageType::kProbeReply: OnProbeReply(m); break;
    case MessageType::kTimeoutNow:
      if (m.ballot >= hard_.promised && CanRun()) StartPhase1(/*force=*/true);
      break;
  }
  return absl::OkStatus();
}

void Replica::OnPrepare(const Message& m) {
  // Leader stickiness: while a live leader is heard, a prepare (not forced
  // by a transfer) is refused, so a node cut off from the majority cannot
  // depose it by retrying with ever higher ballots.
  const bool leader_alive = LeaderAlive(m.from);
  Message reply;
  reply.type = MessageType::kPromise;
  reply.to = m.from;
  if (m.ballot <= hard_.promised || (leader_alive && !m.force)) {
    reply.reject = true;
    reply.ballot = hard_.promised;
    Send(std::move(reply));
    return;
  }
  Promise(m.ballot);
  if (role_ != Role::kFollower || ballot_ != m.ballot) {
    role_ = Role::kFollower;
    ballot_ = m.ballot;
    leader_ = kNoNode;
    acks_.clear();
    unsent_.clear();
    ResetElectionTimer();
  }
  reply.ballot = m.ballot;
  reply.commit_index = hard_.commit_index;
  reply.index = compacted_;
  for (auto it = log_.lower_bound(m.index); it != log_.end(); ++it) {
    reply.entries.push_back(it->second);
  }
  Send(std::move(reply), /*after_persist=*/true);
}

void Replica::OnPromise(const Message& m) {
  if (role_ != Role::kCandidate) return;
  if (m.reject) {
    max_round_seen_ = std::max(max_round_seen_, m.ballot.round);
    return;
  }
  if (m.ballot != ballot_) return;
  if (m.index > hard_.commit_index) {
    // This acceptor compacted chosen entries we lack and cannot report
    // them, so its promise cannot feed our merge: do not count it. We win
    // only with a quorum of complete promises; if there is none, we time
    // out and a replica that is not so far behind runs (or the leader
    // catches us up).
    return;
  }
  promises_[m.from] = m;
  MaybeWin();
}

bool Replica::FollowLeader(const Message& m, MessageType reply_type) {
  if (m.ballot < hard_.promised) {
    Message reply;
    reply.type = reply_type;
    reply.to = m.from;
    reply.reject = true;
    reply.ballot = hard_.promised;
    Send(std::move(reply));
    return false;
  }
  Promise(m.ballot);
  if (role_ != Role::kFollower || ballot_ != m.ballot || leader_ != m.ballot.leader) {
    BecomeFollower(m.ballot);
  }
  gap_estimate_x16_ = (gap_estimate_x16_ * 7 + last_leader_contact_ * 16) / 8;
  last_leader_contact_ = 0;
  election_elapsed_ = 0;
  return true;
}

void Replica::OnAccept(const Message& m) {
  if (!FollowLeader(m, MessageType::kAccepted)) return;
  Message reply;
  reply.type = MessageType::kAccepted;
  reply.to = m.from;
  for (const Entry& e : m.entries) {
    if (e.index <= hard_.commit_index) continue;  // chosen; ours is the same
    Entry copy = e;
    copy.ballot = m.ballot;
    Store(std::move(copy));
  }
  if (!m.entries.empty()) {
    reply.ballot = m.ballot;
    reply.index = m.entries.front().index;
    reply.last_index = m.entries.back().index;
    Send(std::move(reply), /*after_persist=*/true);
  }
  AdvanceFollowerCommit(m.commit_index);
}

void Replica::OnAccepted(const Message& m) {
  if (m.reject) {
    if (m.ballot > ballot_) BecomeFollower(m.ballot);
    return;
  }
  if (role_ != Role::kLeader || m.ballot != ballot_) return;
  heard_this_term_.insert(m.from);
  for (uint64_t i = m.index; i <= m.last_index; ++i) {
    auto it = acks_.find(i);
    if (it != acks_.end()) it->second.insert(m.from);
  }
  AdvanceLeaderCommit();
}

void Replica::OnCommit(const Message& m) {
  if (!FollowLeader(m, MessageType::kCommitAck)) return;
  Message reply;
  reply.type = MessageType::kCommitAck;
  reply.to = m.from;
  AdvanceFollowerCommit(m.commit_index);
  reply.ballot = m.ballot;
  reply.index = hard_.commit_index;
  reply.seq = m.seq;
  Send(std::move(reply));
}

void Replica::OnCommitAck(const Message& m) {
  if (m.reject) {
    if (m.ballot > ballot_) BecomeFollower(m.ballot);
    return;
  }
  if (role_ != Role::kLeader || m.ballot != ballot_) return;
  heard_this_term_.insert(m.from);
  peer_commit_[m.from] = m.index;
  if (m.index >= compacted_) snapshot_asked_tick_.erase(m.from);
  OnHeartbeatAcked(m.from, m.seq);
  // Catch-up: a follower behind our commit index gets the chosen entries it
  // lacks, re-sent in our ballot.
  if (m.index < hard_.commit_index) {
    SendAccepts(m.from, m.index + 1,
                std::min(hard_.commit_index, m.index + options_.max_batch_entries));
  }
}

bool Replica::HasReady() const {
  if (hard_dirty_ || !ready_.empty() || !unsent_.empty() || read_round_due_) return true;
  if (role_ != Role::kLeader && !pending_reads_.empty()) return true;
  return collected_ < hard_.commit_index && log_.count(collected_ + 1);
}

Ready Replica::TakeReady() {
  if (role_ != Role::kLeader) FailPendingReads();
  if (read_round_due_) {
    read_round_due_ = false;
    Heartbeat();
  }
  if (!unsent_.empty()) {
    for (NodeId peer : Peers()) {
      SendAccepts(peer, unsent_.front().index, unsent_.back().index);
    }
    unsent_.clear();
  }
  if (hard_dirty_) {
    ready_.hard_state = hard_;
    hard_dirty_ = false;
  }
  CollectCommitted();
  Ready out = std::move(ready_);
  ready_ = Ready();
  return out;
}

void Replica::Advance(const Ready& ready) {
  if (!ready.committed.empty()) applied_ = std::max(applied_, ready.committed.back().index);
  // Our own promise and our own accepts count only once they are durable.
  if (role_ == Role::kCandidate && ready.hard_state && ready.hard_state->promised == ballot_) {
    Message self;
    self.ballot = ballot_;
    promises_[options_.id] = self;
    MaybeWin();
  }
  if (role_ == Role::kLeader) {
    for (const Entry& e : ready.entries) {
      if (e.ballot != ballot_) continue;
      auto it = acks_.find(e.index);
      if (it != acks_.end()) it->second.insert(options_.id);
    }
    AdvanceLeaderCommit();
  }
}

}  // namespace meridian::consensus
