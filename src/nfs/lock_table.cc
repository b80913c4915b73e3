#include "nfs/lock_table.h"

#include <algorithm>
#include <limits>

namespace bucketfs::nfs {

std::optional<LockConflict> LockTable::Test(const LockFile& file, uint64_t owner, LockKind kind,
                                            const LockRange& range, bool honor_waiters,
                                            Clock::time_point now) const {
  auto it = files_.find(file);
  if (it == files_.end()) return std::nullopt;
  for (const Lock& l : it->second.locks) {
    if (l.owner != owner && l.range.Overlaps(range) && Conflicts(l.kind, kind)) {
      return LockConflict{l.owner, l.range, l.kind};
    }
  }
  if (!honor_waiters) return std::nullopt;
  // An owner that already holds part of the range is not made to queue behind waiters (they may
  // be waiting for it): that would stall its upgrade until their reservations ran out.
  for (const Lock& l : it->second.locks) {
    if (l.owner == owner && l.range.Overlaps(range)) return std::nullopt;
  }
  // Waiters ahead of `owner` in the queue (all of them when `owner` is not waiting).
  for (const Waiter& w : it->second.waiters) {
    if (w.owner == owner) break;
    if (w.expires > now && w.range.Overlaps(range) && Conflicts(w.kind, kind)) {
      return LockConflict{w.owner, w.range, w.kind};
    }
  }
  return std::nullopt;
}

void LockTable::Set(const LockFile& file, uint64_t owner, LockKind kind, const LockRange& range) {
  // Take out what the owner held over the range (keeping the parts outside it), then merge the
  // new lock with the owner's adjacent or overlapping locks of the same kind.
  Unset(file, owner, range);
  FileLocks& f = files_[file];
  std::erase_if(f.waiters, [&](const Waiter& w) { return w.owner == owner; });
  Lock merged{owner, range, kind};
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  auto touches = [&](const Lock& l) {
    if (l.owner != owner || l.kind != kind) return false;
    const bool after = merged.range.last != kMax && l.range.first == merged.range.last + 1;
    const bool before = l.range.last != kMax && l.range.last + 1 == merged.range.first;
    return l.range.Overlaps(merged.range) || after || before;
  };
  for (bool again = true; again;) {
    again = false;
    for (auto l = f.locks.begin(); l != f.locks.end(); ++l) {
      if (!touches(*l)) continue;
      merged.range.first = std::min(merged.range.first, l->range.first);
      merged.range.last = std::max(merged.range.last, l->range.last);
      f.locks.erase(l);
      again = true;
      break;
    }
  }
  f.locks.push_back(merged);
}

void LockTable::Unset(const LockFile& file, uint64_t owner, const LockRange& range) {
  auto it = files_.find(file);
  if (it == files_.end()) return;
  std::vector<Lock>& locks = it->second.locks;
  std::vector<Lock> kept;
  kept.reserve(locks.size() + 1);
  for (const Lock& l : locks) {
    if (l.owner != owner || !l.range.Overlaps(range)) {
      kept.push_back(l);
      continue;
    }
    if (l.range.first < range.first)
      kept.push_back({owner, {l.range.first, range.first - 1}, l.kind});
    if (l.range.last > range.last) kept.push_back({owner, {range.last + 1, l.range.last}, l.kind});
  }
  locks = std::move(kept);
  EraseIfEmpty(it);
}

void LockTable::Wait(const LockFile& file, uint64_t owner, LockKind kind, const LockRange& range,
                     Clock::time_point now, Clock::time_point expires) {
  FileLocks& f = files_[file];
  // Expired waiters are dropped as new ones queue, which bounds the queue by the live waiters.
  std::erase_if(f.waiters, [&](const Waiter& w) { return w.owner != owner && w.expires <= now; });
  for (Waiter& w : f.waiters) {
    if (w.owner == owner) {  // keeps its place; the request may have changed
      w.range = range;
      w.kind = kind;
      w.expires = expires;
      return;
    }
  }
  f.waiters.push_back(Waiter{owner, range, kind, expires});
}

bool LockTable::Holds(const LockFile& file, uint64_t owner) const {
  auto it = files_.find(file);
  if (it == files_.end()) return false;
  return std::any_of(it->second.locks.begin(), it->second.locks.end(),
                     [&](const Lock& l) { return l.owner == owner; });
}

bool LockTable::HoldsAny(uint64_t owner) const {
  return std::any_of(files_.begin(), files_.end(), [&](const auto& kv) {
    return std::any_of(kv.second.locks.begin(), kv.second.locks.end(),
                       [&](const Lock& l) { return l.owner == owner; });
  });
}

void LockTable::RemoveOwner(uint64_t owner) {
  for (auto it = files_.begin(); it != files_.end();) {
    auto next = std::next(it);
    std::erase_if(it->second.locks, [&](const Lock& l) { return l.owner == owner; });
    std::erase_if(it->second.waiters, [&](const Waiter& w) { return w.owner == owner; });
    EraseIfEmpty(it);
    it = next;
  }
}

void LockTable::RemoveOwnerOnFile(const LockFile& file, uint64_t owner) {
  auto it = files_.find(file);
  if (it == files_.end()) return;
  std::erase_if(it->second.locks, [&](const Lock& l) { return l.owner == owner; });
  std::erase_if(it->second.waiters, [&](const Waiter& w) { return w.owner == owner; });
  EraseIfEmpty(it);
}

std::vector<LockConflict> LockTable::LocksOf(const LockFile& file) const {
  std::vector<LockConflict> out;
  auto it = files_.find(file);
  if (it == files_.end()) return out;
  for (const Lock& l : it->second.locks) out.push_back({l.owner, l.range, l.kind});
  std::sort(out.begin(), out.end(), [](const LockConflict& a, const LockConflict& b) {
    return a.range.first < b.range.first || (a.range.first == b.range.first && a.owner < b.owner);
  });
  return out;
}

std::size_t LockTable::lock_count() const {
  std::size_t n = 0;
  for (const auto& [file, f] : files_) n += f.locks.size();
  return n;
}

void LockTable::EraseIfEmpty(std::map<LockFile, FileLocks>::iterator it) {
  if (it->second.empty()) files_.erase(it);
}

}  // namespace bucketfs::nfs
