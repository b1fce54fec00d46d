#include "server/replication.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "consensus/codec.h"
#include "server/group_host.h"
#include "server/log.h"
#include "server/server_metrics.h"
#include "server/snapshot_transfer.h"

namespace meridian::server {

struct Replication::SnapshotInstall {
  std::vector<storage::Record> records;
  uint64_t index = 0;
  bool done = false;
  Status result;
};

Replication::Replication(const Options& options, GroupHost* host, txn::TxnStore* store)
    : options_(options),
      host_(host),
      leader_changes_(Metrics().leader_changes->With({absl::StrCat(options.group)})),
      proposals_committed_(Metrics().proposals_committed->With({absl::StrCat(options.group)})),
      proposals_failed_(Metrics().proposals_failed->With({absl::StrCat(options.group)})),
      entries_applied_(Metrics().entries_applied->With({absl::StrCat(options.group)})),
      store_(store) {}

Status Replication::Recover(consensus::RecoveredGroup g, Random* random) {
  const uint64_t applied_index = store_->AppliedIndex();
  if (g.trimmed_through > applied_index) {
    return CorruptionError(absl::StrCat(
        "the WAL of group ", options_.group, " was compacted through index ", g.trimmed_through,
        " but its store holds only ", applied_index,
        "; the engine directory lost data. Restore from a backup or re-seed this member."));
  }
  std::vector<consensus::Entry> entries;
  for (auto& [index, e] : g.entries) entries.push_back(std::move(e));
  consensus::Replica::Options ro;
  ro.id = options_.id;
  MERIDIAN_ASSIGN_OR_RETURN(auto stored, store_->AppliedMembership());
  if (stored) {
    if (!consensus::DecodeMembership(stored->second, &ro.config)) {
      return CorruptionError(
          absl::StrCat("the stored membership of group ", options_.group, " is malformed"));
    }
    ro.config_index = stored->first;
  } else if (!options_.join) {
    ro.config.voters = options_.members;
  }
  ro.heartbeat_ticks = options_.heartbeat_ticks;
  ro.election_ticks = options_.election_ticks;
  replica_ = std::make_unique<consensus::Replica>(ro, random, g.hard_state, entries, applied_index);
  applied_ = applied_index;
  RefreshMembers();
  Log(Level::kInfo, "replication starting",
      {{"group", absl::StrCat(options_.group)},
       {"member_id", absl::StrCat(options_.id)},
       {"voters", absl::StrCat(replica_->config().voters.size())},
       {"learners", absl::StrCat(replica_->config().learners.size())},
       {"membership_index", absl::StrCat(replica_->config_index())},
       {"joining", options_.join ? "true" : "false"},
       {"recovered_commit_index", absl::StrCat(g.hard_state.commit_index)},
       {"wal_compacted_through", absl::StrCat(g.trimmed_through)},
       {"engine_applied_index", absl::StrCat(applied_index)}});
  return absl::OkStatus();
}

Replication::~Replication() { Stop(); }

void Replication::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
    lease_deadline_us_.store(0, std::memory_order_release);
    leader_ready_.store(false, std::memory_order_release);
    ready_epoch_.store(0, std::memory_order_release);
    // Wake every caller still waiting; each sees stop_.
    for (auto& [command, w] : proposals_) w->cv.notify_all();
    for (auto& [index, w] : waiting_) w->cv.notify_all();
    for (auto& w : read_requests_) w->cv.notify_all();
    for (auto& [id, w] : reads_in_flight_) w->cv.notify_all();
    for (auto& [index, w] : reads_to_apply_) w->cv.notify_all();
  }
  install_cv_.notify_all();
  std::map<consensus::NodeId, Transfer> transfers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [to, t] : transfers_) t.ctx->TryCancel();
    transfers.swap(transfers_);
  }
  for (auto& [to, t] : transfers) t.thread.join();
}

void Replication::Wake() { host_->Wake(); }

Status Replication::InstallSnapshot(std::vector<storage::Record> records, uint64_t index) {
  auto install = std::make_shared<SnapshotInstall>();
  install->records = std::move(records);
  install->index = index;
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  snapshot_installs_.push_back(install);
  lock.unlock();
  Wake();
  lock.lock();
  install_cv_.wait(lock, [&] { return install->done || stop_; });
  return install->done ? install->result : UnavailableError("replication is stopping");
}

