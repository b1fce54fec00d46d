#include "server/group_host.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/file_system.h"
#include "consensus/codec.h"
#include "server/log.h"
#include "server/peer.h"
#include "server/server_metrics.h"

namespace meridian::server {

GroupHost::GroupHost(const Options& options)
    : options_(options),
      random_(SystemClock()->NowMonotonicMicros() ^ (uint64_t{options.id} << 32)),
      peer_clock_(SystemClock(), PeerClock::Options{.rtt_seconds = Metrics().peer_rtt_seconds,
                                                    .hlc = options.hlc,
                                                    .hlc_rejected = Metrics().peer_hlc_rejected}) {}

Result<std::unique_ptr<GroupHost>> GroupHost::Open(const Options& options) {
  if (options.id == consensus::kNoNode) return InvalidArgumentError("a member id is required");
  if (options.tick_ms <= 0) return InvalidArgumentError("the tick must be positive");
  std::unique_ptr<GroupHost> host(new GroupHost(options));
  consensus::Wal::Options wal_options;
  wal_options.io = options.wal_io;
  MERIDIAN_ASSIGN_OR_RETURN(host->wal_, consensus::Wal::Open(PosixFileSystem(), options.wal_dir,
                                                             wal_options, &host->recovered_));
  Log(Level::kInfo, "node WAL open",
      {{"dir", options.wal_dir},
       {"wal_io", host->wal_->io() == consensus::Wal::Io::kUring ? "io_uring" : "posix"},
       {"groups_recovered", absl::StrCat(host->recovered_.size())}});
  return host;
}

GroupHost::~GroupHost() { Stop(); }

Result<Replication*> GroupHost::AddGroup(Replication::Options options, txn::TxnStore* store) {
  if (!thread_.joinable()) return AddGroupNow(std::move(options), store);
  auto queued = std::make_shared<QueuedGroup>();
  queued->options = std::move(options);
  queued->store = store;
  std::future<Result<Replication*>> added = queued->added.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return UnavailableError("the consensus host is stopping");
    queued_groups_.push_back(queued);
    woken_ = true;
  }
  cv_.notify_one();
  return added.get();
}

void GroupHost::AddQueuedGroups() {
  std::vector<std::shared_ptr<QueuedGroup>> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued.swap(queued_groups_);
  }
  for (auto& q : queued) q->added.set_value(AddGroupNow(std::move(q->options), q->store));
}

Result<Replication*> GroupHost::AddGroupNow(Replication::Options options, txn::TxnStore* store) {
  if (groups_.count(options.group)) {
    return InvalidArgumentError(absl::StrCat("group ", options.group, " is already hosted"));
  }
  if (!options.join && !options.members.count(options_.id)) {
    return InvalidArgumentError(
        absl::StrCat("member id ", options_.id, " is not in group ", options.group));
  }
  options.id = options_.id;
  std::unique_ptr<Replication> r(new Replication(options, this, store));
  consensus::RecoveredGroup recovered;
  if (auto it = recovered_.find(options.group); it != recovered_.end()) {
    recovered = std::move(it->second);
    recovered_.erase(it);
  }
  MERIDIAN_RETURN_IF_ERROR(r->Recover(std::move(recovered), &random_));
  Replication* out = r.get();
  std::unique_lock<std::shared_mutex> lock(groups_mu_);
  groups_[options.group] = std::move(r);
  return out;
}

void GroupHost::Run() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void GroupHost::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::vector<std::shared_ptr<QueuedGroup>> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queued.swap(queued_groups_);
  }
  for (auto& q : queued) q->added.set_value(UnavailableError("the consensus host stopped"));
  for (auto& [id, g] : groups_) g->Stop();
  senders_.clear();
}

Replication* GroupHost::group(consensus::GroupId id) const {
  std::shared_lock<std::shared_mutex> lock(groups_mu_);
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : it->second.get();
}

std::vector<Replication*> GroupHost::groups() const {
  std::vector<Replication*> out;
  std::shared_lock<std::shared_mutex> lock(groups_mu_);
  for (const auto& [id, g] : groups_) out.push_back(g.get());
  return out;
}

consensus::Wal::Io GroupHost::wal_io() const { return wal_->io(); }

bool GroupHost::Receive(consensus::GroupId group, consensus::Message m) {
  Replication* g = this->group(group);
  if (g == nullptr) return false;
  g->Receive(std::move(m));
  return true;
}

GroupHost::TransportStats GroupHost::transport_stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupHost::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  cv_.notify_one();
}

void GroupHost::Send(consensus::GroupId group, const consensus::Message& m) {
  v1::GroupMessage out;
  out.set_group(group);
  consensus::EncodeMessage(out.mutable_message(), m);
  outbox_[m.to].push_back(std::move(out));
}

