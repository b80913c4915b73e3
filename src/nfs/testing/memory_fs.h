// MemoryFs: an in-memory vfs::FileSystem for nfs tests and fuzz targets. Build a tree with
// AddDir/AddFile/AddSymlink; when constructed writable it also implements every mutation of the
// vfs contract (vfs.h): attributes, create (with exclusive-create verifiers), write/commit,
// remove, rename (replacing files and empty directories), hard links, copy and deallocate.
// Constructed read-only (the default), every mutation answers kReadOnly.
//
// Inode numbers count up from 1 (the root) and are never reused; generations are 0. Every
// mutation moves the change attribute of what it touched (one counter for the whole tree) and
// sets ctime (and mtime for data and directory-entry changes) from the clock. Directory cookies
// are stable (assigned when an entry is added), so READDIR continues correctly across mutations.
// Bounds for fuzzing: a file size limit (kTooBig beyond it), a total data budget and an inode
// limit (kNoSpace).
//
// Thread-safety: every method is thread-safe (one mutex, never held across a co_await; each call
// completes immediately on the caller's executor). Faults can be injected per inode (FailInode).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "base/status.h"
#include "vfs/vfs.h"

namespace bucketfs::nfs::testing {

class MemoryFs : public vfs::FileSystem {
 public:
  static constexpr uint64_t kDefaultMaxFileSize = 16 << 20;
  static constexpr uint64_t kDefaultMaxTotalBytes = 64 << 20;
  static constexpr std::size_t kDefaultMaxInodes = 100000;

  explicit MemoryFs(bool read_only = true);

  // ---- Building and inspection (any time) ----
  vfs::InodeId AddDir(vfs::InodeId parent, const std::string& name, uint32_t mode = 0755);
  vfs::InodeId AddFile(vfs::InodeId parent, const std::string& name, std::string data,
                       uint32_t mode = 0644);
  vfs::InodeId AddSymlink(vfs::InodeId parent, const std::string& name, std::string target);
  // Every later call on `ino` fails with `code`.
  void FailInode(vfs::InodeId ino, ErrorCode code);
  void SetOwner(vfs::InodeId ino, uint32_t uid, uint32_t gid);
  void SetWriteVerifier(uint64_t verifier);
  void SetMaxFileSize(uint64_t bytes);
  // The clock for ctime/mtime/atime of mutations (default: the system clock).
  void SetClock(std::function<vfs::Timespec()> clock);
  // The bytes of a regular file or a symlink's target; nullopt for a missing inode.
  std::optional<std::string> Contents(vfs::InodeId ino) const;
  // How many times Closed(ino) / Commit(ino, ...) were called.
  int closed_count(vfs::InodeId ino) const;
  int commit_count(vfs::InodeId ino) const;
  std::size_t inode_count() const;

  // ---- vfs::FileSystem ----
  vfs::InodeId RootInode() const override { return 1; }
  bool ReadOnly() const override { return read_only_; }
  Awaitable<Result<vfs::Attr>> GetAttr(vfs::InodeId ino) override;
  Awaitable<Result<vfs::Attr>> Lookup(vfs::InodeId dir, std::string name) override;
  Awaitable<Result<vfs::Attr>> Parent(vfs::InodeId dir) override;
  Awaitable<Result<vfs::DirPage>> ReadDir(vfs::InodeId dir, uint64_t cookie,
                                          std::size_t max_entries) override;
  Awaitable<Result<vfs::Attr>> Open(vfs::InodeId ino) override;
  Awaitable<Result<vfs::ReadResult>> Read(vfs::InodeId ino, uint64_t offset,
                                          uint32_t count) override;
  Awaitable<Result<std::string>> ReadLink(vfs::InodeId ino) override;
  Awaitable<Result<vfs::FsStats>> StatFs() override;

  Awaitable<Result<vfs::Attr>> SetAttr(vfs::InodeId ino, vfs::SetAttrRequest request) override;
  Awaitable<Result<vfs::Attr>> Create(vfs::InodeId dir, std::string name,
                                      vfs::CreateRequest request) override;
  Awaitable<Result<vfs::WriteResult>> Write(vfs::InodeId ino, uint64_t offset, Bytes data,
                                            vfs::StableHow stable) override;
  Awaitable<Status> Commit(vfs::InodeId ino, uint64_t offset, uint64_t count) override;
  uint64_t WriteVerifier() const override;
  Awaitable<void> Closed(vfs::InodeId ino) override;
  Awaitable<Status> Remove(vfs::InodeId dir, std::string name) override;
  Awaitable<Status> Rename(vfs::InodeId src_dir, std::string src_name, vfs::InodeId dst_dir,
                           std::string dst_name) override;
  Awaitable<Result<vfs::Attr>> Link(vfs::InodeId ino, vfs::InodeId dir, std::string name) override;
  Awaitable<Result<uint64_t>> CopyRange(vfs::InodeId src, uint64_t src_offset, vfs::InodeId dst,
                                        uint64_t dst_offset, uint64_t count) override;
  Awaitable<Status> Deallocate(vfs::InodeId ino, uint64_t offset, uint64_t length) override;

 private:
  struct Entry {
    vfs::InodeId ino = 0;
    uint64_t cookie = 0;
  };
  struct Node {
    vfs::Attr attr;
    vfs::InodeId parent = 1;  // directories only (files may have several names)
    std::string data;         // file bytes or symlink target
    std::map<std::string, Entry> children;
    std::map<uint64_t, std::string> by_cookie;  // the same entries in cookie order
    uint64_t next_cookie = 3;                   // 0, 1 and 2 are reserved by NFSv4
    std::optional<uint64_t> verifier;           // exclusive create
    int closed = 0;
    int commits = 0;
  };

  // All of these expect mu_ held.
  Result<Node*> Find(vfs::InodeId ino);
  Result<const Node*> Find(vfs::InodeId ino) const;
  Result<Node*> FindDir(vfs::InodeId ino);
  Result<Node*> FindFile(vfs::InodeId ino);  // a regular file: kIsDir / kInvalidArgument
  vfs::Timespec Now() const;
  // A mutation of `n`: new change attribute and ctime (and mtime when `data`).
  void Touch(Node& n, bool data);
  void AddEntry(Node& dir, const std::string& name, vfs::InodeId ino);
  void RemoveEntry(Node& dir, const std::string& name);
  // Drops one name of `ino` (and the inode with its last name).
  void Unlink(vfs::InodeId ino);
  // Resizes a file's data within the bounds.
  Status Resize(Node& n, uint64_t size);
  vfs::InodeId AddLocked(vfs::InodeId parent, const std::string& name, vfs::FileType type,
                         uint32_t mode, std::string data);
  Status Writable() const;

  const bool read_only_;
  mutable std::mutex mu_;
  std::map<vfs::InodeId, Node> nodes_;
  std::map<vfs::InodeId, ErrorCode> failures_;
  vfs::InodeId next_ino_ = 2;
  uint64_t change_seq_ = 1;
  uint64_t total_bytes_ = 0;
  uint64_t max_file_size_ = kDefaultMaxFileSize;
  uint64_t max_total_bytes_ = kDefaultMaxTotalBytes;
  uint64_t write_verifier_ = 0x6275636b65746673;  // "bucketfs"
  std::function<vfs::Timespec()> clock_;
};

}  // namespace bucketfs::nfs::testing
