// Node: the local side of online splits (shard_splitter.h has the whole
// protocol). Every replica of a splitting shard seeds the child's store
// from its own copy when it applies the split; the child's group then
// starts here with the parent's replicas as voters and its log empty above
// index 1 (the seed). A seed is complete once data_dir/groups/<id>/SEEDED
// exists; a crash before that leaves the split unapplied in the parent,
// whose replay seeds again from scratch.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_system.h"
#include "proto/shard_lookup.h"
#include "server/log.h"
#include "server/node.h"

namespace meridian::server {
namespace {

constexpr char kSeededFile[] = "SEEDED";

}  // namespace

std::string Node::GroupDir(uint64_t group) const {
  return absl::StrCat(config_.data_dir, "/groups/", group);
}

std::map<consensus::NodeId, std::string> Node::SplitChildMembers(uint64_t parent) const {
  std::map<consensus::NodeId, std::string> members;
  const ShardDirectory::View view = shard_directory_.Current();
  for (const v1::ShardInfo& shard : view.config->shards()) {
    const v1::ShardGroup* g = GroupInSite(shard, config_.site_id);
    if (g == nullptr || g->group_id() != parent) continue;
    for (uint64_t r : g->replicas()) {
      members[static_cast<consensus::NodeId>(r)] = NodeAddress(*view.config, r);
    }
  }
  if (!members.empty()) return members;
  // A parent the map does not have yet (itself a split's child, not
  // published before a restart): its group's voters.
  if (Replication* r = host_ ? host_->group(parent) : nullptr; r != nullptr) {
    for (const auto& [id, address] : r->Membership().first.voters) members[id] = address;
  }
  return members;
}

void Node::AllowSplits(uint64_t group, txn::TxnStore* store) {
  store->SetSplitHandler(
      [this, group](const txn::SplitChild& child, const std::vector<storage::Record>& records) {
        return SeedSplitChild(group, child, records);
      });
}

Status Node::SeedSplitChild(uint64_t parent, const txn::SplitChild& child,
                            const std::vector<storage::Record>& records) {
  const uint64_t group = child.spec.child_group;
  const std::string dir = GroupDir(group);
  const uint64_t start_us = SystemClock()->NowMonotonicMicros();
  // Whatever an earlier, interrupted seed left is incomplete: start over.
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return UnavailableError(absl::StrCat("cannot clear ", dir, ": ", ec.message()));
  MERIDIAN_ASSIGN_OR_RETURN(ExtraGroup g,
                            OpenGroupStore(absl::StrCat("groups/", group), ShardCacheBytes()));
  // Index 1: the seed stands for the child log's first entry; its own log
  // starts above it, on every replica alike.
  MERIDIAN_RETURN_IF_ERROR(g.engine->Ingest(records, 1));
  MERIDIAN_ASSIGN_OR_RETURN(g.store, txn::TxnStore::Open(g.engine.get(), hlc_.get(),
                                                         SystemClock(), StoreOptions()));
  FileSystem* fs = PosixFileSystem();
  MERIDIAN_ASSIGN_OR_RETURN(auto marker, fs->OpenFile(absl::StrCat(dir, "/", kSeededFile), true));
  MERIDIAN_RETURN_IF_ERROR(marker->Write(0, absl::StrCat("parent ", parent, "\n")));
  MERIDIAN_RETURN_IF_ERROR(marker->Sync());
  MERIDIAN_RETURN_IF_ERROR(fs->SyncDir(dir));
  // The parent's apply (and this node's consensus rounds) waited for this:
  // --split-size bounds it.
  Log(Level::kInfo, "seeded a split's new group",
      {{"parent_group", absl::StrCat(parent)},
       {"group", absl::StrCat(group)},
       {"records", absl::StrCat(records.size())},
       {"bytes", absl::StrCat(storage::ApproximateBytes(records))},
       {"log_index", absl::StrCat(child.index)},
       {"ms", absl::StrCat((SystemClock()->NowMonotonicMicros() - start_us) / 1000)}});
  absl::MutexLock lock(&seeded_mu_);
  seeded_.push_back({group, parent, std::move(g)});
  return absl::OkStatus();
}

void Node::StartSeededGroups() {
  std::vector<SeededGroup> seeded;
  {
    absl::MutexLock lock(&seeded_mu_);
    seeded.swap(seeded_);
  }
  for (SeededGroup& s : seeded) {
    Replication::Options ro = replication_options_;
    ro.group = s.group;
    ro.join = false;
    ro.members = SplitChildMembers(s.parent);
    txn::TxnStore* store = s.stores.store.get();
    Result<Replication*> r = host_->AddGroup(ro, store);
    if (!r.ok()) {
      Log(Level::kError, "cannot start a split's new group",
          {{"group", absl::StrCat(s.group)}, {"error", std::string(r.status().message())}});
      continue;
    }
    store->SetCommitLog(*r);
    store->SetOutcomeLookup([caller = shard_caller_.get()](const txn::TxnIntent& intent) {
      return caller->Decide(intent.record_shard, intent.txn, txn::TxnOutcome{false, 0});
    });
    AllowSplits(s.group, store);
    {
      absl::MutexLock lock(&groups_mu_);
      extra_groups_[s.group] = std::move(s.stores);
    }
    router_->AddLocal(s.group, {store, *r});
    Log(Level::kInfo, "a split's new group started", {{"group", absl::StrCat(s.group)}});
  }
}

Status Node::OpenSplitChildren(uint64_t parent, txn::TxnStore* store,
                               std::map<uint64_t, Router::LocalGroup>* local) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<txn::SplitChild> children, store->SplitChildren());
  for (const txn::SplitChild& child : children) {
    const uint64_t group = child.spec.child_group;
    if (local->count(group)) continue;
    if (!std::filesystem::exists(absl::StrCat(GroupDir(group), "/", kSeededFile))) {
      Log(Level::kError,
          "this replica has no seed of a split's group (it caught up past the split by "
          "snapshot); it does not host the group: replace it with member remove/add",
          {{"group", absl::StrCat(group)}, {"parent_group", absl::StrCat(parent)}});
      continue;
    }
    MERIDIAN_ASSIGN_OR_RETURN(ExtraGroup g,
                              OpenGroupStore(absl::StrCat("groups/", group), ShardCacheBytes()));
    Replication::Options ro = replication_options_;
    ro.group = group;
    ro.join = false;
    ro.members = SplitChildMembers(parent);
    txn::TxnStore* child_store = g.store.get();
    MERIDIAN_ASSIGN_OR_RETURN(Replication * r, host_->AddGroup(ro, child_store));
    child_store->SetCommitLog(r);
    AllowSplits(group, child_store);
    {
      absl::MutexLock lock(&groups_mu_);
      extra_groups_[group] = std::move(g);
    }
    (*local)[group] = {child_store, r};
    MERIDIAN_RETURN_IF_ERROR(OpenSplitChildren(group, child_store, local));
  }
  return absl::OkStatus();
}

}  // namespace meridian::server