void Replication::InstallSnapshots(std::deque<std::shared_ptr<SnapshotInstall>> installs) {
  for (auto& install : installs) {
    Status s;
    if (install->index > applied_) {
      s = store_->InstallSnapshot(install->records, install->index);
      if (s.ok()) {
        Log(Level::kInfo, "installed a snapshot",
            {{"group", absl::StrCat(options_.group)},
             {"index", absl::StrCat(install->index)},
             {"records", absl::StrCat(install->records.size())},
             {"previous_applied_index", absl::StrCat(applied_)}});
        applied_ = install->index;
        consensus::Membership config;
        uint64_t config_index = 0;
        Result<std::optional<std::pair<uint64_t, std::string>>> stored =
            store_->AppliedMembership();
        if (stored.ok() && *stored && consensus::DecodeMembership((*stored)->second, &config)) {
          config_index = (*stored)->first;
        }
        replica_->InstallSnapshot(install->index, config, config_index);
        RefreshMembers();
      } else {
        Log(Level::kError, "installing a snapshot failed",
            {{"group", absl::StrCat(options_.group)},
             {"index", absl::StrCat(install->index)},
             {"error", std::string(s.message())}});
      }
    }
    install->records.clear();
    std::lock_guard<std::mutex> lock(mu_);
    install->done = true;
    install->result = s;
    install_cv_.notify_all();
  }
}

void Replication::StartSnapshotTransfer(consensus::NodeId to) {
  const std::string address = host_->AddressOf(to);
  if (address.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = transfers_.find(to);
  if (it != transfers_.end()) {
    if (!it->second.done) return;  // one at a time per peer
    it->second.thread.join();
    transfers_.erase(it);
  }
  Transfer& t = transfers_[to];
  t.ctx = std::make_shared<grpc::ClientContext>();
  t.thread = std::thread([this, to, addr = address, ctx = t.ctx] {
    auto stub = v1::Peer::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
    const uint64_t started = SystemClock()->NowMonotonicMicros();
    uint64_t index = 0;
    Status s = SendSnapshot(stub.get(), ctx.get(), options_.id, options_.group, store_, &index);
    const uint64_t ms = (SystemClock()->NowMonotonicMicros() - started) / 1000;
    if (s.ok()) {
      Log(Level::kInfo, "sent a snapshot",
          {{"group", absl::StrCat(options_.group)},
           {"to", absl::StrCat(to)}, {"index", absl::StrCat(index)}, {"ms", absl::StrCat(ms)}});
    } else {
      Log(Level::kWarn, "sending a snapshot failed; it will be retried",
          {{"group", absl::StrCat(options_.group)},
           {"to", absl::StrCat(to)}, {"error", std::string(s.message())}});
    }
    std::lock_guard<std::mutex> lock(mu_);
    transfers_[to].done = true;
  });
}

void Replication::MaybeCompact() {
  const uint64_t applied = replica_->applied_index();
  const uint64_t compacted = replica_->compacted_through();
  if (applied < compacted + options_.compact_every_entries) return;
  uint64_t target = applied;
  // Keep what a lagging peer still needs, unless it lags so far that a
  // snapshot is cheaper than the memory its tail would hold.
  const uint64_t lowest = replica_->LowestPeerCommit();
  if (applied - lowest <= options_.max_lag_entries) target = std::min(target, lowest);
  if (target < compacted + options_.compact_every_entries / 2) return;
  Result<uint64_t> durable = store_->FlushApplied();
  if (!durable.ok()) {
    Log(Level::kWarn, "flushing the store for compaction failed",
        {{"error", std::string(durable.status().message())}});
    return;
  }
  replica_->Compact(std::min(target, *durable));
}

uint64_t Replication::Apply(const consensus::Entry& e) {
  if (e.noop) return 0;
  Result<uint64_t> applied_hlc = uint64_t{0};  // membership entries carry no timestamp
  if (e.config) {
    if (Status s = store_->ApplyMembership(e.index, e.command); !s.ok()) applied_hlc = s;
  } else {
    applied_hlc = store_->ApplyCommitted(e.index, e.command);
  }
  if (!applied_hlc.ok()) {
    Log(Level::kError, "applying a committed entry failed; stopping",
        {{"index", absl::StrCat(e.index)}, {"error", std::string(applied_hlc.status().message())}});
    std::abort();
  }
  if (e.config) {
    // Published before the proposer is answered, so that what it reads
    // next (Members) already shows the change.
    RefreshMembers();
    Log(Level::kInfo, "membership changed",
        {{"group", absl::StrCat(options_.group)},
         {"index", absl::StrCat(e.index)},
         {"voters", absl::StrCat(replica_->config().voters.size())},
         {"learners", absl::StrCat(replica_->config().learners.size())}});
  }
  return *applied_hlc;
}

void Replication::Receive(consensus::Message m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (inbox_.size() > 100'000) return;  // overload: drop, consensus retransmits
    inbox_.push_back(std::move(m));
  }
  Wake();
}

Status Replication::Commit(std::string command, const std::function<void()>& queued,
                           uint64_t* applied_hlc, uint64_t epoch) {
  auto waiter = std::make_shared<Waiter>();
  waiter->command = command;
  waiter->epoch = epoch;
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  proposals_.emplace_back(std::move(command), waiter);
  Wake();
  if (queued) queued();
  Status s = AwaitCommit(waiter, lock);
  if (s.ok() && applied_hlc != nullptr && waiter->applied_hlc != 0) *applied_hlc = waiter->applied_hlc;
  return s;
}

Result<consensus::Membership> Replication::ChangeMembership(MembershipEdit edit) {
  auto waiter = std::make_shared<Waiter>();
  waiter->edit = std::move(edit);
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  proposals_.emplace_back(std::string(), waiter);
  Wake();
  MERIDIAN_RETURN_IF_ERROR(AwaitCommit(waiter, lock));
  consensus::Membership committed;
  if (!consensus::DecodeMembership(waiter->command, &committed)) {
    return absl::InternalError("a committed membership did not decode");
  }
  return committed;
}

Status Replication::AwaitCommit(const std::shared_ptr<Waiter>& waiter,
                                std::unique_lock<std::mutex>& lock) {
  Status s = AwaitCommitResult(waiter, lock);
  (s.ok() ? proposals_committed_ : proposals_failed_)->Inc();
  return s;
}

Status Replication::AwaitCommitResult(const std::shared_ptr<Waiter>& waiter,
                                      std::unique_lock<std::mutex>& lock) {
  const bool done =
      waiter->cv.wait_for(lock, std::chrono::milliseconds(options_.commit_timeout_ms),
                          [&] { return waiter->done || stop_; });
  if (done && waiter->done) return waiter->result;
  // Not proposed yet: it never will be, so it surely did not commit.
  for (auto it = proposals_.begin(); it != proposals_.end(); ++it) {
    if (it->second == waiter) {
      proposals_.erase(it);
      return UnavailableError("no leader could take the commit in time; nothing was written");
    }
  }
  for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
    if (it->second == waiter) {
      waiting_.erase(it);
      break;
    }
  }
  return CommitUnknownError(
      "the commit was proposed but not confirmed in time (leader change or lost majority); it "
      "may or may not have been applied");
}

