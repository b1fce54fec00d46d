#include "server/session_keys.h"

#include <gtest/gtest.h>

#include <set>

#include "absl/strings/match.h"

namespace meridian::server {
namespace {

std::vector<uint32_t> Ids(const v1::ClusterConfig& c) {
  std::vector<uint32_t> out;
  for (const v1::SigningKey& k : c.signing_keys()) out.push_back(k.key_id());
  return out;
}

TEST(SessionKeys, NewKeysAreRandomAndFullLength) {
  std::set<std::string> secrets;
  for (int i = 0; i < 8; ++i) {
    Result<v1::SigningKey> k = NewSigningKey(1, 123);
    ASSERT_TRUE(k.ok()) << k.status();
    EXPECT_EQ(k->secret().size(), kSigningKeyBytes);
    EXPECT_EQ(k->created_unix_ms(), 123u);
    secrets.insert(k->secret());
  }
  EXPECT_EQ(secrets.size(), 8u);
}

TEST(SessionKeys, RotationAddsTheNextIdAndKeepsTheNewestThree) {
  v1::ClusterConfig c;
  ASSERT_EQ(*AddRotatedKey(&c, 1), 1u);  // a config that had none
  EXPECT_EQ(Ids(c), (std::vector<uint32_t>{1}));
  ASSERT_EQ(*AddRotatedKey(&c, 2), 2u);
  ASSERT_EQ(*AddRotatedKey(&c, 3), 3u);
  EXPECT_EQ(Ids(c), (std::vector<uint32_t>{3, 2, 1}));
  const std::string secret3 = c.signing_keys(0).secret();
  ASSERT_EQ(*AddRotatedKey(&c, 4), 4u);
  EXPECT_EQ(Ids(c), (std::vector<uint32_t>{4, 3, 2}));
  EXPECT_EQ(c.signing_keys(1).secret(), secret3);  // kept keys are unchanged
  EXPECT_EQ(c.signing_keys(0).created_unix_ms(), 4u);
}

TEST(SessionKeys, ASingleNodeKeepsItsKeyAcrossRestarts) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/data").ok());
  Result<v1::SigningKey> first = LoadOrCreateLocalKey(&fs, "/data", kLocalSigningKeyFile);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->key_id(), 1u);
  EXPECT_EQ(first->secret().size(), kSigningKeyBytes);
  // Durable: it survives a crash right after.
  std::unique_ptr<MemFileSystem> crashed = fs.CrashClone();
  Result<v1::SigningKey> again = LoadOrCreateLocalKey(crashed.get(), "/data", kLocalSigningKeyFile);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->secret(), first->secret());
}

TEST(SessionKeys, AMangledKeyFileIsCorruption) {
  MemFileSystem fs;
  ASSERT_TRUE(fs.CreateDir("/data").ok());
  auto f = fs.OpenFile("/data/session-signing-key", true);
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE((*f)->Write(0, "short").ok());
  Result<v1::SigningKey> k = LoadOrCreateLocalKey(&fs, "/data", kLocalSigningKeyFile);
  EXPECT_FALSE(k.ok());
  EXPECT_TRUE(absl::StrContains(k.status().message(), "holds 5 bytes")) << k.status();
}

}  // namespace
}  // namespace meridian::server
