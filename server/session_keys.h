// The keys session tokens are signed with (session_token.h): creation,
// rotation, and where a node finds them.
//
// A replicated cluster keeps them in its ClusterConfig (signing_keys), so
// every node learns a new key the way it learns a new shard map. The config
// group's leader adds key 1 when it commits the bootstrap config, and to a
// committed config that has none (a cluster from before sessions) the first
// time it leads. Admin.RotateSigningKey adds the next id and keeps the
// newest kKeptSigningKeys, so a token signed before a rotation still
// verifies until that many more rotations.
//
// A single node (--dev) has no config group: its one key lives in
// <data_dir>/session-signing-key, made at its first start, so its tokens
// stay valid across restarts. It does not rotate.
//
// Thread-safe (no state).
#pragma once

#include <cstdint>
#include <string>

#include "common/file_system.h"
#include "common/status.h"
#include "meridian/v1/admin.pb.h"
#include "meridian/v1/cluster.pb.h"

namespace meridian::server {

class ConfigGroup;

// Keys kept in the config by a rotation (the new one included).
constexpr int kKeptSigningKeys = 3;
constexpr size_t kSigningKeyBytes = 32;
// A single node's key file, in its data dir.
constexpr const char* kLocalSigningKeyFile = "session-signing-key";

// A fresh key with kSigningKeyBytes from OpenSSL's CSPRNG. UNAVAILABLE if
// it has no entropy to give.
Result<v1::SigningKey> NewSigningKey(uint32_t key_id, uint64_t created_unix_ms);

// Adds a key one above the newest (1 if none) and drops all but the newest
// kKeptSigningKeys. Returns the new key's id.
Result<uint32_t> AddRotatedKey(v1::ClusterConfig* config, uint64_t now_unix_ms);

// The single node's key at `path`: read it, or make and durably write it
// (temporary file, sync, rename, sync the directory) if there is none.
// CORRUPTION if the file holds other than kSigningKeyBytes bytes.
Result<v1::SigningKey> LoadOrCreateLocalKey(FileSystem* fs, const std::string& dir,
                                            const std::string& file_name);

// Admin.RotateSigningKey. On the config group's leader: commits a config
// with a new key (AddRotatedKey, retried on a concurrent change); returns
// once it is applied on the leader (other nodes learn it from their
// replica of the config group within a maintenance period). Elsewhere,
// with may_forward, sends the request to that leader (once: the forwarded
// request is marked); without, NOT_LEADER with its address.
Result<v1::RotateSigningKeyResponse> RotateSigningKey(ConfigGroup* config, bool may_forward);

}  // namespace meridian::server
