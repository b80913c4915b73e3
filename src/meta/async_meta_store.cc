#include "meta/async_meta_store.h"

#include <utility>

#include "base/log.h"

namespace bucketfs::meta {
namespace {

std::size_t Rows(const Batch& b) {
  std::size_t n = b.upserts.size() + b.listing_touches.size() + 1;
  for (const auto& l : b.listings) n += l.entries.size() + 1;
  return n;
}

}  // namespace

AsyncMetaStore::AsyncMetaStore(std::shared_ptr<MetaStore> store, BlockingPool& pool)
    : store_(std::move(store)), pool_(pool) {
  // Once, at startup (the composition root's thread): where journal ids continue.
  auto max_id = store_->MaxJournalId();
  next_journal_id_ = max_id.ok() ? *max_id : 0;
  writer_ = std::thread([this] { WriterLoop(); });
}

AsyncMetaStore::~AsyncMetaStore() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

Awaitable<Result<std::optional<InodeRow>>> AsyncMetaStore::GetInode(uint32_t export_id,
                                                                    InodeId ino) {
  MetaStore* store = store_.get();
  co_return co_await RunBlocking(
      pool_, [store, export_id, ino] { return store->GetInode(export_id, ino); });
}

Awaitable<Result<std::optional<DirContents>>> AsyncMetaStore::GetDir(uint32_t export_id,
                                                                     InodeId dir) {
  MetaStore* store = store_.get();
  co_return co_await RunBlocking(pool_,
                                 [store, export_id, dir] { return store->GetDir(export_id, dir); });
}

void AsyncMetaStore::Submit(Batch batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(mu_);
    std::size_t rows = Rows(batch);
    if (queued_rows_ + rows > kMaxQueuedRows && !batch.listings.empty()) {
      dropped_listings_ += batch.listings.size();
      batch.listings.clear();
      rows = Rows(batch);
    }
    queued_rows_ += rows;
    queue_.emplace_back(++submitted_, std::move(batch));
  }
  cv_.notify_one();
}

void AsyncMetaStore::WriterLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    auto [seq, batch] = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    Status s = store_->Commit(batch);
    if (!s.ok()) {
      ++commit_failures_;
      BFS_LOG_ERROR("metadata store: commit failed ({} inode rows): {}", batch.upserts.size(),
                    s.message());
    }
    lock.lock();
    queued_rows_ -= std::min(queued_rows_, Rows(batch));
    committed_ = seq;
    done_cv_.notify_all();
  }
}

void AsyncMetaStore::FlushSync() {
  std::unique_lock lock(mu_);
  uint64_t target = submitted_;
  done_cv_.wait(lock, [&] { return committed_ >= target; });
}

Awaitable<Status> AsyncMetaStore::Flush() {
  co_return co_await RunBlocking(pool_, [this] {
    FlushSync();
    return Status::Ok();
  });
}

}  // namespace bucketfs::meta
