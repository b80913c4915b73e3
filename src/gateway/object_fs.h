// ObjectFileSystem: vfs::FileSystem over one ObjectStore (a bucket, or a key prefix of one),
// serving it read-only in its native layout (see gateway/key_mapping.h for the mapping rule).
//
// Namespace: an InodeTable, persisted write-behind to the metadata store when options.meta is set
// (inode numbers and handles then survive restarts; without it they last for the process). Each
// directory's contents come from ListObjectsV2 (delimiter "/", all pages) and are cached for
// `metadata_ttl`; concurrent loads of one directory are coalesced into one LIST sequence, and
// concurrent HEADs of one inode into one HEAD. File metadata (x-amz-meta-*) is read with one HEAD
// the first time a file's attributes are asked for (never by READDIR), then trusted for the TTL
// (a re-listing that shows the same ETag and LastModified also confirms it).
//
// Consistency: an object changed directly in the bucket becomes visible within metadata_ttl
// (within 5x its listing time for a directory that takes longer than a fifth of the TTL to list);
// Open() revalidates (close-to-open); Read() always sends If-Match with the known ETag, so bytes
// of two versions are never mixed: on a mismatch the inode is refreshed and the read retried once.
//
// Reads: with options.cache, READ is served from the shared block cache (blocks keyed by bucket,
// key, ETag and index; one ranged GET per missing block, shared by all concurrent readers), and
// sequential readers get read-ahead (gateway/read_ahead.h): the blocks ahead of them are fetched
// in parallel in the background. Without a cache every READ is one ranged GET.
//
// Ownership: shares the ObjectStore. Thread-safety: all methods may be called concurrently from
// any coroutines; no lock is held across a co_await.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/single_flight.h"
#include "cache/block_cache.h"
#include "gateway/inode_table.h"
#include "gateway/key_mapping.h"
#include "gateway/mutation_queue.h"
#include "gateway/read_ahead.h"
#include "gateway/staging.h"
#include "gateway/uploader.h"
#include "meta/async_meta_store.h"
#include "objstore/object_store.h"
#include "vfs/vfs.h"

namespace bucketfs::gateway {

struct ObjectFsOptions {
  // "" for the whole bucket, else a key prefix (normalised to end in "/").
  std::string prefix;
  // Mutations answer kReadOnly.
  bool read_only = true;
  // How long listings and object metadata are trusted before the bucket is asked again. This is
  // the bound on how late changes made directly in the bucket become visible. Default 5 s.
  std::chrono::steady_clock::duration metadata_ttl = std::chrono::seconds(5);
  uint32_t default_uid = 0;
  uint32_t default_gid = 0;
  uint32_t default_file_mode = 0644;
  uint32_t default_dir_mode = 0755;
  // A directory with more entries than this fails to load with kTooBig (bounds memory).
  std::size_t max_dir_entries = 5'000'000;
  // max-keys of each ListObjectsV2 page (S3 caps it at 1000).
  int list_page_size = 1000;
  // Symlink targets larger than this are refused (kInvalidArgument).
  uint64_t max_symlink_bytes = 4096;
  // Clock for TTLs; default std::chrono::steady_clock::now. Tests inject their own.
  std::function<SteadyTime()> clock;
  // Persistent namespace: the metadata store, this export's id in it and what OpenExport said.
  // Null: the namespace lives in memory only.
  std::shared_ptr<meta::AsyncMetaStore> meta;
  uint32_t export_id = 0;
  meta::ExportState export_state;
  // The shared block cache (may serve several exports). Null: READ goes straight to the store.
  std::shared_ptr<cache::BlockCache> cache;
  // Read-ahead for sequential readers (used with a cache; block_size is taken from the cache).
  ReadAheadOptions read_ahead;
  // ---- Write path. Writable when !read_only and staging_dir is set. ----
  // Staged files of this export live here (STATE_DIR/staging/EXPORT_ID).
  std::string staging_dir;
  // Staged files of an earlier run that no journal entry accounts for and that may hold data the
  // bucket lacks (the metadata store is new, was rebuilt or forgot the export) are moved here at
  // start, never removed (STATE_DIR/lost+found/EXPORT_ID). Empty: STAGING_DIR/lost+found.
  std::string lost_found_dir;
  // Disk work of the write path (staging files) runs here; required when writable.
  BlockingPool* pool = nullptr;
  UploaderOptions upload;
  // After the last CLOSE of a file, its upload starts this much later (a rename that follows at
  // once, as in write-temp-then-rename, then costs no server-side copy).
  std::chrono::milliseconds upload_delay{500};
  // A file still open but not written for this long is uploaded anyway.
  std::chrono::milliseconds idle_upload{5000};
  // A failed upload, copy or delete is tried again after this long (and logged).
  std::chrono::milliseconds retry_delay{5000};
  // S3 mutations (uploads, copies, deletes) in flight per export.
  std::size_t max_mutations = 8;
  // Staged-but-not-uploaded bytes allowed per export; past it writes get kUnavailable
  // (NFS4ERR_DELAY) until uploads free space.
  uint64_t staging_limit = uint64_t{10} << 30;
  // COMMIT and FILE_SYNC writes wait until the data is in S3 (not only on the gateway's disk).
  bool sync_upload = false;
  // False: the S3 side of writes stays queued in the journal (recovery tests, maintenance).
  bool apply_s3_changes = true;
  // NFS write verifier: must differ between runs of the gateway.
  uint64_t write_verifier = 1;
  // Where background block fetches (read-ahead) run, each on its own strand: the io_context's
  // executor. Empty: on the reader's executor — fine for tests, but an NFS connection's strand
  // would serialise every parallel GET's body processing on one thread.
  asio::any_io_executor background;
};

// Counters, for tests and metrics. Monotonic.
struct ObjectFsCounters {
  uint64_t lists = 0;            // ListObjectsV2 pages requested
  uint64_t heads = 0;            // HeadObject requests
  uint64_t gets = 0;             // GetObject requests
  uint64_t hidden_invalid = 0;   // keys hidden because their name is not a valid file name
  uint64_t hidden_shadowed = 0;  // objects hidden because a directory has the same name
};

// StatFs reports this constant capacity (1 PiB, all free) and this many free inodes: a bucket has
// no meaningful size limit and `df` must not show it full.
inline constexpr uint64_t kStatFsTotalBytes = uint64_t{1} << 50;
inline constexpr uint64_t kStatFsFreeFiles = uint64_t{1} << 32;

class ObjectFileSystem : public vfs::FileSystem {
 public:
  ObjectFileSystem(std::shared_ptr<objstore::ObjectStore> store, ObjectFsOptions options);
  ~ObjectFileSystem() override;

