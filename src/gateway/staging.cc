#include "gateway/staging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iomanip>
#include <sstream>

namespace bucketfs::gateway {
namespace {

constexpr const char* kStateMagic = "bucketfs-staged 1";

Status ErrnoStatus(const std::string& what, int err) {
  ErrorCode code = (err == ENOSPC || err == EDQUOT) ? ErrorCode::kNoSpace : ErrorCode::kIo;
  return Status(code, what + ": " + std::strerror(err));
}

Status PwriteAll(int fd, const uint8_t* p, uint64_t n, uint64_t offset, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write " + path, errno);
    }
    p += w;
    n -= static_cast<uint64_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return Status::Ok();
}

Status FsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? Status::Ok() : ErrnoStatus("fsync " + dir, err);
}

void PutOpt(std::ostringstream& out, const char* name, const std::optional<uint32_t>& v) {
  if (v) out << name << ' ' << *v << '\n';
}

}  // namespace

// ---- ExtentSet ----

void ExtentSet::Add(uint64_t start, uint64_t end) {
  if (start >= end) return;
  auto it = map_.upper_bound(start);
  if (it != map_.begin()) {
    auto prev = std::prev(it);
    if (prev->second >= start) {
      start = prev->first;
      end = std::max(end, prev->second);
      it = map_.erase(prev);
    }
  }
  while (it != map_.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = map_.erase(it);
  }
  map_.emplace(start, end);
}

void ExtentSet::Clip(uint64_t size) {
  auto it = map_.lower_bound(size);
  map_.erase(it, map_.end());
  if (!map_.empty()) {
    auto last = std::prev(map_.end());
    last->second = std::min(last->second, size);
    if (last->first >= last->second) map_.erase(last);
  }
}

std::vector<std::pair<uint64_t, uint64_t>> ExtentSet::Gaps(uint64_t start, uint64_t end) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  uint64_t pos = start;
  auto it = map_.upper_bound(start);
  if (it != map_.begin()) --it;
  for (; it != map_.end() && it->first < end; ++it) {
    if (it->second <= pos) continue;
    if (it->first > pos) out.emplace_back(pos, std::min(it->first, end));
    pos = std::max(pos, it->second);
    if (pos >= end) break;
  }
  if (pos < end) out.emplace_back(pos, end);
  return out;
}

bool ExtentSet::Intersects(uint64_t start, uint64_t end) const {
  auto gaps = Gaps(start, end);
  return !(gaps.size() == 1 && gaps[0].first == start && gaps[0].second == end);
}

uint64_t ExtentSet::bytes() const {
  uint64_t n = 0;
  for (const auto& [s, e] : map_) n += e - s;
  return n;
}

// ---- StagedFile ----

Result<StagedState> ReadStagedState(const std::string& state_path) {
  std::ifstream in(state_path);
  if (!in) return NotFoundError("no staging state " + state_path);
  std::string line;
  if (!std::getline(in, line) || line != kStateMagic) {
    return IoError("damaged staging state " + state_path);
  }
  StagedState st;
  std::string word;
  bool complete = false;
  while (in >> word) {
    if (word == "size") {
      in >> st.size;
    } else if (word == "base_size") {
      in >> st.base.size;
    } else if (word == "base_limit") {
      in >> st.base.limit;
    } else if (word == "base_etag") {
      in >> std::quoted(st.base.etag);
    } else if (word == "mode" || word == "uid" || word == "gid") {
      uint32_t v = 0;
      in >> v;
      (word == "mode" ? st.meta.mode : word == "uid" ? st.meta.uid : st.meta.gid) = v;
    } else if (word == "mtime") {
      vfs::Timespec t;
      in >> t.sec >> t.nsec;
      st.meta.mtime = t;
    } else if (word == "extent") {
      uint64_t s = 0, e = 0;
      in >> s >> e;
      st.dirty.Add(s, e);
    } else if (word == "end") {
      complete = true;
      break;
    } else {
      return IoError("damaged staging state " + state_path + ": unknown field " + word);
    }
    if (!in) return IoError("damaged staging state " + state_path);
  }
  if (!complete) return IoError("truncated staging state " + state_path);
  return st;
}

StagedFile::StagedFile(std::string dir, uint64_t ino, int fd)
    : dir_(std::move(dir)), ino_(ino), fd_(fd) {}

StagedFile::~StagedFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string StagedFile::DataPath() const { return dir_ + "/" + std::to_string(ino_) + ".data"; }
std::string StagedFile::StatePath() const { return dir_ + "/" + std::to_string(ino_) + ".state"; }

