// FakeObjectStore: an in-memory ObjectStore for tests (never linked into the product).
//
// Implements S3 semantics closely: keys in bytewise order; ListObjectsV2 with prefix, delimiter
// (CommonPrefixes rolled up and counted against max-keys like objects), start-after, opaque
// continuation tokens and a configurable cap on max-keys; HEAD with user metadata (LIST without);
// ranged GET with If-Match (mismatch → kStale, unsatisfiable range → kInvalidArgument); ETag =
// content hash (same bytes → same ETag), LastModified from a fake wall clock that advances one
// second per PUT. Counts requests by type, can inject errors and latency.
//
// Thread-safety: every method is safe from any thread; a single mutex guards the state and is not
// held across the latency wait.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "objstore/object_store.h"

namespace bucketfs::gateway::testing {

class FakeObjectStore : public objstore::ObjectStore {
 public:
  enum class Op {
    kHead,
    kGet,
    kList,
    kPut,
    kDelete,
    kCopy,
    kCreateMultipart,
    kUploadPart,
    kUploadPartCopy,
    kCompleteMultipart,
    kAbortMultipart,
    kCount
  };

  explicit FakeObjectStore(std::string bucket = "test-bucket") : bucket_(std::move(bucket)) {}

  // ---- test controls ----
  void PutSync(const std::string& key, std::string_view data,
               std::map<std::string, std::string> meta = {}) {
    std::lock_guard lock(mu_);
    PutLocked(key, Bytes(data.begin(), data.end()), std::move(meta));
  }
  void DeleteSync(const std::string& key) {
    std::lock_guard lock(mu_);
    objects_.erase(key);
  }
  // Server-side cap on max-keys (S3: 1000).
  void set_max_keys_cap(int cap) { max_keys_cap_ = cap; }
  void set_latency(std::chrono::milliseconds latency) { latency_ = latency; }
  // A PUT (or CompleteMultipart) takes effect, then its reply takes `delay` to arrive: the
  // bucket already has the new object while the caller does not know it yet.
  void set_put_reply_delay(std::chrono::milliseconds delay) { put_reply_delay_ = delay; }
  // Called at every LIST request (e.g. to advance a test clock: a listing that takes time).
  void set_on_list(std::function<void()> hook) { on_list_ = std::move(hook); }
  // The next `times` calls of `op` fail with `status`.
  void FailNext(Op op, Status status, int times = 1) {
    std::lock_guard lock(mu_);
    for (int i = 0; i < times; ++i) failures_[op].push_back(status);
  }
  uint64_t count(Op op) const { return counts_[static_cast<int>(op)].load(); }
  void ResetCounts() {
    for (auto& c : counts_) c = 0;
  }

  // ---- ObjectStore ----
  const std::string& bucket() const override { return bucket_; }
  Awaitable<Status> CheckBucket() override { co_return Status::Ok(); }

  Awaitable<Result<objstore::ObjectInfo>> Head(std::string key) override {
    if (auto s = co_await Begin(Op::kHead); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) co_return NotFoundError("no such key " + key);
    objstore::ObjectInfo info = it->second.info;
    info.has_metadata = true;
    co_return info;
  }

  Awaitable<Result<objstore::GetResult>> Get(std::string key,
                                             objstore::GetOptions options) override {
    if (auto s = co_await Begin(Op::kGet); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) co_return NotFoundError("no such key " + key);
    const Object& obj = it->second;
    if (!options.if_match.empty() && options.if_match != obj.info.etag) {
      co_return Status(ErrorCode::kStale, "precondition failed for " + key);
    }
    uint64_t size = obj.data.size();
    uint64_t begin = 0, end = size;
    if (options.range) {
      begin = options.range->offset;
      if (begin >= size) co_return InvalidArgumentError("range not satisfiable");
      if (options.range->length) end = std::min(size, begin + *options.range->length);
    }
    objstore::GetResult out;
    out.info = obj.info;
    out.info.has_metadata = true;
    out.data.assign(obj.data.begin() + begin, obj.data.begin() + end);
    co_return out;
  }

