// ShardDirectory: this node's cached cluster config (the shard map), read
// by every request that routes a key. The maintenance loop replaces it when
// the config group commits a newer one. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "meridian/v1/cluster.pb.h"

namespace meridian::server {

class ShardDirectory {
 public:
  struct View {
    std::shared_ptr<const v1::ClusterConfig> config;  // never null once Set
    // "committed" (the config group's), "bootstrap" (computed from the
    // flags; nothing committed yet) or "static" (a single node).
    std::string source;
  };

  View Current() const {
    std::lock_guard<std::mutex> lock(mu_);
    return view_;
  }

  // Installs `config` unless the cached one is newer. A committed config
  // replaces a bootstrap one of the same version (it adds the cluster id and
  // keys). Returns whether it changed.
  bool Set(v1::ClusterConfig config, std::string source) {
    std::lock_guard<std::mutex> lock(mu_);
    if (view_.config != nullptr) {
      const uint64_t have = view_.config->version();
      if (config.version() < have) return false;
      if (config.version() == have && source == view_.source) return false;
    }
    view_.config = std::make_shared<const v1::ClusterConfig>(std::move(config));
    view_.source = std::move(source);
    return true;
  }

 private:
  mutable std::mutex mu_;
  View view_;
};

}  // namespace meridian::server
