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
#include <unordered_set>
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
  // Created or moved here by the gateway; the bucket may not show it yet (see meta::InodeRow).
  bool local = false;
  // Hard links: the file's other names, each an object kept equal to the one at `key`.
  std::vector<meta::InodeRow::Link> links;

  // Cached symlink target, valid while etag == symlink_etag.
  std::string symlink_target;
  std::string symlink_etag;
  // Times a LIST or HEAD found the object changed behind the gateway (vfs::Attr::bucket_version);
  // not persisted.
  uint64_t bucket_version = 0;
};

inline bool IsSymlink(const InodeRecord& rec) {
  return !rec.is_dir && rec.meta.mode && (*rec.meta.mode & kModeTypeMask) == kModeSymlink;
}

// An immutable listing of one directory, shared by readers (a change makes a new snapshot).
//
// Entries sit in slots; READDIR returns them in slot order and a cookie names a slot. A listing
// keeps the slot of every entry that is still there when the directory is re-listed or changed,
// new entries take new slots at the end, removed ones leave an empty slot (ino 0): so cookies
// handed to clients stay valid across changes and cookie_verifier stays the same.
struct DirSnapshot {
  struct Child {
    std::string name;
    vfs::InodeId ino = 0;  // 0: the slot of a removed entry
  };
  std::vector<Child> children;  // by slot; the first listing's slots are sorted by name
  std::unordered_map<std::string, std::size_t> by_name;  // live entries → slot
  uint64_t verifier = 0;             // changes when the listing's content changes; never 0
  uint64_t cookie_verifier = 0;      // changes only when slots were renumbered; never 0
  SteadyTime loaded_at{};            // when the bucket was last listed
  SteadyTime::duration list_time{};  // how long that complete listing took (0: unknown)

  // Slot of `name`, or nullopt.
  std::optional<std::size_t> Find(std::string_view name) const;
  std::size_t live() const { return by_name.size(); }
};

// A new inode the gateway creates (CREATE, OPEN with create, mkdir, symlink).
struct NewInode {
  vfs::InodeId ino = 0;  // from ReserveIno(), or 0: a new number
  bool is_dir = false;
  PosixMeta meta;  // mode (with the type bits), uid, gid, mtime
  uint64_t size = 0;
};

