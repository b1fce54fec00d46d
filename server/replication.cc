#include "server/replication.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "consensus/codec.h"
#include "server/log.h"
#include "server/peer.h"
#include "server/snapshot_transfer.h"

namespace meridian::server {

namespace {
constexpr consensus::GroupId kGroup = 1;  // one group per node until shards (issue 6)
}

struct Replication::SnapshotInstall {
  std::vector<storage::Record> records;
  uint64_t index = 0;
  bool done = false;
  Status result;
};

Replication::Replication(const Options& options, txn::TxnStore* store)
    : options_(options), store_(store), random_(SystemClock()->NowMonotonicMicros() ^
                                                           (uint64_t{options.id} << 32)) {}

Result<std::unique_ptr<Replication>> Replication::Start(const Options& options,
                                                        txn::TxnStore* store) {
  if (!options.join && !options.members.count(options.id)) {
    return InvalidArgumentError(absl::StrCat("member id ", options.id, " is not in the cluster"));
  }
  std::unique_ptr<Replication> r(new Replication(options, store));
  std::map<consensus::GroupId, consensus::RecoveredGroup> recovered;
  consensus::Wal::Options wal_options;
  wal_options.io = options.wal_io;
  MERIDIAN_ASSIGN_OR_RETURN(r->wal_, consensus::Wal::Open(PosixFileSystem(), options.wal_dir,
                                                          wal_options, &recovered));
  consensus::RecoveredGroup& g = recovered[kGroup];
  const uint64_t applied_index = store->AppliedIndex();
  if (g.trimmed_through > applied_index) {
    return CorruptionError(absl::StrCat(
        "the WAL in ", options.wal_dir, " was compacted through index ", g.trimmed_through,
        " but the store holds only ", applied_index,
        "; the engine directory lost data. Restore from a backup or re-seed this member."));
  }
  std::vector<consensus::Entry> entries;
  for (auto& [index, e] : g.entries) entries.push_back(std::move(e));
  consensus::Replica::Options ro;
  ro.id = options.id;
  MERIDIAN_ASSIGN_OR_RETURN(auto stored, store->AppliedMembership());
  if (stored) {
    if (!consensus::DecodeMembership(stored->second, &ro.config)) {
      return CorruptionError("the stored group membership is malformed");
    }
    ro.config_index = stored->first;
  } else if (!options.join) {
    ro.config.voters = options.members;
  }
  ro.heartbeat_ticks = options.heartbeat_ticks;
  ro.election_ticks = options.election_ticks;
  r->replica_ =
      std::make_unique<consensus::Replica>(ro, &r->random_, g.hard_state, entries, applied_index);
  r->applied_ = applied_index;
  r->RefreshMembers();
  Log(Level::kInfo, "replication starting",
      {{"member_id", absl::StrCat(options.id)},
       {"voters", absl::StrCat(r->replica_->config().voters.size())},
       {"learners", absl::StrCat(r->replica_->config().learners.size())},
       {"membership_index", absl::StrCat(r->replica_->config_index())},
       {"joining", options.join ? "true" : "false"},
       {"wal_io", r->wal_->io() == consensus::Wal::Io::kUring ? "io_uring" : "posix"},
       {"recovered_commit_index", absl::StrCat(g.hard_state.commit_index)},
       {"wal_compacted_through", absl::StrCat(g.trimmed_through)},
       {"engine_applied_index", absl::StrCat(applied_index)}});
  r->thread_ = std::thread([p = r.get()] { p->Loop(); });
  return r;
}

Replication::~Replication() { Stop(); }

void Replication::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  loop_cv_.notify_all();
  done_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  senders_.clear();
  std::map<consensus::NodeId, Transfer> transfers;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [to, t] : transfers_) t.ctx->TryCancel();
    transfers.swap(transfers_);
  }
  for (auto& [to, t] : transfers) t.thread.join();
}

Status Replication::InstallSnapshot(std::vector<storage::Record> records, uint64_t index) {
  auto install = std::make_shared<SnapshotInstall>();
  install->records = std::move(records);
  install->index = index;
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  snapshot_installs_.push_back(install);
  loop_cv_.notify_one();
  done_cv_.wait(lock, [&] { return install->done || stop_; });
  return install->done ? install->result : UnavailableError("replication is stopping");
}

