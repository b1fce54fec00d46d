#include "tests/bench/generators.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace meridian::bench {

double NextDouble(Random& rng) { return static_cast<double>(rng.Next() >> 11) * 0x1.0p-53; }

uint64_t FnvHash64(uint64_t v) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (int i = 0; i < 8; ++i) {
    h ^= v & 0xff;
    v >>= 8;
    h *= 1099511628211ull;
  }
  return h;
}

// ---------------------------------------------------------------------------
// ZipfianGenerator (Gray et al., "Quickly generating billion-record synthetic
// databases", as in YCSB).

double ZipfianGenerator::Zeta(uint64_t from, uint64_t n, double theta, double initial) {
  double sum = initial;
  for (uint64_t i = from; i < n; ++i) sum += 1.0 / std::pow(static_cast<double>(i + 1), theta);
  return sum;
}

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta)
    : ZipfianGenerator(items, theta, Zeta(0, items, theta, 0)) {}

ZipfianGenerator::ZipfianGenerator(uint64_t items, double theta, double zeta_items)
    : theta_(theta),
      alpha_(1.0 / (1.0 - theta)),
      zeta2_(Zeta(0, 2, theta, 0)),
      items_(items),
      zeta_items_(zeta_items) {
  eta_ = (1 - std::pow(2.0 / static_cast<double>(items_), 1 - theta_)) / (1 - zeta2_ / zeta_items_);
}

void ZipfianGenerator::Resize(uint64_t items) {
  zeta_items_ =
      items > items_ ? Zeta(items_, items, theta_, zeta_items_) : Zeta(0, items, theta_, 0);
  items_ = items;
  eta_ = (1 - std::pow(2.0 / static_cast<double>(items_), 1 - theta_)) / (1 - zeta2_ / zeta_items_);
}

uint64_t ZipfianGenerator::Next(Random& rng, uint64_t items) {
  if (items != items_) Resize(items);
  if (items_ == 1) return 0;
  const double u = NextDouble(rng);
  const double uz = u * zeta_items_;
  if (uz < 1.0) return 0;
  if (uz < 1.0 + std::pow(0.5, theta_)) return 1;
  const auto ret =
      static_cast<uint64_t>(static_cast<double>(items_) * std::pow(eta_ * u - eta_ + 1, alpha_));
  return std::min(ret, items_ - 1);  // rounding at u close to 1
}

// ---------------------------------------------------------------------------
// Key choosers

namespace {

class UniformChooser final : public KeyChooser {
 public:
  uint64_t Next(Random& rng, uint64_t limit) override { return rng.Uniform(limit); }
};

class ScrambledZipfianChooser final : public KeyChooser {
 public:
  // YCSB's constants: zeta(10^10 + 1, 0.99), so nothing is computed here.
  static constexpr uint64_t kItems = 10'000'000'000ull + 1;
  static constexpr double kZeta = 26.46902820178302;

  ScrambledZipfianChooser() : zipf_(kItems, ZipfianGenerator::kTheta, kZeta) {}
  uint64_t Next(Random& rng, uint64_t limit) override {
    return FnvHash64(zipf_.Next(rng, kItems)) % limit;
  }

 private:
  ZipfianGenerator zipf_;
};

class LatestChooser final : public KeyChooser {
 public:
  explicit LatestChooser(uint64_t records) : zipf_(std::max<uint64_t>(records, 1)) {}
  uint64_t Next(Random& rng, uint64_t limit) override { return limit - 1 - zipf_.Next(rng, limit); }

 private:
  ZipfianGenerator zipf_;
};

}  // namespace

std::unique_ptr<KeyChooser> MakeKeyChooser(Distribution d, uint64_t records) {
  switch (d) {
    case Distribution::kUniform:
      return std::make_unique<UniformChooser>();
    case Distribution::kLatest:
      return std::make_unique<LatestChooser>(records);
    case Distribution::kZipfian:
      break;
  }
  return std::make_unique<ScrambledZipfianChooser>();
}

// ---------------------------------------------------------------------------
// KeyNamer

KeyNamer::KeyNamer(size_t key_size)
    : key_size_(key_size), digits_(std::min<size_t>(key_size - kPrefix, 20)) {
  if (digits_ >= 20) {
    bits_ = 64;  // 10^20 > 2^64
  } else {
    uint64_t pow10 = 1;
    for (size_t i = 0; i < digits_; ++i) pow10 *= 10;
    bits_ = 63 - std::countl_zero(pow10);  // the largest power of two <= 10^digits
  }
  mask_ = bits_ == 64 ? UINT64_MAX : (uint64_t{1} << bits_) - 1;
}

uint64_t KeyNamer::Scramble(uint64_t x) const {
  // Multiplying by an odd constant and xoring in a right shift are each
  // invertible modulo 2^bits, so their composition permutes [0, 2^bits).
  const int s = std::max(1, (bits_ + 1) / 2);
  x = (x * 0x9E3779B97F4A7C15ull) & mask_;
  x ^= x >> s;
  x = (x * 0xBF58476D1CE4E5B9ull) & mask_;
  x ^= x >> s;
  x = (x * 0x94D049BB133111EBull) & mask_;
  return x;
}

std::string KeyNamer::Key(uint64_t keynum) const {
  std::string key(key_size_, '0');
  key.replace(0, kPrefix, "user");
  uint64_t n = Scramble(keynum);
  for (size_t i = key_size_; n > 0; --i) {
    key[i - 1] = static_cast<char>('0' + n % 10);
    n /= 10;
  }
  return key;
}

}  // namespace meridian::bench
