#include "cache/disk_tier.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "base/log.h"
#include "cache/block_file.h"

namespace bucketfs::cache {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSuffix = ".blk";
constexpr const char* kTagText =
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by bucketfs (its block cache).\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n";

// A fan-out directory: two lower-case hex characters.
bool IsFanOutName(const std::string& name) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  return name.size() == 2 && hex(name[0]) && hex(name[1]);
}

// The first entry of `dir` that a cache directory would not hold (tmp/, fan-out directories of
// .blk files), relative to `dir`; empty when there is none.
std::string FirstStranger(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && name == "tmp") continue;
    if (!e.is_directory() || !IsFanOutName(name)) return name;
    for (const auto& f : fs::directory_iterator(e.path(), ec)) {
      if (f.path().extension() != kSuffix) return name + "/" + f.path().filename().string();
    }
  }
  return "";
}

struct Found {
  std::string id, name;
  uint64_t bytes = 0;
  struct timespec mtime {};
};

bool Older(const Found& a, const Found& b) {
  if (a.mtime.tv_sec != b.mtime.tv_sec) return a.mtime.tv_sec < b.mtime.tv_sec;
  return a.mtime.tv_nsec < b.mtime.tv_nsec;
}

// Checks one file found by the scan; fills `*out` when it is a usable block file.
FileCheck Inspect(const fs::path& path, uint64_t block_size, Found* out) {
  if (path.extension() != kSuffix) return FileCheck::kDamaged;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!fd.ok() || ::fstat(fd.get(), &st) != 0) return FileCheck::kDamaged;
  FileCheck c =
      ReadBlockFileHead(fd.get(), static_cast<uint64_t>(st.st_size), block_size, &out->id);
  if (c != FileCheck::kGood) return c;
  out->name = path.stem().string();
  if (FileNameForId(out->id) != out->name) return FileCheck::kDamaged;
  out->bytes = static_cast<uint64_t>(st.st_size);
  out->mtime = st.st_mtim;
  return FileCheck::kGood;
}

}  // namespace

DiskTier::DiskTier(DiskTierOptions options)
    : options_(std::move(options)), policy_(MakePolicy(options_.policy, options_.capacity_bytes)) {}

Result<std::unique_ptr<DiskTier>> DiskTier::Open(DiskTierOptions options) {
  if (options.block_size == 0) return InvalidArgumentError("cache block size must be > 0");
  std::unique_ptr<DiskTier> tier(new DiskTier(std::move(options)));
  BFS_RETURN_IF_ERROR(tier->Claim());
  tier->Scan();
  return tier;
}

Status DiskTier::Claim() {
  const fs::path dir(options_.dir);
  auto fail = [&](const std::string& why) {
    return Status(ErrorCode::kIo, "cache directory " + options_.dir + ": " + why);
  };
  std::error_code ec;
  if (!fs::exists(dir / kTagFile, ec)) {
    // Not tagged: accept it only if empty or laid out like a cache (tmp/ and fan-out
    // directories), because Scan() deletes what it does not recognise.
    std::string stranger = FirstStranger(dir);
    if (!stranger.empty()) {
      return Status(ErrorCode::kInvalidArgument,
                    "cache directory " + options_.dir + " holds other files (" + stranger +
                        ") and is not a bucketfs cache; give an empty or new directory");
    }
  }
  fs::create_directories(dir / "tmp", ec);
  if (ec) return fail(ec.message());
  if (!fs::exists(dir / kTagFile, ec)) {
    std::ofstream tag(dir / kTagFile, std::ios::trunc);
    tag << kTagText;
    if (!tag.flush()) return fail("cannot write " + std::string(kTagFile));
  }
  for (const auto& e : fs::directory_iterator(dir / "tmp", ec)) {
    fs::remove(e.path(), ec);  // a write the last process did not finish
  }
  return Status::Ok();
}

std::string DiskTier::PathOf(const std::string& name) const {
  return options_.dir + "/" + name.substr(0, 2) + "/" + name + kSuffix;
}

