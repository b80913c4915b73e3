// MemoryFs: an in-memory vfs::FileSystem for nfs tests and fuzz targets. Build a tree with
// AddDir/AddFile/AddSymlink before serving; after that it is only read. Inode numbers count up
// from 1 (the root). Each call completes immediately on the caller's executor.
//
// Thread-safety: building is single-threaded; serving calls are const on the tree and safe to
// run concurrently. Faults can be injected per inode (FailInode) for error-path tests.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "vfs/vfs.h"

namespace bucketfs::nfs::testing {

class MemoryFs : public vfs::FileSystem {
 public:
  explicit MemoryFs(bool read_only = true) : read_only_(read_only) {
    Node root;
    root.attr = MakeAttr(1, vfs::FileType::kDirectory, 0755);
    root.attr.nlink = 2;
    nodes_.emplace(1, std::move(root));
  }

  vfs::InodeId AddDir(vfs::InodeId parent, const std::string& name, uint32_t mode = 0755) {
    return Add(parent, name, vfs::FileType::kDirectory, mode, "");
  }
  vfs::InodeId AddFile(vfs::InodeId parent, const std::string& name, std::string data,
                       uint32_t mode = 0644) {
    return Add(parent, name, vfs::FileType::kRegular, mode, std::move(data));
  }
  vfs::InodeId AddSymlink(vfs::InodeId parent, const std::string& name, std::string target) {
    return Add(parent, name, vfs::FileType::kSymlink, 0777, std::move(target));
  }
  // Every later call on `ino` fails with `code`.
  void FailInode(vfs::InodeId ino, ErrorCode code) {
    std::lock_guard lock(mu_);
    failures_[ino] = code;
  }
  void SetOwner(vfs::InodeId ino, uint32_t uid, uint32_t gid) {
    nodes_[ino].attr.uid = uid;
    nodes_[ino].attr.gid = gid;
  }

  vfs::InodeId RootInode() const override { return 1; }
  bool ReadOnly() const override { return read_only_; }

  Awaitable<Result<vfs::Attr>> GetAttr(vfs::InodeId ino) override { co_return Get(ino); }

  Awaitable<Result<vfs::Attr>> Lookup(vfs::InodeId dir, std::string name) override {
    auto d_r = FindPtr(dir);
    if (!d_r.ok()) co_return d_r.status();
    const Node* d = *d_r;
    if (d->attr.type != vfs::FileType::kDirectory) {
      co_return Status(ErrorCode::kNotDir, "not a directory");
    }
    auto it = d->children.find(name);
    if (it == d->children.end()) co_return NotFoundError(name);
    co_return Get(it->second);
  }

  Awaitable<Result<vfs::Attr>> Parent(vfs::InodeId dir) override {
    auto d_r = FindPtr(dir);
    if (!d_r.ok()) co_return d_r.status();
    const Node* d = *d_r;
    co_return Get(d->parent);
  }

  Awaitable<Result<vfs::DirPage>> ReadDir(vfs::InodeId dir, uint64_t cookie,
                                          std::size_t max_entries) override {
    auto d_r = FindPtr(dir);
    if (!d_r.ok()) co_return d_r.status();
    const Node* d = *d_r;
    if (d->attr.type != vfs::FileType::kDirectory) {
      co_return Status(ErrorCode::kNotDir, "not a directory");
    }
    vfs::DirPage page;
    page.verifier = 0x5eed;
    // Cookies are 3 + index in name order.
    uint64_t index = 0;
    for (const auto& [name, ino] : d->children) {
      uint64_t c = 3 + index++;
      if (cookie != 0 && c <= cookie) continue;
      if (page.entries.size() >= max_entries) co_return page;
      vfs::DirEntry e;
      e.name = name;
      e.attr = nodes_.at(ino).attr;
      e.cookie = c;
      page.entries.push_back(std::move(e));
    }
    page.eof = true;
    co_return page;
  }

  Awaitable<Result<vfs::Attr>> Open(vfs::InodeId ino) override { co_return Get(ino); }

  Awaitable<Result<vfs::ReadResult>> Read(vfs::InodeId ino, uint64_t offset,
                                          uint32_t count) override {
    auto n_r = FindPtr(ino);
    if (!n_r.ok()) co_return n_r.status();
    const Node* n = *n_r;
    if (n->attr.type == vfs::FileType::kDirectory) {
      co_return Status(ErrorCode::kIsDir, "is a directory");
    }
    vfs::ReadResult r;
    const std::string& data = n->data;
    if (offset < data.size()) {
      std::size_t len = std::min<std::size_t>(count, data.size() - offset);
      r.data.assign(data.begin() + static_cast<std::ptrdiff_t>(offset),
                    data.begin() + static_cast<std::ptrdiff_t>(offset + len));
    }
    r.eof = offset + r.data.size() >= data.size();
    co_return r;
  }