  Awaitable<Result<objstore::ListPage>> List(objstore::ListRequest req) override {
    if (auto s = co_await Begin(Op::kList); !s.ok()) co_return s;
    if (on_list_) on_list_();
    std::lock_guard lock(mu_);
    objstore::ListPage page;
    int max_keys = std::min(req.max_keys <= 0 ? 1000 : req.max_keys, max_keys_cap_.load());
    std::string after = req.start_after;
    if (!req.continuation_token.empty()) {
      auto t = tokens_.find(req.continuation_token);
      if (t == tokens_.end()) co_return InvalidArgumentError("bad continuation token");
      after = t->second;
    }
    auto it = after.empty() ? objects_.lower_bound(req.prefix) : objects_.upper_bound(after);
    // A token that ends a common prefix: skip every key inside it.
    if (!after.empty() && !req.delimiter.empty() && EndsWith(after, req.delimiter)) {
      while (it != objects_.end() && it->first.starts_with(after)) ++it;
    }
    if (it != objects_.end() && it->first < req.prefix) it = objects_.lower_bound(req.prefix);
    int n = 0;
    std::string last;
    while (it != objects_.end() && it->first.starts_with(req.prefix)) {
      if (n == max_keys) {
        std::string token = "tok" + std::to_string(++token_seq_);
        tokens_[token] = last;
        page.next_continuation_token = token;
        break;
      }
      std::string_view rest = std::string_view(it->first).substr(req.prefix.size());
      std::size_t pos = req.delimiter.empty() ? std::string_view::npos : rest.find(req.delimiter);
      if (pos != std::string_view::npos) {
        std::string cp = req.prefix + std::string(rest.substr(0, pos + req.delimiter.size()));
        page.common_prefixes.push_back(cp);
        while (it != objects_.end() && it->first.starts_with(cp)) ++it;
        last = cp;
      } else {
        objstore::ObjectInfo info = it->second.info;
        info.user_metadata.clear();
        info.has_metadata = false;
        page.objects.push_back(std::move(info));
        last = it->first;
        ++it;
      }
      ++n;
    }
    co_return page;
  }

  Awaitable<Result<objstore::ObjectInfo>> Put(
      std::string key, Bytes data, std::map<std::string, std::string> user_metadata) override {
    if (auto s = co_await Begin(Op::kPut); !s.ok()) co_return s;
    Result<objstore::ObjectInfo> put = [&] {
      std::lock_guard lock(mu_);
      return PutLocked(key, std::move(data), std::move(user_metadata));
    }();
    co_await ReplyDelay();
    co_return put;
  }

