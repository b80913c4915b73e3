#include "nfs/testing/memory_fs.h"

#include <algorithm>
#include <chrono>
#include <vector>

namespace bucketfs::nfs::testing {
namespace {

constexpr vfs::Timespec kBuildTime{1700000000, 0};

Status NotDirError() { return Status(ErrorCode::kNotDir, "not a directory"); }
Status IsDirError() { return Status(ErrorCode::kIsDir, "is a directory"); }

Status CheckName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
    return InvalidArgumentError("bad name");
  }
  if (name.size() > 255) return Status(ErrorCode::kNameTooLong, "name too long");
  return Status::Ok();
}

vfs::Timespec SystemNow() {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return vfs::Timespec{ns / 1000000000, static_cast<uint32_t>(ns % 1000000000)};
}

}  // namespace

MemoryFs::MemoryFs(bool read_only) : read_only_(read_only), clock_(SystemNow) {
  Node root;
  root.attr.ino = 1;
  root.attr.type = vfs::FileType::kDirectory;
  root.attr.mode = 0755;
  root.attr.uid = 1000;
  root.attr.gid = 1000;
  root.attr.nlink = 2;
  root.attr.atime = root.attr.mtime = root.attr.ctime = kBuildTime;
  root.attr.change = change_seq_;
  nodes_.emplace(1, std::move(root));
}

// ---- Building and inspection ----

vfs::InodeId MemoryFs::AddDir(vfs::InodeId parent, const std::string& name, uint32_t mode) {
  std::lock_guard lock(mu_);
  return AddLocked(parent, name, vfs::FileType::kDirectory, mode, "");
}

vfs::InodeId MemoryFs::AddFile(vfs::InodeId parent, const std::string& name, std::string data,
                               uint32_t mode) {
  std::lock_guard lock(mu_);
  return AddLocked(parent, name, vfs::FileType::kRegular, mode, std::move(data));
}

vfs::InodeId MemoryFs::AddSymlink(vfs::InodeId parent, const std::string& name,
                                  std::string target) {
  std::lock_guard lock(mu_);
  return AddLocked(parent, name, vfs::FileType::kSymlink, 0777, std::move(target));
}

vfs::InodeId MemoryFs::AddLocked(vfs::InodeId parent, const std::string& name, vfs::FileType type,
                                 uint32_t mode, std::string data) {
  const vfs::InodeId ino = next_ino_++;
  Node n;
  n.attr.ino = ino;
  n.attr.type = type;
  n.attr.mode = mode;
  n.attr.uid = 1000;
  n.attr.gid = 1000;
  n.attr.nlink = type == vfs::FileType::kDirectory ? 2 : 1;
  n.attr.size = n.attr.space_used = data.size();
  n.attr.atime = n.attr.mtime = n.attr.ctime = kBuildTime;
  n.attr.change = ++change_seq_;
  n.parent = parent;
  if (type == vfs::FileType::kRegular) total_bytes_ += data.size();
  n.data = std::move(data);
  nodes_.emplace(ino, std::move(n));
  Node& p = nodes_.at(parent);
  RemoveEntry(p, name);
  AddEntry(p, name, ino);
  if (type == vfs::FileType::kDirectory) ++p.attr.nlink;
  p.attr.change = ++change_seq_;
  return ino;
}

void MemoryFs::FailInode(vfs::InodeId ino, ErrorCode code) {
  std::lock_guard lock(mu_);
  failures_[ino] = code;
}

void MemoryFs::SetOwner(vfs::InodeId ino, uint32_t uid, uint32_t gid) {
  std::lock_guard lock(mu_);
  Node& n = nodes_.at(ino);
  n.attr.uid = uid;
  n.attr.gid = gid;
}

void MemoryFs::SetWriteVerifier(uint64_t verifier) {
  std::lock_guard lock(mu_);
  write_verifier_ = verifier;
}

void MemoryFs::SetMaxFileSize(uint64_t bytes) {
  std::lock_guard lock(mu_);
  max_file_size_ = bytes;
}

void MemoryFs::SetClock(std::function<vfs::Timespec()> clock) {
  std::lock_guard lock(mu_);
  clock_ = std::move(clock);
}

std::optional<std::string> MemoryFs::Contents(vfs::InodeId ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.data;
}

int MemoryFs::closed_count(vfs::InodeId ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? 0 : it->second.closed;
}

int MemoryFs::commit_count(vfs::InodeId ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? 0 : it->second.commits;
}

std::size_t MemoryFs::inode_count() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

