// AsyncMetaStore: how code on I/O threads uses a MetaStore without ever blocking on disk.
//
//  * Reads (GetInode, GetDir) run on the BlockingPool and resume the caller on its executor.
//  * Writes are write-behind: Submit() queues a Batch and returns at once; one writer thread
//    commits batches in submission order (so the database always moves through states the
//    in-memory namespace went through). Flush() waits until everything submitted before it is
//    committed. A failed commit is logged and counted; it costs durability of that batch (the
//    namespace is re-derived from the bucket after a restart; inode generations keep old handles
//    from matching re-numbered inodes), never correctness of this process's answers.
//  * The queue is bounded by kMaxQueuedRows rows: past it, Submit() drops listing rewrites
//    (which a later listing re-creates) but keeps inode rows.
//
// Ownership: owns the writer thread; borrows the MetaStore (shared) and the BlockingPool, both
// must outlive it. Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "base/async.h"
#include "meta/meta_store.h"

namespace bucketfs::meta {

class AsyncMetaStore {
 public:
  static constexpr std::size_t kMaxQueuedRows = 4'000'000;

  AsyncMetaStore(std::shared_ptr<MetaStore> store, BlockingPool& pool);
  // Commits everything queued, then stops the writer.
  ~AsyncMetaStore();
  AsyncMetaStore(const AsyncMetaStore&) = delete;
  AsyncMetaStore& operator=(const AsyncMetaStore&) = delete;

  MetaStore& store() { return *store_; }
  uint32_t BootGeneration() const { return store_->BootGeneration(); }

  Awaitable<Result<std::optional<InodeRow>>> GetInode(uint32_t export_id, InodeId ino);
  Awaitable<Result<std::optional<DirContents>>> GetDir(uint32_t export_id, InodeId dir);

  // A new journal id, above every id the store ever used (shared by all exports).
  int64_t NextJournalId() { return next_journal_id_.fetch_add(1) + 1; }

  void Submit(Batch batch);
  Awaitable<Status> Flush();
  // Blocking flush, for shutdown and tests (not from an I/O thread).
  void FlushSync();

  uint64_t commit_failures() const { return commit_failures_.load(); }
  uint64_t dropped_listings() const { return dropped_listings_.load(); }

 private:
  void WriterLoop();

  std::shared_ptr<MetaStore> store_;
  BlockingPool& pool_;

  std::mutex mu_;
  std::condition_variable cv_;       // writer: work arrived or stopping
  std::condition_variable done_cv_;  // flushers: committed_ advanced
  std::deque<std::pair<uint64_t, Batch>> queue_;
  std::size_t queued_rows_ = 0;
  uint64_t submitted_ = 0;  // sequence number of the last submitted batch
  uint64_t committed_ = 0;  // every batch up to this sequence number is done
  bool stopping_ = false;
  std::atomic<int64_t> next_journal_id_{0};  // the last id handed out
  std::atomic<uint64_t> commit_failures_{0};
  std::atomic<uint64_t> dropped_listings_{0};
  std::thread writer_;
};

}  // namespace bucketfs::meta
