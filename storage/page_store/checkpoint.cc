#include "storage/page_store/checkpoint.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/coding.h"
#include "common/crc32c.h"

namespace meridian::storage::page_store {
namespace {

// Followed by one digit, the format version.
constexpr std::string_view kMagic = "MRDNPSC";
constexpr char kFile[] = "CHECKPOINT";
constexpr char kTmpFile[] = "CHECKPOINT.tmp";

Status Bad(const std::string& what) {
  return CorruptionError("page store CHECKPOINT: " + what);
}

bool GetU8(std::string_view* in, uint8_t* v) {
  if (in->empty()) return false;
  *v = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return true;
}

template <typename T>
bool GetVarint(std::string_view* in, T* v) {
  uint64_t x = 0;
  if (!GetVarint64(in, &x) || x > std::numeric_limits<T>::max()) return false;
  *v = static_cast<T>(x);
  return true;
}

}  // namespace

CheckpointEncoder::CheckpointEncoder(const CheckpointHeader& h, int version)
    : version_(version) {
  out_.append(kMagic);
  out_.push_back(static_cast<char>('0' + version));
  PutVarint64(&out_, h.applied_index);
  PutVarint64(&out_, h.log_group);
  PutVarint64(&out_, h.pages_generation);
  PutVarint64(&out_, h.next_lsn);
  PutVarint64(&out_, h.page_count);
}

void CheckpointEncoder::BeginSegments(size_t n) { PutVarint64(&out_, n); }

void CheckpointEncoder::AddSegment(const Segment& s) {
  PutLengthPrefixed(&out_, s.lower);
  PutVarint64(&out_, s.first_page);
  out_.push_back(static_cast<char>(s.model.pages));
  PutLengthPrefixed(&out_, s.model.prefix);
  out_.append(reinterpret_cast<const char*>(s.model.lo.data()), 8);
  out_.append(reinterpret_cast<const char*>(s.model.hi.data()), 8);
  PutVarint64(&out_, s.model.base);
  uint64_t bits = 0;
  std::memcpy(&bits, &s.model.slope, 8);
  PutFixed64(&out_, bits);
  for (uint32_t i = 0; i < s.model.pages; ++i) {
    PutVarint64(&out_, s.overflow[i]);
    PutVarint64(&out_, s.used[i]);
    PutVarint64(&out_, s.overflow_used[i]);
    if (version_ >= 2) PutVarint64(&out_, s.inserts[i]);
  }
  if (version_ >= 2) PutVarint64(&out_, s.appends);
}

void CheckpointEncoder::SetFreePages(const std::vector<uint32_t>& sorted) {
  PutVarint64(&out_, sorted.size());
  uint32_t prev = 0;
  for (uint32_t p : sorted) {
    PutVarint64(&out_, p - prev);
    prev = p;
  }
}

void CheckpointEncoder::BeginPinned(size_t n) { PutVarint64(&out_, n); }

void CheckpointEncoder::AddPinned(std::string_view key, const VersionChain& versions) {
  PutLengthPrefixed(&out_, key);
  PutVarint64(&out_, versions.size());
  for (const CachedVersion& v : versions) {
    PutVarint64(&out_, v.version.hlc);
    PutVarint64(&out_, v.version.site);
    out_.push_back(v.value ? 1 : 0);
    if (v.value) PutLengthPrefixed(&out_, *v.value);
  }
}

std::string CheckpointEncoder::Finish() {
  PutFixed32(&out_, crc32c::Mask(crc32c::Value(out_)));
  return std::move(out_);
}

Status DecodeCheckpoint(std::string_view bytes, CheckpointData* out) {
  if (bytes.size() < kMagic.size() + 1 + 4) return Bad("too short");
  std::string_view body = bytes.substr(0, bytes.size() - 4);
  std::string_view tail = bytes.substr(bytes.size() - 4);
  uint32_t crc = 0;
  (void)GetFixed32(&tail, &crc);
  if (crc32c::Unmask(crc) != crc32c::Value(body)) return Bad("checksum mismatch");
  if (body.substr(0, kMagic.size()) != kMagic || body[kMagic.size()] < '1' ||
      body[kMagic.size()] > '9') {
    return Bad("not a page store checkpoint");
  }
  const int version = body[kMagic.size()] - '0';
  if (version > kCheckpointVersion) {
    return Bad(absl::StrCat("format version ", version, " is newer than this build reads (",
                            kCheckpointVersion, ")"));
  }
  std::string_view in = body.substr(kMagic.size() + 1);
  CheckpointHeader& h = out->header;
  if (!GetVarint64(&in, &h.applied_index) || !GetVarint64(&in, &h.log_group) ||
      !GetVarint64(&in, &h.pages_generation) || !GetVarint64(&in, &h.next_lsn) ||
      !GetVarint64(&in, &h.page_count)) {
    return Bad("bad header");
  }
  uint64_t n = 0;
  if (!GetVarint64(&in, &n)) return Bad("bad segment count");
  out->segments.clear();
  for (uint64_t i = 0; i < n; ++i) {
    Segment s;
    std::string_view lower, prefix;
    uint8_t pages = 0;
    uint64_t bits = 0;
    if (!GetLengthPrefixed(&in, &lower) || !GetVarint(&in, &s.first_page) ||
        !GetU8(&in, &pages) || !GetLengthPrefixed(&in, &prefix) || in.size() < 16) {
      return Bad(absl::StrCat("bad segment ", i));
    }
    std::memcpy(s.model.lo.data(), in.data(), 8);
    std::memcpy(s.model.hi.data(), in.data() + 8, 8);
    in.remove_prefix(16);
    if (!GetVarint64(&in, &s.model.base) || !GetFixed64(&in, &bits)) {
      return Bad(absl::StrCat("bad segment ", i));
    }
    for (size_t j = 0; j < 8; ++j) {
      if (s.model.lo[j] > s.model.hi[j]) return Bad(absl::StrCat("segment ", i, " has a bad model"));
    }
    if (pages == 0 || pages > kMaxSegmentPages || (pages & (pages - 1)) != 0) {
      return Bad(absl::StrCat("segment ", i, " has ", pages, " pages"));
    }
    s.lower = std::string(lower);
    s.model.prefix = std::string(prefix);
    s.model.pages = pages;
    std::memcpy(&s.model.slope, &bits, 8);
    for (uint32_t p = 0; p < pages; ++p) {
      if (!GetVarint(&in, &s.overflow[p]) || !GetVarint(&in, &s.used[p]) ||
          !GetVarint(&in, &s.overflow_used[p]) ||
          (version >= 2 && !GetVarint(&in, &s.inserts[p]))) {
        return Bad(absl::StrCat("bad segment ", i));
      }
    }
    if (version >= 2 && !GetVarint(&in, &s.appends)) return Bad(absl::StrCat("bad segment ", i));
    if ((i == 0) != s.lower.empty() ||
        (i > 0 && s.lower <= out->segments.back().lower)) {
      return Bad(absl::StrCat("segment ", i, " is out of order"));
    }
    out->segments.push_back(std::move(s));
  }
  if (out->segments.empty()) return Bad("no segments");
  if (!GetVarint64(&in, &n)) return Bad("bad free page count");
  out->free_pages.clear();
  uint32_t prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    uint32_t delta = 0;
    if (!GetVarint(&in, &delta) || (i > 0 && delta == 0)) return Bad("bad free page list");
    prev += delta;
    out->free_pages.push_back(prev);
  }
  if (!GetVarint64(&in, &n)) return Bad("bad pinned key count");
  out->pinned.clear();
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view key;
    uint64_t versions = 0;
    if (!GetLengthPrefixed(&in, &key) || !GetVarint64(&in, &versions)) {
      return Bad(absl::StrCat("bad pinned key ", i));
    }
    VersionChain chain;
    for (uint64_t j = 0; j < versions; ++j) {
      CachedVersion v;
      uint8_t live = 0;
      if (!GetVarint64(&in, &v.version.hlc) || !GetVarint(&in, &v.version.site) ||
          !GetU8(&in, &live)) {
        return Bad(absl::StrCat("bad pinned key ", i));
      }
      if (live) {
        std::string_view value;
        if (!GetLengthPrefixed(&in, &value)) return Bad(absl::StrCat("bad pinned key ", i));
        v.value = std::string(value);
      }
      chain.push_back(std::move(v));
    }
    out->pinned.emplace_back(std::string(key), std::move(chain));
  }
  if (!in.empty()) return Bad("trailing bytes");
  return absl::OkStatus();
}

