#include "cache/disk_tier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/log.h"

namespace bucketfs::cache {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'B', 'F', 'S', 'B', 'L', 'K', '1', '\n'};
constexpr const char* kSuffix = ".blk";

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

struct Header {
  uint32_t key_len = 0;
  uint64_t data_len = 0;
  uint32_t crc = 0;
};

void PutHeader(uint8_t* out, const Header& h) {
  std::memcpy(out, kMagic, 8);
  std::memcpy(out + 8, &h.key_len, 4);
  std::memcpy(out + 12, &h.data_len, 8);
  std::memcpy(out + 20, &h.crc, 4);
}

bool GetHeader(const uint8_t* in, Header* h) {
  if (std::memcmp(in, kMagic, 8) != 0) return false;
  std::memcpy(&h->key_len, in + 8, 4);
  std::memcpy(&h->data_len, in + 12, 8);
  std::memcpy(&h->crc, in + 20, 4);
  return h->key_len <= (1u << 16);
}

uint32_t Checksum(const Header& h, std::string_view key, ByteView data) {
  uint32_t crc = Crc32c(&h.key_len, sizeof(h.key_len));
  crc = Crc32c(&h.data_len, sizeof(h.data_len), crc);
  crc = Crc32c(key.data(), key.size(), crc);
  return Crc32c(data.data(), data.size(), crc);
}

// Reads exactly `n` bytes at `off`; false on a short read or an error.
bool ReadAt(int fd, void* buf, std::size_t n, off_t off) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    off += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

bool WriteAll(int fd, const void* buf, std::size_t n) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

DiskTier::DiskTier(DiskTierOptions options)
    : options_(std::move(options)), policy_(MakePolicy(options_.policy, options_.capacity_bytes)) {}

Result<std::unique_ptr<DiskTier>> DiskTier::Open(DiskTierOptions options) {
  std::error_code ec;
  fs::create_directories(fs::path(options.dir) / "tmp", ec);
  if (ec) {
    return Status(ErrorCode::kIo, "cache directory " + options.dir + ": " + ec.message());
  }
  std::unique_ptr<DiskTier> tier(new DiskTier(std::move(options)));
  BFS_RETURN_IF_ERROR(tier->Scan());
  return tier;
}

std::string DiskTier::PathOf(const std::string& name) const {
  return options_.dir + "/" + name.substr(0, 2) + "/" + name + kSuffix;
}

Status DiskTier::Scan() {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(fs::path(options_.dir) / "tmp", ec)) {
    fs::remove(e.path(), ec);  // a write the last process did not finish
  }
  struct Found {
    std::string id, name;
    uint64_t bytes;
    fs::file_time_type mtime;
  };
  std::vector<Found> found;
  uint64_t bad = 0;
  for (const auto& sub : fs::directory_iterator(options_.dir, ec)) {
    if (!sub.is_directory() || sub.path().filename() == "tmp") continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      const std::string path = f.path().string();
      const std::string name = f.path().stem().string();
      Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      uint8_t raw[kHeaderSize];
      Header h;
      struct stat st {};
      bool good = fd.ok() && ::fstat(fd.get(), &st) == 0 && ReadAt(fd.get(), raw, kHeaderSize, 0) &&
                  GetHeader(raw, &h) &&
                  static_cast<uint64_t>(st.st_size) == kHeaderSize + h.key_len + h.data_len;
      std::string id(good ? h.key_len : 0, '\0');
      good = good && ReadAt(fd.get(), id.data(), id.size(), kHeaderSize) &&
             f.path().extension() == kSuffix && FileNameForId(id) == name;
      if (!good) {
        ++bad;
        fs::remove(f.path(), ec);
        continue;
      }
      found.push_back(
          {std::move(id), name, static_cast<uint64_t>(st.st_size), f.last_write_time(ec)});
    }
  }
  std::sort(found.begin(), found.end(),
            [](const Found& a, const Found& b) { return a.mtime < b.mtime; });
  {
    std::lock_guard lock(mu_);
    for (auto& f : found) {
      bytes_ += f.bytes;
      policy_->Insert(f.id, f.bytes);
      index_[std::move(f.id)] = Entry{std::move(f.name), f.bytes};
    }
  }
  corrupt_ += bad;
  if (bad > 0) {
    BFS_LOG_WARN("block cache: removed {} damaged file(s) from {}", bad, options_.dir);
  }
  EvictOverCapacity();
  return Status::Ok();
}

bool DiskTier::Contains(const std::string& id) const {
  std::lock_guard lock(mu_);
  return index_.count(id) > 0;
}

