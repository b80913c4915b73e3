#include "server/state_dir.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace bucketfs::server {
namespace {

std::string Errno() { return std::strerror(errno); }

// Writes all of `data` to a new file `path` (mode 0600) and syncs it; fails if it exists.
Status WriteNewFile(const std::string& path, const uint8_t* data, std::size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + path + ": " + Errno());
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = IoError("cannot write " + path + ": " + Errno());
      ::close(fd);
      ::unlink(path.c_str());
      return s;
    }
    done += static_cast<std::size_t>(n);
  }
  Status s = ::fsync(fd) == 0 ? Status::Ok() : IoError("cannot sync " + path + ": " + Errno());
  ::close(fd);
  return s;
}

}  // namespace

uint32_t ExportIdFor(const std::string& export_name) {
  uint32_t h = 2166136261U;  // FNV-1a
  for (unsigned char c : export_name) {
    h ^= c;
    h *= 16777619U;
  }
  h &= 0x7fffffffU;
  return h == 0 ? 1 : h;
}

Result<std::unique_ptr<StateDir>> StateDir::Open(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return IoError("cannot create state directory " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  std::string lock_path = path + "/lock";
  int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot open " + lock_path + ": " + Errno());
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status(ErrorCode::kExists, "state directory " + path +
                                            " is in use by another running bucketfs gateway "
                                            "(give each gateway its own --state-dir)");
    }
    return IoError("cannot lock " + lock_path + ": " + std::strerror(err));
  }
  std::unique_ptr<StateDir> dir(new StateDir(path, fd));
  BFS_RETURN_IF_ERROR(dir->LoadOrCreateKey());
  return dir;
}

StateDir::~StateDir() { ::close(lock_fd_); }  // closing releases the flock

Status StateDir::LoadOrCreateKey() {
  std::string key_path = path_ + "/handle.key";
  int fd = ::open(key_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    if (RAND_bytes(key_.data(), static_cast<int>(key_.size())) != 1) {
      return InternalError("no randomness for the handle key (OpenSSL RAND_bytes failed)");
    }
    return WriteNewFile(key_path, key_.data(), key_.size());
  }
  if (fd < 0) return IoError("cannot read " + key_path + ": " + Errno());
  uint8_t buf[kKeySize + 1];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  ::close(fd);
  if (n != static_cast<ssize_t>(kKeySize)) {
    return InvalidArgumentError(
        "file-handle key " + key_path + " is damaged (expected " + std::to_string(kKeySize) +
        " bytes); remove it to mint a new key (clients will have to remount)");
  }
  std::memcpy(key_.data(), buf, kKeySize);
  return Status::Ok();
}

}  // namespace bucketfs::server