void Replication::InstallSnapshots(std::deque<std::shared_ptr<SnapshotInstall>> installs,
                                   std::unique_lock<std::mutex>& lock) {
  for (auto& install : installs) {
    Status s;
    if (install->index > applied_) {
      s = store_->InstallSnapshot(install->records, install->index);
      if (s.ok()) {
        Log(Level::kInfo, "installed a snapshot",
            {{"index", absl::StrCat(install->index)},
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
        members_changed_ = true;
      } else {
        Log(Level::kError, "installing a snapshot failed",
            {{"index", absl::StrCat(install->index)}, {"error", std::string(s.message())}});
      }
    }
    install->records.clear();
    lock.lock();
    install->done = true;
    install->result = s;
    results_ready_ = true;
    lock.unlock();
  }
}

void Replication::StartSnapshotTransfer(consensus::NodeId to) {
  auto address = dialed_.find(to);
  if (address == dialed_.end()) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = transfers_.find(to);
  if (it != transfers_.end()) {
    if (!it->second.done) return;  // one at a time per peer
    it->second.thread.join();
    transfers_.erase(it);
  }
  Transfer& t = transfers_[to];
  t.ctx = std::make_shared<grpc::ClientContext>();
  t.thread = std::thread([this, to, addr = address->second, ctx = t.ctx] {
    auto stub = v1::Peer::NewStub(grpc::CreateChannel(addr, grpc::InsecureChannelCredentials()));
    const uint64_t started = SystemClock()->NowMonotonicMicros();
    uint64_t index = 0;
    Status s = SendSnapshot(stub.get(), ctx.get(), options_.id, store_, &index);
    const uint64_t ms = (SystemClock()->NowMonotonicMicros() - started) / 1000;
    if (s.ok()) {
      Log(Level::kInfo, "sent a snapshot",
          {{"to", absl::StrCat(to)}, {"index", absl::StrCat(index)}, {"ms", absl::StrCat(ms)}});
    } else {
      Log(Level::kWarn, "sending a snapshot failed; it will be retried",
          {{"to", absl::StrCat(to)}, {"error", std::string(s.message())}});
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

void Replication::Apply(const consensus::Entry& e) {
  if (e.noop) return;
  Status s = e.config ? store_->ApplyMembership(e.index, e.command)
                      : store_->ApplyCommitted(e.index, e.command);
  if (e.config && s.ok()) {
    members_changed_ = true;
    Log(Level::kInfo, "membership changed",
        {{"index", absl::StrCat(e.index)},
         {"voters", absl::StrCat(replica_->config().voters.size())},
         {"learners", absl::StrCat(replica_->config().learners.size())}});
  }
  if (!s.ok()) {
    Log(Level::kError, "applying a committed entry failed; stopping",
        {{"index", absl::StrCat(e.index)}, {"error", std::string(s.message())}});
    std::abort();
  }
}

void Replication::Receive(consensus::Message m) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (inbox_.size() > 100'000) return;  // overload: drop, consensus retransmits
    inbox_.push_back(std::move(m));
  }
  loop_cv_.notify_one();
}

void Replication::Send(const consensus::Message& m) {
  auto it = senders_.find(m.to);
  if (it == senders_.end()) return;
  std::string bytes;
  consensus::EncodeMessage(&bytes, m);
  it->second->Send(std::move(bytes));
}

Status Replication::Commit(std::string command, const std::function<void()>& queued) {
  auto waiter = std::make_shared<Waiter>();
  waiter->command = command;
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  proposals_.emplace_back(std::move(command), waiter);
  loop_cv_.notify_one();
  if (queued) queued();
  return AwaitCommit(waiter, lock);
}

Result<consensus::Membership> Replication::ChangeMembership(MembershipEdit edit) {
  auto waiter = std::make_shared<Waiter>();
  waiter->edit = std::move(edit);
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  proposals_.emplace_back(std::string(), waiter);
  loop_cv_.notify_one();
  MERIDIAN_RETURN_IF_ERROR(AwaitCommit(waiter, lock));
  consensus::Membership committed;
  if (!consensus::DecodeMembership(waiter->command, &committed)) {
    return absl::InternalError("a committed membership did not decode");
  }
  return committed;
}

Status Replication::AwaitCommit(const std::shared_ptr<Waiter>& waiter,
                                std::unique_lock<std::mutex>& lock) {
  const bool done = done_cv_.wait_for(lock, std::chrono::milliseconds(options_.commit_timeout_ms),
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
  auto waiter = std::make_shared<Waiter>();
  std::unique_lock<std::mutex> lock(mu_);
  if (stop_) return UnavailableError("replication is stopping");
  if (leader_ready_ && SystemClock()->NowMonotonicMicros() < lease_deadline_us_) {
    ++read_stats_.lease_reads;
    return absl::OkStatus();
  }
  if (leader_ != options_.id) return NotLeaderError("", "this node does not lead");
  read_requests_.push_back(waiter);
  loop_cv_.notify_one();
  const bool done = done_cv_.wait_for(lock, std::chrono::milliseconds(options_.commit_timeout_ms),
                                      [&] { return waiter->done || stop_; });
  if (done && waiter->done) {
    if (waiter->result.ok()) ++read_stats_.index_reads;
    return waiter->result;
  }
  // The loop drops abandoned waiters when their round ends.
  return UnavailableError(
      "leadership could not be confirmed in time (no majority reachable?); retry");
}

Replication::ReadStats Replication::read_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return read_stats_;
}

void Replication::Finish(Waiter* w, Status s) {
  w->done = true;
  w->result = std::move(s);
  results_ready_ = true;
}

void Replication::StartReads(std::deque<std::shared_ptr<Waiter>> reads,
                             std::unique_lock<std::mutex>& lock) {
  for (auto& waiter : reads) {
    const uint64_t id = next_read_id_++;
    Status s = replica_->ReadIndex(id);
    lock.lock();
    if (s.ok()) {
      reads_in_flight_[id] = std::move(waiter);
    } else {
      Finish(waiter.get(), NotLeaderError(LeaderAddressUnlocked(), "this node does not lead"));
    }
    lock.unlock();
  }
}

void Replication::FinishReads() {
  auto end = reads_to_apply_.upper_bound(applied_);
  for (auto it = reads_to_apply_.begin(); it != end; ++it) Finish(it->second.get(), absl::OkStatus());
  reads_to_apply_.erase(reads_to_apply_.begin(), end);
}

bool Replication::IsLeaderReady() {
  std::lock_guard<std::mutex> lock(mu_);
  return leader_ready_;
}

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
  auto it = dialed_.find(id);
  if (it != dialed_.end()) return it->second;
  auto self = options_.members.find(id);
  return self == options_.members.end() ? "" : self->second;
}

std::pair<consensus::Membership, uint64_t> Replication::Membership() {
  std::lock_guard<std::mutex> lock(mu_);
  return {membership_, membership_index_};
}

void Replication::RefreshMembers() {
  // Whom to dial: the bootstrap address book plus every known member.
  std::map<consensus::NodeId, std::string> book = options_.members;
  for (const auto& [id, address] : replica_->KnownMembers()) {
    if (!address.empty()) book[id] = address;
  }
  for (auto it = senders_.begin(); it != senders_.end();) {
    auto want = book.find(it->first);
    if (want == book.end() || want->second != dialed_[it->first]) {
      dialed_.erase(it->first);
      it = senders_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [id, address] : book) {
    if (id == options_.id || senders_.count(id)) continue;
    senders_[id] = std::make_unique<PeerSender>(options_.id, address);
    dialed_[id] = address;
  }
  std::lock_guard<std::mutex> lock(mu_);
  addresses_ = book;
  membership_ = replica_->config();
  membership_index_ = replica_->config_index();
}

void Replication::Propose(const std::shared_ptr<Waiter>& waiter, const std::string& hint,
                          std::unique_lock<std::mutex>& lock) {
  Result<uint64_t> index = NotLeaderError(hint, "this node does not lead; retry at the leader");
  if (!replica_->is_leader()) {
    // Keep the NOT_LEADER above.
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
  lock.lock();
  if (index.ok()) {
    waiting_[*index] = waiter;
  } else {
    Finish(waiter.get(), index.status());
  }
  lock.unlock();
}

void Replication::Drain(std::unique_lock<std::mutex>& lock) {
  // Called without `lock` held; takes it to hand out results.
  while (replica_->HasReady()) {
    consensus::Ready ready = replica_->TakeReady();
    for (const auto& m : ready.messages) Send(m);
    for (const consensus::SnapshotRequest& r : ready.snapshots) StartSnapshotTransfer(r.to);
    if (ready.hard_state) wal_->AppendHardState(kGroup, *ready.hard_state);
    if (ready.compacted_through) wal_->AppendTrim(kGroup, ready.compacted_through);
    wal_->AppendEntries(kGroup, ready.entries);
    if (Status s = wal_->Sync(); !s.ok()) {
      // Fail-stop: an acceptor that cannot persist must not keep talking.
      Log(Level::kError, "WAL sync failed; stopping", {{"error", std::string(s.message())}});
      std::abort();
    }
    for (const auto& m : ready.messages_after_persist) Send(m);
    for (const consensus::Entry& e : ready.committed) {
      if (e.index <= applied_) continue;
      Apply(e);
      applied_ = e.index;
      lock.lock();
      FinishReads();
      if (auto it = waiting_.find(e.index); it != waiting_.end()) {
        it->second->done = true;
        it->second->result =
            (!e.noop && e.config == bool(it->second->edit) && e.command == it->second->command)
                ? absl::OkStatus()
                : UnavailableError("leadership changed before the commit; nothing was written");
        waiting_.erase(it);
        results_ready_ = true;
      }
      lock.unlock();
    }
    lock.lock();
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
    lock.unlock();
    replica_->Advance(ready);
  }
}

void Replication::Loop() {
  Clock* clock = SystemClock();
  const uint64_t tick_us = static_cast<uint64_t>(options_.tick_ms) * 1000;
  // Tick k is due at start + k * tick_us, and every due tick is delivered
  // even after a stall: the lease (see Replica) is counted in ticks, so a
  // leader must never count fewer ticks than time passed.
  const uint64_t start = clock->NowMonotonicMicros();
  uint64_t ticks = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const uint64_t now = clock->NowMonotonicMicros();
    const uint64_t next_tick = start + (ticks + 1) * tick_us;
    if (now < next_tick && inbox_.empty() && proposals_.empty() && read_requests_.empty() &&
        snapshot_installs_.empty()) {
      loop_cv_.wait_for(lock, std::chrono::microseconds(next_tick - now));
      continue;
    }
    std::deque<consensus::Message> inbox;
    inbox.swap(inbox_);
    std::deque<std::pair<std::string, std::shared_ptr<Waiter>>> proposals;
    proposals.swap(proposals_);
    std::deque<std::shared_ptr<Waiter>> reads;
    reads.swap(read_requests_);
    std::deque<std::shared_ptr<SnapshotInstall>> installs;
    installs.swap(snapshot_installs_);
    lock.unlock();

    // Ticks before messages: a heartbeat that waited in the inbox during a
    // stall then counts as heard late, which errs on the safe side.
    while (clock->NowMonotonicMicros() >= start + (ticks + 1) * tick_us) {
      replica_->Tick();
      ++ticks;
    }
    InstallSnapshots(std::move(installs), lock);
    for (const auto& m : inbox) (void)replica_->Step(m);
    const std::string hint = LeaderAddressUnlocked();
    for (auto& [command, waiter] : proposals) Propose(waiter, hint, lock);
    StartReads(std::move(reads), lock);
    Drain(lock);
    MaybeCompact();
    // Pending configs add members as soon as they are in the log.
    if (members_changed_ || replica_->config_pending()) {
      members_changed_ = false;
      RefreshMembers();
    }

    lock.lock();
    const consensus::NodeId was = leader_;
    leader_ = replica_->is_leader() ? options_.id : replica_->leader();
    leader_ready_ = replica_->is_leader() && applied_ >= replica_->leader_start_index();
    // The replica's tick k is due at start + k * tick_us.
    lease_deadline_us_ =
        replica_->HasLease() ? start + replica_->lease_expiry_tick() * tick_us : 0;
    if (leader_ != was) {
      Log(Level::kInfo, "leader changed",
          {{"leader", absl::StrCat(leader_)}, {"ballot_round", absl::StrCat(replica_->ballot().round)}});
    }
    if (results_ready_) {
      results_ready_ = false;
      done_cv_.notify_all();
    }
  }
}

}  // namespace meridian::server
