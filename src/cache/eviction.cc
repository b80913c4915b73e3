#include "cache/eviction.h"

#include <algorithm>

namespace bucketfs::cache {

std::string_view PolicyName(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kLru:
      return "lru";
    case PolicyKind::kS3Fifo:
      return "s3fifo";
  }
  return "unknown";
}

std::optional<PolicyKind> ParsePolicy(std::string_view name) {
  if (name == "lru") return PolicyKind::kLru;
  if (name == "s3fifo" || name == "s3-fifo") return PolicyKind::kS3Fifo;
  return std::nullopt;
}

std::unique_ptr<EvictionPolicy> MakePolicy(PolicyKind kind, uint64_t capacity_bytes) {
  if (kind == PolicyKind::kLru) return std::make_unique<LruPolicy>();
  return std::make_unique<S3FifoPolicy>(capacity_bytes);
}

// ---- LRU ----

void LruPolicy::Insert(const std::string& id, uint64_t) {
  if (index_.count(id)) return Touch(id);
  order_.push_front(id);
  index_[id] = order_.begin();
}

void LruPolicy::Touch(const std::string& id) {
  auto it = index_.find(id);
  if (it != index_.end()) order_.splice(order_.begin(), order_, it->second);
}

void LruPolicy::Erase(const std::string& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

std::optional<std::string> LruPolicy::Evict() {
  if (order_.empty()) return std::nullopt;
  std::string id = std::move(order_.back());
  order_.pop_back();
  index_.erase(id);
  return id;
}

// ---- S3-FIFO ----

S3FifoPolicy::S3FifoPolicy(uint64_t capacity_bytes)
    : small_target_(std::max<uint64_t>(capacity_bytes / 10, 1)) {}

void S3FifoPolicy::Insert(const std::string& id, uint64_t bytes) {
  if (index_.count(id)) return Touch(id);
  Entry e;
  e.bytes = bytes;
  if (auto g = ghost_index_.find(id); g != ghost_index_.end()) {
    // Evicted from the small queue recently and wanted again: it belongs in main.
    ghost_.erase(g->second);
    ghost_index_.erase(g);
    e.in_main = true;
    main_.push_front(id);
    e.pos = main_.begin();
  } else {
    small_.push_front(id);
    e.pos = small_.begin();
    small_bytes_ += bytes;
  }
  index_.emplace(id, e);
  ghost_limit_ = std::max(ghost_limit_, index_.size());
}

void S3FifoPolicy::Touch(const std::string& id) {
  auto it = index_.find(id);
  if (it != index_.end()) it->second.freq = std::min<uint8_t>(it->second.freq + 1, 3);
}

void S3FifoPolicy::Erase(const std::string& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  if (it->second.in_main) {
    main_.erase(it->second.pos);
  } else {
    small_.erase(it->second.pos);
    small_bytes_ -= it->second.bytes;
  }
  index_.erase(it);
}

void S3FifoPolicy::Remember(const std::string& id) {
  ghost_.push_front(id);
  ghost_index_[id] = ghost_.begin();
  while (ghost_.size() > ghost_limit_) {
    ghost_index_.erase(ghost_.back());
    ghost_.pop_back();
  }
}

std::optional<std::string> S3FifoPolicy::Evict() {
  // Each pass either evicts or moves an entry (small → main, or main → main with a lower
  // frequency); frequencies only fall, so the loop ends.
  while (!index_.empty()) {
    if (!small_.empty() && (small_bytes_ >= small_target_ || main_.empty())) {
      std::string id = std::move(small_.back());
      small_.pop_back();
      Entry& e = index_.at(id);
      small_bytes_ -= e.bytes;
      if (e.freq > 0) {  // read again while in the small queue: promote
        e.in_main = true;
        e.freq = 0;
        main_.push_front(id);
        e.pos = main_.begin();
        continue;
      }
      index_.erase(id);
      Remember(id);
      return id;
    }
    std::string id = std::move(main_.back());
    main_.pop_back();
    Entry& e = index_.at(id);
    if (e.freq > 0) {
      --e.freq;
      main_.push_front(id);
      e.pos = main_.begin();
      continue;
    }
    index_.erase(id);
    return id;
  }
  return std::nullopt;
}

}  // namespace bucketfs::cache
