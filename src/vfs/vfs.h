// vfs: the inode-level file-system interface the nfs layer calls. It knows nothing of RPC, XDR or
// S3. The gateway layer implements it over object storage; tests may implement it in memory.
//
// Thread-safety: a FileSystem is called concurrently from many coroutines; implementations are
// thread-safe. Each call completes on the caller's executor. Errors are Status codes
// (base/status.h); the nfs layer maps them to NFS status in one place.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "base/status.h"

namespace bucketfs::vfs {

// Inode numbers are unique within one FileSystem and never 0. The root is RootInode().
using InodeId = uint64_t;

enum class FileType : uint8_t { kRegular = 1, kDirectory = 2, kSymlink = 5 };

struct Timespec {
  int64_t sec = 0;
  uint32_t nsec = 0;
  friend bool operator==(const Timespec&, const Timespec&) = default;
};

struct Attr {
  InodeId ino = 0;
  // Distinguishes incarnations of an inode number; a file handle names (ino, generation), and a
  // handle whose generation differs from the inode's current one is stale.
  uint32_t generation = 0;
  FileType type = FileType::kRegular;
  uint32_t mode = 0;  // permission bits only (07777), the type is `type`
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t nlink = 1;
  uint64_t size = 0;
  uint64_t space_used = 0;
  Timespec atime;
  Timespec mtime;
  Timespec ctime;
  // Changes whenever the file's data or attributes change (derived from ETag/mtime for objects),
  // so that clients drop stale caches. NFSv4 `change` attribute.
  uint64_t change = 0;
  // Counts the changes of the object seen in the bucket that were not made through this
  // gateway (a revalidation found another ETag), in this process; 0 for file systems without a
  // backing bucket. Changes made through the gateway (writes, uploads) leave it alone.
  uint64_t bucket_version = 0;
};

struct DirEntry {
  std::string name;
  Attr attr;
  // Opaque position after this entry: ReadDir(dir, cookie) continues after it. Never 0, 1 or 2
  // (reserved by NFSv4).
  uint64_t cookie = 0;
};

struct DirPage {
  std::vector<DirEntry> entries;
  bool eof = false;
  // Changes when the directory's listing changes; NFSv4 cookieverf.
  uint64_t verifier = 0;
};

struct ReadResult {
  Bytes data;
  bool eof = false;
};

// What SETATTR (and a create) asks to change; unset fields stay as they are.
struct SetAttrRequest {
  std::optional<uint32_t> mode;  // permission bits (07777)
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;  // truncate or extend (regular files only)
  // Times: a client-supplied value, or "now" on the server's clock.
  std::optional<Timespec> atime;
  bool atime_now = false;
  std::optional<Timespec> mtime;
  bool mtime_now = false;

  bool empty() const {
    return !mode && !uid && !gid && !size && !atime && !atime_now && !mtime && !mtime_now;
  }
};

// Durability a WRITE asks for / was given (NFSv4 stable_how4).
enum class StableHow : uint8_t { kUnstable = 0, kDataSync = 1, kFileSync = 2 };

struct WriteResult {
  uint32_t count = 0;
  StableHow committed = StableHow::kUnstable;
};

// What to create in a directory.
struct CreateRequest {
  FileType type = FileType::kRegular;
  std::string symlink_target;  // kSymlink only
  SetAttrRequest attrs;        // initial attributes (mode, owner, times, size 0)
  // Exclusive create (NFSv4 EXCLUSIVE4/EXCLUSIVE4_1): when the name exists and was created with
  // this same verifier, the create is a retransmission and succeeds with the existing file.
  std::optional<uint64_t> verifier;
};

struct FsStats {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;
  uint64_t avail_bytes = 0;
  uint64_t total_files = 0;
  uint64_t free_files = 0;
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  virtual InodeId RootInode() const = 0;
  virtual bool ReadOnly() const = 0;