  Awaitable<Result<std::string>> ReadLink(vfs::InodeId ino) override {
    auto n_r = FindPtr(ino);
    if (!n_r.ok()) co_return n_r.status();
    const Node* n = *n_r;
    if (n->attr.type != vfs::FileType::kSymlink) {
      co_return InvalidArgumentError("not a symlink");
    }
    co_return n->data;
  }

  Awaitable<Result<vfs::FsStats>> StatFs() override {
    vfs::FsStats s;
    s.total_bytes = 1 << 30;
    s.free_bytes = 1 << 29;
    s.avail_bytes = 1 << 29;
    s.total_files = 1000;
    s.free_files = 1000 - nodes_.size();
    co_return s;
  }


  // ---- Mutations (vfs.h). The tree is built before serving, then only read.
  Awaitable<Result<vfs::Attr>> SetAttr(vfs::InodeId, vfs::SetAttrRequest) override {
    co_return ReadOnlyError();
  }
  Awaitable<Result<vfs::Attr>> Create(vfs::InodeId, std::string, vfs::CreateRequest) override {
    co_return ReadOnlyError();
  }
  Awaitable<Result<vfs::WriteResult>> Write(vfs::InodeId, uint64_t, Bytes,
                                            vfs::StableHow) override {
    co_return ReadOnlyError();
  }
  Awaitable<Status> Commit(vfs::InodeId, uint64_t, uint64_t) override { co_return ReadOnlyError(); }
  uint64_t WriteVerifier() const override { return 0; }
  Awaitable<void> Closed(vfs::InodeId) override { co_return; }
  Awaitable<Status> Remove(vfs::InodeId, std::string) override { co_return ReadOnlyError(); }
  Awaitable<Status> Rename(vfs::InodeId, std::string, vfs::InodeId, std::string) override {
    co_return ReadOnlyError();
  }
  Awaitable<Result<vfs::Attr>> Link(vfs::InodeId, vfs::InodeId, std::string) override {
    co_return ReadOnlyError();
  }
  Awaitable<Result<uint64_t>> CopyRange(vfs::InodeId, uint64_t, vfs::InodeId, uint64_t,
                                        uint64_t) override {
    co_return ReadOnlyError();
  }
  Awaitable<Status> Deallocate(vfs::InodeId, uint64_t, uint64_t) override {
    co_return ReadOnlyError();
  }

 private:
  static Status ReadOnlyError() { return Status(ErrorCode::kReadOnly, "read-only file system"); }
  struct Node {
    vfs::Attr attr;
    vfs::InodeId parent = 1;
    std::string data;  // file bytes or symlink target
    std::map<std::string, vfs::InodeId> children;
  };

  static vfs::Attr MakeAttr(vfs::InodeId ino, vfs::FileType type, uint32_t mode) {
    vfs::Attr a;
    a.ino = ino;
    a.type = type;
    a.mode = mode;
    a.uid = 1000;
    a.gid = 1000;
    a.mtime = {1700000000, 0};
    a.atime = a.mtime;
    a.ctime = a.mtime;
    a.change = 1;
    return a;
  }

  vfs::InodeId Add(vfs::InodeId parent, const std::string& name, vfs::FileType type, uint32_t mode,
                   std::string data) {
    vfs::InodeId ino = next_++;
    Node n;
    n.attr = MakeAttr(ino, type, mode);
    n.attr.size = data.size();
    n.attr.space_used = data.size();
    n.parent = parent;
    n.data = std::move(data);
    if (type == vfs::FileType::kDirectory) n.attr.nlink = 2;
    nodes_.emplace(ino, std::move(n));
    nodes_[parent].children[name] = ino;
    nodes_[parent].attr.change++;
    return ino;
  }

  Result<const Node*> FindPtr(vfs::InodeId ino) const {
    {
      std::lock_guard lock(mu_);
      auto f = failures_.find(ino);
      if (f != failures_.end()) return Status(f->second, "injected failure");
    }
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return Status(ErrorCode::kStale, "no such inode");
    return &it->second;
  }
  Result<vfs::Attr> Get(vfs::InodeId ino) const {
    auto r = FindPtr(ino);
    if (!r.ok()) return r.status();
    return (*r)->attr;
  }

  bool read_only_;
  vfs::InodeId next_ = 2;
  std::map<vfs::InodeId, Node> nodes_;
  mutable std::mutex mu_;
  std::map<vfs::InodeId, ErrorCode> failures_;
};

}  // namespace bucketfs::nfs::testing