Status Replication::ReadBarrier() {
  // The fast path takes no lock: one atomic load and a clock read.
  if (SystemClock()->NowMonotonicMicros() < lease_deadline_us_.load(std::memory_order_acquire)) {
    lease_reads_.fetch_add(1, std::memory_order_relaxed);
    return absl::OkStatus();
  }
  auto waiter = std::make_shared<Waiter>();
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  if (leader_ != options_.id) return NotLeaderError("", "this node does not lead");
  read_requests_.push_back(waiter);
  Wake();
  const bool done =
      waiter->cv.wait_for(lock, std::chrono::milliseconds(options_.commit_timeout_ms),
                          [&] { return waiter->done || stop_; });
  if (done && waiter->done) {
    if (waiter->result.ok()) index_reads_.fetch_add(1, std::memory_order_relaxed);
    return waiter->result;
  }
  // The loop drops abandoned waiters when their round ends.
  return UnavailableError(
      "leadership could not be confirmed in time (no majority reachable?); retry");
}

Replication::ReadStats Replication::read_stats() {
  return {lease_reads_.load(std::memory_order_relaxed),
          index_reads_.load(std::memory_order_relaxed)};
}

void Replication::Finish(Waiter* w, Status s) {
  w->done = true;
  w->result = std::move(s);
  w->cv.notify_one();
}

void Replication::StartReads(std::deque<std::shared_ptr<Waiter>> reads) {
  for (auto& waiter : reads) {
    const uint64_t id = next_read_id_++;
    Status s = replica_->ReadIndex(id);
    const std::string hint = s.ok() ? "" : LeaderAddressUnlocked();
    std::lock_guard<std::mutex> lock(mu_);
    if (s.ok()) {
      reads_in_flight_[id] = std::move(waiter);
    } else {
      Finish(waiter.get(), NotLeaderError(hint, "this node does not lead"));
    }
  }
}

