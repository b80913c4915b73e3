#include "gateway/uploader.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstring>
#include <mutex>
#include <vector>

#include "base/single_flight.h"

namespace bucketfs::gateway {

Uploader::Uploader(std::shared_ptr<objstore::ObjectStore> store, BlockingPool& pool,
                   UploaderOptions options)
    : store_(std::move(store)), pool_(pool), options_(options) {
  options_.part_size = std::max(options_.part_size, objstore::kMinPartSize);
  options_.parallel = std::max(options_.parallel, 1);
}

Awaitable<Result<Bytes>> Uploader::ReadMerged(const std::shared_ptr<StagedFile>& file,
                                              const StagedBase& base, const std::string& base_key,
                                              uint64_t offset, uint64_t len) {
  // A named lambda: GCC 12 mishandles lambda temporaries with captures inside co_await.
  auto read = [file, offset, len] { return file->ReadLocal(offset, len); };
  auto local = co_await RunBlocking(pool_, read);
  if (!local.ok()) co_return local.status();
  Bytes out = std::move(local).value();
  if (base.etag.empty()) co_return out;
  for (auto [a, b] : file->BaseGaps(offset, out.size())) {
    objstore::GetOptions opts;
    opts.range = objstore::ByteRange{a, b - a};
    opts.if_match = base.etag;
    auto got = co_await store_->Get(base_key, opts);
    if (!got.ok()) {
      co_return got.status().WithContext("reading s3://" + store_->bucket() + "/" + base_key +
                                         " under a staged write");
    }
    if (got->data.size() < b - a) {
      co_return Status(ErrorCode::kStale, "base object s3://" + store_->bucket() + "/" + base_key +
                                              " is shorter than recorded");
    }
    std::memcpy(out.data() + (a - offset), got->data.data(), b - a);
  }
  co_return out;
}

Awaitable<Result<objstore::ObjectInfo>> Uploader::Upload(
    std::string key, std::shared_ptr<StagedFile> file, StagedState state, std::string base_key,
    std::map<std::string, std::string> metadata, UploadStats* stats) {
  if (state.size <= options_.part_size) {
    BFS_CO_ASSIGN_OR_RETURN(Bytes data,
                            co_await ReadMerged(file, state.base, base_key, 0, state.size));
    if (stats != nullptr) {
      stats->parts_uploaded += 1;
      stats->bytes_sent += data.size();
    }
    co_return co_await store_->Put(key, std::move(data), std::move(metadata));
  }
  co_return co_await UploadMultipart(key, file, state, base_key, std::move(metadata), stats);
}

Awaitable<Result<std::string>> Uploader::UploadOnePart(
    const std::string& key, const std::string& upload_id, int number, uint64_t start, uint64_t end,
    const std::shared_ptr<StagedFile>& file, const StagedState& state, const std::string& base_key,
    UploadStats* stats) {
  const bool untouched = !state.dirty.Intersects(start, end);
  if (untouched && !state.base.etag.empty() && end <= state.base.limit) {
    if (stats != nullptr) ++stats->parts_copied;
    co_return co_await store_->UploadPartCopy(
        key, upload_id, number, base_key, objstore::ByteRange{start, end - start}, state.base.etag);
  }
  BFS_CO_ASSIGN_OR_RETURN(Bytes data,
                          co_await ReadMerged(file, state.base, base_key, start, end - start));
  if (data.size() != end - start) data.resize(end - start);  // zeros past a concurrent truncate
  if (stats != nullptr) {
    ++stats->parts_uploaded;
    stats->bytes_sent += data.size();
  }
  co_return co_await store_->UploadPart(key, upload_id, number, std::move(data));
}

Awaitable<Result<objstore::ObjectInfo>> Uploader::UploadMultipart(
    const std::string& key, const std::shared_ptr<StagedFile>& file, const StagedState& state,
    const std::string& base_key, std::map<std::string, std::string> metadata, UploadStats* stats) {
  uint64_t part = options_.part_size;
  // At most kMaxParts parts: bigger parts for huge files.
  const uint64_t max_parts = static_cast<uint64_t>(objstore::kMaxParts);
  if ((state.size + part - 1) / part > max_parts) part = (state.size + max_parts - 1) / max_parts;
  const int count = static_cast<int>((state.size + part - 1) / part);
  BFS_CO_ASSIGN_OR_RETURN(std::string upload_id,
                          co_await store_->CreateMultipart(key, std::move(metadata)));

  // Workers take part numbers in order; the first error stops them all.
  struct Shared {
    std::mutex mu;
    int next = 0;
    int running = 0;
    Status error;
    std::vector<objstore::CompletedPart> parts;
    AsyncLatch<bool> done;
  };
  auto shared = std::make_shared<Shared>();
  shared->parts.resize(count);
  const int workers = std::min(options_.parallel, count);
  shared->running = workers;
  auto ex = co_await asio::this_coro::executor;
  auto worker = [this, shared, count, part, &key, &upload_id, &file, &state, &base_key,
                 stats]() -> Awaitable<void> {
    for (;;) {
      int i;
      {
        std::lock_guard lock(shared->mu);
        if (shared->next >= count || !shared->error.ok()) break;
        i = shared->next++;
      }
      const uint64_t start = static_cast<uint64_t>(i) * part;
      const uint64_t end = std::min(state.size, start + part);
      auto etag =
          co_await UploadOnePart(key, upload_id, i + 1, start, end, file, state, base_key, stats);
      std::lock_guard lock(shared->mu);
      if (!etag.ok()) {
        if (shared->error.ok()) shared->error = etag.status();
      } else {
        shared->parts[i] = {i + 1, std::move(etag).value()};
      }
    }
    bool last;
    {
      std::lock_guard lock(shared->mu);
      last = --shared->running == 0;
    }
    if (last) shared->done.Set(true);
  };
  // The workers reference this frame's locals: it waits for all of them below.
  for (int w = 0; w < workers; ++w) asio::co_spawn(ex, worker(), asio::detached);
  co_await shared->done.Wait();
  Status error;
  {
    std::lock_guard lock(shared->mu);
    error = shared->error;
  }
  if (!error.ok()) {
    (void)co_await store_->AbortMultipart(key, upload_id);
    co_return error.WithContext("multipart upload of s3://" + store_->bucket() + "/" + key);
  }
  auto done = co_await store_->CompleteMultipart(key, upload_id, shared->parts);
  if (!done.ok()) (void)co_await store_->AbortMultipart(key, upload_id);
  co_return done;
}

}  // namespace bucketfs::gateway
