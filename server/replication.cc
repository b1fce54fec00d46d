#include "server/replication.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "consensus/codec.h"
#include "server/log.h"
#include "server/peer.h"

namespace meridian::server {

namespace {
constexpr consensus::GroupId kGroup = 1;  // one group per node until shards (issue 6)
}

Replication::Replication(const Options& options, ApplyFn apply)
    : options_(options), apply_(std::move(apply)), random_(SystemClock()->NowMonotonicMicros() ^
                                                           (uint64_t{options.id} << 32)) {}

Result<std::unique_ptr<Replication>> Replication::Start(const Options& options, ApplyFn apply,
                                                        uint64_t applied_index) {
  if (!options.members.count(options.id)) {
    return InvalidArgumentError(absl::StrCat("member id ", options.id, " is not in the cluster"));
  }
  std::unique_ptr<Replication> r(new Replication(options, std::move(apply)));
  std::map<consensus::GroupId, consensus::RecoveredGroup> recovered;
  MERIDIAN_ASSIGN_OR_RETURN(
      r->wal_, consensus::Wal::Open(PosixFileSystem(), options.wal_dir, {}, &recovered));
  consensus::RecoveredGroup& g = recovered[kGroup];
  std::vector<consensus::Entry> entries;
  for (auto& [index, e] : g.entries) entries.push_back(std::move(e));
  consensus::Replica::Options ro;
  ro.id = options.id;
  for (const auto& [id, addr] : options.members) ro.members.push_back(id);
  ro.heartbeat_ticks = options.heartbeat_ticks;
  ro.election_ticks = options.election_ticks;
  r->replica_ = std::make_unique<consensus::Replica>(ro, &r->random_, g.hard_state, entries);
  r->applied_ = applied_index;
  for (const auto& [id, addr] : options.members) {
    if (id != options.id) r->senders_[id] = std::make_unique<PeerSender>(options.id, addr);
  }
  Log(Level::kInfo, "replication starting",
      {{"member_id", absl::StrCat(options.id)},
       {"members", absl::StrCat(options.members.size())},
       {"recovered_commit_index", absl::StrCat(g.hard_state.commit_index)},
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
  consensus::NodeId id = LeaderId();
  auto it = options_.members.find(id);
  return it == options_.members.end() ? "" : it->second;
}

std::string Replication::LeaderAddressUnlocked() {
  const consensus::NodeId id = replica_->is_leader() ? options_.id : replica_->leader();
  auto it = options_.members.find(id);
  return it == options_.members.end() ? "" : it->second;
}

void Replication::Drain(std::unique_lock<std::mutex>& lock) {
  // Called without `lock` held; takes it to hand out results.
  while (replica_->HasReady()) {
    consensus::Ready ready = replica_->TakeReady();
    for (const auto& m : ready.messages) Send(m);
    if (ready.hard_state) wal_->AppendHardState(kGroup, *ready.hard_state);
    wal_->AppendEntries(kGroup, ready.entries);
    if (Status s = wal_->Sync(); !s.ok()) {
      // Fail-stop: an acceptor that cannot persist must not keep talking.
      Log(Level::kError, "WAL sync failed; stopping", {{"error", std::string(s.message())}});
      std::abort();
    }
    for (const auto& m : ready.messages_after_persist) Send(m);
    for (const consensus::Entry& e : ready.committed) {
      if (e.index <= applied_) continue;
      if (!e.noop) {
        if (Status s = apply_(e.index, e.command); !s.ok()) {
          Log(Level::kError, "applying a committed entry failed; stopping",
              {{"index", absl::StrCat(e.index)}, {"error", std::string(s.message())}});
          std::abort();
        }
      }
      applied_ = e.index;
      lock.lock();
      FinishReads();
      if (auto it = waiting_.find(e.index); it != waiting_.end()) {
        it->second->done = true;
        it->second->result =
            (!e.noop && e.command == it->second->command)
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
    if (now < next_tick && inbox_.empty() && proposals_.empty() && read_requests_.empty()) {
      loop_cv_.wait_for(lock, std::chrono::microseconds(next_tick - now));
      continue;
    }
    std::deque<consensus::Message> inbox;
    inbox.swap(inbox_);
    std::deque<std::pair<std::string, std::shared_ptr<Waiter>>> proposals;
    proposals.swap(proposals_);
    std::deque<std::shared_ptr<Waiter>> reads;
    reads.swap(read_requests_);
    lock.unlock();

    // Ticks before messages: a heartbeat that waited in the inbox during a
    // stall then counts as heard late, which errs on the safe side.
    while (clock->NowMonotonicMicros() >= start + (ticks + 1) * tick_us) {
      replica_->Tick();
      ++ticks;
    }
    for (const auto& m : inbox) (void)replica_->Step(m);
    const std::string hint = LeaderAddressUnlocked();
    for (auto& [command, waiter] : proposals) {
      Result<uint64_t> index = replica_->Propose(command);
      lock.lock();
      if (index.ok()) {
        waiting_[*index] = waiter;
      } else {
        waiter->done = true;
        waiter->result = NotLeaderError(hint, "this node does not lead; retry at the leader");
        results_ready_ = true;
      }
      lock.unlock();
    }
    StartReads(std::move(reads), lock);
    Drain(lock);

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
