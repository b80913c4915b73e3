// Eviction policies for the cache tiers: which cached block to drop when a tier is full.
//
//  * LRU: drop the least recently used block.
//  * S3-FIFO (Yang et al., "FIFO queues are all you need for cache eviction", SOSP 2023): new
//    blocks enter a small FIFO (10% of the capacity); blocks read again while there move to the
//    main FIFO, the others are dropped and remembered in a ghost queue (names only), so a block
//    that comes back soon goes straight to main. Main is a FIFO with reinsertion of blocks read
//    since they were last considered (2-bit frequency). A one-time scan passes through the small
//    queue without flushing the hot blocks in main, which LRU cannot do.
//
// Entries are named by a string id (BlockKey::Encode()) and weighted in bytes. A policy only
// orders entries; the tier that owns it decides when to evict and does the dropping.
// Thread-compatible: the owning tier serialises calls under its own mutex.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace bucketfs::cache {

enum class PolicyKind { kLru, kS3Fifo };

std::string_view PolicyName(PolicyKind kind);
// "lru" or "s3fifo".
std::optional<PolicyKind> ParsePolicy(std::string_view name);

class EvictionPolicy {
 public:
  virtual ~EvictionPolicy() = default;
  // A new entry (not present).
  virtual void Insert(const std::string& id, uint64_t bytes) = 0;
  // A hit on a present entry.
  virtual void Touch(const std::string& id) = 0;
  // Removes a present entry (dropped for another reason than eviction).
  virtual void Erase(const std::string& id) = 0;
  // Picks and removes the next entry to evict; nullopt when empty.
  virtual std::optional<std::string> Evict() = 0;
  virtual std::size_t size() const = 0;
};

// `capacity_bytes` sizes S3-FIFO's small queue and ghost; LRU ignores it.
std::unique_ptr<EvictionPolicy> MakePolicy(PolicyKind kind, uint64_t capacity_bytes);

class LruPolicy : public EvictionPolicy {
 public:
  void Insert(const std::string& id, uint64_t bytes) override;
  void Touch(const std::string& id) override;
  void Erase(const std::string& id) override;
  std::optional<std::string> Evict() override;
  std::size_t size() const override { return index_.size(); }

 private:
  std::list<std::string> order_;  // front = most recent
  std::unordered_map<std::string, std::list<std::string>::iterator> index_;
};

class S3FifoPolicy : public EvictionPolicy {
 public:
  explicit S3FifoPolicy(uint64_t capacity_bytes);
  void Insert(const std::string& id, uint64_t bytes) override;
  void Touch(const std::string& id) override;
  void Erase(const std::string& id) override;
  std::optional<std::string> Evict() override;
  std::size_t size() const override { return index_.size(); }

 private:
  struct Entry {
    uint64_t bytes = 0;
    uint8_t freq = 0;  // 0..3
    bool in_main = false;
    std::list<std::string>::iterator pos;
  };
  void Remember(const std::string& id);  // into the ghost queue

  uint64_t small_target_;  // bytes
  uint64_t small_bytes_ = 0;
  std::size_t ghost_limit_ = 0;          // entries; follows the number of entries cached
  std::list<std::string> small_, main_;  // front = newest
  std::unordered_map<std::string, Entry> index_;
  std::list<std::string> ghost_;  // front = newest
  std::unordered_map<std::string, std::list<std::string>::iterator> ghost_index_;
};

}  // namespace bucketfs::cache