  Awaitable<Status> Delete(std::string key) override {
    if (auto s = co_await Begin(Op::kDelete); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    objects_.erase(key);
    co_return Status::Ok();
  }

  Awaitable<Result<objstore::ObjectInfo>> Copy(
      std::string src_key, std::string dst_key,
      std::optional<std::map<std::string, std::string>> metadata,
      std::string src_if_match) override {
    if (auto s = co_await Begin(Op::kCopy); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    auto it = objects_.find(src_key);
    if (it == objects_.end()) co_return NotFoundError("no such key " + src_key);
    if (!src_if_match.empty() && src_if_match != it->second.info.etag) {
      co_return Status(ErrorCode::kStale, "copy source changed: " + src_key);
    }
    Object src = it->second;
    co_return PutLocked(dst_key, std::move(src.data),
                        metadata ? std::move(*metadata) : src.info.user_metadata);
  }

  Awaitable<Result<std::string>> CreateMultipart(
      std::string key, std::map<std::string, std::string> user_metadata) override {
    if (auto s = co_await Begin(Op::kCreateMultipart); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    std::string id = "upload-" + std::to_string(++upload_seq_);
    uploads_[id] = Upload{key, std::move(user_metadata), {}};
    co_return id;
  }

  Awaitable<Result<std::string>> UploadPart(std::string key, std::string upload_id, int part_number,
                                            Bytes data) override {
    if (auto s = co_await Begin(Op::kUploadPart); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    co_return AddPartLocked(key, upload_id, part_number, std::move(data));
  }

  Awaitable<Result<std::string>> UploadPartCopy(std::string key, std::string upload_id,
                                                int part_number, std::string src_key,
                                                objstore::ByteRange range,
                                                std::string src_if_match) override {
    if (auto s = co_await Begin(Op::kUploadPartCopy); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    auto it = objects_.find(src_key);
    if (it == objects_.end()) co_return NotFoundError("no such key " + src_key);
    if (!src_if_match.empty() && src_if_match != it->second.info.etag) {
      co_return Status(ErrorCode::kStale, "copy source changed: " + src_key);
    }
    const Bytes& d = it->second.data;
    if (!range.length || range.offset + *range.length > d.size()) {
      co_return InvalidArgumentError("copy source range not satisfiable");
    }
    Bytes part(d.begin() + range.offset, d.begin() + range.offset + *range.length);
    co_return AddPartLocked(key, upload_id, part_number, std::move(part));
  }

  Awaitable<Result<objstore::ObjectInfo>> CompleteMultipart(
      std::string key, std::string upload_id, std::vector<objstore::CompletedPart> parts) override {
    if (auto s = co_await Begin(Op::kCompleteMultipart); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    auto it = uploads_.find(upload_id);
    if (it == uploads_.end() || it->second.key != key) co_return NotFoundError("no such upload");
    Bytes all;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      auto p = it->second.parts.find(parts[i].number);
      if (p == it->second.parts.end() || p->second.first != parts[i].etag ||
          (i > 0 && parts[i].number <= parts[i - 1].number)) {
        co_return InvalidArgumentError("InvalidPart");
      }
      if (i + 1 < parts.size() && p->second.second.size() < objstore::kMinPartSize) {
        co_return InvalidArgumentError("EntityTooSmall");
      }
      all.insert(all.end(), p->second.second.begin(), p->second.second.end());
    }
    auto meta = std::move(it->second.metadata);
    uploads_.erase(it);
    co_return PutLocked(key, std::move(all), std::move(meta));  // (no reply delay: under mu_)
  }

  Awaitable<Status> AbortMultipart(std::string key, std::string upload_id) override {
    if (auto s = co_await Begin(Op::kAbortMultipart); !s.ok()) co_return s;
    std::lock_guard lock(mu_);
    uploads_.erase(upload_id);
    co_return Status::Ok();
  }

  // Multipart uploads neither completed nor aborted.
  std::size_t open_uploads() const {
    std::lock_guard lock(mu_);
    return uploads_.size();
  }

 private:
  struct Upload {
    std::string key;
    std::map<std::string, std::string> metadata;
    std::map<int, std::pair<std::string, Bytes>> parts;  // number → (etag, data)
  };

  Result<std::string> AddPartLocked(const std::string& key, const std::string& upload_id,
                                    int number, Bytes data) {
    auto it = uploads_.find(upload_id);
    if (it == uploads_.end() || it->second.key != key) return NotFoundError("no such upload");
    if (number < 1 || number > objstore::kMaxParts) return InvalidArgumentError("part number");
    std::string etag = ContentHash(data);
    it->second.parts[number] = {etag, std::move(data)};
    return etag;
  }

  struct Object {
    objstore::ObjectInfo info;
    Bytes data;
  };

  static bool EndsWith(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  }

  static std::string ContentHash(const Bytes& data) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (uint8_t c : data) {
      h ^= c;
      h *= 0x100000001b3ULL;
    }
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(h));
    return buf;
  }

  objstore::ObjectInfo PutLocked(const std::string& key, Bytes data,
                                 std::map<std::string, std::string> meta) {
    Object obj;
    obj.info.key = key;
    obj.info.size = data.size();
    obj.info.etag = ContentHash(data);
    wall_ += std::chrono::seconds(1);
    obj.info.last_modified = wall_;
    obj.info.user_metadata = std::move(meta);
    obj.data = std::move(data);
    objects_[key] = obj;
    return obj.info;
  }

  // Counts the request, waits the injected latency, pops an injected failure.
  Awaitable<void> ReplyDelay() {
    if (put_reply_delay_.load().count() == 0) co_return;
    asio::steady_timer timer(co_await asio::this_coro::executor, put_reply_delay_.load());
    co_await timer.async_wait(asio::use_awaitable);
  }

  Awaitable<Status> Begin(Op op) {
    ++counts_[static_cast<int>(op)];
    if (latency_.load().count() > 0) {
      asio::steady_timer timer(co_await asio::this_coro::executor, latency_.load());
      co_await timer.async_wait(asio::use_awaitable);
    }
    std::lock_guard lock(mu_);
    auto& q = failures_[op];
    if (q.empty()) co_return Status::Ok();
    Status s = q.front();
    q.pop_front();
    co_return s;
  }

  std::string bucket_;
  mutable std::mutex mu_;
  std::map<std::string, Object> objects_;
  std::map<std::string, std::string> tokens_;
  std::map<std::string, Upload> uploads_;
  uint64_t upload_seq_ = 0;
  uint64_t token_seq_ = 0;
  std::map<Op, std::deque<Status>> failures_;
  std::chrono::system_clock::time_point wall_ =
      std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));
  std::atomic<int> max_keys_cap_{1000};
  std::function<void()> on_list_;
  std::atomic<std::chrono::milliseconds> latency_{std::chrono::milliseconds(0)};
  std::atomic<std::chrono::milliseconds> put_reply_delay_{std::chrono::milliseconds(0)};
  std::atomic<uint64_t> counts_[static_cast<int>(Op::kCount)] = {};
};

}  // namespace bucketfs::gateway::testing
