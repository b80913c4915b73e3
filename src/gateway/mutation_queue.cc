#include "gateway/mutation_queue.h"

#include <algorithm>

namespace bucketfs::gateway {

bool MutationQueue::Overlap(const std::string& a, const std::string& b) {
  if (a == b) return true;
  auto contains = [](const std::string& prefix, const std::string& key) {
    return !prefix.empty() && prefix.back() == '/' && key.size() > prefix.size() &&
           key.compare(0, prefix.size(), prefix) == 0;
  };
  return contains(a, b) || contains(b, a) || a.empty() || b.empty();
}

void MutationQueue::Add(Mutation m) {
  std::lock_guard lock(mu_);
  if (m.kind != Mutation::Kind::kUpload) ++version_;
  m.running = false;
  pending_.insert_or_assign(m.id, std::move(m));
}

bool MutationQueue::Cancel(int64_t id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.running) return false;
  if (it->second.kind != Mutation::Kind::kUpload) ++version_;
  pending_.erase(it);
  return true;
}

void MutationQueue::Finish(int64_t id) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  if (it->second.kind != Mutation::Kind::kUpload) ++version_;
  pending_.erase(it);
}

void MutationQueue::SetReady(int64_t id, Clock::time_point at) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  auto& ready = it->second.ready_at;
  if (!ready || at < *ready) ready = at;
}

void MutationQueue::SetReadyIfUnset(int64_t id, Clock::time_point at) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it != pending_.end() && !it->second.ready_at) it->second.ready_at = at;
}

void MutationQueue::SetCopied(int64_t id) {
  std::lock_guard lock(mu_);
  if (auto it = pending_.find(id); it != pending_.end()) {
    it->second.copied = true;
    ++version_;
  }
}

void MutationQueue::Retry(int64_t id, Clock::time_point at) {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  it->second.running = false;
  it->second.running_keys.clear();
  it->second.ready_at = at;
}

std::optional<Mutation> MutationQueue::Get(int64_t id) const {
  std::lock_guard lock(mu_);
  auto it = pending_.find(id);
  if (it == pending_.end()) return std::nullopt;
  return it->second;
}

bool MutationQueue::HasUpload(uint64_t ino) const {
  std::lock_guard lock(mu_);
  return std::any_of(pending_.begin(), pending_.end(), [ino](const auto& entry) {
    return entry.second.kind == Mutation::Kind::kUpload && entry.second.ino == ino;
  });
}

std::vector<std::string> MutationQueue::KeysLocked(const Mutation& m,
                                                   const std::vector<std::string>* upload_keys) {
  switch (m.kind) {
    case Mutation::Kind::kUpload: {
      std::vector<std::string> keys = upload_keys ? *upload_keys : std::vector<std::string>{};
      keys.insert(keys.end(), m.running_keys.begin(), m.running_keys.end());
      return keys;
    }
    case Mutation::Kind::kMove:
      return {m.src, m.dst};
    case Mutation::Kind::kDelete:
      return {m.src};
  }
  return {};
}

std::vector<Mutation> MutationQueue::TakeRunnable(std::size_t max, Clock::time_point now,
                                                  const UploadKeyFn& upload_key,
                                                  std::optional<Clock::time_point>* next_wake) {
  // The keys of queued uploads come from `upload_key` (the inode table), which is asked before
  // taking mu_: the inode table calls PendingAway() under its own lock, so calling out while
  // holding mu_ would be a lock-order inversion (a deadlock of two threads).
  std::map<uint64_t, std::vector<std::string>> upload_keys;
  if (upload_key) {
    std::vector<uint64_t> inos;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, m] : pending_) {
        if (m.kind == Mutation::Kind::kUpload) inos.push_back(m.ino);
      }
    }
    for (uint64_t ino : inos) upload_keys.try_emplace(ino, upload_key(ino));
  }
  std::lock_guard lock(mu_);
  std::vector<Mutation> out;
  std::vector<std::vector<std::string>> earlier;  // keys of the unfinished mutations before
  bool unknown_earlier = false;  // an upload queued since the keys were looked up: blocks the rest
  for (auto& [id, m] : pending_) {
    const std::vector<std::string>* own_keys = nullptr;
    bool keys_unknown = false;
    if (m.kind == Mutation::Kind::kUpload && upload_key) {
      auto it = upload_keys.find(m.ino);
      if (it != upload_keys.end()) {
        own_keys = &it->second;
      } else {
        keys_unknown = true;  // started by a later pass, which looks them up
      }
    }
    std::vector<std::string> keys = KeysLocked(m, own_keys);
    bool blocked = unknown_earlier || keys_unknown;
    for (const auto& prev : earlier) {
      for (const auto& a : prev) {
        for (const auto& b : keys) blocked = blocked || Overlap(a, b);
      }
    }
    bool ready = true;
    if (m.kind == Mutation::Kind::kUpload || m.ready_at) {
      if (!m.ready_at) {
        ready = false;
      } else if (*m.ready_at > now) {
        ready = false;
        if (next_wake != nullptr && (!*next_wake || *m.ready_at < **next_wake)) {
          *next_wake = *m.ready_at;
        }
      }
    }
    if (!m.running && !blocked && ready && out.size() < max) {
      m.running = true;
      if (m.kind == Mutation::Kind::kUpload) m.running_keys = keys;
      out.push_back(m);
    }
    unknown_earlier = unknown_earlier || (keys_unknown && !m.running);
    earlier.push_back(std::move(keys));
  }
  return out;
}

std::string MutationQueue::Resolve(const std::string& key) const {
  std::lock_guard lock(mu_);
  std::string k = key;
  // Newest move first: a chain a→b, b→c resolves c to b to a.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    const Mutation& m = it->second;
    if (m.kind != Mutation::Kind::kMove || m.copied) continue;
    if (k == m.dst) {
      k = m.src;
    } else if (m.is_dir && k.size() > m.dst.size() && k.compare(0, m.dst.size(), m.dst) == 0) {
      k = m.src + k.substr(m.dst.size());
    }
  }
  return k;
}

bool MutationQueue::PendingAway(const std::string& key) const {
  std::lock_guard lock(mu_);
  for (const auto& [id, m] : pending_) {
    if (m.kind == Mutation::Kind::kUpload) continue;
    const std::string& away = m.src;
    if (key == away) return true;
    if (m.is_dir && key.size() > away.size() && key.compare(0, away.size(), away) == 0) {
      return true;
    }
  }
  return false;
}

std::size_t MutationQueue::size() const {
  std::lock_guard lock(mu_);
  return pending_.size();
}

std::size_t MutationQueue::running() const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& [id, m] : pending_) n += m.running;
  return n;
}

}  // namespace bucketfs::gateway