Result<std::shared_ptr<StagedFile>> StagedFile::Create(const std::string& dir, uint64_t ino,
                                                       uint64_t size, StagedBase base,
                                                       PosixMeta meta) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return IoError("cannot create staging directory " + dir + ": " + ec.message());
  std::string path = dir + "/" + std::to_string(ino) + ".data";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + path, errno);
  std::shared_ptr<StagedFile> f(new StagedFile(dir, ino, fd));
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0) return ErrnoStatus("truncate " + path, errno);
  f->state_.size = size;
  base.limit = std::min({base.limit, base.size, size});
  f->state_.base = std::move(base);
  f->state_.meta = std::move(meta);
  f->state_.version = 1;
  return f;
}

Result<std::shared_ptr<StagedFile>> StagedFile::Recover(const std::string& dir, uint64_t ino) {
  BFS_ASSIGN_OR_RETURN(StagedState st, ReadStagedState(dir + "/" + std::to_string(ino) + ".state"));
  std::string path = dir + "/" + std::to_string(ino) + ".data";
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open " + path, errno);
  std::shared_ptr<StagedFile> f(new StagedFile(dir, ino, fd));
  struct stat sb {};
  if (::fstat(fd, &sb) != 0) return ErrnoStatus("stat " + path, errno);
  // Data written after the last Sync() may or may not be there; the synced size is the truth.
  if (static_cast<uint64_t>(sb.st_size) != st.size &&
      ::ftruncate(fd, static_cast<off_t>(st.size)) != 0) {
    return ErrnoStatus("truncate " + path, errno);
  }
  st.version = 1;
  f->state_ = std::move(st);
  return f;
}

Status StagedFile::Write(uint64_t offset, ByteView data, vfs::Timespec mtime) {
  std::lock_guard lock(mu_);
  if (discarded_) return Status(ErrorCode::kStale, "file was removed");
  state_.meta.mtime = mtime;
  BFS_RETURN_IF_ERROR(PwriteAll(fd_, data.data(), data.size(), offset, DataPath()));
  state_.dirty.Add(offset, offset + data.size());
  state_.size = std::max(state_.size, offset + data.size());
  ++state_.version;
  return Status::Ok();
}

Status StagedFile::Truncate(uint64_t size) {
  std::lock_guard lock(mu_);
  if (discarded_) return Status(ErrorCode::kStale, "file was removed");
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return ErrnoStatus("truncate " + DataPath(), errno);
  }
  trunc_floor_ = std::min(trunc_floor_, size);
  if (size < state_.size) {
    state_.dirty.Clip(size);
    state_.base.limit = std::min(state_.base.limit, size);
  }
  state_.size = size;
  ++state_.version;
  return Status::Ok();
}

Status StagedFile::Zero(uint64_t offset, uint64_t len) {
  std::lock_guard lock(mu_);
  if (discarded_) return Status(ErrorCode::kStale, "file was removed");
  if (offset >= state_.size) return Status::Ok();
  len = std::min(len, state_.size - offset);
  if (::fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
                  static_cast<off_t>(len)) != 0) {
    // No hole punching here: write the zeros.
    std::vector<uint8_t> zeros(std::min<uint64_t>(len, 1 << 20), 0);
    for (uint64_t done = 0; done < len;) {
      uint64_t n = std::min<uint64_t>(zeros.size(), len - done);
      BFS_RETURN_IF_ERROR(PwriteAll(fd_, zeros.data(), n, offset + done, DataPath()));
      done += n;
    }
  }
  state_.dirty.Add(offset, offset + len);
  ++state_.version;
  return Status::Ok();
}

void StagedFile::SetMeta(const PosixMeta& meta) {
  std::lock_guard lock(mu_);
  state_.meta = meta;
  ++state_.version;
}