// ---- Helpers (mu_ held) ----

Result<MemoryFs::Node*> MemoryFs::Find(vfs::InodeId ino) {
  auto f = failures_.find(ino);
  if (f != failures_.end()) return Status(f->second, "injected failure");
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return Status(ErrorCode::kStale, "no such inode");
  return &it->second;
}

Result<const MemoryFs::Node*> MemoryFs::Find(vfs::InodeId ino) const {
  auto r = const_cast<MemoryFs*>(this)->Find(ino);
  if (!r.ok()) return r.status();
  return static_cast<const Node*>(*r);
}

Result<MemoryFs::Node*> MemoryFs::FindDir(vfs::InodeId ino) {
  auto r = Find(ino);
  if (r.ok() && (*r)->attr.type != vfs::FileType::kDirectory) return NotDirError();
  return r;
}

Result<MemoryFs::Node*> MemoryFs::FindFile(vfs::InodeId ino) {
  auto r = Find(ino);
  if (!r.ok()) return r;
  if ((*r)->attr.type == vfs::FileType::kDirectory) return IsDirError();
  if ((*r)->attr.type != vfs::FileType::kRegular) return InvalidArgumentError("not a file");
  return r;
}

vfs::Timespec MemoryFs::Now() const { return clock_(); }

void MemoryFs::Touch(Node& n, bool data) {
  n.attr.change = ++change_seq_;
  n.attr.ctime = Now();
  if (data) n.attr.mtime = n.attr.ctime;
}

void MemoryFs::AddEntry(Node& dir, const std::string& name, vfs::InodeId ino) {
  const uint64_t cookie = dir.next_cookie++;
  dir.children[name] = Entry{ino, cookie};
  dir.by_cookie[cookie] = name;
}

void MemoryFs::RemoveEntry(Node& dir, const std::string& name) {
  auto it = dir.children.find(name);
  if (it == dir.children.end()) return;
  dir.by_cookie.erase(it->second.cookie);
  dir.children.erase(it);
}

void MemoryFs::Unlink(vfs::InodeId ino) {
  Node& n = nodes_.at(ino);
  if (n.attr.nlink > 1 && n.attr.type != vfs::FileType::kDirectory) {
    --n.attr.nlink;
    Touch(n, false);
    return;
  }
  if (n.attr.type == vfs::FileType::kRegular) total_bytes_ -= n.data.size();
  nodes_.erase(ino);
}

Status MemoryFs::Resize(Node& n, uint64_t size) {
  if (size > max_file_size_) return Status(ErrorCode::kTooBig, "file too large");
  if (size > n.data.size() && size - n.data.size() > max_total_bytes_ - total_bytes_) {
    return Status(ErrorCode::kNoSpace, "memory budget exhausted");
  }
  total_bytes_ = total_bytes_ - n.data.size() + size;
  n.data.resize(size, '\0');
  n.attr.size = n.attr.space_used = size;
  return Status::Ok();
}

Status MemoryFs::Writable() const {
  if (read_only_) return Status(ErrorCode::kReadOnly, "read-only file system");
  return Status::Ok();
}

// ---- Reads ----

Awaitable<Result<vfs::Attr>> MemoryFs::GetAttr(vfs::InodeId ino) {
  std::lock_guard lock(mu_);
  auto n = Find(ino);
  if (!n.ok()) co_return n.status();
  co_return (*n)->attr;
}

Awaitable<Result<vfs::Attr>> MemoryFs::Lookup(vfs::InodeId dir, std::string name) {
  std::lock_guard lock(mu_);
  auto d = FindDir(dir);
  if (!d.ok()) co_return d.status();
  auto it = (*d)->children.find(name);
  if (it == (*d)->children.end()) co_return NotFoundError(name);
  auto n = Find(it->second.ino);
  if (!n.ok()) co_return n.status();
  co_return (*n)->attr;
}

Awaitable<Result<vfs::Attr>> MemoryFs::Parent(vfs::InodeId dir) {
  std::lock_guard lock(mu_);
  auto d = Find(dir);
  if (!d.ok()) co_return d.status();
  auto p = Find((*d)->parent);
  if (!p.ok()) co_return p.status();
  co_return (*p)->attr;
}