  vfs::InodeId RootInode() const override { return kRootInode; }
  bool ReadOnly() const override { return options_.read_only; }

  Awaitable<Result<vfs::Attr>> GetAttr(vfs::InodeId ino) override;
  Awaitable<Result<vfs::Attr>> Lookup(vfs::InodeId dir, std::string name) override;
  Awaitable<Result<vfs::Attr>> Parent(vfs::InodeId dir) override;
  Awaitable<Result<vfs::DirPage>> ReadDir(vfs::InodeId dir, uint64_t cookie,
                                          std::size_t max_entries) override;
  Awaitable<Result<vfs::Attr>> Open(vfs::InodeId ino) override;
  Awaitable<Result<vfs::ReadResult>> Read(vfs::InodeId ino, uint64_t offset,
                                          uint32_t count) override;
  Awaitable<Result<std::string>> ReadLink(vfs::InodeId ino) override;
  Awaitable<Result<vfs::FsStats>> StatFs() override;

  // ---- Mutations (vfs.h), object_fs_write.cc ----
  Awaitable<Result<vfs::Attr>> SetAttr(vfs::InodeId ino, vfs::SetAttrRequest request) override;
  Awaitable<Result<vfs::Attr>> Create(vfs::InodeId dir, std::string name,
                                      vfs::CreateRequest request) override;
  Awaitable<Result<vfs::WriteResult>> Write(vfs::InodeId ino, uint64_t offset, Bytes data,
                                            vfs::StableHow stable) override;
  Awaitable<Status> Commit(vfs::InodeId ino, uint64_t offset, uint64_t count) override;
  uint64_t WriteVerifier() const override { return options_.write_verifier; }
  Awaitable<void> Closed(vfs::InodeId ino) override;
  Awaitable<Status> Remove(vfs::InodeId dir, std::string name) override;
  Awaitable<Status> Rename(vfs::InodeId src_dir, std::string src_name, vfs::InodeId dst_dir,
                           std::string dst_name) override;
  Awaitable<Result<vfs::Attr>> Link(vfs::InodeId ino, vfs::InodeId dir, std::string name) override;
  Awaitable<Result<uint64_t>> CopyRange(vfs::InodeId src, uint64_t src_offset, vfs::InodeId dst,
                                        uint64_t dst_offset, uint64_t count) override;
  Awaitable<Status> Deallocate(vfs::InodeId ino, uint64_t offset, uint64_t length) override;