  virtual Awaitable<Result<Attr>> GetAttr(InodeId ino) = 0;
  // Name must be a single component (no '/'); "." and ".." are not looked up here.
  virtual Awaitable<Result<Attr>> Lookup(InodeId dir, std::string name) = 0;
  // The parent directory of `dir` (the root's parent is the root).
  virtual Awaitable<Result<Attr>> Parent(InodeId dir) = 0;
  // Entries after `cookie` (0 = from the start), at most `max_entries`.
  virtual Awaitable<Result<DirPage>> ReadDir(InodeId dir, uint64_t cookie,
                                             std::size_t max_entries) = 0;
  // Revalidates a file being opened (close-to-open consistency): refreshes its attributes from
  // the backing store when they may be stale.
  virtual Awaitable<Result<Attr>> Open(InodeId ino) = 0;
  virtual Awaitable<Result<ReadResult>> Read(InodeId ino, uint64_t offset, uint32_t count) = 0;
  virtual Awaitable<Result<std::string>> ReadLink(InodeId ino) = 0;
  virtual Awaitable<Result<FsStats>> StatFs() = 0;

  // ---- Mutations. A read-only file system answers every one with kReadOnly. ----
  // Each name argument is a single valid component. Directory change attributes move on every
  // successful mutation of the directory.

  // Changes attributes. A size change on a directory is kIsDir; on a symlink kInvalidArgument.
  virtual Awaitable<Result<Attr>> SetAttr(InodeId ino, SetAttrRequest request) = 0;
  // Creates `name` in `dir`. kExists when the name is taken (unless the exclusive verifier
  // matches the existing file's, see CreateRequest).
  virtual Awaitable<Result<Attr>> Create(InodeId dir, std::string name, CreateRequest request) = 0;
  // Writes `data` at `offset` (extending the file as needed). kFileSync/kDataSync return only
  // once the data (and the size) are durable on the gateway; kUnstable may return before.
  virtual Awaitable<Result<WriteResult>> Write(InodeId ino, uint64_t offset, Bytes data,
                                               StableHow stable) = 0;
  // Makes every earlier write to `ino` durable (NFS COMMIT; the range is advisory).
  virtual Awaitable<Status> Commit(InodeId ino, uint64_t offset, uint64_t count) = 0;
  // 8 bytes that change whenever uncommitted data may have been lost (a restart): NFS writeverf.
  virtual uint64_t WriteVerifier() const = 0;
  // The last open of `ino` by some client was closed: a good moment to start uploading.
  virtual Awaitable<void> Closed(InodeId ino) = 0;
  // Removes `name` from `dir`; kNotEmpty for a non-empty directory.
  virtual Awaitable<Status> Remove(InodeId dir, std::string name) = 0;
  // Atomically renames, replacing an existing target of a compatible type (a file replaces a
  // file, a directory replaces an empty directory: else kExists / kIsDir / kNotDir / kNotEmpty).
  // Renaming a directory into its own subtree is kInvalidArgument.
  virtual Awaitable<Status> Rename(InodeId src_dir, std::string src_name, InodeId dst_dir,
                                   std::string dst_name) = 0;
  // Adds a hard link `name` in `dir` to the file `ino` (not a directory: kIsDir).
  virtual Awaitable<Result<Attr>> Link(InodeId ino, InodeId dir, std::string name) = 0;
  // Copies `count` bytes (0: to the source's end) from `src` at `src_offset` to `dst` at
  // `dst_offset` without the data passing through the caller. Returns the bytes copied.
  virtual Awaitable<Result<uint64_t>> CopyRange(InodeId src, uint64_t src_offset, InodeId dst,
                                                uint64_t dst_offset, uint64_t count) = 0;
  // Zeroes [offset, offset + length) within the file's size (NFSv4.2 DEALLOCATE: objects have no
  // holes, the range reads back as zeros).
  virtual Awaitable<Status> Deallocate(InodeId ino, uint64_t offset, uint64_t length) = 0;
};

}  // namespace bucketfs::vfs
