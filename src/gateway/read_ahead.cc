#include "gateway/read_ahead.h"

#include <algorithm>

namespace bucketfs::gateway {
namespace {

// How many READs of one stream an NFS client may have in flight (and so out of order) at once.
constexpr uint64_t kSlackReads = 4;

}  // namespace

ReadAhead::ReadAhead(ReadAheadOptions options)
    : options_([&] {
        ReadAheadOptions o = options;
        o.block_size = std::max<uint64_t>(o.block_size, 1);
        o.max_streams = std::max<std::size_t>(o.max_streams, 1);
        o.max_inodes = std::max<std::size_t>(o.max_inodes, 1);
        o.initial_window_blocks = std::min(std::max<uint32_t>(o.initial_window_blocks, 1),
                                           std::max<uint32_t>(o.max_window_blocks, 1));
        return o;
      }()) {}

ReadAheadPlan ReadAhead::OnRead(vfs::InodeId ino, uint64_t offset, uint64_t length,
                                uint64_t file_size) {
  if (options_.max_window_blocks == 0 || length == 0) return {};
  std::lock_guard lock(mu_);
  InodeStreams& s = Touch(ino);
  const uint64_t end = offset + length;
  Stream* stream = Match(s, offset, length);
  if (stream == nullptr) {
    Stream& fresh = NewStream(s);
    fresh.frontier = end;
    fresh.last_use = ++clock_;
    return {};  // one READ says nothing about the access pattern
  }
  stream->last_use = ++clock_;
  const uint64_t old_block = stream->frontier / options_.block_size;
  stream->frontier = std::max(stream->frontier, end);
  if (stream->window == 0) {
    // Two READs in a row near the frontier: sequential. (One could be chance.)
    if (++stream->hits < 2) return {};
    stream->window = options_.initial_window_blocks;
  } else if (stream->frontier / options_.block_size > old_block) {
    // The reader moved into a new block: it keeps up, so look further ahead.
    stream->window = std::min(stream->window * 2, options_.max_window_blocks);
  }
  return Plan(*stream, file_size);
}

ReadAhead::Stream* ReadAhead::Match(InodeStreams& s, uint64_t offset, uint64_t length) {
  const uint64_t bs = options_.block_size;
  Stream* best = nullptr;
  uint64_t best_distance = UINT64_MAX;
  for (Stream& st : s.streams) {
    // Ahead of the frontier by at most a few reads: the next READ of this stream, or one that
    // overtook its predecessors in flight. Behind it by at most the window (or a few reads): a
    // READ that was overtaken. Scaled by the READ size so that small random reads rarely land
    // near a frontier by chance.
    const uint64_t ahead = kSlackReads * length;
    const uint64_t behind = std::max<uint64_t>(st.window * bs, kSlackReads * length);
    const bool near_ahead = offset >= st.frontier && offset - st.frontier <= ahead;
    const bool near_behind = offset < st.frontier && st.frontier - offset <= behind + length;
    if (!near_ahead && !near_behind) continue;
    const uint64_t distance = offset >= st.frontier ? offset - st.frontier : st.frontier - offset;
    if (distance < best_distance) {
      best = &st;
      best_distance = distance;
    }
  }
  return best;
}

ReadAhead::Stream& ReadAhead::NewStream(InodeStreams& s) {
  if (s.streams.size() < options_.max_streams) return s.streams.emplace_back();
  auto oldest =
      std::min_element(s.streams.begin(), s.streams.end(),
                       [](const Stream& a, const Stream& b) { return a.last_use < b.last_use; });
  *oldest = Stream{};
  return *oldest;
}

ReadAhead::InodeStreams& ReadAhead::Touch(vfs::InodeId ino) {
  auto it = inodes_.find(ino);
  if (it != inodes_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second;
  }
  if (inodes_.size() >= options_.max_inodes) {
    inodes_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(ino);
  InodeStreams& s = inodes_[ino];
  s.lru = lru_.begin();
  return s;
}

ReadAheadPlan ReadAhead::Plan(Stream& stream, uint64_t file_size) const {
  const uint64_t bs = options_.block_size;
  const uint64_t blocks = (file_size + bs - 1) / bs;
  const uint64_t next = stream.frontier / bs;  // the block holding the next unread byte
  const uint64_t end = std::min(next + stream.window, blocks);
  const uint64_t first = std::max(stream.planned_end, next);
  if (first >= end) return {};
  stream.planned_end = end;
  return {first, end - first};
}

void ReadAhead::Forget(vfs::InodeId ino) {
  std::lock_guard lock(mu_);
  auto it = inodes_.find(ino);
  if (it == inodes_.end()) return;
  lru_.erase(it->second.lru);
  inodes_.erase(it);
}

std::size_t ReadAhead::tracked_inodes() const {
  std::lock_guard lock(mu_);
  return inodes_.size();
}

}  // namespace bucketfs::gateway
