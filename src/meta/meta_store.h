// meta: the persistent metadata store. It holds what clients must see the same way before and
// after a gateway restart: inode numbers and their generations (the handle → inode map), what
// each inode is in the bucket (key, ETag, version id, size, mtime, POSIX metadata), each
// directory's entries, and the journal of S3 mutations not yet applied (used by the write path).
//
// MetaStore is the interface; SqliteMetaStore (sqlite_meta_store.h) is the embedded default.
// Every MetaStore call may block on disk: callers on I/O threads go through AsyncMetaStore
// (async_meta_store.h), never call a MetaStore directly.
//
// Thread-safety: implementations are thread-safe (calls are serialised internally).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace bucketfs::meta {

using InodeId = uint64_t;

// The root of every export is inode 1 with generation 1, forever: a client's handle to an export
// root never goes stale, even after the database was rebuilt.
inline constexpr InodeId kRootIno = 1;
inline constexpr uint32_t kRootGeneration = 1;

// One inode as persisted. Times are wall-clock (milliseconds or nanoseconds since the epoch).
struct InodeRow {
  InodeId ino = 0;
  uint32_t generation = 0;
  InodeId parent = 0;
  std::string name;  // "" for the root
  std::string key;   // files: the object key; directories: the key prefix ("" or ends in "/")
  bool is_dir = false;
  bool stale = false;  // gone from the bucket; the row stays so old handles answer STALE

  // Object identity: the file's object, or a directory's marker object when has_marker.
  bool has_marker = false;
  uint64_t size = 0;
  std::string etag;
  std::string version_id;
  int64_t last_modified_ns = 0;

  // POSIX attributes from x-amz-meta-* (absent: not set on the object).
  bool meta_known = false;
  std::optional<uint32_t> mode;
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<int64_t> mtime_sec;
  uint32_t mtime_nsec = 0;

  int64_t validated_at_ms = 0;    // when size/ETag were last confirmed against the bucket
  uint64_t listing_verifier = 0;  // directories: verifier of the last listing (0: never listed)
  // The gateway created or moved this inode to `key` and the bucket may not show it yet (its
  // upload, marker or rename is pending): listings that lack it must not drop it.
  bool local = false;
  // Hard links: the file's other names (the first name is parent/name/key above).
  struct Link {
    InodeId parent = 0;
    std::string name;
    std::string key;
    friend bool operator==(const Link&, const Link&) = default;
  };
  std::vector<Link> links;

  friend bool operator==(const InodeRow&, const InodeRow&) = default;
};

struct DirEntryRow {
  std::string name;
  InodeId ino = 0;
  // Slot of the entry in the directory (READDIR cookies derive from it). Slots of removed entries
  // stay empty, so the cookies of the others never move.
  uint64_t pos = 0;
  friend bool operator==(const DirEntryRow&, const DirEntryRow&) = default;
};

// A directory's last listing, in listing order, with the rows of its children.
struct DirContents {
  std::vector<DirEntryRow> entries;
  uint64_t verifier = 0;
  int64_t loaded_at_ms = 0;
  std::vector<InodeRow> children;  // rows of `entries` (those that exist)
};

// A set of changes applied in one transaction: all or nothing.
struct Batch {
  uint32_t export_id = 0;
  std::vector<InodeRow> upserts;
  struct Listing {
    InodeId dir = 0;
    std::vector<DirEntryRow> entries;
    uint64_t verifier = 0;
    int64_t loaded_at_ms = 0;
  };
  // Listings whose content changed: the directory's entries are replaced.
  std::vector<Listing> listings;
  // Single-entry changes of listed directories (create, remove, rename), applied after
  // `listings`: an entry put into slot `pos` of `dir` (replacing what was there), or removed.
  struct DirentPut {
    InodeId dir = 0;
    DirEntryRow entry;
  };
  std::vector<DirentPut> dirent_puts;
  std::vector<std::pair<InodeId, uint64_t>> dirent_deletes;  // (dir, pos)
  // Journal changes committed with the namespace change they belong to. Ids are chosen by the
  // caller (above MetaStore::MaxJournalId()), so it can refer to an entry before it is committed.
  struct JournalAppend {
    int64_t id = 0;
    std::string op;
    std::string payload;
  };
  std::vector<JournalAppend> journal_appends;
  std::vector<std::pair<int64_t, std::string>> journal_updates;  // (id, new payload)
  std::vector<int64_t> journal_completes;
  // Make this batch durable against power loss (fsync) before the commit returns: namespace
  // changes a client was told are done (CREATE, REMOVE, RENAME, COMMIT).
  bool durable = false;
  // Listings confirmed unchanged: only their load time moves (dir, loaded_at_ms).
  std::vector<std::pair<InodeId, int64_t>> listing_touches;
  // New high-water mark of allocated inode numbers (0: unchanged).
  InodeId next_ino = 0;