void DiskTier::Scan() {
  std::vector<Found> found;
  uint64_t damaged = 0, foreign = 0;
  std::error_code ec;
  for (const auto& sub : fs::directory_iterator(options_.dir, ec)) {
    if (!sub.is_directory() || !IsFanOutName(sub.path().filename().string())) continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      Found one;
      FileCheck c = Inspect(f.path(), options_.block_size, &one);
      if (c == FileCheck::kGood) {
        found.push_back(std::move(one));
        continue;
      }
      (c == FileCheck::kForeign ? foreign : damaged) += 1;
      fs::remove(f.path(), ec);
    }
  }
  std::sort(found.begin(), found.end(), Older);
  {
    std::lock_guard lock(mu_);
    for (auto& f : found) {
      if (!index_.emplace(f.id, Entry{f.name, f.bytes}).second) continue;
      bytes_ += f.bytes;
      policy_->Insert(f.id, f.bytes);
    }
  }
  corrupt_ += damaged;
  discarded_ += foreign;
  if (damaged > 0) {
    BFS_LOG_WARN("block cache: removed {} damaged file(s) from {}", damaged, options_.dir);
  }
  if (foreign > 0) {
    BFS_LOG_INFO("block cache: removed {} file(s) of another block size or format from {}", foreign,
                 options_.dir);
  }
  EvictOverCapacity();
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
  Bytes data;
  FileCheck c =
      fd.ok() ? ReadBlockFile(fd.get(), id, options_.block_size, &data) : FileCheck::kDamaged;
  if (c != FileCheck::kGood) {
    // A file that vanished was evicted or erased meanwhile: not damage.
    const bool damaged = fd.ok() || errno != ENOENT;
    if (damaged) {
      BFS_LOG_WARN("block cache: damaged block file {} ({}) removed; the block is fetched again",
                   PathOf(name), key.ToString());
    }
    Drop(id, damaged);
    ++misses_;
    return Status(ErrorCode::kNotFound, "block file damaged");
  }
  ++hits_;
  hit_bytes_ += data.size();
  return data;
}

Status DiskTier::Write(const BlockKey& key, ByteView data) {
  const std::string id = key.Encode();
  if (Contains(id)) return Status::Ok();
  if (data.size() > options_.block_size) return InternalError("block larger than the block size");
  const std::string name = FileNameForId(id);
  const std::string tmp = options_.dir + "/tmp/" + name + "." + std::to_string(::getpid()) + "." +
                          std::to_string(++tmp_seq_) + ".tmp";
  const std::string head = EncodeBlockFileHead(id, data, options_.block_size);
  std::error_code ec;
  fs::create_directories(fs::path(options_.dir) / name.substr(0, 2), ec);
  bool ok = false;
  {
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ok = fd.ok() && WriteAll(fd.get(), head.data(), head.size()) &&
         WriteAll(fd.get(), data.data(), data.size());
  }
  ok = ok && ::rename(tmp.c_str(), PathOf(name).c_str()) == 0;
  if (!ok) {
    const int err = errno;
    ::unlink(tmp.c_str());
    ++write_errors_;
    return Status(err == ENOSPC ? ErrorCode::kNoSpace : ErrorCode::kIo,
                  "writing cache block " + tmp + ": " + std::strerror(err));
  }
  const uint64_t bytes = head.size() + data.size();
  {
    std::lock_guard lock(mu_);
    if (index_.emplace(id, Entry{name, bytes}).second) {
      bytes_ += bytes;
      policy_->Insert(id, bytes);
    }
  }
  ++writes_;
  written_bytes_ += data.size();
  EvictOverCapacity();
  return Status::Ok();
}

std::size_t DiskTier::EraseWithPrefix(std::string_view prefix) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    for (auto it = index_.begin(); it != index_.end();) {
      if (!std::string_view(it->first).starts_with(prefix)) {
        ++it;
        continue;
      }
      bytes_ -= it->second.bytes;
      policy_->Erase(it->first);
      names.push_back(std::move(it->second.name));
      it = index_.erase(it);
    }
  }
  for (const auto& name : names) ::unlink(PathOf(name).c_str());
  return names.size();
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
  s.hit_bytes = hit_bytes_;
  s.misses = misses_;
  s.writes = writes_;
  s.written_bytes = written_bytes_;
  s.write_errors = write_errors_;
  s.evictions = evictions_;
  s.corrupt = corrupt_;
  s.discarded = discarded_;
  return s;
}

}  // namespace bucketfs::cache
