#include "cache/block_key.h"

#include <openssl/sha.h>

namespace bucketfs::cache {
namespace {

void AppendLe(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void AppendField(std::string& out, std::string_view field) {
  AppendLe(out, field.size(), 4);
  out.append(field);
}

}  // namespace

std::string EncodedObjectPrefix(std::string_view bucket, std::string_view key) {
  std::string out;
  out.reserve(bucket.size() + key.size() + 8);
  AppendField(out, bucket);
  AppendField(out, key);
  return out;
}

std::string BlockKey::Encode() const {
  std::string out = EncodedObjectPrefix(bucket, key);
  out.reserve(out.size() + version.size() + 12);
  AppendField(out, version);
  AppendLe(out, index, 8);
  return out;
}

uint64_t BlockKey::Hash() const {
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : Encode()) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string BlockKey::FileName() const { return FileNameForId(Encode()); }

std::string BlockKey::ToString() const {
  return bucket + "/" + key + "@" + version + "#" + std::to_string(index);
}

std::string FileNameForId(std::string_view enc) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(enc.data()), enc.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name;
  name.reserve(32);
  for (int i = 0; i < 16; ++i) {
    name.push_back(kHex[digest[i] >> 4]);
    name.push_back(kHex[digest[i] & 15]);
  }
  return name;
}

}  // namespace bucketfs::cache