Result<Bytes> DiskTier::Read(const BlockKey& key) {
  const std::string id = key.Encode();
  std::string name;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(id);
    if (it == index_.end()) {
      ++misses_;
      return Status(ErrorCode::kNotFound, "block not on disk");
    }
    name = it->second.name;
    policy_->Touch(id);
  }
  Fd fd(::open(PathOf(name).c_str(), O_RDONLY | O_CLOEXEC));
  uint8_t raw[kHeaderSize];
  Header h;
  bool good = fd.ok() && ReadAt(fd.get(), raw, kHeaderSize, 0) && GetHeader(raw, &h) &&
              h.key_len == id.size() && h.data_len <= (1ull << 32);
  std::string stored(good ? h.key_len : 0, '\0');
  Bytes data;
  if (good) {
    data.resize(h.data_len);
    good = ReadAt(fd.get(), stored.data(), stored.size(), kHeaderSize) && stored == id &&
           ReadAt(fd.get(), data.data(), data.size(), kHeaderSize + h.key_len) &&
           Checksum(h, stored, data) == h.crc;
  }
  if (!good) {
    if (fd.ok() || errno != ENOENT) {
      BFS_LOG_WARN("block cache: damaged block file {} removed; the block is fetched again",
                   PathOf(name));
    }
    Drop(id, /*corrupt=*/fd.ok());
    ++misses_;
    return Status(ErrorCode::kNotFound, "block file damaged");
  }
  ++hits_;
  return data;
}

Status DiskTier::Write(const BlockKey& key, ByteView data) {
  const std::string id = key.Encode();
  if (Contains(id)) return Status::Ok();
  const std::string name = FileNameForId(id);
  const std::string tmp = options_.dir + "/tmp/" + name + "." + std::to_string(::getpid()) + "." +
                          std::to_string(++tmp_seq_) + ".tmp";
  Header h;
  h.key_len = static_cast<uint32_t>(id.size());
  h.data_len = data.size();
  h.crc = Checksum(h, id, data);
  uint8_t raw[kHeaderSize];
  PutHeader(raw, h);
  std::error_code ec;
  fs::create_directories(fs::path(options_.dir) / name.substr(0, 2), ec);
  bool ok = false;
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ok = fd.ok() && WriteAll(fd.get(), raw, kHeaderSize) &&
         WriteAll(fd.get(), id.data(), id.size()) && WriteAll(fd.get(), data.data(), data.size());
  }
  ok = ok && ::rename(tmp.c_str(), PathOf(name).c_str()) == 0;
  if (!ok) {
    int err = errno;
    ::unlink(tmp.c_str());
    ++write_errors_;
    return Status(ErrorCode::kIo, "writing cache block " + tmp + ": " + std::strerror(err));
  }
  const uint64_t bytes = kHeaderSize + id.size() + data.size();
  {
    std::lock_guard lock(mu_);
    if (index_.emplace(id, Entry{name, bytes}).second) {
      bytes_ += bytes;
      policy_->Insert(id, bytes);
    }
  }
  ++writes_;
  EvictOverCapacity();
  return Status::Ok();
}

void DiskTier::Drop(const std::string& id, bool corrupt) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    auto it = index_.find(id);
    if (it == index_.end()) return;
    name = it->second.name;
    bytes_ -= it->second.bytes;
    policy_->Erase(id);
    index_.erase(it);
  }
  if (corrupt) ++corrupt_;
  ::unlink(PathOf(name).c_str());
}

void DiskTier::EvictOverCapacity() {
  std::vector<std::string> victims;
  {
    std::lock_guard lock(mu_);
    while (bytes_ > options_.capacity_bytes) {
      auto id = policy_->Evict();
      if (!id) break;
      auto it = index_.find(*id);
      if (it == index_.end()) continue;
      bytes_ -= it->second.bytes;
      victims.push_back(std::move(it->second.name));
      index_.erase(it);
    }
  }
  evictions_ += victims.size();
  for (const auto& name : victims) ::unlink(PathOf(name).c_str());
}

DiskTierStats DiskTier::Stats() const {
  DiskTierStats s;
  {
    std::lock_guard lock(mu_);
    s.files = index_.size();
    s.bytes = bytes_;
  }
  s.hits = hits_;
  s.misses = misses_;
  s.writes = writes_;
  s.write_errors = write_errors_;
  s.evictions = evictions_;
  s.corrupt = corrupt_;
  return s;
}

}  // namespace bucketfs::cache
