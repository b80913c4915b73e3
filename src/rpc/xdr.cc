#include "rpc/xdr.h"

#include <cstring>

namespace bucketfs::xdr {
namespace {

constexpr std::size_t Pad(std::size_t n) { return (4 - (n & 3)) & 3; }

uint32_t LoadBe32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

bool Decoder::Take(std::size_t n, const uint8_t** p) {
  if (failed_ || n > data_.size() - pos_) {
    failed_ = true;
    return false;
  }
  *p = data_.data() + pos_;
  pos_ += n;
  return true;
}

bool Decoder::ReadU32(uint32_t* v) {
  const uint8_t* p;
  if (!Take(4, &p)) return false;
  *v = LoadBe32(p);
  return true;
}

bool Decoder::ReadI32(int32_t* v) {
  uint32_t u;
  if (!ReadU32(&u)) return false;
  *v = static_cast<int32_t>(u);
  return true;
}

bool Decoder::ReadU64(uint64_t* v) {
  const uint8_t* p;
  if (!Take(8, &p)) return false;
  *v = (uint64_t{LoadBe32(p)} << 32) | LoadBe32(p + 4);
  return true;
}

bool Decoder::ReadI64(int64_t* v) {
  uint64_t u;
  if (!ReadU64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}

bool Decoder::ReadBool(bool* v) {
  uint32_t u;
  if (!ReadU32(&u)) return false;
  if (u > 1) {
    failed_ = true;
    return false;
  }
  *v = u == 1;
  return true;
}

bool Decoder::ReadFixedOpaque(std::size_t n, ByteView* out) {
  if (failed_ || n > data_.size() - pos_ || Pad(n) > data_.size() - pos_ - n) {
    failed_ = true;
    return false;
  }
  const uint8_t* p;
  Take(n, &p);
  *out = ByteView(p, n);
  const uint8_t* pad;
  return Take(Pad(n), &pad);
}

bool Decoder::ReadOpaque(std::size_t max, ByteView* out) {
  uint32_t len;
  if (!ReadU32(&len)) return false;
  if (len > max) {
    failed_ = true;
    return false;
  }
  return ReadFixedOpaque(len, out);
}

bool Decoder::ReadOpaque(std::size_t max, Bytes* out) {
  ByteView v;
  if (!ReadOpaque(max, &v)) return false;
  out->assign(v.begin(), v.end());
  return true;
}

bool Decoder::ReadString(std::size_t max, std::string* out) {
  ByteView v;
  if (!ReadOpaque(max, &v)) return false;
  out->assign(reinterpret_cast<const char*>(v.data()), v.size());
  return true;
}

bool Decoder::ReadArrayLength(uint32_t max, uint32_t* n, std::size_t min_element_size) {
  if (!ReadU32(n)) return false;
  if (*n > max || (min_element_size > 0 && *n > remaining() / min_element_size)) {
    failed_ = true;
    return false;
  }
  return true;
}

bool Decoder::Skip(std::size_t n) {
  const uint8_t* p;
  return Take(n, &p);
}

void Encoder::WriteU32(uint32_t v) {
  uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16),
                  static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)};
  buf_.insert(buf_.end(), b, b + 4);
}

void Encoder::WriteU64(uint64_t v) {
  WriteU32(static_cast<uint32_t>(v >> 32));
  WriteU32(static_cast<uint32_t>(v));
}

void Encoder::WriteFixedOpaque(ByteView data) {
  buf_.insert(buf_.end(), data.begin(), data.end());
  buf_.resize(buf_.size() + Pad(data.size()), 0);
}

void Encoder::WriteOpaque(ByteView data) {
  WriteU32(static_cast<uint32_t>(data.size()));
  WriteFixedOpaque(data);
}

void Encoder::WriteRaw(ByteView data) { buf_.insert(buf_.end(), data.begin(), data.end()); }

std::size_t Encoder::ReserveU32() {
  std::size_t at = buf_.size();
  WriteU32(0);
  return at;
}

void Encoder::PatchU32(std::size_t offset, uint32_t v) {
  buf_[offset] = static_cast<uint8_t>(v >> 24);
  buf_[offset + 1] = static_cast<uint8_t>(v >> 16);
  buf_[offset + 2] = static_cast<uint8_t>(v >> 8);
  buf_[offset + 3] = static_cast<uint8_t>(v);
}

}  // namespace bucketfs::xdr
