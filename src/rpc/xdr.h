// XDR (RFC 4506) encoding and decoding with a bound on every length.
//
// Decoder reads from a borrowed buffer and never reads past its end: every Read* checks the
// remaining length first. Failure is sticky: after the first failed read every later read fails
// and ok() is false, so a decoder of a whole structure can read all fields and check once. Lengths
// are checked against both the caller's maximum and the bytes actually left, before anything is
// allocated. Encoder appends to an owned buffer. Neither is thread-safe (one per request).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/bytes.h"

namespace bucketfs::xdr {

class Decoder {
 public:
  explicit Decoder(ByteView data) : data_(data) {}

  bool ReadU32(uint32_t* v);
  bool ReadI32(int32_t* v);
  bool ReadU64(uint64_t* v);
  bool ReadI64(int64_t* v);
  bool ReadBool(bool* v);  // only 0 and 1 are valid
  // Fixed-length opaque of n bytes plus padding to 4; `out` borrows from the input.
  bool ReadFixedOpaque(std::size_t n, ByteView* out);
  // Variable-length opaque<max>; `out` borrows from the input.
  bool ReadOpaque(std::size_t max, ByteView* out);
  bool ReadOpaque(std::size_t max, Bytes* out);
  bool ReadString(std::size_t max, std::string* out);
  // Array length, rejected if above `max` or if `n * min_element_size` exceeds what is left.
  bool ReadArrayLength(uint32_t max, uint32_t* n, std::size_t min_element_size = 4);
  bool Skip(std::size_t n);

  // Marks the decode as failed (e.g. a semantically invalid enum value).
  void Fail() { failed_ = true; }
  bool ok() const { return !failed_; }
  std::size_t remaining() const { return failed_ ? 0 : data_.size() - pos_; }
  std::size_t position() const { return pos_; }
  ByteView Rest() const { return failed_ ? ByteView{} : data_.subspan(pos_); }

 private:
  bool Take(std::size_t n, const uint8_t** p);

  ByteView data_;
  std::size_t pos_ = 0;
  bool failed_ = false;
};

class Encoder {
 public:
  Encoder() = default;

  void WriteU32(uint32_t v);
  void WriteI32(int32_t v) { WriteU32(static_cast<uint32_t>(v)); }
  void WriteU64(uint64_t v);
  void WriteI64(int64_t v) { WriteU64(static_cast<uint64_t>(v)); }
  void WriteBool(bool v) { WriteU32(v ? 1 : 0); }
  void WriteFixedOpaque(ByteView data);  // with padding
  void WriteOpaque(ByteView data);       // length + data + padding
  void WriteString(std::string_view s) { WriteOpaque(AsBytes(s)); }
  void WriteRaw(ByteView data);  // pre-encoded XDR, appended as is

  // Reserves a 32-bit slot and returns its offset, to be filled later with PatchU32 (e.g. a
  // length or status known only after the body is encoded).
  std::size_t ReserveU32();
  void PatchU32(std::size_t offset, uint32_t v);

  std::size_t size() const { return buf_.size(); }
  const Bytes& buffer() const { return buf_; }
  Bytes Release() { return std::move(buf_); }
  void Truncate(std::size_t size) { buf_.resize(size); }

 private:
  Bytes buf_;
};

}  // namespace bucketfs::xdr