Awaitable<Result<vfs::DirPage>> MemoryFs::ReadDir(vfs::InodeId dir, uint64_t cookie,
                                                  std::size_t max_entries) {
  std::lock_guard lock(mu_);
  auto d = FindDir(dir);
  if (!d.ok()) co_return d.status();
  vfs::DirPage page;
  page.verifier = 0x5eed;  // cookies stay valid across changes
  for (auto it = (*d)->by_cookie.upper_bound(cookie); it != (*d)->by_cookie.end(); ++it) {
    if (page.entries.size() >= max_entries) co_return page;
    vfs::DirEntry e;
    e.name = it->second;
    e.attr = nodes_.at((*d)->children.at(it->second).ino).attr;
    e.cookie = it->first;
    page.entries.push_back(std::move(e));
  }
  page.eof = true;
  co_return page;
}

Awaitable<Result<vfs::Attr>> MemoryFs::Open(vfs::InodeId ino) { co_return co_await GetAttr(ino); }

Awaitable<Result<vfs::ReadResult>> MemoryFs::Read(vfs::InodeId ino, uint64_t offset,
                                                  uint32_t count) {
  std::lock_guard lock(mu_);
  auto n = Find(ino);
  if (!n.ok()) co_return n.status();
  if ((*n)->attr.type == vfs::FileType::kDirectory) co_return IsDirError();
  vfs::ReadResult r;
  const std::string& data = (*n)->data;
  if (offset < data.size()) {
    const std::size_t len = std::min<std::size_t>(count, data.size() - offset);
    r.data.assign(data.begin() + static_cast<std::ptrdiff_t>(offset),
                  data.begin() + static_cast<std::ptrdiff_t>(offset + len));
  }
  r.eof = offset + r.data.size() >= data.size();
  co_return r;
}

Awaitable<Result<std::string>> MemoryFs::ReadLink(vfs::InodeId ino) {
  std::lock_guard lock(mu_);
  auto n = Find(ino);
  if (!n.ok()) co_return n.status();
  if ((*n)->attr.type != vfs::FileType::kSymlink) co_return InvalidArgumentError("not a symlink");
  co_return (*n)->data;
}

Awaitable<Result<vfs::FsStats>> MemoryFs::StatFs() {
  std::lock_guard lock(mu_);
  vfs::FsStats s;
  s.total_bytes = max_total_bytes_;
  s.free_bytes = s.avail_bytes = max_total_bytes_ - total_bytes_;
  s.total_files = kDefaultMaxInodes;
  s.free_files = kDefaultMaxInodes - std::min(nodes_.size(), kDefaultMaxInodes);
  co_return s;
}

// ---- Mutations ----

Awaitable<Result<vfs::Attr>> MemoryFs::SetAttr(vfs::InodeId ino, vfs::SetAttrRequest request) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  auto found = Find(ino);
  if (!found.ok()) co_return found.status();
  Node& n = **found;
  if (request.size) {
    if (n.attr.type == vfs::FileType::kDirectory) co_return IsDirError();
    if (n.attr.type != vfs::FileType::kRegular) co_return InvalidArgumentError("not a file");
    if (Status s = Resize(n, *request.size); !s.ok()) co_return s;
  }
  Touch(n, request.size.has_value());
  if (request.mode) n.attr.mode = *request.mode & 07777;
  if (request.uid) n.attr.uid = *request.uid;
  if (request.gid) n.attr.gid = *request.gid;
  if (request.atime_now) n.attr.atime = n.attr.ctime;
  if (request.atime) n.attr.atime = *request.atime;
  if (request.mtime_now) n.attr.mtime = n.attr.ctime;
  if (request.mtime) n.attr.mtime = *request.mtime;
  co_return n.attr;
}

