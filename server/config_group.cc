#include "server/config_group.h"

#include <fstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "proto/shard_lookup.h"
#include "server/session_keys.h"

namespace meridian::server {
namespace {

// The one key of the config group's store.
constexpr std::string_view kConfigKey = "cluster/config";

Result<std::string> RandomBytes(size_t n) {
  std::ifstream in("/dev/urandom", std::ios::binary);
  std::string out(n, '\0');
  if (!in.read(out.data(), static_cast<std::streamsize>(n))) {
    return UnavailableError("cannot read /dev/urandom for the cluster id");
  }
  return out;
}

}  // namespace

Result<std::optional<v1::ClusterConfig>> ConfigGroup::ReadApplied() {
  MERIDIAN_ASSIGN_OR_RETURN(txn::ReadResult r, store_->Get(kConfigKey, std::nullopt));
  if (!r.found) return std::optional<v1::ClusterConfig>();
  v1::ClusterConfig config;
  if (!config.ParseFromString(r.value)) {
    return CorruptionError("the config group holds a cluster config that does not parse");
  }
  return std::optional<v1::ClusterConfig>(std::move(config));
}

Status ConfigGroup::CommitBootstrap(v1::ClusterConfig initial) {
  MERIDIAN_RETURN_IF_ERROR(replication_->ReadBarrier());
  MERIDIAN_RETURN_IF_ERROR(ValidateClusterConfig(initial));
  MERIDIAN_ASSIGN_OR_RETURN(std::string id, RandomBytes(16));
  initial.set_cluster_id(absl::BytesToHexString(id));
  MERIDIAN_ASSIGN_OR_RETURN(*initial.add_signing_keys(),
                            NewSigningKey(1, SystemClock()->NowUnixMillis()));
  txn::Compare absent;
  absent.target = txn::Compare::Target::kExists;
  absent.op = txn::Compare::Op::kEqual;
  absent.key = std::string(kConfigKey);
  absent.exists = false;
  std::vector<txn::Op> put = {
      {txn::Op::Kind::kPut, std::string(kConfigKey), initial.SerializeAsString()}};
  return store_->Execute({absent}, put, {}).status();
}

Result<v1::ClusterConfig> ConfigGroup::Update(
    const std::function<Result<bool>(v1::ClusterConfig*)>& change) {
  MERIDIAN_RETURN_IF_ERROR(replication_->ReadBarrier());
  MERIDIAN_ASSIGN_OR_RETURN(txn::ReadResult r, store_->Get(kConfigKey, std::nullopt));
  if (!r.found) {
    return absl::FailedPreconditionError("no cluster config is committed yet; retry shortly");
  }
  v1::ClusterConfig config;
  if (!config.ParseFromString(r.value)) {
    return CorruptionError("the config group holds a cluster config that does not parse");
  }
  const v1::ClusterConfig before = config;
  MERIDIAN_ASSIGN_OR_RETURN(bool changed, change(&config));
  if (!changed) return before;
  config.set_version(config.version() + 1);
  MERIDIAN_RETURN_IF_ERROR(ValidateClusterConfig(config));
  txn::Compare unchanged;
  unchanged.target = txn::Compare::Target::kValue;
  unchanged.op = txn::Compare::Op::kEqual;
  unchanged.key = std::string(kConfigKey);
  unchanged.value = r.value;
  std::vector<txn::Op> put = {
      {txn::Op::Kind::kPut, std::string(kConfigKey), config.SerializeAsString()}};
  MERIDIAN_ASSIGN_OR_RETURN(txn::ExecuteResult done, store_->Execute({unchanged}, put, {}));
  if (!done.succeeded) {
    return ConflictError("the cluster config changed while this change was made; retry");
  }
  return config;
}

}  // namespace meridian::server