void Replication::FinishReads() {
  auto end = reads_to_apply_.upper_bound(applied_);
  for (auto it = reads_to_apply_.begin(); it != end; ++it) Finish(it->second.get(), absl::OkStatus());
  reads_to_apply_.erase(reads_to_apply_.begin(), end);
}

bool Replication::IsLeaderReady() { return leader_ready_.load(std::memory_order_acquire); }

uint64_t Replication::LeaderEpoch() { return ready_epoch_.load(std::memory_order_acquire); }

consensus::NodeId Replication::LeaderId() {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_;
}

std::string Replication::LeaderAddress() {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = addresses_.find(leader_);
  return it == addresses_.end() ? "" : it->second;
}

std::string Replication::LeaderAddressUnlocked() {
  const consensus::NodeId id = replica_->is_leader() ? options_.id : replica_->leader();
  std::string address = host_->AddressOf(id);
  if (!address.empty()) return address;
  auto self = options_.members.find(id);
  return self == options_.members.end() ? "" : self->second;
}

std::pair<consensus::Membership, uint64_t> Replication::Membership() {
  std::lock_guard<std::mutex> lock(mu_);
  return {membership_, membership_index_};
}

void Replication::RefreshMembers() {
  // Whom to reach: the bootstrap address book plus every known member.
  std::map<consensus::NodeId, std::string> book = options_.members;
  for (const auto& [id, address] : replica_->KnownMembers()) {
    if (!address.empty()) book[id] = address;
  }
  host_->SetPeers(options_.group, book);
  std::lock_guard<std::mutex> lock(mu_);
  addresses_ = book;
  membership_ = replica_->config();
  membership_index_ = replica_->config_index();
}

void Replication::Propose(const std::shared_ptr<Waiter>& waiter, const std::string& hint) {
  Result<uint64_t> index = NotLeaderError(hint, "this node does not lead; retry at the leader");
  if (!replica_->is_leader()) {
    // Keep the NOT_LEADER above.
  } else if (waiter->epoch != 0 && waiter->epoch != replica_->ballot().round) {
    // Checked against the store in an earlier leadership of this node;
    // commits ordered since may be unapplied here and unseen by the check.
    index = NotLeaderError(hint, "leadership changed after this commit was checked; nothing was "
                                 "written; retry");
  } else if (waiter->edit) {
    Result<consensus::Membership> next = waiter->edit(replica_->config());
    if (!next.ok()) {
      index = next.status();
    } else {
      waiter->command = consensus::EncodeMembership(*next);
      index = replica_->ProposeConfig(*next);
    }
  } else {
    index = replica_->Propose(waiter->command);
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (index.ok()) {
    waiting_[*index] = waiter;
  } else {
    Finish(waiter.get(), index.status());
  }
}

bool Replication::HasInput() {
  std::lock_guard<std::mutex> lock(mu_);
  return !inbox_.empty() || !proposals_.empty() || !read_requests_.empty() ||
         !snapshot_installs_.empty() || transfer_to_ != consensus::kNoNode;
}

Status Replication::TransferLeadership(consensus::NodeId target) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!membership_.IsVoter(target)) {
      return InvalidArgumentError(absl::StrCat("member ", target, " is not a voter of group ",
                                               options_.group));
    }
    if (leader_ != options_.id) {
      const std::string leader = addresses_.count(leader_) ? addresses_.at(leader_) : "";
      return NotLeaderError(leader, "leadership is transferred by the group's leader");
    }
    transfer_to_ = target;
  }
  Wake();
  return absl::OkStatus();
}

void Replication::DriveInput(uint64_t ticks) {
  std::unique_lock<std::mutex> lock(mu_);
  std::deque<consensus::Message> inbox;
  inbox.swap(inbox_);
  std::deque<std::pair<std::string, std::shared_ptr<Waiter>>> proposals;
  proposals.swap(proposals_);
  std::deque<std::shared_ptr<Waiter>> reads;
  reads.swap(read_requests_);
  std::deque<std::shared_ptr<SnapshotInstall>> installs;
  installs.swap(snapshot_installs_);
  const consensus::NodeId transfer_to = std::exchange(transfer_to_, consensus::kNoNode);
  lock.unlock();

  replica_->set_may_lead(may_lead_.load(std::memory_order_relaxed));
  // Ticks before messages: a heartbeat that waited in the inbox during a
  // stall then counts as heard late, which errs on the safe side.
  for (uint64_t i = 0; i < ticks; ++i) replica_->Tick();
  InstallSnapshots(std::move(installs));
  for (const auto& m : inbox) (void)replica_->Step(m);
  const std::string hint = LeaderAddressUnlocked();
  for (auto& [command, waiter] : proposals) Propose(waiter, hint);
  StartReads(std::move(reads));
  if (transfer_to != consensus::kNoNode && transfer_to != options_.id) {
    if (Status s = replica_->TransferLeadership(transfer_to); !s.ok()) {
      Log(Level::kWarn, "leadership transfer refused",
          {{"group", absl::StrCat(options_.group)}, {"error", std::string(s.message())}});
    }
  }
}

