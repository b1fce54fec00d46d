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
    replica_->Advance(ready);
  }
}

void Replication::Loop() {
  Clock* clock = SystemClock();
  const uint64_t tick_us = static_cast<uint64_t>(options_.tick_ms) * 1000;
  uint64_t next_tick = clock->NowMonotonicMicros() + tick_us;
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    const uint64_t now = clock->NowMonotonicMicros();
    if (now < next_tick && inbox_.empty() && proposals_.empty()) {
      loop_cv_.wait_for(lock, std::chrono::microseconds(next_tick - now));
      continue;
    }
    std::deque<consensus::Message> inbox;
    inbox.swap(inbox_);
    std::deque<std::pair<std::string, std::shared_ptr<Waiter>>> proposals;
    proposals.swap(proposals_);
    lock.unlock();

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
    if (clock->NowMonotonicMicros() >= next_tick) {
      replica_->Tick();
      next_tick += tick_us;
      if (next_tick < clock->NowMonotonicMicros()) next_tick = clock->NowMonotonicMicros() + tick_us;
    }
    Drain(lock);

    lock.lock();
    const consensus::NodeId was = leader_;
    leader_ = replica_->is_leader() ? options_.id : replica_->leader();
    leader_ready_ = replica_->is_leader() && applied_ >= replica_->leader_start_index();
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
