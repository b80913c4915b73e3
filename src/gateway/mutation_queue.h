// MutationQueue: the S3 side of the write path, waiting to be applied — uploads of staged files,
// moves (rename: copy then delete, per object for a directory) and deletes — in journal order.
//
// Ordering: a mutation may start only when no earlier unfinished mutation touches an
// overlapping key (the same key, or a directory prefix containing it). So a rename's copy never
// races the upload before it, a delete never overtakes the upload it cancels, and after a crash
// the journal replays in the same order. Unrelated mutations run in parallel (bounded by the
// caller).
//
// Reads during a move: until a move's copy phase is over, the objects still live under the
// source. Resolve(key) maps a key of the namespace to where its bytes are now; PendingAway(key)
// says a key the bucket still lists is on its way out (a move's source, a delete) and must not be
// shown.
//
// Thread-safety: every method locks one internal mutex; nothing blocks.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bucketfs::gateway {

struct Mutation {
  enum class Kind : uint8_t { kUpload, kMove, kDelete };
  int64_t id = 0;  // journal id: the order
  Kind kind = Kind::kUpload;
  uint64_t ino = 0;  // kUpload: the inode whose staged data / marker / metadata goes to S3
  std::string src;   // kMove: source key or prefix; kDelete: the key or prefix
  std::string dst;   // kMove: destination
  bool is_dir = false;
  bool copied = false;  // kMove: the copy phase is over (only deletes of the source remain)
  // kUpload: when it may start (write-back delay); nullopt: not yet (the file is still open).
  // Others: not before this time when set (retry after a failure).
  std::optional<std::chrono::steady_clock::time_point> ready_at;
  bool running = false;
  // kUpload while running: the keys it was taken with. Its inode may be removed or renamed while
  // the PUT is in flight; later mutations of those keys still wait for it.
  std::vector<std::string> running_keys;
};

class MutationQueue {
 public:
  using Clock = std::chrono::steady_clock;
  // The keys an upload of `ino` writes now (uploads follow their inode through renames; a file
  // with hard links has several).
  using UploadKeyFn = std::function<std::vector<std::string>(uint64_t ino)>;

  void Add(Mutation m);
  // Drops a mutation that has not started (superseded); false when it is running or unknown.
  bool Cancel(int64_t id);
  void Finish(int64_t id);
  // Sets an upload's start time (keeps an earlier one).
  void SetReady(int64_t id, Clock::time_point at);
  // Sets it only when none is set (a retry's backoff is not cut short).
  void SetReadyIfUnset(int64_t id, Clock::time_point at);
  void SetCopied(int64_t id);
  // A running mutation failed (or must run again): it may start again at `at`.
  void Retry(int64_t id, Clock::time_point at);
  std::optional<Mutation> Get(int64_t id) const;
  // True when an upload of `ino` is queued or running.
  bool HasUpload(uint64_t ino) const;

  // Marks up to `max` startable mutations running and returns them. `next_wake` receives the
  // earliest time a delayed upload becomes ready (unchanged when none). `upload_key` is called
  // without the queue's lock held (it may take locks whose holders call PendingAway()); an
  // upload queued while it runs waits for the next call, and so does every mutation after it.
  std::vector<Mutation> TakeRunnable(std::size_t max, Clock::time_point now,
                                     const UploadKeyFn& upload_key,
                                     std::optional<Clock::time_point>* next_wake);

  // Where the bytes of `key` (a file key or directory prefix) are now.
  std::string Resolve(const std::string& key) const;
  // True when the bucket's `key` is a pending move's source or a pending delete.
  bool PendingAway(const std::string& key) const;

  std::size_t size() const;
  std::size_t running() const;
  // Changes whenever Resolve() or PendingAway() may answer differently (a move or delete was
  // added, finished its copy phase or ended): a LIST that ran across such a change is redone.
  uint64_t version() const { return version_.load(); }

  // a and b overlap: equal, or one is a directory prefix ("…/") of the other.
  static bool Overlap(const std::string& a, const std::string& b);

 private:
  // The keys `m` touches; `upload_keys` are an upload's current keys (looked up beforehand).
  static std::vector<std::string> KeysLocked(const Mutation& m,
                                             const std::vector<std::string>* upload_keys);

  mutable std::mutex mu_;
  std::map<int64_t, Mutation> pending_;  // by id
  std::atomic<uint64_t> version_{0};
};

}  // namespace bucketfs::gateway
