// Record marking for ONC RPC over TCP (RFC 5531 §11).
//
// A record is a sequence of fragments; each fragment is preceded by a 4-byte big-endian header
// whose top bit marks the last fragment of the record and whose low 31 bits give the fragment's
// length. RecordDecoder reassembles records incrementally from arbitrary chunks of a byte stream
// (a chunk may end anywhere, even inside a header); FrameRecord/AppendFramedRecord produce the
// framing for the other direction.
//
// Ownership: RecordDecoder owns the partial record it is assembling and hands complete records to
// the caller by value. Memory grows only with bytes actually received, never with a length read
// from the wire (unless the caller asks, ReserveFragment), and a record whose announced size would
// exceed the bound is rejected as soon as its fragment header is seen. A caller that charges
// memory before it is used (rpc::Server) feeds with FeedUntilFragment, which stops after each
// fragment header, so it can reserve the announced bytes before any of them is buffered.
// Thread-safety: RecordDecoder is not thread-safe (one per connection); the free functions are
// stateless.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"

namespace bucketfs::rpc {

inline constexpr uint32_t kLastFragmentBit = 0x80000000u;
inline constexpr uint32_t kMaxFragmentLength = 0x7fffffffu;
inline constexpr std::size_t kFragmentHeaderSize = 4;

struct FragmentHeader {
  bool last = false;
  uint32_t length = 0;
};

FragmentHeader ParseFragmentHeader(const uint8_t bytes[4]);
// The 32-bit header value (host order) for a fragment of `length` (≤ kMaxFragmentLength) bytes.
inline uint32_t FragmentHeaderValue(bool last, uint32_t length) {
  return (last ? kLastFragmentBit : 0u) | (length & kMaxFragmentLength);
}

// Appends `record` to `out` as fragments of at most `max_fragment` bytes (≥ 1), the last one
// flagged. An empty record becomes one empty last fragment.
void AppendFramedRecord(ByteView record, Bytes* out, std::size_t max_fragment = kMaxFragmentLength);
Bytes FrameRecord(ByteView record, std::size_t max_fragment = kMaxFragmentLength);

// Incremental record reassembly (RFC 5531 §11).
class RecordDecoder {
 public:
  explicit RecordDecoder(std::size_t max_record_size) : max_record_size_(max_record_size) {}

  // Consumes all of `data`, appending every record completed by it to `records`. Returns a
  // kTooBig Status once a record would exceed max_record_size; the failure is sticky (the stream
  // cannot be resynchronized, the connection must be closed).
  Status Feed(ByteView data, std::vector<Bytes>* records);
  // Like Feed, but consumes `data` only up to the end of the next fragment header that announces
  // a non-empty body (then fragment_started() is true and nothing of that body is buffered yet).
  // Returns how many bytes of `data` it consumed.
  Result<std::size_t> FeedUntilFragment(ByteView data, std::vector<Bytes>* records);

  // True right after FeedUntilFragment stopped at a fragment header.
  bool fragment_started() const { return in_fragment_ && fragment_left_ == fragment_.length; }
  // What the record being assembled can hold once complete, as far as the headers seen tell: 0
  // when no record has begun (at most a partial header is buffered); the exact size when its
  // current fragment is its last; else max_record_size (more fragments may follow).
  std::size_t record_bound() const;
  // Allocates room for the rest of the current fragment at once (instead of growing the buffer
  // as bytes arrive, which can take up to twice the memory).
  void ReserveFragment();

  bool failed() const { return failed_; }
  // True when no partial header or record is buffered (a clean point to close the stream).
  bool idle() const { return header_filled_ == 0 && !in_fragment_ && record_.empty(); }

 private:
  // Consumes header bytes from `data`; returns how many.
  std::size_t ConsumeHeader(ByteView data);
  Status StartFragment();

  std::size_t max_record_size_;
  uint8_t header_[kFragmentHeaderSize] = {};
  std::size_t header_filled_ = 0;
  bool in_fragment_ = false;
  FragmentHeader fragment_;
  std::size_t fragment_left_ = 0;
  Bytes record_;
  bool failed_ = false;
};

}  // namespace bucketfs::rpc
