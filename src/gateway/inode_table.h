// InodeTable: the gateway's namespace — inode numbers, what each inode maps to in the bucket, the
// last known object facts (size, ETag, metadata) and each directory's cached listing.
//
// The table is the in-memory working set of the namespace; when a persist sink is given, every
// change is also handed to it as a meta::Batch (under the table's lock, so batches arrive in the
// order the changes happened) for the metadata store to commit write-behind. After a restart,
// inodes and listings come back through Adopt*() from the store.
//
// Inode numbers are stable: the same key maps to the same inode for as long as the object exists
// (a file key "a/b" and a directory prefix "a/b/" are different keys). A key that comes back
// after its inode was found gone gets a new inode number. Every inode created by this process
// carries the store's boot generation; the root is inode 1, generation 1, always.
//
// Thread-safety: every method locks one internal mutex for its duration and returns copies or
// immutable snapshots; none of them blocks or does I/O (the persist sink must not block), so
// callers may use it from coroutines (never across a co_await: there is nothing to hold).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "gateway/key_mapping.h"
#include "meta/meta_store.h"
#include "objstore/object_store.h"
#include "vfs/vfs.h"

namespace bucketfs::gateway {

using SteadyTime = std::chrono::steady_clock::time_point;

inline constexpr vfs::InodeId kRootInode = 1;

// One inode as last seen. A copy: reading it needs no lock.
struct InodeRecord {
  vfs::InodeId ino = 0;
  uint32_t generation = 0;
  vfs::InodeId parent = 0;
  std::string name;  // "" for the root
  std::string key;   // files: the object key; directories: the key prefix (ends in "/" or is "")
  bool is_dir = false;
  bool stale = false;  // the object (or the whole directory) is gone from the bucket

  // Object facts: the file's object, or a directory's marker object when has_marker.
  bool has_marker = false;
  uint64_t size = 0;
  std::string etag;
  std::string version_id;
  std::chrono::system_clock::time_point last_modified{};
  PosixMeta meta;
  bool meta_known = false;    // `meta` was read (HEAD) for the current etag/last_modified
  SteadyTime validated_at{};  // when size/etag (and meta, if known) were last confirmed

  uint64_t listing_verifier = 0;  // directories: verifier of the last listing (0 = never listed)

  // Cached symlink target, valid while etag == symlink_etag.
  std::string symlink_target;
  std::string symlink_etag;
};

// An immutable listing of one directory, shared by readers.
struct DirSnapshot {
  struct Child {
    std::string name;
    vfs::InodeId ino = 0;
  };
  std::vector<Child> children;  // sorted by name
  uint64_t verifier = 0;        // changes when the listing's content changes; never 0
  SteadyTime loaded_at{};

  // Index of `name` in children, or nullopt.
  std::optional<std::size_t> Find(std::string_view name) const;
};

// Converts between the table's records (steady-clock times) and the store's rows (wall clock).
meta::InodeRow ToRow(const InodeRecord& rec, SteadyTime now);
InodeRecord FromRow(const meta::InodeRow& row, SteadyTime now);

struct InodeTableOptions {
  uint32_t export_id = 0;
  uint32_t generation = meta::kRootGeneration + 1;  // of inodes created by this process
  vfs::InodeId next_ino = kRootInode + 1;           // first number never handed out
  // Receives every change as a batch; empty: in memory only.
  std::function<void(meta::Batch)> persist;
};

class InodeTable {
 public:
  explicit InodeTable(std::string root_prefix, InodeTableOptions options = {});
  InodeTable(const InodeTable&) = delete;
  InodeTable& operator=(const InodeTable&) = delete;

  std::optional<InodeRecord> Get(vfs::InodeId ino) const;
  // Records for many inodes (missing ones are skipped), under one lock.
  std::vector<InodeRecord> GetMany(const std::vector<vfs::InodeId>& inos) const;
  // The cached listing of `dir`, or nullptr if it was never listed.
  std::shared_ptr<const DirSnapshot> Listing(vfs::InodeId dir) const;

  // Installs a fresh listing of `dir`: creates or updates child inodes, marks children that
  // disappeared as stale, records the marker. kStale if `dir` (not the root) no longer exists
  // (nothing listed below it at all); kNotFound/kNotDir for a bad inode.
  Result<std::shared_ptr<const DirSnapshot>> ApplyListing(vfs::InodeId dir, DirListing listing,
                                                          SteadyTime now);
  // Gives inodes to entries of `dir` released while its first listing is still loading
  // (streaming READDIR). Nothing is persisted here; the complete listing, applied with
  // ApplyListing when the last page arrived, persists them.
  std::vector<DirSnapshot::Child> AddStreamed(vfs::InodeId dir, std::vector<ListedEntry> entries,
                                              SteadyTime now);
  // Records a HEAD of a file's object or a directory's marker object.
  void ApplyHead(vfs::InodeId ino, const objstore::ObjectInfo& info, SteadyTime now);
  // Records that a directory has no marker object (HEAD said NotFound).
  void ApplyNoMarker(vfs::InodeId dir, SteadyTime now);
  void MarkStale(vfs::InodeId ino);
  void SetSymlinkTarget(vfs::InodeId ino, const std::string& etag, const std::string& target);

  // Takes an inode loaded from the store into the table unless the table already knows it (the
  // table is never older than the store). Returns the record as the table now has it.
  InodeRecord Adopt(const meta::InodeRow& row, SteadyTime now);
  // Takes a directory's persisted listing (and its children's rows) unless the table already
  // has a listing for it. The listing's age carries over, so a fresh one needs no LIST.
  void AdoptListing(vfs::InodeId dir, const meta::DirContents& contents, SteadyTime now);

  std::size_t size() const;

 private:
  struct Node {
    InodeRecord rec;
    std::shared_ptr<const DirSnapshot> listing;
  };

  Node* FindLocked(vfs::InodeId ino);
  vfs::InodeId FindOrCreateLocked(const std::string& key, bool is_dir, meta::Batch& batch);
  void AdoptLocked(const meta::InodeRow& row, SteadyTime now);
  void PersistRowLocked(const InodeRecord& rec, SteadyTime now);
  meta::Batch NewBatch() const;
  void PersistLocked(meta::Batch batch);
  void UpdateFileLocked(InodeRecord& rec, const objstore::ObjectInfo& info, SteadyTime now);

  mutable std::mutex mu_;
  std::unordered_map<vfs::InodeId, Node> nodes_;
  std::unordered_map<std::string, vfs::InodeId> dir_by_prefix_;
  std::unordered_map<std::string, vfs::InodeId> file_by_key_;
  InodeTableOptions options_;
  vfs::InodeId next_ino_;
};

}  // namespace bucketfs::gateway
