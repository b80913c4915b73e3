// Byte buffers. Bytes owns its storage; ByteView borrows. Not thread-safe (value types).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bucketfs {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsString(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lower-case hex of `data`.
std::string HexEncode(ByteView data);

}  // namespace bucketfs