Status WriteCheckpointFile(FileSystem* fs, const std::string& dir, const std::string& bytes) {
  const std::string tmp = absl::StrCat(dir, "/", kTmpFile);
  {
    // A leftover from an interrupted checkpoint may be longer: start afresh.
    Result<std::vector<std::string>> names = fs->List(dir);
    MERIDIAN_RETURN_IF_ERROR(names.status());
    if (std::find(names->begin(), names->end(), kTmpFile) != names->end()) {
      MERIDIAN_RETURN_IF_ERROR(fs->Remove(tmp));
    }
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> f, fs->OpenFile(tmp, /*create=*/true));
  MERIDIAN_RETURN_IF_ERROR(f->Write(0, bytes));
  MERIDIAN_RETURN_IF_ERROR(f->Sync());
  f.reset();
  MERIDIAN_RETURN_IF_ERROR(fs->Rename(tmp, absl::StrCat(dir, "/", kFile)));
  return fs->SyncDir(dir);
}

Result<std::optional<std::string>> ReadCheckpointFile(FileSystem* fs, const std::string& dir) {
  MERIDIAN_ASSIGN_OR_RETURN(std::vector<std::string> names, fs->List(dir));
  if (std::find(names.begin(), names.end(), kFile) == names.end()) {
    return std::optional<std::string>();
  }
  MERIDIAN_ASSIGN_OR_RETURN(std::unique_ptr<File> f,
                            fs->OpenFile(absl::StrCat(dir, "/", kFile), /*create=*/false));
  MERIDIAN_ASSIGN_OR_RETURN(uint64_t size, f->Size());
  std::string bytes;
  MERIDIAN_RETURN_IF_ERROR(f->Read(0, size, &bytes));
  if (bytes.size() != size) return Bad("short read");
  return std::optional<std::string>(std::move(bytes));
}

}  // namespace meridian::storage::page_store
