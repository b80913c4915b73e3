// Uploader: turns a staged file (gateway/staging.h) into an ordinary S3 object.
//
//  * Up to `part_size` bytes: one PUT of the whole file.
//  * Larger: a multipart upload with up to `parallel` parts in flight. A part that no client
//    wrote into and that lies within the base object is copied server-side (UploadPartCopy), so a
//    random write into a large object re-sends only the parts it touched; the other parts are
//    assembled from the staging file and ranged GETs of the base object.
// The object gets the file's POSIX attributes as x-amz-meta-* (s3fs-compatible). A failed
// multipart upload is aborted.
//
// Stateless apart from its options; thread-safe. Memory: at most `parallel` parts of `part_size`
// bytes per upload in progress.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "base/async.h"
#include "gateway/staging.h"
#include "objstore/object_store.h"

namespace bucketfs::gateway {

struct UploaderOptions {
  uint64_t part_size = uint64_t{16} << 20;  // at least objstore::kMinPartSize
  int parallel = 4;                         // parts in flight per upload
};

struct UploadStats {
  uint64_t parts_uploaded = 0;
  uint64_t parts_copied = 0;
  uint64_t bytes_sent = 0;
};

class Uploader {
 public:
  Uploader(std::shared_ptr<objstore::ObjectStore> store, BlockingPool& pool,
           UploaderOptions options);

  // Uploads `state` (a snapshot of `file`) to `key`. `base_key` is where the base object lives
  // now (it may differ from `key` during a rename). Returns the new object's identity.
  Awaitable<Result<objstore::ObjectInfo>> Upload(std::string key, std::shared_ptr<StagedFile> file,
                                                 StagedState state, std::string base_key,
                                                 std::map<std::string, std::string> metadata,
                                                 UploadStats* stats);

  // Bytes [offset, offset + len) of the staged file: staged bytes overlaid on the base object.
  Awaitable<Result<Bytes>> ReadMerged(const std::shared_ptr<StagedFile>& file,
                                      const StagedBase& base, const std::string& base_key,
                                      uint64_t offset, uint64_t len);

  const UploaderOptions& options() const { return options_; }

 private:
  Awaitable<Result<objstore::ObjectInfo>> UploadMultipart(
      const std::string& key, const std::shared_ptr<StagedFile>& file, const StagedState& state,
      const std::string& base_key, std::map<std::string, std::string> metadata, UploadStats* stats);
  Awaitable<Result<std::string>> UploadOnePart(const std::string& key, const std::string& upload_id,
                                               int number, uint64_t start, uint64_t end,
                                               const std::shared_ptr<StagedFile>& file,
                                               const StagedState& state,
                                               const std::string& base_key, UploadStats* stats);

  std::shared_ptr<objstore::ObjectStore> store_;
  BlockingPool& pool_;
  UploaderOptions options_;
};

}  // namespace bucketfs::gateway
