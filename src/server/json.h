// A minimal JSON writer and reader for the admin endpoint: the gateway writes its replies with
// JsonWriter, `bucketfs status`/`refresh` read them with ParseJson. Not a general JSON library:
// numbers are doubles, objects keep their members in order (lookup is linear), nesting is bounded.
//
// Thread-safety: value types; JsonWriter and JsonValue are not safe for concurrent mutation.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"

namespace bucketfs::server {

// `text` as a quoted JSON string. Control characters, '"' and '\' are escaped; well-formed UTF-8
// passes through and every byte that is not part of a well-formed sequence becomes U+FFFD, so
// the output is always valid JSON whatever bytes come in.
std::string JsonQuote(std::string_view text);

// Builds one JSON document left to right, adding the commas:
//   JsonWriter w;
//   w.BeginObject().Key("a").Int(1).Key("b").BeginArray().String("x").EndArray().EndObject();
//   w.str() == R"({"a":1,"b":["x"]})"
// Calls must nest correctly (a Key before each member value, every Begin ended).
class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  // The shortest text that reads back as `value`; null when it is not finite.
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();

  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open object or array: whether it has no member yet.
  std::vector<bool> empty_;
  bool after_key_ = false;
};

// A parsed JSON value.
class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  using Member = std::pair<std::string, JsonValue>;

  JsonValue() = default;
  static JsonValue MakeBool(bool b);
  static JsonValue MakeNumber(double d);
  static JsonValue MakeString(std::string s);
  static JsonValue MakeArray(std::vector<JsonValue> items);
  static JsonValue MakeObject(std::vector<Member> members);

  Type type() const { return type_; }
  bool is_string() const { return type_ == Type::kString; }
  bool is_number() const { return type_ == Type::kNumber; }
  bool is_array() const { return type_ == Type::kArray; }
  bool is_object() const { return type_ == Type::kObject; }

  // Meaningful only for the matching type (false, 0, "" or empty otherwise).
  bool boolean() const { return bool_; }
  double number() const { return number_; }
  const std::string& string() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<Member>& members() const { return members_; }

  // The member `key` of an object; nullptr when absent or not an object.
  const JsonValue* Find(std::string_view key) const;
  // The string member `key`, or `fallback` when absent or not a string.
  std::string GetString(std::string_view key, std::string fallback = "") const;

 private:
  Type type_ = Type::kNull;
  bool bool_ = false;
  double number_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<Member> members_;
};

// Parses one JSON document (RFC 8259; surrounding whitespace allowed, nesting up to 64 levels).
// kProtocol with the byte offset on malformed input.
Result<JsonValue> ParseJson(std::string_view text);

}  // namespace bucketfs::server
