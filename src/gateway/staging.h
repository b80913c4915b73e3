// StagedFile: the local copy of a file being written, one per inode, under the staging directory
// (STATE_DIR/staging/EXPORT_ID/INO.data and INO.state).
//
// The data file has the file's logical size and is sparse: only bytes written by clients (the
// dirty extents) are meaningful in it. Bytes outside the extents come from the object the file
// was opened from (the base: its ETag and size), up to base_limit (the smallest size the file was
// truncated to since); past base_limit they are zeros. So a 4 KiB write into a 10 GiB object
// stages 4 KiB, and the upload copies the rest server-side.
//
// Durability: Write() lands in the page cache; Sync() fdatasyncs the data file and atomically
// replaces the state file (tmp + fsync + rename + directory fsync), after which every write made
// before it survives a crash (Recover() reads it back).
//
// Thread-safety: every method locks the file's mutex; all of them do disk I/O and must run on the
// BlockingPool, never on an I/O thread. Owned by shared_ptr: readers keep the file open while an
// upload deletes it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "base/bytes.h"
#include "base/status.h"
#include "gateway/key_mapping.h"

namespace bucketfs::gateway {

// Sorted, non-overlapping, non-adjacent [start, end) ranges.
class ExtentSet {
 public:
  void Add(uint64_t start, uint64_t end);
  // Drops everything at or after `size`.
  void Clip(uint64_t size);
  // The parts of [start, end) NOT covered.
  std::vector<std::pair<uint64_t, uint64_t>> Gaps(uint64_t start, uint64_t end) const;
  bool Intersects(uint64_t start, uint64_t end) const;
  uint64_t bytes() const;
  bool empty() const { return map_.empty(); }
  const std::map<uint64_t, uint64_t>& ranges() const { return map_; }

 private:
  std::map<uint64_t, uint64_t> map_;  // start → end
};

// What a staged file is layered on.
struct StagedBase {
  std::string etag;    // "" when the file has no object yet
  uint64_t size = 0;   // the object's size
  uint64_t limit = 0;  // bytes [0, limit) of the object still show through
};

// A consistent copy of a staged file's description, for uploads and attributes.
struct StagedState {
  uint64_t size = 0;
  StagedBase base;
  ExtentSet dirty;
  PosixMeta meta;
  uint64_t version = 0;  // bumped by every change
};

class StagedFile {
 public:
  // Creates (truncating) the staging files for `ino` on `base`.
  static Result<std::shared_ptr<StagedFile>> Create(const std::string& dir, uint64_t ino,
                                                    uint64_t size, StagedBase base, PosixMeta meta);
  // Reopens the staging files of `ino` written by Sync() before a restart; kNotFound when absent.
  static Result<std::shared_ptr<StagedFile>> Recover(const std::string& dir, uint64_t ino);
  ~StagedFile();
  StagedFile(const StagedFile&) = delete;
  StagedFile& operator=(const StagedFile&) = delete;

  uint64_t ino() const { return ino_; }

  // Writes and sets the modification time.
  Status Write(uint64_t offset, ByteView data, vfs::Timespec mtime);
  // Sets the size (truncate or extend with zeros).
  Status Truncate(uint64_t size);
  // Zeroes [offset, offset + len) within the size.
  Status Zero(uint64_t offset, uint64_t len);
  void SetMeta(const PosixMeta& meta);
  // Bytes [offset, offset + len) as staged (base bytes not included: see BaseGaps).
  Result<Bytes> ReadLocal(uint64_t offset, uint64_t len) const;
  // The parts of [offset, offset + len) that must be read from the base object.
  std::vector<std::pair<uint64_t, uint64_t>> BaseGaps(uint64_t offset, uint64_t len) const;

  StagedState State() const;
  // State() for an upload: also starts tracking truncations made while it runs (see Rebase).
  StagedState SnapshotForUpload();
  // The upload of `snapshot` finished as object `etag` but the file changed meanwhile: the new
  // object becomes the base (bytes that are not dirty now are the same in it), still dirty.
  void Rebase(const StagedState& snapshot, const std::string& etag);
  // The base object was copied to a new key (rename) and got a new ETag.
  void SetBaseEtag(const std::string& old_etag, const std::string& new_etag);
  uint64_t size() const;
  uint64_t version() const;
  // Whether the file takes no more reads or writes (uploaded clean, or removed).
  bool discarded() const;
  uint64_t dirty_bytes() const;
  // Makes everything written so far durable (see the header comment).
  Status Sync();
  // The upload of `version` finished as object `etag`: if nothing changed since, the file is
  // clean (returns true) and takes no more writes. Its files stay until RemoveFiles(), which the
  // caller calls once the metadata store durably says the object is uploaded (a crash in
  // between finds the staged data again instead of an inode with neither data nor object).
  bool MarkUploaded(uint64_t version, const std::string& etag);
  void RemoveFiles();
  // Removes the staging files (the file was deleted).
  void Discard();

 private:
  StagedFile(std::string dir, uint64_t ino, int fd);
  std::string DataPath() const;
  std::string StatePath() const;
  Status WriteStateLocked() const;

  const std::string dir_;
  const uint64_t ino_;
  int fd_ = -1;
  mutable std::mutex mu_;
  StagedState state_;
  bool discarded_ = false;
  uint64_t trunc_floor_ = UINT64_MAX;  // smallest size truncated to since SnapshotForUpload
};

// Reads a state file written by Sync() (without touching the data file).
Result<StagedState> ReadStagedState(const std::string& state_path);

// Removes the staging files in `dir` of inodes not in `keep`; returns how many inodes' files
// (counted by their data file). Only for files the journal proves are not needed any more.
std::size_t RemoveOrphanStaging(const std::string& dir, const std::vector<uint64_t>& keep);

struct KeptStaging {
  std::size_t inodes = 0;  // inodes whose data file was kept
  std::string dir;         // where they went ("" when nothing was kept)
};
// Inodes that have staging files in `dir` but are not in `keep`.
std::vector<uint64_t> OrphanStagingInodes(const std::string& dir,
                                          const std::vector<uint64_t>& keep);

// Moves (never removes) the staging files of `inodes` in `dir` into a new directory
// `into`/YYYYMMDDTHHMMSSZ, with a KEPT.txt naming `cause` and describing what each file holds:
// for staged files that no journal entry accounts for and that may hold data the bucket does not
// have. Fails, leaving the rest in place, when a file cannot be moved.
Result<KeptStaging> KeepStaging(const std::string& dir, const std::vector<uint64_t>& inodes,
                                const std::string& into, const std::string& cause);

}  // namespace bucketfs::gateway
