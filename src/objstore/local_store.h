// LocalStore: the embedded object store — objects as ordinary files under a directory, so the
// gateway runs with no S3 account and a person can browse the bucket with `ls`.
//
// Layout (docs/local-store.md): object key K of bucket B is the file <root>/B/K; a directory
// marker "K/" is the directory <root>/B/K plus a marker record. ETags and user metadata live in
// sidecar files under <root>/.bucketfs-meta/B/ that LIST never shows. Multipart uploads in
// progress live under <root>/.bucketfs-meta/B/.uploads/ID/ (one file per part) until Complete
// concatenates them into a temp file and renames it into place (atomic, as on S3). Files dropped in
// by hand are served too (their ETag is derived from size and mtime). LIST reproduces S3
// ListObjectsV2 ordering and grouping exactly.
//
// Thread-safety: every method may be called concurrently; all file-system work runs on the
// BlockingPool (never on the caller's I/O thread). Concurrent writers of one key: last rename
// wins, as on S3.
#pragma once

#include <filesystem>
#include <string>

#include "objstore/object_store.h"

namespace bucketfs::objstore {

class LocalStore : public ObjectStore {
 public:
  // `pool` must outlive the store.
  LocalStore(std::string root, std::string bucket, BlockingPool& pool);

  const std::string& bucket() const override { return bucket_; }
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

  // The synchronous implementations (run on the pool by the methods above; public for tests).
  Result<ObjectInfo> HeadSync(const std::string& key) const;
  Result<GetResult> GetSync(const std::string& key, const GetOptions& options) const;
  Result<ListPage> ListSync(const ListRequest& request) const;
  Result<ObjectInfo> PutSync(const std::string& key, const Bytes& data,
                             const std::map<std::string, std::string>& user_metadata);
  Status DeleteSync(const std::string& key);
  Result<ObjectInfo> CopySync(const std::string& src, const std::string& dst,
                              const std::optional<std::map<std::string, std::string>>& metadata,
                              const std::string& src_if_match);
  Result<std::string> CreateMultipartSync(const std::string& key,
                                          const std::map<std::string, std::string>& meta);
  Result<std::string> UploadPartSync(const std::string& key, const std::string& upload_id,
                                     int part_number, ByteView data);
  Result<ObjectInfo> CompleteMultipartSync(const std::string& key, const std::string& upload_id,
                                           const std::vector<CompletedPart>& parts);
  Status AbortMultipartSync(const std::string& upload_id);

 private:
  std::filesystem::path DataPath(const std::string& key) const;
  std::filesystem::path MetaPath(const std::string& key) const;
  std::filesystem::path UploadDir(const std::string& upload_id) const;
  // Moves the finished temp file `tmp` to `key` and records its sidecar.
  Result<ObjectInfo> InstallSync(const std::string& key, const std::filesystem::path& tmp,
                                 const std::string& etag,
                                 const std::map<std::string, std::string>& meta);

  std::filesystem::path bucket_dir_;
  std::filesystem::path meta_dir_;
  std::string bucket_;
  BlockingPool& pool_;
};

// Validates a key for the local store: no empty, "." or ".." components, none over 255 bytes.
Status ValidateLocalKey(const std::string& key);

}  // namespace bucketfs::objstore