  // Write path start: loads the journal this export left behind (pending uploads, renames,
  // deletes; their staged files) and starts applying it. Call once before serving. Staged files
  // the journal no longer needs (uploaded, removed, never committed) are removed; those it cannot
  // account for (a new, rebuilt or reset namespace; a pending upload that cannot be resumed) are
  // moved to lost_found_dir and logged as an error. Fails when they cannot be moved.
  Awaitable<Status> StartWritePath();
  // Makes every pending upload start now and waits until the S3 side has caught up with
  // everything or `timeout` passed (then kTimeout). For shutdown and tests.
  Awaitable<Status> Drain(std::chrono::milliseconds timeout);
  // Makes every staged write durable on the gateway (fsync + state files), e.g. at shutdown.
  Awaitable<Status> PersistStaged();
  // S3 mutations not yet applied (uploads, moves, deletes) and bytes staged locally.
  std::size_t pending_mutations() const { return mutations_.size(); }
  uint64_t staged_bytes() const;
  struct WriteStats {
    uint64_t staged_bytes = 0;  // written, not yet uploaded
    uint64_t staged_files = 0;
    uint64_t pending_mutations = 0;  // journal backlog (uploads, renames, deletes)
    uint64_t running_mutations = 0;
    uint64_t uploaded_bytes = 0;      // bytes sent by uploads (parts copied server-side excluded)
    uint64_t failures = 0;            // failed S3 mutations (each retried)
    uint64_t server_side_copies = 0;  // whole-file COPYs done with CopyObject
    uint64_t kept_staged_files = 0;   // moved to lost_found_dir at start (see StartWritePath)
  };
  WriteStats write_stats() const;

  // Forces revalidation of `path` (relative to the export root; "" or "/" is the root) without
  // waiting for the TTL: every directory on the way is re-listed, then the object itself is
  // HEADed (a directory: re-listed and its marker HEADed). Not recursive. kNotFound when the path
  // does not exist in the bucket any more.
  Awaitable<Status> Refresh(std::string path);

  ObjectFsCounters counters() const;
  // options().metadata_ttl is the TTL the file system started with; metadata_ttl() is the one in
  // force, which SetMetadataTtl changes (a config reload) for every later freshness check.
  const ObjectFsOptions& options() const { return options_; }
  SteadyTime::duration metadata_ttl() const {
    return SteadyTime::duration(metadata_ttl_.load(std::memory_order_relaxed));
  }
  void SetMetadataTtl(SteadyTime::duration ttl) {
    metadata_ttl_.store(ttl.count(), std::memory_order_relaxed);
  }

 private:
  static Status ReadOnlyError() { return Status(ErrorCode::kReadOnly, "read-only file system"); }

  // ---- Write path internals (object_fs_write.cc) ----
  struct Staged {
    std::shared_ptr<StagedFile> file;
    int64_t upload_id = 0;  // journal id of its pending upload
    SteadyTime last_write{};
  };
  bool Writable() const { return !options_.read_only && !options_.staging_dir.empty(); }
  std::shared_ptr<StagedFile> FindStaged(vfs::InodeId ino) const;
  // Whether the upload of staged file `ino` is running now.
  bool UploadRunning(vfs::InodeId ino) const;
  // The staged file of `rec`, creating it (on its object) at the first write.
  Awaitable<Result<std::shared_ptr<StagedFile>>> Stage(const InodeRecord& rec);
  Awaitable<Result<std::shared_ptr<StagedFile>>> StageNew(InodeRecord rec);
  // A journal entry for this export's S3 side, and the queue item it becomes.
  int64_t NextJournalId();
  meta::Batch::JournalAppend Journal(const Mutation& m) const;
  // Queues an upload of `ino` (returns its journal id), cancelling an earlier pending one.
  Mutation UploadMutation(vfs::InodeId ino, std::optional<SteadyTime> ready_at);
  Awaitable<Status> FlushMeta();
  // REMOVE of one name of a file with hard links.
  Awaitable<Status> RemoveLinkName(vfs::InodeId dir, const std::string& name,
                                   const InodeRecord& child);
  Awaitable<Result<vfs::Attr>> CreateNode(vfs::InodeId dir, const std::string& name,
                                          const vfs::CreateRequest& request);
  Status CheckBackpressure(uint64_t more) const;
  // CopyRange of a whole object into an empty new file as one CopyObject; false when the files
  // are not like that (the caller copies through the gateway).
  Awaitable<Result<bool>> CopyWholeObject(vfs::InodeId src, vfs::InodeId dst);
  // Runs the mutations that may start now; arms a timer for delayed ones.
  void Kick(asio::any_io_executor ex);
  Awaitable<void> Pump();
  Awaitable<void> RunMutation(Mutation m);
  Awaitable<Status> ApplyUpload(const Mutation& m);
  Awaitable<Status> ApplyMove(const Mutation& m);
  // Copies the object at `from` (ETag `etag`) to every hard link of `rec`.
  Awaitable<Status> CopyToLinks(const InodeRecord& rec, std::string from, std::string etag);
  Awaitable<Status> ApplyDelete(const Mutation& m);
  Awaitable<Result<vfs::ReadResult>> ReadStaged(const InodeRecord& rec,
                                                const std::shared_ptr<StagedFile>& file,
                                                uint64_t offset, uint32_t count);
  // The key an object's bytes are at now (differs from rec.key while a rename is copying).
  std::string DataKey(const std::string& key) const { return mutations_.Resolve(key); }
  asio::any_io_executor BackgroundExecutor() const;
  using SnapshotResult = Result<std::shared_ptr<const DirSnapshot>>;