// What must be true of `dst` for a rename over it (RFC 8881 §18.26.3): a file may replace a
// file, a directory an empty directory.
enum class RenameCheck : uint8_t { kOk, kExists, kIsDir, kNotDir, kNotEmpty, kInvalid };

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
  // disappeared as stale, records the marker. Entries for which `pending_away(key, is_dir)` is
  // true (a pending removal or rename source of the write path) are ignored; children the
  // gateway created (`local`) are kept even when the bucket does not show them yet. kStale if
  // `dir` (not the root) no longer exists; kNotFound/kNotDir for a bad inode.
  // A child the listing lacks but that was confirmed (uploaded, HEADed) after `listed_since` —
  // when the LIST began — is kept: the LIST just did not see it yet.
  Result<std::shared_ptr<const DirSnapshot>> ApplyListing(
      vfs::InodeId dir, DirListing listing, SteadyTime now,
      const std::function<bool(const std::string&, bool)>& pending_away = {},
      SteadyTime listed_since = {});
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

  // ---- Namespace changes of the write path. Each is one atomic step under the table's lock,
  // persisted as one batch marked durable, together with the journal changes in `extra` (its
  // journal_appends / journal_completes / journal_updates are merged). The caller flushes the
  // metadata store before answering the client. The directories involved must be listed first
  // (kInternal otherwise: the caller's bug). ----

  // Adds `name` to `dir` as a new inode (local). kExists when the name is taken; kStale when
  // `dir` is gone.
  // `extra_fn` (may be empty), called under the lock with the new record, may add journal
  // records to the batch.
  Result<InodeRecord> CreateChild(
      vfs::InodeId dir, const std::string& name, const NewInode& spec, SteadyTime now,
      const std::function<void(const InodeRecord&, meta::Batch&)>& extra_fn = {});
  // An inode number for a CreateChild to come (so its staged data can exist first).
  vfs::InodeId ReserveIno();
  // One name of an inode taken away (REMOVE, or the target of a RENAME).
  struct RemovedName {
    InodeRecord rec;         // the inode as it is now
    std::string key;         // the key of the removed name
    bool inode_gone = true;  // its last name: the inode is stale now
  };
  // Removes `name` from `dir`. An inode with other names (hard links) lives on: when `name` was
  // its first name, the next one takes its place. kNotFound when absent; kNotEmpty for a
  // directory with live entries (its listing must be loaded).
  Result<RemovedName> RemoveChild(vfs::InodeId dir, const std::string& name, SteadyTime now,
                                  meta::Batch extra = {});
  // Adds `name` in `dir` as another name of the file `ino` (kExists, kIsDir, kStale). The inode
  // becomes `local` until its upload copies it to the new key.
  Result<InodeRecord> AddLink(
      vfs::InodeId ino, vfs::InodeId dir, const std::string& name, SteadyTime now,
      const std::function<void(const InodeRecord&, meta::Batch&)>& extra_fn);
  // What renaming `src` over the entry `dst_name` of `dst_dir` would meet (no change made).
  Result<RenameCheck> CheckRename(vfs::InodeId src_dir, const std::string& src_name,
                                  vfs::InodeId dst_dir, const std::string& dst_name) const;
  struct RenameResult {
    InodeRecord moved;                    // as it now is (new parent, name, key)
    std::string old_key;                  // the key of the moved name before
    std::string new_key;                  // and after (a hard link's, or moved.key)
    std::optional<RemovedName> replaced;  // the target name it replaced
  };
  // Moves the entry; the moved inode and (for a directory) every known descendant get keys under
  // the new name and become `local` until `ConfirmKey`. `extra_fn`, called under the lock with
  // the result, may add journal records to the batch.
  Result<RenameResult> Rename(
      vfs::InodeId src_dir, const std::string& src_name, vfs::InodeId dst_dir,
      const std::string& dst_name, SteadyTime now,
      const std::function<void(const RenameResult&, meta::Batch&)>& extra_fn);
  // Applies `fn` to the inode's record and persists it (durable when asked), with `extra`.
  // Returns the updated record; kStale when the inode is gone or unknown.
  Result<InodeRecord> Update(vfs::InodeId ino, const std::function<void(InodeRecord&)>& fn,
                             SteadyTime now, bool durable, meta::Batch extra = {});
  // The inode that currently owns `key` (a file key, or a directory prefix when is_dir), if live.
  std::optional<vfs::InodeId> FindByKey(const std::string& key, bool is_dir) const;
  // Persists `extra` (journal changes only) as one batch.
  void PersistJournal(meta::Batch extra, bool durable);

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
  // Copy-on-write of a directory's listing; nullptr when it was never listed.
  std::shared_ptr<DirSnapshot> MutableListingLocked(Node& dir);
  void PutSlotLocked(vfs::InodeId dir, DirSnapshot& snap, const std::string& name, vfs::InodeId ino,
                     meta::Batch& batch);
  void ClearSlotLocked(vfs::InodeId dir, DirSnapshot& snap, const std::string& name,
                       meta::Batch& batch);
  // The directory changed: its change attribute must move.
  void BumpDirLocked(Node& dir, SteadyTime now, meta::Batch& batch);
  // Rewrites the keys of `ino` and its known descendants from `old_key` to `new_key` (prefix).
  void RekeyLocked(vfs::InodeId ino, const std::string& old_key, const std::string& new_key,
                   SteadyTime now, meta::Batch& batch);
  static void MergeJournal(meta::Batch& into, meta::Batch& from);
  Result<RemovedName> RemoveNameLocked(vfs::InodeId dir, const std::string& name, SteadyTime now,
                                       meta::Batch& batch);
  // Index entries for `rec`'s keys (first name and links).
  void IndexLocked(const InodeRecord& rec);

  mutable std::mutex mu_;
  std::unordered_map<vfs::InodeId, Node> nodes_;
  std::unordered_map<std::string, vfs::InodeId> dir_by_prefix_;
  std::unordered_map<std::string, vfs::InodeId> file_by_key_;
  InodeTableOptions options_;
  vfs::InodeId next_ino_;
};

}  // namespace bucketfs::gateway