Awaitable<Result<vfs::Attr>> MemoryFs::Create(vfs::InodeId dir, std::string name,
                                              vfs::CreateRequest request) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  if (Status s = CheckName(name); !s.ok()) co_return s;
  auto d = FindDir(dir);
  if (!d.ok()) co_return d.status();
  if (auto it = (*d)->children.find(name); it != (*d)->children.end()) {
    Node& existing = nodes_.at(it->second.ino);
    // An exclusive create retransmitted (vfs.h CreateRequest::verifier).
    if (request.verifier && existing.verifier == request.verifier &&
        existing.attr.type == request.type) {
      co_return existing.attr;
    }
    co_return Status(ErrorCode::kExists, name);
  }
  if (nodes_.size() >= kDefaultMaxInodes) co_return Status(ErrorCode::kNoSpace, "no inodes");
  if (request.type == vfs::FileType::kSymlink && request.symlink_target.empty()) {
    co_return InvalidArgumentError("empty symlink target");
  }
  if (request.attrs.size && request.type != vfs::FileType::kRegular) {
    co_return InvalidArgumentError("size of a non-file");
  }
  const vfs::SetAttrRequest& a = request.attrs;
  Node n;
  const vfs::Timespec now = Now();
  n.attr.ino = next_ino_;
  n.attr.type = request.type;
  const uint32_t default_mode = request.type == vfs::FileType::kDirectory ? 0755
                                : request.type == vfs::FileType::kSymlink ? 0777
                                                                          : 0644;
  n.attr.mode = a.mode.value_or(default_mode) & 07777;
  n.attr.uid = a.uid.value_or(0);
  n.attr.gid = a.gid.value_or(0);
  n.attr.nlink = request.type == vfs::FileType::kDirectory ? 2 : 1;
  n.attr.ctime = now;
  n.attr.atime = a.atime && !a.atime_now ? *a.atime : now;
  n.attr.mtime = a.mtime && !a.mtime_now ? *a.mtime : now;
  n.attr.change = ++change_seq_;
  n.parent = dir;
  n.verifier = request.verifier;
  if (request.type == vfs::FileType::kSymlink) {
    n.data = std::move(request.symlink_target);
    n.attr.size = n.attr.space_used = n.data.size();
  } else if (a.size) {
    if (Status s = Resize(n, *a.size); !s.ok()) co_return s;
  }
  const vfs::InodeId ino = next_ino_++;
  const vfs::Attr attr = n.attr;
  nodes_.emplace(ino, std::move(n));
  Node& parent = **d;
  AddEntry(parent, name, ino);
  if (request.type == vfs::FileType::kDirectory) ++parent.attr.nlink;
  Touch(parent, true);
  co_return attr;
}

Awaitable<Result<vfs::WriteResult>> MemoryFs::Write(vfs::InodeId ino, uint64_t offset, Bytes data,
                                                    vfs::StableHow stable) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  auto f = FindFile(ino);
  if (!f.ok()) co_return f.status();
  Node& n = **f;
  if (offset > max_file_size_ || data.size() > max_file_size_ - offset) {
    co_return Status(ErrorCode::kTooBig, "file too large");
  }
  const uint64_t end = offset + data.size();
  if (end > n.data.size()) {
    if (Status s = Resize(n, end); !s.ok()) co_return s;
  }
  std::copy(data.begin(), data.end(), n.data.begin() + static_cast<std::ptrdiff_t>(offset));
  Touch(n, true);
  vfs::WriteResult r;
  r.count = static_cast<uint32_t>(data.size());
  r.committed =
      stable == vfs::StableHow::kUnstable ? vfs::StableHow::kUnstable : vfs::StableHow::kFileSync;
  co_return r;
}

Awaitable<Status> MemoryFs::Commit(vfs::InodeId ino, uint64_t offset, uint64_t count) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  auto f = FindFile(ino);
  if (!f.ok()) co_return f.status();
  ++(*f)->commits;
  co_return Status::Ok();
}

uint64_t MemoryFs::WriteVerifier() const {
  std::lock_guard lock(mu_);
  return write_verifier_;
}

Awaitable<void> MemoryFs::Closed(vfs::InodeId ino) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it != nodes_.end()) ++it->second.closed;
  co_return;
}

Awaitable<Status> MemoryFs::Remove(vfs::InodeId dir, std::string name) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  if (Status s = CheckName(name); !s.ok()) co_return s;
  auto d = FindDir(dir);
  if (!d.ok()) co_return d.status();
  Node& parent = **d;
  auto it = parent.children.find(name);
  if (it == parent.children.end()) co_return NotFoundError(name);
  const vfs::InodeId ino = it->second.ino;
  Node& target = nodes_.at(ino);
  if (target.attr.type == vfs::FileType::kDirectory) {
    if (!target.children.empty()) co_return Status(ErrorCode::kNotEmpty, name);
    --parent.attr.nlink;
  }
  RemoveEntry(parent, name);
  Unlink(ino);
  Touch(parent, true);
  co_return Status::Ok();
}

