// ReadAhead: decides which blocks of a file to fetch before a reader asks for them.
//
// The gateway sees READs, not open files: an NFS client sends several READs of one stream in
// parallel, so they arrive slightly out of order, and many clients may read one file at once at
// different positions. ReadAhead therefore tracks up to `max_streams` streams per inode. A stream
// is a frontier (the highest byte read so far); a READ near a frontier (starting at most a few
// READ sizes beyond it, or behind it by at most its window) continues that stream, any other READ
// starts a new one. A new stream prefetches nothing, and neither does one READ that happens to
// land near a frontier, so random access does not trigger read-ahead (two chance hits in a row on
// one stream are needed). From its third sequential READ on, a stream keeps a window of
// `initial_window_blocks` blocks ahead of its frontier, doubled whenever the reader moves into a
// new block, up to `max_window_blocks`. Each block is planned once per stream.
//
// The plan is advice: the caller prefetches the blocks it can afford (the block cache refuses
// prefetches past its memory budget) and nothing breaks when it skips some.
//
// Bounded: at most `max_inodes` inodes are tracked (least recently read forgotten first), each
// with at most `max_streams` streams. Thread-safety: every method locks one internal mutex for its
// duration; safe from any thread, never blocks on I/O.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "vfs/vfs.h"

namespace bucketfs::gateway {

struct ReadAheadOptions {
  uint64_t block_size = 4 << 20;
  uint32_t initial_window_blocks = 2;
  uint32_t max_window_blocks = 16;  // 0 disables read-ahead
  std::size_t max_streams = 8;      // per inode
  std::size_t max_inodes = 4096;
};

// Blocks [first, first + count) to prefetch.
struct ReadAheadPlan {
  uint64_t first = 0;
  uint64_t count = 0;
  bool empty() const { return count == 0; }
};

class ReadAhead {
 public:
  explicit ReadAhead(ReadAheadOptions options);

  // Records a READ of [offset, offset + length) of `ino` (whose size is `file_size`) and returns
  // the blocks that should now be fetched ahead of it (never past the end of the file).
  ReadAheadPlan OnRead(vfs::InodeId ino, uint64_t offset, uint64_t length, uint64_t file_size);
  // Drops what is known about `ino` (the object was replaced or removed).
  void Forget(vfs::InodeId ino);

  std::size_t tracked_inodes() const;

 private:
  struct Stream {
    uint64_t frontier = 0;     // highest byte offset read, exclusive
    uint64_t planned_end = 0;  // first block not yet planned
    uint32_t window = 0;       // blocks kept ahead; 0 until the stream proves sequential
    uint32_t hits = 0;         // READs that continued the stream while its window was 0
    uint64_t last_use = 0;
  };
  struct InodeStreams {
    std::vector<Stream> streams;
    std::list<vfs::InodeId>::iterator lru;
  };

  Stream* Match(InodeStreams& s, uint64_t offset, uint64_t length);
  Stream& NewStream(InodeStreams& s);
  InodeStreams& Touch(vfs::InodeId ino);
  ReadAheadPlan Plan(Stream& stream, uint64_t file_size) const;

  const ReadAheadOptions options_;
  mutable std::mutex mu_;
  uint64_t clock_ = 0;
  std::unordered_map<vfs::InodeId, InodeStreams> inodes_;
  std::list<vfs::InodeId> lru_;  // front = most recently read
};

}  // namespace bucketfs::gateway