void GroupHost::SetPeers(consensus::GroupId group,
                         const std::map<consensus::NodeId, std::string>& book) {
  auto& current = books_[group];
  if (current == book) return;
  current = book;
  books_changed_ = true;
}

std::string GroupHost::AddressOf(consensus::NodeId peer) const {
  auto it = dialed_.find(peer);
  return it == dialed_.end() ? "" : it->second;
}

void GroupHost::Redial() {
  books_changed_ = false;
  std::map<consensus::NodeId, std::string> want;
  for (const auto& [group, book] : books_) {
    for (const auto& [id, address] : book) {
      if (id != options_.id && !address.empty()) want[id] = address;
    }
  }
  for (auto it = senders_.begin(); it != senders_.end();) {
    auto w = want.find(it->first);
    if (w == want.end() || w->second != dialed_[it->first]) {
      dialed_.erase(it->first);
      peer_clock_.RemovePeer(it->first);
      it = senders_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [id, address] : want) {
    if (senders_.count(id)) continue;
    peer_clock_.AddPeer(id, address);
    senders_[id] = std::make_unique<PeerSender>(options_.id, id, address, &peer_clock_);
    dialed_[id] = address;
  }
}

void GroupHost::Flush() {
  if (books_changed_) Redial();
  uint64_t batches = 0;
  uint64_t messages = 0;
  for (auto& [to, batch] : outbox_) {
    if (batch.empty()) continue;
    auto it = senders_.find(to);
    if (it != senders_.end()) {
      ++batches;
      messages += batch.size();
      Metrics().peer_batch_messages->Observe(static_cast<double>(batch.size()));
      it->second->Send(std::move(batch));
    }
    batch.clear();
  }
  if (batches == 0) return;
  Metrics().peer_batches_sent->Inc(batches);
  Metrics().peer_messages_sent->Inc(messages);
  std::lock_guard<std::mutex> lock(mu_);
  stats_.batches_sent += batches;
  stats_.messages_sent += messages;
}

void GroupHost::Round(uint64_t ticks, uint64_t start_us, uint64_t tick_us) {
  for (auto& [id, g] : groups_) g->DriveInput(ticks);
  // Persist every group's Ready with one sync, then let them go on; a
  // group whose Advance produced more goes around again.
  while (true) {
    std::vector<std::pair<Replication*, consensus::Ready>> readies;
    size_t entries = 0;
    for (auto& [id, g] : groups_) {
      consensus::Ready ready;
      if (!g->DriveTakeReady(&ready)) continue;
      if (ready.hard_state) wal_->AppendHardState(id, *ready.hard_state);
      if (ready.compacted_through) wal_->AppendTrim(id, ready.compacted_through);
      wal_->AppendEntries(id, ready.entries);
      entries += ready.entries.size();
      readies.emplace_back(g.get(), std::move(ready));
    }
    if (readies.empty()) break;
    // What may leave before the sync (a leader's accepts, heartbeats) goes
    // now, so followers write while we do.
    Flush();
    const auto sync_start = std::chrono::steady_clock::now();
    Status synced = wal_->Sync();
    Metrics().wal_fsync_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sync_start).count());
    if (entries > 0) Metrics().wal_sync_entries->Observe(static_cast<double>(entries));
    if (Status s = synced; !s.ok()) {
      // Fail-stop: an acceptor that cannot persist must not keep talking.
      Log(Level::kError, "WAL sync failed; stopping", {{"error", std::string(s.message())}});
      std::abort();
    }
    for (auto& [g, ready] : readies) g->DriveFinishReady(ready);
  }
  for (auto& [id, g] : groups_) g->DriveEndRound(start_us, tick_us);
  Flush();
}

void GroupHost::Loop() {
  Clock* clock = SystemClock();
  const uint64_t tick_us = static_cast<uint64_t>(options_.tick_ms) * 1000;
  // Tick k is due at start + k * tick_us, and every due tick is delivered
  // even after a stall: the lease (see Replica) is counted in ticks, so a
  // leader must never count fewer ticks than time passed.
  const uint64_t start = clock->NowMonotonicMicros();
  uint64_t ticks = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      const uint64_t now = clock->NowMonotonicMicros();
      const uint64_t next_tick = start + (ticks + 1) * tick_us;
      if (now < next_tick && !woken_ && !stop_) {
        cv_.wait_for(lock, std::chrono::microseconds(next_tick - now));
      }
      if (stop_) return;
      woken_ = false;
    }
    AddQueuedGroups();
    uint64_t due = 0;
    while (clock->NowMonotonicMicros() >= start + (ticks + due + 1) * tick_us) ++due;
    ticks += due;
    Round(due, start, tick_us);
  }
}

}  // namespace meridian::server
