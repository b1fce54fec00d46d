// TxnStoreTest: a TxnStore over a fresh RocksEngine in a temporary
// directory, with a manual clock; shared by the txn/ unit tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/hlc.h"
#include "storage/rocks/rocks_engine.h"
#include "txn/txn_store.h"

namespace meridian::txn {

class TxnStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("txn_store_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    engine_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen(TxnStore::Options options = {}) {
    store_.reset();
    engine_.reset();
    auto engine = storage::RocksEngine::Open({.path = dir_.string()});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
    auto store = TxnStore::Open(engine_.get(), &hlc_, &clock_, options);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }
  std::optional<std::string> Read(std::string_view key) {
    auto r = store_->Get(key, std::nullopt);
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok() || !r->found) return std::nullopt;
    return r->value;
  }
  std::vector<std::string> ScanKeys(ScanRange range) {
    std::vector<std::string> keys;
    bool more = false;
    uint64_t snap = 0;
    EXPECT_TRUE(store_->Scan(range, std::nullopt,
                             [&](const KeyValue& kv) {
                               keys.push_back(kv.key);
                               return true;
                             },
                             &more, &snap)
                    .ok());
    return keys;
  }

  std::filesystem::path dir_;
  ManualClock clock_{1'700'000'000'000};
  Hlc hlc_{&clock_};
  std::unique_ptr<storage::RocksEngine> engine_;
  std::unique_ptr<TxnStore> store_;
};

}  // namespace meridian::txn
