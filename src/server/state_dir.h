// StateDir: the gateway's state directory — the metadata database, the file-handle key and an
// exclusive lock that keeps two gateways from sharing one directory (they would hand out
// conflicting inode numbers).
//
// Layout: STATE_DIR/meta.db (+ -wal, -shm), STATE_DIR/handle.key (32 random bytes, mode 0600,
// written once), STATE_DIR/lock (flock held while the gateway runs).
//
// Ownership: holds the lock for its lifetime. Not thread-safe; used by the composition root at
// startup only (all calls block on disk).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "base/status.h"

namespace bucketfs::server {

class StateDir {
 public:
  static constexpr std::size_t kKeySize = 32;

  // Creates the directory if needed, takes the lock, and loads or mints the handle key.
  static Result<std::unique_ptr<StateDir>> Open(const std::string& path);
  ~StateDir();
  StateDir(const StateDir&) = delete;
  StateDir& operator=(const StateDir&) = delete;

  const std::string& path() const { return path_; }
  std::string MetaDbPath() const { return path_ + "/meta.db"; }
  const std::array<uint8_t, kKeySize>& handle_key() const { return key_; }

 private:
  StateDir(std::string path, int lock_fd) : path_(std::move(path)), lock_fd_(lock_fd) {}
  Status LoadOrCreateKey();

  std::string path_;
  int lock_fd_;
  std::array<uint8_t, kKeySize> key_{};
};

// The export id that names `export_name` in file handles: a hash of the name, so it is the same
// on every start whatever order exports are configured in (never 0: that is the pseudo-fs).
uint32_t ExportIdFor(const std::string& export_name);

}  // namespace bucketfs::server