  SteadyTime Now() const { return options_.clock(); }
  bool IsFresh(SteadyTime t) const { return Now() - t < metadata_ttl(); }
  // A listing is fresh for the TTL, or for kListTimeFactor times as long as it took to list when
  // that is longer: a directory whose listing outlasts the TTL (100,000 keys are 100 LIST pages)
  // would otherwise be re-listed without pause by every GETATTR of it.
  static constexpr int kListTimeFactor = 5;
  bool IsFresh(const DirSnapshot& snap) const {
    return Now() - snap.loaded_at <
           std::max<SteadyTime::duration>(metadata_ttl(), kListTimeFactor * snap.list_time);
  }

  // A directory's first listing in progress: READDIR serves its entries as LIST pages arrive
  // instead of waiting for the last page. Shared by the loader and its waiters.
  struct DirStream {
    std::mutex mu;
    std::vector<DirSnapshot::Child> children;  // final entries so far, in listing order
    bool done = false;
    Status status;  // when done
    // Set (and replaced by a fresh one) whenever children grows or the load ends.
    std::shared_ptr<AsyncLatch<bool>> progress = std::make_shared<AsyncLatch<bool>>();
  };

  // The listing of `dir`, loading it (coalesced) when absent or older than the TTL.
  Awaitable<SnapshotResult> LoadDir(vfs::InodeId dir);
  // The listing the table holds for `dir` (adopting the persisted one after a restart), possibly
  // expired; nullptr when the directory was never listed.
  Awaitable<SnapshotResult> CachedListing(vfs::InodeId dir);
  Awaitable<SnapshotResult> ListAndApply(vfs::InodeId dir, std::string prefix, bool force);
  // All pages of the listing of `prefix`; `on_page` (may be empty) sees the classifier after
  // every page.
  Awaitable<Result<DirListing>> ListAll(const std::string& prefix,
                                        const std::function<void(ListingClassifier&)>& on_page);
  // ListAll of where `prefix`'s objects are now, redone when a rename moved them meanwhile.
  Awaitable<Result<DirListing>> ListAllStable(const std::string& prefix);
  // The stream loading `dir`'s first listing, started on `ex` unless one is running.
  std::shared_ptr<DirStream> StartOrJoinStream(vfs::InodeId dir, const std::string& prefix,
                                               const asio::any_io_executor& ex);
  Awaitable<void> RunStream(vfs::InodeId dir, std::string prefix,
                            std::shared_ptr<DirStream> stream);
  // Until the stream holds at least `want` entries or has ended.
  static Awaitable<void> WaitStream(DirStream& stream, std::size_t want);
  static void Publish(DirStream& stream, std::vector<DirSnapshot::Child> more, const Status* end);
  // One READDIR page of `children` from index `start`.
  Result<vfs::DirPage> MakePage(const std::vector<DirSnapshot::Child>& children, std::size_t start,
                                std::size_t max_entries, uint64_t verifier, bool complete) const;
  // The inode's record, HEADing first when its metadata is unknown or (when `revalidate`) older
  // than the TTL. Concurrent HEADs of one inode are coalesced.
  Awaitable<Result<InodeRecord>> Current(vfs::InodeId ino, bool revalidate);
  // HEADs the inode's object (a directory's marker) and records the answer. Unless `force`, skips
  // the request when the table already holds fresh metadata (a coalesced caller got there first).
  Awaitable<Result<InodeRecord>> HeadAndApply(vfs::InodeId ino, bool force);
  Awaitable<Result<vfs::Attr>> DirAttr(const InodeRecord& rec);
  // One ranged GET with If-Match; no request at/after EOF.
  Awaitable<Result<vfs::ReadResult>> ReadOnce(const InodeRecord& rec, uint64_t offset,
                                              uint32_t count);
  struct ReadOutcome {
    vfs::ReadResult result;
    std::string etag;  // the ETag the bytes belong to
  };
  // ReadOnce through the block cache: the blocks covering the range, the later ones prefetched
  // in parallel, then the read-ahead plan started in the background.
  Awaitable<Result<vfs::ReadResult>> ReadCached(const InodeRecord& rec, uint64_t offset,
                                                uint64_t len);
  // The cache's name for block `index` of the object's current version, and how to fetch it.
  cache::BlockKey BlockKeyFor(const InodeRecord& rec, uint64_t index) const;
  cache::Fetch BlockFetcher(const InodeRecord& rec, uint64_t index);
  Awaitable<Result<Bytes>> FetchBlock(std::string key, std::string etag, uint64_t offset,
                                      uint64_t len);
  // ReadOnce, and on a replaced/deleted object one HEAD and one retry.
  Awaitable<Result<ReadOutcome>> ReadRetrying(InodeRecord rec, uint64_t offset, uint32_t count);

