// Record marking for ONC RPC over TCP (RFC 5531 §11): each record is a sequence of fragments,
// each preceded by a 4-byte header whose top bit marks the last fragment and whose low 31 bits
// give the fragment length. Stateless helpers; thread-safe.
#pragma once

#include <cstdint>

namespace bucketfs::rpc {

struct FragmentHeader {
  bool last = false;
  uint32_t length = 0;
};

inline FragmentHeader ParseFragmentHeader(const uint8_t bytes[4]) {
  uint32_t v = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
               bytes[3];
  return {(v & 0x80000000u) != 0, v & 0x7fffffffu};
}

// Header for a record sent as one fragment of `length` bytes.
inline uint32_t LastFragmentMark(uint32_t length) { return 0x80000000u | length; }

}  // namespace bucketfs::rpc
