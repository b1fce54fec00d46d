#include "server/session_keys.h"

#include <grpcpp/grpcpp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "meridian/v1/admin.grpc.pb.h"
#include "proto/grpc_status.h"
#include "server/config_group.h"
#include "server/log.h"
#include "server/replication.h"

namespace meridian::server {
namespace {

constexpr auto kForwardDeadline = std::chrono::seconds(30);
// Concurrent config changes (a split) make the compare-and-set fail; a
// rotation then reads again.
constexpr int kRotationAttempts = 5;

}  // namespace

Result<v1::SigningKey> NewSigningKey(uint32_t key_id, uint64_t created_unix_ms) {
  std::string secret(kSigningKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(secret.data()),
                 static_cast<int>(secret.size())) != 1) {
    return UnavailableError("OpenSSL could not generate a random signing key");
  }
  v1::SigningKey key;
  key.set_key_id(key_id);
  key.set_secret(std::move(secret));
  key.set_created_unix_ms(created_unix_ms);
  return key;
}

Result<uint32_t> AddRotatedKey(v1::ClusterConfig* config, uint64_t now_unix_ms) {
  uint32_t newest = 0;
  for (const v1::SigningKey& k : config->signing_keys()) newest = std::max(newest, k.key_id());
  MERIDIAN_ASSIGN_OR_RETURN(v1::SigningKey key, NewSigningKey(newest + 1, now_unix_ms));
  auto* keys = config->mutable_signing_keys();
  *keys->Add() = std::move(key);
  std::sort(keys->begin(), keys->end(), [](const v1::SigningKey& a, const v1::SigningKey& b) {
    return a.key_id() > b.key_id();
  });
  while (keys->size() > kKeptSigningKeys) keys->RemoveLast();
  return newest + 1;
}

Result<v1::SigningKey> LoadOrCreateLocalKey(FileSystem* fs, const std::string& dir,
                                            const std::string& file_name) {
  const std::string path = absl::StrCat(dir, "/", file_name);
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  if (std::find(names.begin(), names.end(), file_name) != names.end()) {
    MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> file, fs->OpenFile(path, /*create=*/false));
    std::string secret;
    MERIDIAN_RETURN_IF_ERROR(file->Read(0, kSigningKeyBytes + 1, &secret));
    if (secret.size() != kSigningKeyBytes) {
      return CorruptionError(absl::StrCat(path, " holds ", secret.size(), " bytes, not a ",
                                          kSigningKeyBytes,
                                          "-byte session signing key; remove it to make a new "
                                          "one (tokens clients hold then stop verifying)"));
    }
    v1::SigningKey key;
    key.set_key_id(1);
    key.set_secret(std::move(secret));
    return key;
  }
  MERIDIAN_ASSIGN_OR_RETURN(v1::SigningKey key, NewSigningKey(1, SystemClock()->NowUnixMillis()));
  const std::string tmp = path + ".tmp";
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> out, fs->OpenFile(tmp, /*create=*/true));
  MERIDIAN_RETURN_IF_ERROR(out->Write(0, key.secret()));
  MERIDIAN_RETURN_IF_ERROR(out->Sync());
  out.reset();
  MERIDIAN_RETURN_IF_ERROR(fs->Rename(tmp, path));
  MERIDIAN_RETURN_IF_ERROR(fs->SyncDir(dir));
  return key;
}

Result<v1::RotateSigningKeyResponse> RotateSigningKey(ConfigGroup* config, bool may_forward) {
  if (!config->replication()->IsLeaderReady()) {
    const std::string leader = config->replication()->LeaderAddress();
    if (!may_forward || leader.empty()) {
      return NotLeaderError(leader, "signing keys are rotated by the config group's leader");
    }
    v1::RotateSigningKeyResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kForwardDeadline);
    ctx.AddMetadata("meridian-forwarded", "1");
    auto stub = v1::Admin::NewStub(grpc::CreateChannel(leader, grpc::InsecureChannelCredentials()));
    MERIDIAN_RETURN_IF_ERROR(FromGrpcStatus(stub->RotateSigningKey(&ctx, {}, &resp)));
    return resp;
  }
  Status last;
  for (int attempt = 0; attempt < kRotationAttempts; ++attempt) {
    uint32_t added = 0;
    Result<v1::ClusterConfig> committed = config->Update([&](v1::ClusterConfig* c) -> Result<bool> {
      MERIDIAN_ASSIGN_OR_RETURN(added, AddRotatedKey(c, SystemClock()->NowUnixMillis()));
      return true;
    });
    if (!committed.ok()) {
      last = committed.status();
      if (GetErrorKind(last) == ErrorKind::kConflict) continue;
      return last;
    }
    v1::RotateSigningKeyResponse resp;
    resp.set_key_id(added);
    for (const v1::SigningKey& k : committed->signing_keys()) resp.add_kept_key_ids(k.key_id());
    resp.set_config_version(committed->version());
    Log(Level::kInfo, "session signing key rotated",
        {{"key_id", absl::StrCat(added)}, {"config_version", absl::StrCat(committed->version())}});
    return resp;
  }
  return last;
}

}  // namespace meridian::server