  Result<InodeRecord> GetRecord(vfs::InodeId ino) const;
  // GetRecord, loading the inode from the metadata store when the table does not hold it yet
  // (after a restart). kStale when neither knows it.
  Awaitable<Result<InodeRecord>> LoadRecord(vfs::InodeId ino);
  static InodeTableOptions TableOptions(const ObjectFsOptions& options);
  static ReadAheadOptions ReadAheadFor(const ObjectFsOptions& options);
  vfs::Attr ToAttr(const InodeRecord& rec) const;
  vfs::Attr ToAttrUnstaged(const InodeRecord& rec) const;
  // ApplyListing's filter: keys the write path is removing or moving away (empty when idle).
  std::function<bool(const std::string&, bool)> PendingAwayFn() const;
  void NoteHidden(const DirListing& listing);

  std::shared_ptr<objstore::ObjectStore> store_;
  ObjectFsOptions options_;
  std::atomic<SteadyTime::rep> metadata_ttl_{options_.metadata_ttl.count()};
  // mtime of directories without a marker: when the export's namespace began (persisted, so it
  // survives restarts), or this process's start without a metadata store.
  vfs::Timespec mount_time_;
  InodeTable table_;
  SingleFlight<vfs::InodeId, SnapshotResult> dir_loads_;
  SingleFlight<vfs::InodeId, Result<InodeRecord>> heads_;
  ReadAhead read_ahead_;

  std::atomic<uint64_t> lists_{0}, heads_count_{0}, gets_{0};
  std::atomic<uint64_t> hidden_invalid_{0}, hidden_shadowed_{0};
  std::mutex streams_mu_;
  std::unordered_map<vfs::InodeId, std::shared_ptr<DirStream>> streams_;
  // Write path.
  std::unique_ptr<Uploader> uploader_;
  MutationQueue mutations_;
  mutable std::mutex staged_mu_;
  std::unordered_map<vfs::InodeId, Staged> staged_;
  std::unordered_map<vfs::InodeId, uint64_t> create_verifiers_;  // exclusive creates (memory)
  SingleFlight<vfs::InodeId, Result<std::shared_ptr<StagedFile>>> stagings_;
  std::atomic<int64_t> local_journal_id_{0};  // without a metadata store
  std::atomic<bool> pump_scheduled_{false};
  std::mutex timer_mu_;
  std::shared_ptr<asio::steady_timer> timer_;
  std::optional<SteadyTime> timer_at_;
  asio::any_io_executor first_executor_;  // without options.background: the first caller's
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> write_failures_{0}, uploaded_bytes_{0}, server_side_copies_{0};
  std::atomic<uint64_t> kept_staged_files_{0};
  std::mutex warned_mu_;
  std::unordered_set<std::string> warned_keys_;  // bounded by kMaxWarnedKeys
};

}  // namespace bucketfs::gateway