  bool empty() const {
    return upserts.empty() && listings.empty() && listing_touches.empty() && next_ino == 0 &&
           dirent_puts.empty() && dirent_deletes.empty() && journal_appends.empty() &&
           journal_updates.empty() && journal_completes.empty();
  }
};

// What OpenExport found.
struct ExportState {
  InodeId next_ino = kRootIno + 1;  // first inode number never handed out
  bool reset = false;  // the export's bucket or prefix changed: its namespace was forgotten
  // Wall-clock ms when this namespace began (first start, or the last reset); 0 when unknown.
  int64_t created_at_ms = 0;
  // Nothing was recorded for this export: a new export, or a new database (the file was missing,
  // or `rebuilt`). Its journal is then empty, so it cannot account for staged files of a
  // previous run (the write path keeps those instead of removing them).
  bool created = false;
  // The database was found damaged at this open and started over (SqliteMetaStore::rebuilt()).
  bool rebuilt = false;
};

// A pending S3 mutation (write path: uploads, renames, deletes), applied in id order.
struct JournalEntry {
  int64_t id = 0;
  uint32_t export_id = 0;
  std::string op;       // e.g. "copy", "delete", "upload"
  std::string payload;  // op-specific, opaque to the store
  int64_t created_at_ms = 0;
};

class MetaStore {
 public:
  virtual ~MetaStore() = default;

  // Generation given to inodes created by this process: a counter bumped at every open of the
  // store, starting at a random value when the store is created, so a handle minted by an
  // earlier run for an inode number that was never persisted cannot match a new inode.
  virtual uint32_t BootGeneration() const = 0;

  // Registers an export (its id is stable for its name) and returns where its inode numbering
  // stands. When the export's bucket or prefix differs from what was recorded, its namespace is
  // forgotten (every old handle but the root's becomes stale).
  virtual Result<ExportState> OpenExport(uint32_t export_id, const std::string& name,
                                         const std::string& bucket, const std::string& prefix) = 0;

  virtual Result<std::optional<InodeRow>> GetInode(uint32_t export_id, InodeId ino) = 0;
  // The directory's persisted listing, or nullopt when it was never listed.
  virtual Result<std::optional<DirContents>> GetDir(uint32_t export_id, InodeId dir) = 0;
  virtual Status Commit(const Batch& batch) = 0;

  // Journal (used by the write path). Entries are also appended, updated and completed through
  // Batch, atomically with the namespace change they belong to.
  virtual Result<int64_t> AppendJournal(uint32_t export_id, const std::string& op,
                                        const std::string& payload) = 0;
  virtual Result<std::vector<JournalEntry>> PendingJournal(std::size_t limit) = 0;
  virtual Status CompleteJournal(int64_t id) = 0;
  // The highest journal id ever used (0 when none): new ids must be above it.
  virtual Result<int64_t> MaxJournalId() = 0;

  // NFSv4 client records: the owner ids (client_owner4 / nfs_client_id4 `id`) of clients that
  // held state, so that after a restart exactly those may reclaim it (RFC 8881 §8.4.2.1).
  virtual Result<std::vector<std::string>> ClientRecords() = 0;
  virtual Status PutClientRecord(const std::string& owner) = 0;
  virtual Status DeleteClientRecord(const std::string& owner) = 0;
};

}  // namespace bucketfs::meta
