#include "rpc/record_marking.h"

#include <algorithm>
#include <string>
#include <utility>

namespace bucketfs::rpc {

FragmentHeader ParseFragmentHeader(const uint8_t bytes[4]) {
  const uint32_t v = (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) |
                     (uint32_t{bytes[2]} << 8) | bytes[3];
  return {(v & kLastFragmentBit) != 0, v & kMaxFragmentLength};
}

void AppendFramedRecord(ByteView record, Bytes* out, std::size_t max_fragment) {
  max_fragment = std::clamp<std::size_t>(max_fragment, 1, kMaxFragmentLength);
  std::size_t pos = 0;
  do {
    const std::size_t n = std::min(max_fragment, record.size() - pos);
    const bool last = pos + n == record.size();
    const uint32_t h = FragmentHeaderValue(last, static_cast<uint32_t>(n));
    const uint8_t hdr[4] = {static_cast<uint8_t>(h >> 24), static_cast<uint8_t>(h >> 16),
                            static_cast<uint8_t>(h >> 8), static_cast<uint8_t>(h)};
    out->insert(out->end(), hdr, hdr + 4);
    out->insert(out->end(), record.begin() + pos, record.begin() + pos + n);
    pos += n;
  } while (pos < record.size());
}

Bytes FrameRecord(ByteView record, std::size_t max_fragment) {
  Bytes out;
  out.reserve(record.size() + kFragmentHeaderSize);
  AppendFramedRecord(record, &out, max_fragment);
  return out;
}

std::size_t RecordDecoder::ConsumeHeader(ByteView data) {
  const std::size_t n = std::min(kFragmentHeaderSize - header_filled_, data.size());
  std::copy_n(data.begin(), n, header_ + header_filled_);
  header_filled_ += n;
  return n;
}

Status RecordDecoder::StartFragment() {
  fragment_ = ParseFragmentHeader(header_);
  header_filled_ = 0;
  if (fragment_.length > max_record_size_ - record_.size()) {
    failed_ = true;
    return Status(ErrorCode::kTooBig, "RPC record over " + std::to_string(max_record_size_) +
                                          " bytes (fragment of " +
                                          std::to_string(fragment_.length) + ")");
  }
  in_fragment_ = true;
  fragment_left_ = fragment_.length;
  return Status::Ok();
}

Result<std::size_t> RecordDecoder::FeedUntilFragment(ByteView data, std::vector<Bytes>* records) {
  if (failed_) return Status(ErrorCode::kTooBig, "RPC record stream already failed");
  const std::size_t size = data.size();
  while (!data.empty()) {
    if (!in_fragment_) {
      data = data.subspan(ConsumeHeader(data));
      if (header_filled_ < kFragmentHeaderSize) break;
      BFS_RETURN_IF_ERROR(StartFragment());
      if (fragment_left_ > 0) break;  // the caller may reserve before the body arrives
    }
    const std::size_t n = std::min(fragment_left_, data.size());
    record_.insert(record_.end(), data.begin(), data.begin() + n);
    data = data.subspan(n);
    fragment_left_ -= n;
    if (fragment_left_ > 0) break;
    in_fragment_ = false;
    if (fragment_.last) records->push_back(std::exchange(record_, Bytes{}));
  }
  return size - data.size();
}

Status RecordDecoder::Feed(ByteView data, std::vector<Bytes>* records) {
  while (!data.empty()) {
    auto used = FeedUntilFragment(data, records);
    if (!used.ok()) return used.status();
    data = data.subspan(*used);
  }
  return failed_ ? Status(ErrorCode::kTooBig, "RPC record stream already failed") : Status::Ok();
}

std::size_t RecordDecoder::record_bound() const {
  if (!in_fragment_ && record_.empty()) return 0;
  if (in_fragment_ && fragment_.last) return record_.size() + fragment_left_;
  return max_record_size_;
}

void RecordDecoder::ReserveFragment() {
  if (in_fragment_) record_.reserve(record_.size() + fragment_left_);
}

}  // namespace bucketfs::rpc