bool Replication::DriveTakeReady(consensus::Ready* ready) {
  if (!replica_->HasReady()) return false;
  *ready = replica_->TakeReady();
  for (const auto& m : ready->messages) host_->Send(options_.group, m);
  for (const consensus::SnapshotRequest& r : ready->snapshots) StartSnapshotTransfer(r.to);
  return true;
}

void Replication::DriveFinishReady(consensus::Ready& ready) {
  for (const auto& m : ready.messages_after_persist) host_->Send(options_.group, m);
  for (const consensus::Entry& e : ready.committed) {
    if (e.index <= applied_) continue;
    const uint64_t applied_hlc = Apply(e);
    applied_ = e.index;
    entries_applied_->Inc();
    std::lock_guard<std::mutex> lock(mu_);
    FinishReads();
    if (auto it = waiting_.find(e.index); it != waiting_.end()) {
      Waiter* w = it->second.get();
      w->applied_hlc = applied_hlc;
      Finish(w, (!e.noop && e.config == bool(w->edit) && e.command == w->command)
                    ? absl::OkStatus()
                    : UnavailableError("leadership changed before the commit; nothing was written"));
      waiting_.erase(it);
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const consensus::ReadState& r : ready.reads) {
      auto it = reads_in_flight_.find(r.id);
      if (it == reads_in_flight_.end()) continue;
      if (!r.ok) {
        Finish(it->second.get(), NotLeaderError("", "leadership was lost before the read"));
      } else {
        reads_to_apply_.emplace(r.index, std::move(it->second));
      }
      reads_in_flight_.erase(it);
    }
    FinishReads();
  }
  replica_->Advance(ready);
}

void Replication::DriveEndRound(uint64_t start_us, uint64_t tick_us) {
  MaybeCompact();
  // Pending configs add members as soon as they are in the log.
  if (replica_->config_pending()) RefreshMembers();
  std::lock_guard<std::mutex> lock(mu_);
  const consensus::NodeId was = leader_;
  leader_ = replica_->is_leader() ? options_.id : replica_->leader();
  const bool ready = replica_->is_leader() && applied_ >= replica_->leader_start_index();
  leader_ready_.store(ready, std::memory_order_release);
  ready_epoch_.store(ready ? replica_->ballot().round : 0, std::memory_order_release);
  // The replica's tick k is due at start_us + k * tick_us.
  lease_deadline_us_.store(
      ready && replica_->HasLease() ? start_us + replica_->lease_expiry_tick() * tick_us : 0,
      std::memory_order_release);
  described_ = {leader_,
                replica_->is_leader(),
                replica_->ballot().round,
                replica_->commit_index(),
                applied_,
                replica_->config().voters.size(),
                replica_->config().learners.size(),
                {}};
  if (replica_->is_leader()) {
    const uint64_t last = replica_->last_index();
    for (const auto& [peer, committed] : replica_->PeerCommitIndexes()) {
      auto a = addresses_.find(peer);
      described_.peer_lag.push_back({peer, a == addresses_.end() ? "" : a->second,
                                     last > committed ? last - committed : 0});
    }
  }
  if (leader_ != was) {
    leader_changes_->Inc();
    Log(Level::kInfo, "leader changed",
        {{"group", absl::StrCat(options_.group)},
         {"leader", absl::StrCat(leader_)},
         {"ballot_round", absl::StrCat(replica_->ballot().round)}});
  }
}

size_t Replication::PendingCount() {
  std::lock_guard<std::mutex> lock(mu_);
  return proposals_.size() + waiting_.size() + read_requests_.size() + reads_in_flight_.size() +
         reads_to_apply_.size();
}

Replication::Snapshot Replication::Describe() {
  std::lock_guard<std::mutex> lock(mu_);
  return described_;
}

}  // namespace meridian::server
