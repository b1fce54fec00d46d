// Key choosers and key names for meridian-bench, after YCSB's core
// generators, so that workloads A-F here stress a store the way YCSB does.
//
// A chooser picks a key number in [0, limit), where `limit` is the number of
// keys known to exist (records loaded plus inserts acknowledged so far); it
// may grow between calls. Randomness comes from the caller's seeded Random,
// so a seed replays the same sequence.
//
// Not thread-safe: each issuing thread owns its choosers.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/random.h"

namespace meridian::bench {

// Uniform in [0, 1) from 53 random bits.
double NextDouble(Random& rng);

// FNV-1a over the 8 bytes of `v`, as YCSB's Utils.fnvhash64.
uint64_t FnvHash64(uint64_t v);

// YCSB's ZipfianGenerator over [0, items): item 0 is the most popular, with
// probability 1/zeta(items, theta). Growing `items` between calls extends
// zeta incrementally; shrinking it recomputes zeta (O(items)).
class ZipfianGenerator {
 public:
  static constexpr double kTheta = 0.99;
  // Computes zeta(items) (O(items)). REQUIRES: items >= 1.
  explicit ZipfianGenerator(uint64_t items, double theta = kTheta);
  // As above with zeta(items) given, to skip computing it.
  ZipfianGenerator(uint64_t items, double theta, double zeta_items);

  // REQUIRES: items >= 1.
  uint64_t Next(Random& rng, uint64_t items);

  // sum_{i=1..n} 1/i^theta, continued from `from` terms summing to `initial`.
  static double Zeta(uint64_t from, uint64_t n, double theta, double initial);

 private:
  void Resize(uint64_t items);

  double theta_;
  double alpha_;
  double zeta2_;
  uint64_t items_;
  double zeta_items_;
  double eta_;
};

enum class Distribution { kZipfian, kUniform, kLatest };

// Picks key numbers in [0, limit). REQUIRES: limit >= 1.
class KeyChooser {
 public:
  virtual ~KeyChooser() = default;
  virtual uint64_t Next(Random& rng, uint64_t limit) = 0;
};

// zipfian: YCSB's ScrambledZipfianGenerator. A Zipfian over 10^10 items
// (zeta precomputed by YCSB for theta 0.99), hashed onto [0, limit), so the
// popular keys are spread over the key space rather than clustered at 0.
// uniform: every key alike.
// latest: YCSB's SkewedLatestGenerator. Zipfian by recency: limit - 1 (the
// newest key) is the most popular.
// `records` sizes the latest chooser's initial zeta table.
std::unique_ptr<KeyChooser> MakeKeyChooser(Distribution d, uint64_t records);

// Maps key numbers to fixed-width keys: "user" followed by a zero-padded
// decimal number that is a bijective scramble of the key number, so that
// consecutive inserts land all over the key space (as YCSB's hashed keys)
// yet two key numbers never share a key.
class KeyNamer {
 public:
  static constexpr size_t kPrefix = 4;  // "user"
  // REQUIRES: key_size >= kPrefix + 1.
  explicit KeyNamer(size_t key_size);

  size_t key_size() const { return key_size_; }
  // Key numbers below this map to distinct keys.
  uint64_t capacity() const { return mask_ == UINT64_MAX ? UINT64_MAX : mask_ + 1; }
  // REQUIRES: keynum < capacity().
  std::string Key(uint64_t keynum) const;
  // The bijection on [0, capacity()) behind Key.
  uint64_t Scramble(uint64_t keynum) const;

 private:
  size_t key_size_;
  size_t digits_;  // min(key_size - kPrefix, 20); the rest is left zero padding
  int bits_;       // 2^bits_ <= 10^digits_
  uint64_t mask_;
};

}  // namespace meridian::bench