Awaitable<Status> MemoryFs::Rename(vfs::InodeId src_dir, std::string src_name, vfs::InodeId dst_dir,
                                   std::string dst_name) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  if (Status s = CheckName(src_name); !s.ok()) co_return s;
  if (Status s = CheckName(dst_name); !s.ok()) co_return s;
  auto sd = FindDir(src_dir);
  if (!sd.ok()) co_return sd.status();
  auto dd = FindDir(dst_dir);
  if (!dd.ok()) co_return dd.status();
  Node& src = **sd;
  Node& dst = **dd;
  auto from = src.children.find(src_name);
  if (from == src.children.end()) co_return NotFoundError(src_name);
  const vfs::InodeId ino = from->second.ino;
  if (src_dir == dst_dir && src_name == dst_name) co_return Status::Ok();
  Node& moving = nodes_.at(ino);
  const bool is_dir = moving.attr.type == vfs::FileType::kDirectory;
  if (is_dir) {
    // Into its own subtree: walk up from the target directory to the root.
    for (vfs::InodeId p = dst_dir;; p = nodes_.at(p).parent) {
      if (p == ino) co_return InvalidArgumentError("rename into own subtree");
      if (p == RootInode()) break;
    }
  }
  if (auto to = dst.children.find(dst_name); to != dst.children.end()) {
    const vfs::InodeId victim = to->second.ino;
    if (victim == ino) co_return Status::Ok();  // two names of one file: nothing to do
    Node& v = nodes_.at(victim);
    const bool victim_dir = v.attr.type == vfs::FileType::kDirectory;
    if (is_dir && !victim_dir) co_return NotDirError();
    if (!is_dir && victim_dir) co_return IsDirError();
    if (victim_dir && !v.children.empty()) co_return Status(ErrorCode::kNotEmpty, dst_name);
    if (victim_dir) --dst.attr.nlink;
    RemoveEntry(dst, dst_name);
    Unlink(victim);
  }
  RemoveEntry(src, src_name);
  AddEntry(dst, dst_name, ino);
  if (is_dir && src_dir != dst_dir) {
    --src.attr.nlink;
    ++dst.attr.nlink;
    moving.parent = dst_dir;
  }
  Touch(src, true);
  if (src_dir != dst_dir) Touch(dst, true);
  Touch(moving, false);
  co_return Status::Ok();
}

Awaitable<Result<vfs::Attr>> MemoryFs::Link(vfs::InodeId ino, vfs::InodeId dir, std::string name) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  if (Status s = CheckName(name); !s.ok()) co_return s;
  auto f = Find(ino);
  if (!f.ok()) co_return f.status();
  if ((*f)->attr.type == vfs::FileType::kDirectory) co_return IsDirError();
  auto d = FindDir(dir);
  if (!d.ok()) co_return d.status();
  if ((*d)->children.count(name)) co_return Status(ErrorCode::kExists, name);
  AddEntry(**d, name, ino);
  ++(*f)->attr.nlink;
  Touch(**f, false);
  Touch(**d, true);
  co_return (*f)->attr;
}

Awaitable<Result<uint64_t>> MemoryFs::CopyRange(vfs::InodeId src, uint64_t src_offset,
                                                vfs::InodeId dst, uint64_t dst_offset,
                                                uint64_t count) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  auto s = FindFile(src);
  if (!s.ok()) co_return s.status();
  auto d = FindFile(dst);
  if (!d.ok()) co_return d.status();
  const std::string& from = (*s)->data;
  if (src_offset >= from.size()) co_return uint64_t{0};
  const uint64_t available = from.size() - src_offset;
  const uint64_t n = count == 0 ? available : std::min(count, available);
  if (dst_offset > max_file_size_ || n > max_file_size_ - dst_offset) {
    co_return Status(ErrorCode::kTooBig, "file too large");
  }
  // Copy out first: source and destination may be one file.
  std::string chunk = from.substr(src_offset, n);
  Node& to = **d;
  if (dst_offset + n > to.data.size()) {
    if (Status st = Resize(to, dst_offset + n); !st.ok()) co_return st;
  }
  std::copy(chunk.begin(), chunk.end(), to.data.begin() + static_cast<std::ptrdiff_t>(dst_offset));
  Touch(to, true);
  co_return n;
}

Awaitable<Status> MemoryFs::Deallocate(vfs::InodeId ino, uint64_t offset, uint64_t length) {
  std::lock_guard lock(mu_);
  if (Status w = Writable(); !w.ok()) co_return w;
  auto f = FindFile(ino);
  if (!f.ok()) co_return f.status();
  Node& n = **f;
  if (offset < n.data.size()) {
    const uint64_t end = length > n.data.size() - offset ? n.data.size() : offset + length;
    std::fill(n.data.begin() + static_cast<std::ptrdiff_t>(offset),
              n.data.begin() + static_cast<std::ptrdiff_t>(end), '\0');
  }
  Touch(n, true);
  co_return Status::Ok();
}

}  // namespace bucketfs::nfs::testing
