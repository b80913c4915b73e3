// ObjectStore: the interface every object-storage backend implements (S3 over HTTP(S), and a local
// directory for the embedded default and tests). Upper layers (gateway, later cache) depend only on
// this header.
//
// Thread-safety: implementations are safe to call from any number of coroutines on any executor
// at once. Each call completes on the caller's executor. Errors are Status codes, never exceptions:
//   kNotFound (no such key / bucket), kAccessDenied, kAuth (bad credentials), kUnavailable
//   (throttling or outage that survived the retry policy), kTimeout, kProtocol (unparseable reply),
//   kInvalidArgument (e.g. an unsatisfiable range), kIo.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "base/status.h"

namespace bucketfs::objstore {

// What S3 tells about one object (HEAD, or one Contents entry of a LIST: LIST carries no user
// metadata, so `user_metadata` is empty and `has_metadata` false there).
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;        // as sent by the server, quotes stripped
  std::string version_id;  // empty when unversioned
  std::chrono::system_clock::time_point last_modified{};
  // x-amz-meta-* headers, names lower-cased without the prefix: "mode", "uid", "gid", "mtime"...
  std::map<std::string, std::string> user_metadata;
  bool has_metadata = false;
};

// One page of ListObjectsV2.
struct ListPage {
  std::vector<ObjectInfo> objects;           // Contents
  std::vector<std::string> common_prefixes;  // CommonPrefixes, each ending in the delimiter
  std::string next_continuation_token;       // empty when this is the last page
};

struct ListRequest {
  std::string prefix;
  std::string delimiter = "/";  // empty for a flat listing
  std::string continuation_token;
  std::string start_after;
  int max_keys = 1000;
};

// A byte range [offset, offset + length). length == nullopt means "to the end".
struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

struct GetResult {
  ObjectInfo info;  // size is the object's full size (from Content-Range when ranged)
  Bytes data;       // the requested bytes (fewer at EOF)
};

struct GetOptions {
  std::optional<ByteRange> range;
  std::string if_match;  // ETag the object must still have; mismatch → kStale
};

// One uploaded part of a multipart upload.
struct CompletedPart {
  int number = 0;  // 1..10000
  std::string etag;
};

// S3's multipart limits: every part but the last is at least kMinPartSize; at most kMaxParts parts;
// a single PUT or CopyObject moves at most kMaxSinglePut bytes.
inline constexpr uint64_t kMinPartSize = uint64_t{5} << 20;
inline constexpr int kMaxParts = 10'000;
inline constexpr uint64_t kMaxSinglePut = uint64_t{5} << 30;

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;

  // The bucket this store talks to, for messages and cache keys.
  virtual const std::string& bucket() const = 0;

  // Checks that the bucket exists and the credentials work (HeadBucket). Used at startup so that a
  // wrong endpoint, bucket or secret fails with one clear line.
  virtual Awaitable<Status> CheckBucket() = 0;

  virtual Awaitable<Result<ObjectInfo>> Head(std::string key) = 0;
  virtual Awaitable<Result<GetResult>> Get(std::string key, GetOptions options) = 0;
  virtual Awaitable<Result<ListPage>> List(ListRequest request) = 0;

  // ---- Writes. Each returned ObjectInfo carries at least key, size and etag (and version_id
  // when the bucket is versioned); last_modified is set when the reply says it (else left at the
  // epoch: callers HEAD when they need it). user_metadata: x-amz-meta-* names without the
  // prefix, lower case.

  virtual Awaitable<Result<ObjectInfo>> Put(std::string key, Bytes data,
                                            std::map<std::string, std::string> user_metadata) = 0;
  // Deleting a key that does not exist succeeds (S3 semantics).
  virtual Awaitable<Status> Delete(std::string key) = 0;

  // Server-side copy of a whole object (CopyObject; objects over kMaxSinglePut are copied with a
  // multipart copy). With `metadata` the copy gets exactly that user metadata
  // (x-amz-metadata-directive: REPLACE), without it the source's. `src_if_match` (may be empty):
  // the source's ETag must still be this one, else kStale. kNotFound when the source is gone.
  virtual Awaitable<Result<ObjectInfo>> Copy(
      std::string src_key, std::string dst_key,
      std::optional<std::map<std::string, std::string>> metadata, std::string src_if_match) = 0;

  // Multipart upload. CreateMultipart returns the upload id. Parts may be uploaded concurrently
  // and in any order; CompleteMultipart takes them in ascending part number. An upload that is
  // neither completed nor aborted leaves no object.
  virtual Awaitable<Result<std::string>> CreateMultipart(
      std::string key, std::map<std::string, std::string> user_metadata) = 0;
  // Returns the part's ETag.
  virtual Awaitable<Result<std::string>> UploadPart(std::string key, std::string upload_id,
                                                    int part_number, Bytes data) = 0;
  // A part copied server-side from `range` of `src_key` (UploadPartCopy; range.length required).
  // `src_if_match` as for Copy. Returns the part's ETag.
  virtual Awaitable<Result<std::string>> UploadPartCopy(std::string key, std::string upload_id,
                                                        int part_number, std::string src_key,
                                                        ByteRange range,
                                                        std::string src_if_match) = 0;
  virtual Awaitable<Result<ObjectInfo>> CompleteMultipart(std::string key, std::string upload_id,
                                                          std::vector<CompletedPart> parts) = 0;
  // Aborting an upload that is already gone succeeds.
  virtual Awaitable<Status> AbortMultipart(std::string key, std::string upload_id) = 0;
};

}  // namespace bucketfs::objstore
