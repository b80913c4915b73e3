// LockTable: the byte-range locks of every file, POSIX style (RFC 7530 §9, RFC 8881 §9).
//
// A lock is held by a lock-owner (an opaque id the StateManager assigns per NFSv4 lock-owner) on
// an inclusive byte range [first, last] of one file, as a read (shared) or write (exclusive) lock.
// Setting a lock on a range replaces what the same owner held there (upgrade, downgrade, merge
// with adjacent ranges of the same type); unlocking part of a range splits it. Locks of different
// owners conflict when their ranges overlap and at least one of them is a write lock.
//
// Blocking requests (READW_LT/WRITEW_LT) that were denied are remembered as waiters, in arrival
// order per file, so that a lock released by its holder goes to the owner that has waited longest
// when it asks again ("fair retry", RFC 7530 §9.4, RFC 8881 §9.6): a later request from another
// owner that conflicts with an earlier waiter is denied as if the waiter held it. Waiters that do
// not ask again within the reservation time expire (the client gave up or died).
//
// Not thread-safe: the StateManager owns one and guards it with its mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace bucketfs::nfs {

enum class LockKind { kRead, kWrite };

// The file a lock is on: export id and inode (generations never share an inode number's locks
// because a removed inode loses its opens, and with them its locks).
struct LockFile {
  uint32_t export_id = 0;
  uint64_t ino = 0;
  friend auto operator<=>(const LockFile&, const LockFile&) = default;
};

struct LockRange {
  uint64_t first = 0;
  uint64_t last = 0;  // inclusive; UINT64_MAX = to the end of any file
  bool Overlaps(const LockRange& o) const { return first <= o.last && o.first <= last; }
};

// A conflicting lock (or waiter) found by Test: its owner, range and kind (LOCK4denied).
struct LockConflict {
  uint64_t owner = 0;
  LockRange range;
  LockKind kind = LockKind::kRead;
};

class LockTable {
 public:
  using Clock = std::chrono::steady_clock;

  // The first lock of another owner that conflicts with `owner` taking `kind` over `range`,
  // including waiters queued before `owner`'s own wait (when `honor_waiters`), whose reservation
  // has not expired at `now`.
  std::optional<LockConflict> Test(const LockFile& file, uint64_t owner, LockKind kind,
                                   const LockRange& range, bool honor_waiters,
                                   Clock::time_point now) const;

  // Sets `owner`'s lock over `range` to `kind` (the caller tested for conflicts first) and ends
  // its wait on the file, if any.
  void Set(const LockFile& file, uint64_t owner, LockKind kind, const LockRange& range);

  // Removes `owner`'s locks over `range` (splitting a lock that extends beyond it). Unlocking a
  // range that holds no lock is not an error (RFC 8881 §18.12.4).
  void Unset(const LockFile& file, uint64_t owner, const LockRange& range);

  // Queues (or refreshes) a waiter for a denied blocking request; it keeps its place in the queue
  // until `expires`. Waiters of other owners that expired by `now` are dropped.
  void Wait(const LockFile& file, uint64_t owner, LockKind kind, const LockRange& range,
            Clock::time_point now, Clock::time_point expires);

  bool Holds(const LockFile& file, uint64_t owner) const;
  bool HoldsAny(uint64_t owner) const;
  // Drops every lock and waiter of `owner` (lease expiry, RELEASE_LOCKOWNER, FREE_STATEID).
  void RemoveOwner(uint64_t owner);
  // Drops `owner`'s locks and waiters on one file (CLOSE of the open the lock-owner came from).
  void RemoveOwnerOnFile(const LockFile& file, uint64_t owner);

  // The locks of `file`, for tests and diagnostics: owner, range, kind; ordered by range start.
  std::vector<LockConflict> LocksOf(const LockFile& file) const;
  std::size_t lock_count() const;

 private:
  struct Lock {
    uint64_t owner = 0;
    LockRange range;
    LockKind kind = LockKind::kRead;
  };
  struct Waiter {
    uint64_t owner = 0;
    LockRange range;
    LockKind kind = LockKind::kRead;
    Clock::time_point expires;
  };
  struct FileLocks {
    std::vector<Lock> locks;      // unordered; any number of owners
    std::vector<Waiter> waiters;  // arrival order
    bool empty() const { return locks.empty() && waiters.empty(); }
  };

  static bool Conflicts(LockKind a, LockKind b) {
    return a == LockKind::kWrite || b == LockKind::kWrite;
  }
  void EraseIfEmpty(std::map<LockFile, FileLocks>::iterator it);

  std::map<LockFile, FileLocks> files_;
};

}  // namespace bucketfs::nfs