Result<Bytes> StagedFile::ReadLocal(uint64_t offset, uint64_t len) const {
  std::lock_guard lock(mu_);
  if (offset >= state_.size) return Bytes();
  len = std::min(len, state_.size - offset);
  Bytes out(len);
  uint64_t done = 0;
  while (done < len) {
    ssize_t r = ::pread(fd_, out.data() + done, len - done, static_cast<off_t>(offset + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("read " + DataPath(), errno);
    }
    if (r == 0) break;  // a hole at the end of a sparse file reads as zeros: keep them
    done += static_cast<uint64_t>(r);
  }
  return out;
}

std::vector<std::pair<uint64_t, uint64_t>> StagedFile::BaseGaps(uint64_t offset,
                                                                uint64_t len) const {
  std::lock_guard lock(mu_);
  uint64_t end = std::min({offset + len, state_.size, state_.base.limit});
  if (offset >= end) return {};
  return state_.dirty.Gaps(offset, end);
}

StagedState StagedFile::State() const {
  std::lock_guard lock(mu_);
  return state_;
}

StagedState StagedFile::SnapshotForUpload() {
  std::lock_guard lock(mu_);
  trunc_floor_ = UINT64_MAX;
  return state_;
}

void StagedFile::Rebase(const StagedState& snapshot, const std::string& etag) {
  std::lock_guard lock(mu_);
  if (discarded_) return;
  state_.base.etag = etag;
  state_.base.size = snapshot.size;
  state_.base.limit = std::min({snapshot.size, trunc_floor_, state_.size});
  // Bytes dirty in the snapshot are in the new object unless rewritten since; keeping every
  // current extent dirty is always right (the staging file has their latest bytes).
}

void StagedFile::SetBaseEtag(const std::string& old_etag, const std::string& new_etag) {
  std::lock_guard lock(mu_);
  if (!state_.base.etag.empty() && state_.base.etag == old_etag) state_.base.etag = new_etag;
}

bool StagedFile::discarded() const {
  std::lock_guard lock(mu_);
  return discarded_;
}

uint64_t StagedFile::size() const {
  std::lock_guard lock(mu_);
  return state_.size;
}

uint64_t StagedFile::version() const {
  std::lock_guard lock(mu_);
  return state_.version;
}

uint64_t StagedFile::dirty_bytes() const {
  std::lock_guard lock(mu_);
  return state_.dirty.bytes();
}

Status StagedFile::WriteStateLocked() const {
  std::ostringstream out;
  out << kStateMagic << '\n';
  out << "size " << state_.size << '\n';
  out << "base_size " << state_.base.size << '\n';
  out << "base_limit " << state_.base.limit << '\n';
  out << "base_etag " << std::quoted(state_.base.etag) << '\n';
  PutOpt(out, "mode", state_.meta.mode);
  PutOpt(out, "uid", state_.meta.uid);
  PutOpt(out, "gid", state_.meta.gid);
  if (state_.meta.mtime)
    out << "mtime " << state_.meta.mtime->sec << ' ' << state_.meta.mtime->nsec << '\n';
  for (const auto& [s, e] : state_.dirty.ranges()) out << "extent " << s << ' ' << e << '\n';
  out << "end\n";
  const std::string text = out.str();
  const std::string tmp = StatePath() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + tmp, errno);
  Status s = PwriteAll(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0, tmp);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync " + tmp, errno);
  ::close(fd);
  if (!s.ok()) return s;
  if (::rename(tmp.c_str(), StatePath().c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  return FsyncDir(dir_);
}

Status StagedFile::Sync() {
  std::lock_guard lock(mu_);
  if (discarded_) return Status::Ok();
  if (::fdatasync(fd_) != 0) return ErrnoStatus("fsync " + DataPath(), errno);
  return WriteStateLocked();
}

bool StagedFile::MarkUploaded(uint64_t version, const std::string& etag) {
  std::lock_guard lock(mu_);
  if (discarded_ || state_.version != version) return false;
  discarded_ = true;
  state_.base = StagedBase{etag, state_.size, state_.size};
  state_.dirty = {};
  return true;
}

void StagedFile::RemoveFiles() {
  std::lock_guard lock(mu_);
  if (!discarded_) return;
  ::unlink(StatePath().c_str());
  ::unlink(DataPath().c_str());
}

void StagedFile::Discard() {
  std::lock_guard lock(mu_);
  discarded_ = true;
  ::unlink(StatePath().c_str());
  ::unlink(DataPath().c_str());
}

namespace {

// The staging files in `dir` (.data, .state, .state.tmp) of the inodes `want` selects, by inode.
std::map<uint64_t, std::vector<std::filesystem::path>> StagingFiles(
    const std::string& dir, const std::function<bool(uint64_t)>& want) {
  std::error_code ec;
  std::map<uint64_t, std::vector<std::filesystem::path>> out;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    uint64_t ino = 0;
    auto [p, err] = std::from_chars(name.data(), name.data() + name.size(), ino);
    if (err != std::errc() || p == name.data()) continue;
    std::string_view suffix(p, name.data() + name.size() - p);
    if (suffix != ".data" && suffix != ".state" && suffix != ".state.tmp") continue;
    if (want(ino)) out[ino].push_back(e.path());
  }
  return out;
}

std::function<bool(uint64_t)> NotIn(const std::vector<uint64_t>& v) {
  return [&v](uint64_t ino) { return std::find(v.begin(), v.end(), ino) == v.end(); };
}

// One line of KEPT.txt: what the staged files of `ino` (now in `dir`) hold.
std::string DescribeKept(const std::string& dir, uint64_t ino) {
  std::ostringstream out;
  out << "inode " << ino << ": ";
  const std::string data = dir + "/" + std::to_string(ino) + ".data";
  if (!std::filesystem::exists(data)) {
    out << "no " << ino << ".data (nothing to recover)\n";
    return out.str();
  }
  auto st = ReadStagedState(dir + "/" + std::to_string(ino) + ".state");
  if (!st.ok()) {
    out << (st.status().code() == ErrorCode::kNotFound
                ? "no state file: never COMMITted (unacknowledged writes, may be incomplete)"
                : st.status().message())
        << "; " << ino << ".data has the bytes as written\n";
    return out.str();
  }
  out << "size " << st->size;
  if (st->meta.mode) out << ", mode 0" << std::oct << *st->meta.mode << std::dec;
  if (st->meta.uid) out << ", uid " << *st->meta.uid;
  if (st->meta.gid) out << ", gid " << *st->meta.gid;
  if (st->meta.mtime) out << ", mtime " << st->meta.mtime->sec << "." << st->meta.mtime->nsec;
  if (st->base.etag.empty() || st->base.limit == 0) {
    out << "; " << ino << ".data is the whole file (first " << st->size << " bytes)\n";
    return out.str();
  }
  out << "; written over object ETag " << std::quoted(st->base.etag) << " (" << st->base.size
      << " bytes): bytes of " << ino << ".data in the extents";
  for (const auto& [b, e] : st->dirty.ranges()) out << " [" << b << "," << e << ")";
  out << " are new, the rest of [0," << st->base.limit << ") comes from that object";
  if (st->base.limit < st->size)
    out << ", and past " << st->base.limit << " it is " << ino << ".data";
  out << "\n";
  return out.str();
}

std::string UtcStamp() {
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::size_t RemoveOrphanStaging(const std::string& dir, const std::vector<uint64_t>& keep) {
  auto orphans = StagingFiles(dir, NotIn(keep));
  std::size_t inodes = 0;
  for (const auto& [ino, paths] : orphans) {
    bool data = false;
    for (const auto& path : paths) {
      data = data || path.extension() == ".data";
      ::unlink(path.c_str());
    }
    if (data) ++inodes;
  }
  return inodes;
}

std::vector<uint64_t> OrphanStagingInodes(const std::string& dir,
                                          const std::vector<uint64_t>& keep) {
  std::vector<uint64_t> out;
  for (const auto& [ino, paths] : StagingFiles(dir, NotIn(keep))) out.push_back(ino);
  return out;
}

Result<KeptStaging> KeepStaging(const std::string& dir, const std::vector<uint64_t>& inodes,
                                const std::string& into, const std::string& cause) {
  auto orphans = StagingFiles(dir, [&inodes](uint64_t ino) {
    return std::find(inodes.begin(), inodes.end(), ino) != inodes.end();
  });
  KeptStaging kept;
  if (orphans.empty()) return kept;
  std::error_code ec;
  std::filesystem::create_directories(into, ec);
  if (ec) return IoError("cannot create " + into + ": " + ec.message());
  // A new directory per start, never one that holds files kept earlier.
  const std::string stamp = UtcStamp();
  std::string target = into + "/" + stamp;
  for (int n = 2; !std::filesystem::create_directory(target, ec); ++n) {
    if (ec || n > 1000) {
      return IoError("cannot create " + target + ": " + (ec ? ec.message() : "exists"));
    }
    target = into + "/" + stamp + "-" + std::to_string(n);
  }
  for (const auto& [ino, paths] : orphans) {
    for (const auto& path : paths) {
      const std::string to = target + "/" + path.filename().string();
      if (::rename(path.c_str(), to.c_str()) != 0) {
        return ErrnoStatus("move " + path.string() + " to " + to, errno);
      }
    }
  }
  std::ostringstream readme;
  readme << "bucketfs kept these staged files at startup instead of removing them: " << cause
         << ".\nThey may hold writes acknowledged to clients that never reached the bucket.\n"
         << "Each INO.data holds what clients wrote to the file with inode number INO; staging\n"
         << "does not record the file's name (a moved-aside meta.db.corrupt-* may still map INO\n"
         << "to its key). bucketfs never uploads or removes anything here; see \"Staged files\n"
         << "kept at startup\" in docs/architecture.md for how to recover them.\n\n";
  for (const auto& [ino, paths] : orphans) readme << DescribeKept(target, ino);
  const std::string text = readme.str();
  const std::string readme_path = target + "/KEPT.txt";
  int fd = ::open(readme_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoStatus("create " + readme_path, errno);
  Status s =
      PwriteAll(fd, reinterpret_cast<const uint8_t*>(text.data()), text.size(), 0, readme_path);
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync " + readme_path, errno);
  ::close(fd);
  BFS_RETURN_IF_ERROR(s);
  BFS_RETURN_IF_ERROR(FsyncDir(target));
  BFS_RETURN_IF_ERROR(FsyncDir(dir));
  for (const auto& [ino, paths] : orphans) {
    for (const auto& path : paths) {
      if (path.extension() == ".data") {
        ++kept.inodes;
        break;
      }
    }
  }
  kept.dir = target;
  return kept;
}

}  // namespace bucketfs::gateway
