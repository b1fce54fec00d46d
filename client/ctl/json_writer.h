// A tiny streaming JSON writer for meridianctl's `-w json` output.
//
// Output is compact (one document per line). Strings are byte strings:
// valid UTF-8 passes through unchanged, and each byte that is not part of a
// valid UTF-8 sequence is written as \u00XX (its byte value), so any key or
// value can be printed. A reader that needs the exact bytes of a non-UTF-8
// value maps such code points back to bytes.
//
// Not thread-safe. Misuse (a value where a key is expected, unbalanced
// End*) is a programming error and is caught by assertions in debug builds.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace meridian::ctl {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // REQUIRES: inside an object, before each value.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  // The document so far; complete once every Begin* has its End*.
  const std::string& str() const { return out_; }

 private:
  // Writes the separator a new value needs at the current position.
  void BeforeValue();

  struct Level {
    bool is_object;
    bool empty = true;
    bool after_key = false;
  };
  std::string out_;
  std::vector<Level> stack_;
};

// Appends `s` to `out` as a quoted JSON string, escaped as described above.
void AppendJsonString(std::string_view s, std::string* out);

// The length of the valid UTF-8 sequence at the start of `s`, or 0 if it
// does not start with one (overlong forms, surrogates and code points above
// U+10FFFF are invalid).
size_t Utf8SequenceLength(std::string_view s);

}  // namespace meridian::ctl
