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
};

}  // namespace bucketfs::vfs
