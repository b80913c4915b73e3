#include "objstore/metered_store.h"

#include <array>
#include <chrono>

#include "base/metrics.h"

namespace bucketfs::objstore {
namespace {

enum OpIndex {
  kHead,
  kGet,
  kList,
  kPut,
  kDelete,
  kCheck,
  kCopy,
  kCreateMultipart,
  kUploadPart,
  kUploadPartCopy,
  kCompleteMultipart,
  kAbortMultipart,
  kOpCount
};
constexpr const char* kOpNames[kOpCount] = {
    "HEAD",         "GET",      "LIST",       "PUT",         "DELETE",
    "CHECK",        "COPY",     "CREATE_MPU", "UPLOAD_PART", "UPLOAD_PART_COPY",
    "COMPLETE_MPU", "ABORT_MPU"};
enum Outcome { kOk, kNotFound, kStale, kError, kOutcomeCount };
constexpr const char* kOutcomeNames[kOutcomeCount] = {"ok", "not_found", "stale", "error"};

// The series, registered once.
struct Series {
  std::array<std::array<Counter*, kOutcomeCount>, kOpCount> requests{};
  std::array<Histogram*, kOpCount> latency{};
  Counter* received = nullptr;
  Counter* sent = nullptr;

  Series() {
    MetricsRegistry& m = DefaultMetrics();
    for (int op = 0; op < kOpCount; ++op) {
      for (int o = 0; o < kOutcomeCount; ++o) {
        requests[op][o] = &m.GetCounter("bucketfs_s3_requests_total",
                                        "Object store requests by operation and outcome.",
                                        {{"op", kOpNames[op]}, {"outcome", kOutcomeNames[o]}});
      }
      latency[op] = &m.GetHistogram("bucketfs_s3_request_duration_seconds",
                                    "Object store request latency (retries included).",
                                    {{"op", kOpNames[op]}}, LatencyBuckets());
    }
    received = &m.GetCounter("bucketfs_s3_received_bytes_total",
                             "Object bytes received from the object store (GET bodies).");
    sent = &m.GetCounter("bucketfs_s3_sent_bytes_total",
                         "Object bytes sent to the object store (PUT and part bodies).");
  }
};

Series& GetSeries() {
  static Series* s = new Series();
  return *s;
}

// Times one request; Done() records its outcome and latency.
class Timer {
 public:
  explicit Timer(OpIndex op) : op_(op), start_(std::chrono::steady_clock::now()) {}
  void Done(const Status& s) {
    Series& m = GetSeries();
    Outcome o = s.ok()                             ? kOk
                : s.code() == ErrorCode::kNotFound ? kNotFound
                : s.code() == ErrorCode::kStale    ? kStale
                                                   : kError;
    m.requests[op_][o]->Inc();
    m.latency[op_]->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count());
  }

 private:
  OpIndex op_;
  std::chrono::steady_clock::time_point start_;
};

class MeteredStore : public ObjectStore {
 public:
  explicit MeteredStore(std::shared_ptr<ObjectStore> inner) : inner_(std::move(inner)) {
    GetSeries();
  }
  const std::string& bucket() const override { return inner_->bucket(); }

  Awaitable<Status> CheckBucket() override {
    Timer t(kCheck);
    Status s = co_await inner_->CheckBucket();
    t.Done(s);
    co_return s;
  }
  Awaitable<Result<ObjectInfo>> Head(std::string key) override {
    Timer t(kHead);
    auto r = co_await inner_->Head(std::move(key));
    t.Done(r.status());
    co_return r;
  }
  Awaitable<Result<GetResult>> Get(std::string key, GetOptions options) override {
    Timer t(kGet);
    auto r = co_await inner_->Get(std::move(key), std::move(options));
    t.Done(r.status());
    if (r.ok()) GetSeries().received->Inc(r->data.size());
    co_return r;
  }
  Awaitable<Result<ListPage>> List(ListRequest request) override {
    Timer t(kList);
    auto r = co_await inner_->List(std::move(request));
    t.Done(r.status());
    co_return r;
  }
  Awaitable<Result<ObjectInfo>> Put(std::string key, Bytes data,
                                    std::map<std::string, std::string> metadata) override {
    Timer t(kPut);
    const uint64_t size = data.size();
    auto r = co_await inner_->Put(std::move(key), std::move(data), std::move(metadata));
    t.Done(r.status());
    if (r.ok()) GetSeries().sent->Inc(size);
    co_return r;
  }
  Awaitable<Status> Delete(std::string key) override {
    Timer t(kDelete);
    Status s = co_await inner_->Delete(std::move(key));
    t.Done(s);
    co_return s;
  }

  Awaitable<Result<ObjectInfo>> Copy(std::string src, std::string dst,
                                     std::optional<std::map<std::string, std::string>> metadata,
                                     std::string src_if_match) override {
    Timer t(kCopy);
    auto r = co_await inner_->Copy(std::move(src), std::move(dst), std::move(metadata),
                                   std::move(src_if_match));
    t.Done(r.status());
    co_return r;
  }
  Awaitable<Result<std::string>> CreateMultipart(
      std::string key, std::map<std::string, std::string> metadata) override {
    Timer t(kCreateMultipart);
    auto r = co_await inner_->CreateMultipart(std::move(key), std::move(metadata));
    t.Done(r.status());
    co_return r;
  }
  Awaitable<Result<std::string>> UploadPart(std::string key, std::string upload_id, int number,
                                            Bytes data) override {
    Timer t(kUploadPart);
    const uint64_t size = data.size();
    auto r =
        co_await inner_->UploadPart(std::move(key), std::move(upload_id), number, std::move(data));
    t.Done(r.status());
    if (r.ok()) GetSeries().sent->Inc(size);
    co_return r;
  }
  Awaitable<Result<std::string>> UploadPartCopy(std::string key, std::string upload_id, int number,
                                                std::string src_key, ByteRange range,
                                                std::string src_if_match) override {
    Timer t(kUploadPartCopy);
    auto r = co_await inner_->UploadPartCopy(std::move(key), std::move(upload_id), number,
                                             std::move(src_key), range, std::move(src_if_match));
    t.Done(r.status());
    co_return r;
  }
  Awaitable<Result<ObjectInfo>> CompleteMultipart(std::string key, std::string upload_id,
                                                  std::vector<CompletedPart> parts) override {
    Timer t(kCompleteMultipart);
    auto r =
        co_await inner_->CompleteMultipart(std::move(key), std::move(upload_id), std::move(parts));
    t.Done(r.status());
    co_return r;
  }
  Awaitable<Status> AbortMultipart(std::string key, std::string upload_id) override {
    Timer t(kAbortMultipart);
    Status s = co_await inner_->AbortMultipart(std::move(key), std::move(upload_id));
    t.Done(s);
    co_return s;
  }

 private:
  std::shared_ptr<ObjectStore> inner_;
};

}  // namespace

std::shared_ptr<ObjectStore> WithMetrics(std::shared_ptr<ObjectStore> store) {
  return std::make_shared<MeteredStore>(std::move(store));
}

}  // namespace bucketfs::objstore
