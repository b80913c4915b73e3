// LocalStore: the embedded object store — objects as ordinary files under a directory, so the
// gateway runs with no S3 account and a person can browse the bucket with `ls`.
//
// Layout (docs/local-store.md): object key K of bucket B is the file <root>/B/K; a directory
// marker "K/" is the directory <root>/B/K plus a marker record. ETags and user metadata live in
// sidecar files under <root>/.bucketfs-meta/B/ that LIST never shows. Files dropped in by hand
// are served too (their ETag is derived from size and mtime). LIST reproduces S3 ListObjectsV2
// ordering and grouping exactly.
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

  // The synchronous implementations (run on the pool by the methods above; public for tests).
  Result<ObjectInfo> HeadSync(const std::string& key) const;
  Result<GetResult> GetSync(const std::string& key, const GetOptions& options) const;
  Result<ListPage> ListSync(const ListRequest& request) const;
  Result<ObjectInfo> PutSync(const std::string& key, const Bytes& data,
                             const std::map<std::string, std::string>& user_metadata);
  Status DeleteSync(const std::string& key);

 private:
  std::filesystem::path DataPath(const std::string& key) const;
  std::filesystem::path MetaPath(const std::string& key) const;

  std::filesystem::path bucket_dir_;
  std::filesystem::path meta_dir_;
  std::string bucket_;
  BlockingPool& pool_;
};

// Validates a key for the local store: no empty, "." or ".." components, none over 255 bytes.
Status ValidateLocalKey(const std::string& key);

}  // namespace bucketfs::objstore
