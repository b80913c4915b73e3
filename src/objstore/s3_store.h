// S3Store: ObjectStore over the S3 REST API — SigV4-signed requests through HttpClient, path-style
// or virtual-hosted addressing, retries with exponential backoff and full jitter on throttling,
// 5xx and connection failures, and S3 error XML turned into Status codes with clear messages.
//
// Thread-safety: all methods may be called concurrently from any coroutine. The store owns its
// HttpClient (and so its connection pool) and shares its CredentialsProvider.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "objstore/credentials.h"
#include "objstore/credentials_provider.h"
#include "objstore/http_client.h"
#include "objstore/object_store.h"

namespace bucketfs::objstore {

struct S3Config {
  enum class Addressing { kAuto, kPathStyle, kVirtualHosted };
  std::string endpoint;  // "" → https://s3.REGION.amazonaws.com
  std::string region = "us-east-1";
  std::string bucket;
  Addressing addressing = Addressing::kAuto;  // auto: path-style for custom endpoints
  // Each request is signed with credentials_provider's current credentials; without one, with
  // the fixed `credentials` (tests).
  std::shared_ptr<CredentialsProvider> credentials_provider;
  Credentials credentials;
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds request_timeout{60000};
  int max_attempts = 5;
  // The longest response body accepted, except for a ranged GET: that one may not exceed its
  // range (a longer body is a kProtocol error). A body over the bound fails with kTooBig before
  // it is buffered.
  uint64_t max_response_body = uint64_t{64} << 20;
  std::chrono::milliseconds backoff_base{50};
  std::chrono::milliseconds backoff_cap{5000};
};

class S3Store : public ObjectStore {
 public:
  // Fails with kInvalidArgument for an endpoint URL that cannot be parsed.
  static Result<std::unique_ptr<S3Store>> Create(asio::any_io_executor executor, S3Config config);

  const std::string& bucket() const override { return config_.bucket; }
  Awaitable<Status> CheckBucket() override;
  Awaitable<Result<ObjectInfo>> Head(std::string key) override;
  Awaitable<Result<GetResult>> Get(std::string key, GetOptions options) override;
  Awaitable<Result<ListPage>> List(ListRequest request) override;
  Awaitable<Result<ObjectInfo>> Put(std::string key, Bytes data,
                                    std::map<std::string, std::string> user_metadata) override;
  Awaitable<Status> Delete(std::string key) override;
  Awaitable<Result<ObjectInfo>> Copy(std::string src_key, std::string dst_key,
                                     std::optional<std::map<std::string, std::string>> metadata,
                                     std::string src_if_match) override;
  Awaitable<Result<std::string>> CreateMultipart(
      std::string key, std::map<std::string, std::string> user_metadata) override;
  Awaitable<Result<std::string>> UploadPart(std::string key, std::string upload_id, int part_number,
                                            Bytes data) override;
  Awaitable<Result<std::string>> UploadPartCopy(std::string key, std::string upload_id,
                                                int part_number, std::string src_key,
                                                ByteRange range, std::string src_if_match) override;
  Awaitable<Result<ObjectInfo>> CompleteMultipart(std::string key, std::string upload_id,
                                                  std::vector<CompletedPart> parts) override;
  Awaitable<Status> AbortMultipart(std::string key, std::string upload_id) override;

  const std::string& endpoint_url() const { return endpoint_url_; }

 private:
  friend class S3StoreTestPeer;  // s3_store_test.cc: signs a request without sending it
  struct Call {
    std::string method;
    std::string key;  // "" for bucket-level requests
    std::vector<std::pair<std::string, std::string>> query;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    uint64_t max_response_body = 0;  // 0: S3Config::max_response_body
    bool binary_response = false;    // a 2xx body arrives in HttpResponse::data
  };
  S3Store(asio::any_io_executor executor, S3Config config, HttpEndpoint endpoint, bool path_style);
  HttpRequest Sign(const Call& call, const Credentials& credentials) const;
  // Sends with retries; returns the final response (any status) or a transport error.
  Awaitable<Result<HttpResponse>> Send(Call call);
  Status ErrorFor(const Call& call, const HttpResponse& r) const;
  // x-amz-copy-source for `key` of this bucket.
  std::string CopySource(const std::string& key) const;
  // A multipart copy of an object over kMaxSinglePut.
  Awaitable<Result<ObjectInfo>> CopyLarge(const ObjectInfo& src, const std::string& dst_key,
                                          std::map<std::string, std::string> metadata);

  S3Config config_;
  HttpEndpoint endpoint_;
  bool path_style_;
  std::string endpoint_url_;
  std::unique_ptr<HttpClient> http_;
  std::shared_ptr<CredentialsProvider> credentials_;
};

// Parsing helpers (exposed for unit tests).
Result<ListPage> ParseListObjectsV2(const std::string& xml);
// Code and Message of an S3 <Error> document; empty strings when absent.
void ParseS3Error(const std::string& xml, std::string* code, std::string* message);
ObjectInfo InfoFromHeaders(const std::string& key, const HttpResponse& r);
// The XML body of CompleteMultipartUpload.
std::string CompleteMultipartXml(const std::vector<CompletedPart>& parts);
// UploadId of an InitiateMultipartUploadResult; empty when absent.
std::string ParseUploadId(const std::string& xml);
// ETag and LastModified of a CopyObjectResult / CopyPartResult (quotes stripped); false when the
// document is not one (e.g. an <Error> sent with status 200).
bool ParseCopyResult(const std::string& xml, std::string* etag,
                     std::chrono::system_clock::time_point* last_modified);
std::chrono::system_clock::time_point ParseHttpDate(const std::string& s);
std::chrono::system_clock::time_point ParseIso8601(const std::string& s);

}  // namespace bucketfs::objstore
