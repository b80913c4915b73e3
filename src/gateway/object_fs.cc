#include "gateway/object_fs.h"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <utility>

#include "base/log.h"

namespace bucketfs::gateway {

namespace {

constexpr std::size_t kMaxWarnedKeys = 1000;
constexpr uint64_t kBlockSize = 4096;
constexpr uint64_t kFirstCookie = 3;  // 0, 1 and 2 are reserved by NFSv4

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  return h;
}

uint64_t HashString(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

uint64_t Nanos(std::chrono::system_clock::time_point tp) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
}

std::string_view HideReasonText(const HiddenKey& h) {
  switch (h.reason) {
    case HideReason::kInvalidName:
      return NameCheckText(h.name_check);
    case HideReason::kShadowedByDirectory:
      return "a directory has the same name";
    case HideReason::kOutsidePrefix:
      return "key outside the listed prefix";
  }
  return "unknown";
}

}  // namespace

ObjectFileSystem::ObjectFileSystem(std::shared_ptr<objstore::ObjectStore> store,
                                   ObjectFsOptions options)
    : store_(std::move(store)),
      options_(std::move(options)),
      mount_time_(ToTimespec(options_.export_state.created_at_ms != 0
                                 ? std::chrono::system_clock::time_point(std::chrono::milliseconds(
                                       options_.export_state.created_at_ms))
                                 : std::chrono::system_clock::now())),
      table_(NormalizeExportPrefix(options_.prefix), TableOptions(options_)),
      read_ahead_(ReadAheadFor(options_)) {
  options_.prefix = NormalizeExportPrefix(options_.prefix);
  if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
  options_.list_page_size = std::clamp(options_.list_page_size, 1, 1000);
  if (options_.max_dir_entries == 0) options_.max_dir_entries = 1;
  if (options_.max_mutations == 0) options_.max_mutations = 1;
  if (Writable() && options_.pool != nullptr) {
    uploader_ = std::make_unique<Uploader>(store_, *options_.pool, options_.upload);
  } else {
    options_.read_only = true;  // writable needs a staging directory and a blocking pool
  }
}

ObjectFileSystem::~ObjectFileSystem() {
  stopping_ = true;
  std::lock_guard lock(timer_mu_);
  if (timer_) timer_->cancel();
}

ReadAheadOptions ObjectFileSystem::ReadAheadFor(const ObjectFsOptions& options) {
  ReadAheadOptions r = options.read_ahead;
  if (options.cache) r.block_size = options.cache->options().block_size;
  return r;
}

InodeTableOptions ObjectFileSystem::TableOptions(const ObjectFsOptions& options) {
  InodeTableOptions t;
  t.export_id = options.export_id;
  t.next_ino = options.export_state.next_ino;
  if (options.meta) {
    t.generation = options.meta->BootGeneration();
    std::weak_ptr<meta::AsyncMetaStore> weak = options.meta;
    t.persist = [weak](meta::Batch b) {
      if (auto m = weak.lock()) m->Submit(std::move(b));
    };
  }
  return t;
}

Awaitable<Result<InodeRecord>> ObjectFileSystem::LoadRecord(vfs::InodeId ino) {
  if (auto rec = table_.Get(ino); rec || !options_.meta) co_return GetRecord(ino);
  BFS_CO_ASSIGN_OR_RETURN(auto row, co_await options_.meta->GetInode(options_.export_id, ino));
  if (!row) co_return Status(ErrorCode::kStale, "unknown inode " + std::to_string(ino));
  table_.Adopt(*row, Now());
  co_return GetRecord(ino);
}

ObjectFsCounters ObjectFileSystem::counters() const {
  return {lists_.load(), heads_count_.load(), gets_.load(), hidden_invalid_.load(),
          hidden_shadowed_.load()};
}

Result<InodeRecord> ObjectFileSystem::GetRecord(vfs::InodeId ino) const {
  auto rec = table_.Get(ino);
  if (!rec) return Status(ErrorCode::kStale, "unknown inode " + std::to_string(ino));
  if (rec->stale) return Status(ErrorCode::kStale, "gone from the bucket: " + rec->key);
  return std::move(*rec);
}

// ---- Directory listings ----

Awaitable<ObjectFileSystem::SnapshotResult> ObjectFileSystem::CachedListing(vfs::InodeId dir) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(dir));
  if (!rec.is_dir) co_return Status(ErrorCode::kNotDir, rec.key);
  auto snap = table_.Listing(dir);
  if (!snap && options_.meta) {
    // After a restart: the persisted listing, served without a LIST while its TTL holds.
    BFS_CO_ASSIGN_OR_RETURN(auto contents, co_await options_.meta->GetDir(options_.export_id, dir));
    if (contents) table_.AdoptListing(dir, *contents, Now());
    snap = table_.Listing(dir);
  }
  co_return snap;
}

Awaitable<ObjectFileSystem::SnapshotResult> ObjectFileSystem::LoadDir(vfs::InodeId dir) {
  BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await CachedListing(dir));
  if (snap && IsFresh(*snap)) co_return snap;
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, GetRecord(dir));
  if (!snap) {
    // First listing: join (or start) the stream that READDIR may already be serving from.
    auto stream = StartOrJoinStream(dir, rec.key, co_await asio::this_coro::executor);
    if (stream) {
      co_await WaitStream(*stream, SIZE_MAX);
      Status status;
      {
        std::lock_guard lock(stream->mu);
        status = stream->status;
      }
      if (!status.ok()) co_return status;
    }
    snap = table_.Listing(dir);
    if (snap) co_return snap;
  }
  // A named lambda capturing a frame local: GCC 12 mishandles lambda temporaries with non-trivial
  // captures inside co_await expressions.
  auto work = [this, dir, &rec] { return ListAndApply(dir, rec.key, false); };
  co_return co_await dir_loads_.Run(dir, work);
}

Awaitable<ObjectFileSystem::SnapshotResult> ObjectFileSystem::ListAndApply(vfs::InodeId dir,
                                                                           std::string prefix,
                                                                           bool force) {
  // A load that finished just before this one was started is good enough.
  auto snap = table_.Listing(dir);
  if (!force && snap && IsFresh(*snap)) co_return snap;
  const SteadyTime started = Now();
  BFS_CO_ASSIGN_OR_RETURN(DirListing listing, co_await ListAllStable(prefix));
  NoteHidden(listing);
  co_return table_.ApplyListing(dir, std::move(listing), Now(), PendingAwayFn(), started);
}

Awaitable<Result<DirListing>> ObjectFileSystem::ListAll(
    const std::string& prefix, const std::function<void(ListingClassifier&)>& on_page) {
  ListingClassifier classifier(prefix);
  objstore::ListRequest req;
  req.prefix = prefix;
  req.delimiter = "/";
  req.max_keys = options_.list_page_size;
  for (;;) {
    ++lists_;
    auto page = co_await store_->List(req);
    if (!page.ok()) {
      co_return page.status().WithContext("listing s3://" + store_->bucket() + "/" + prefix);
    }
    classifier.AddPage(*page);
    if (classifier.size() > options_.max_dir_entries) {
      co_return Status(ErrorCode::kTooBig,
                       "directory s3://" + store_->bucket() + "/" + prefix + " has more than " +
                           std::to_string(options_.max_dir_entries) + " entries (max_dir_entries)");
    }
    if (on_page) on_page(classifier);
    if (page->next_continuation_token.empty()) break;
    if (page->next_continuation_token == req.continuation_token) {
      co_return ProtocolError("listing s3://" + store_->bucket() + "/" + prefix +
                              ": continuation token did not advance");
    }
    req.continuation_token = std::move(page->next_continuation_token);
  }
  co_return std::move(classifier).Finish();
}

Awaitable<Result<DirListing>> ObjectFileSystem::ListAllStable(const std::string& prefix) {
  // A rename whose copy phase ends during the LIST deletes the source keys being listed: redo
  // such a listing from where the objects are now (bounded; the last one is taken as it is).
  for (int attempt = 0;; ++attempt) {
    const uint64_t moves = mutations_.version();
    auto listing = co_await ListAll(DataKey(prefix), {});
    if (!listing.ok() || mutations_.version() == moves || attempt == 3) co_return listing;
  }
}

std::shared_ptr<ObjectFileSystem::DirStream> ObjectFileSystem::StartOrJoinStream(
    vfs::InodeId dir, const std::string& prefix, const asio::any_io_executor& ex) {
  std::shared_ptr<DirStream> stream;
  {
    std::lock_guard lock(streams_mu_);
    if (auto it = streams_.find(dir); it != streams_.end()) return it->second;
    // A stream that just ended applied its listing before leaving streams_: no second LIST.
    if (table_.Listing(dir)) return nullptr;
    stream = std::make_shared<DirStream>();
    streams_.emplace(dir, stream);
  }
  // Spawned outside streams_mu_: co_spawn may start RunStream inline, and it takes the lock.
  asio::co_spawn(ex, RunStream(dir, prefix, stream), asio::detached);
  return stream;
}

Awaitable<void> ObjectFileSystem::RunStream(vfs::InodeId dir, std::string prefix,
                                            std::shared_ptr<DirStream> stream) {
  auto on_page = [this, dir, &stream](ListingClassifier& classifier) {
    std::vector<ListedEntry> final_entries = classifier.TakeFinal();
    if (final_entries.empty()) return;
    Publish(*stream, table_.AddStreamed(dir, std::move(final_entries), Now()), nullptr);
  };
  const uint64_t moves = mutations_.version();
  const SteadyTime started = Now();
  auto listing = co_await ListAll(DataKey(prefix), on_page);
  if (listing.ok() && mutations_.version() != moves) {
    // A rename's copy finished meanwhile: what was listed may be half gone. List again (the
    // entries streamed so far stay: they are still there under the new keys).
    listing = co_await ListAllStable(prefix);
  }
  Status status;
  if (listing.ok()) {
    NoteHidden(*listing);
    auto applied =
        table_.ApplyListing(dir, std::move(listing).value(), Now(), PendingAwayFn(), started);
    if (!applied.ok()) status = applied.status();
  } else {
    status = listing.status();
  }
  {
    std::lock_guard lock(streams_mu_);
    streams_.erase(dir);
  }
  Publish(*stream, {}, &status);
}

void ObjectFileSystem::Publish(DirStream& stream, std::vector<DirSnapshot::Child> more,
                               const Status* end) {
  std::shared_ptr<AsyncLatch<bool>> fired;
  {
    std::lock_guard lock(stream.mu);
    for (auto& c : more) stream.children.push_back(std::move(c));
    if (end != nullptr) {
      stream.done = true;
      stream.status = *end;
    }
    fired = std::exchange(stream.progress, std::make_shared<AsyncLatch<bool>>());
  }
  fired->Set(true);
}

Awaitable<void> ObjectFileSystem::WaitStream(DirStream& stream, std::size_t want) {
  for (;;) {
    std::shared_ptr<AsyncLatch<bool>> latch;
    {
      std::lock_guard lock(stream.mu);
      if (stream.done || stream.children.size() >= want) co_return;
      latch = stream.progress;
    }
    co_await latch->Wait();
  }
}

void ObjectFileSystem::NoteHidden(const DirListing& listing) {
  for (const auto& h : listing.hidden) {
    if (h.reason == HideReason::kShadowedByDirectory) {
      ++hidden_shadowed_;
    } else {
      ++hidden_invalid_;
    }
    std::lock_guard lock(warned_mu_);
    if (warned_keys_.size() >= kMaxWarnedKeys || !warned_keys_.insert(h.key).second) continue;
    BFS_LOG_WARN("s3://{}/{} is hidden: {}{}", store_->bucket(), h.key, HideReasonText(h),
                 warned_keys_.size() == kMaxWarnedKeys ? " (further hidden keys not logged)" : "");
  }
}

std::function<bool(const std::string&, bool)> ObjectFileSystem::PendingAwayFn() const {
  if (mutations_.size() == 0) return {};
  return [this](const std::string& key, bool) { return mutations_.PendingAway(key); };
}

// ---- Object metadata ----

Awaitable<Result<InodeRecord>> ObjectFileSystem::Current(vfs::InodeId ino, bool revalidate) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(ino));
  if (rec.is_dir && rec.key.empty()) co_return rec;  // bucket root: no marker possible
  // What the gateway wrote and has not uploaded yet is newer than anything the bucket says.
  if (rec.local || FindStaged(ino)) co_return rec;
  bool need = !rec.meta_known || (revalidate && !IsFresh(rec.validated_at));
  if (!need) co_return rec;
  auto work = [this, ino] { return HeadAndApply(ino, false); };
  co_return co_await heads_.Run(ino, work);
}

Awaitable<Result<InodeRecord>> ObjectFileSystem::HeadAndApply(vfs::InodeId ino, bool force) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, GetRecord(ino));
  if (!force && rec.meta_known && IsFresh(rec.validated_at)) co_return rec;
  if (rec.local || FindStaged(ino)) co_return rec;
  ++heads_count_;
  auto head = co_await store_->Head(DataKey(rec.key));
  if (!head.ok()) {
    if (head.status().code() != ErrorCode::kNotFound) {
      co_return head.status().WithContext("HEAD s3://" + store_->bucket() + "/" + rec.key);
    }
    if (rec.is_dir) {
      table_.ApplyNoMarker(ino, Now());  // an implicit directory
    } else {
      table_.MarkStale(ino);
      co_return Status(ErrorCode::kStale, "gone from the bucket: " + rec.key);
    }
  } else {
    table_.ApplyHead(ino, *head, Now());
  }
  co_return GetRecord(ino);
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::DirAttr(const InodeRecord& rec) {
  // A directory that was listed before is re-listed when its listing expired, so that its
  // `change` attribute tells clients about new and removed entries.
  bool listed = rec.listing_verifier != 0;
  if (!listed && options_.meta) {
    // After a restart: a listing persisted by the last run makes this a listed directory.
    BFS_CO_ASSIGN_OR_RETURN(auto cached, co_await CachedListing(rec.ino));
    listed = cached != nullptr;
  }
  if (listed) {
    BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await LoadDir(rec.ino));
    (void)snap;
  }
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord cur, co_await Current(rec.ino, false));
  co_return ToAttr(cur);
}

vfs::Attr ObjectFileSystem::ToAttrUnstaged(const InodeRecord& rec) const {
  vfs::Attr a;
  a.ino = rec.ino;
  a.generation = rec.generation;
  a.uid = rec.meta.uid.value_or(options_.default_uid);
  a.gid = rec.meta.gid.value_or(options_.default_gid);
  vfs::Timespec modified = ToTimespec(rec.last_modified);
  if (rec.is_dir) {
    a.type = vfs::FileType::kDirectory;
    a.mode = rec.meta.mode ? (*rec.meta.mode & kModePermMask) : options_.default_dir_mode;
    a.nlink = 2;
    a.size = kBlockSize;
    a.space_used = kBlockSize;
    if (!rec.has_marker) modified = mount_time_;
    a.mtime = rec.meta.mtime.value_or(modified);
    a.ctime = modified;
    uint64_t h = Mix(rec.listing_verifier, HashString(rec.etag));
    a.change = Mix(h, Nanos(rec.last_modified));
  } else {
    a.type = IsSymlink(rec) ? vfs::FileType::kSymlink : vfs::FileType::kRegular;
    a.mode = rec.meta.mode ? (*rec.meta.mode & kModePermMask) : options_.default_file_mode;
    a.nlink = 1 + static_cast<uint32_t>(rec.links.size());
    a.size = rec.size;
    a.space_used = (rec.size + kBlockSize - 1) / kBlockSize * kBlockSize;
    a.mtime = rec.meta.mtime.value_or(modified);
    a.ctime = modified;
    a.change = Mix(HashString(rec.etag), Nanos(rec.last_modified));
    a.bucket_version = rec.bucket_version;
  }
  a.atime = a.mtime;
  if (a.change == 0) a.change = 1;
  return a;
}

// ---- vfs::FileSystem ----

Awaitable<Result<vfs::Attr>> ObjectFileSystem::GetAttr(vfs::InodeId ino) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(ino));
  if (rec.is_dir) co_return co_await DirAttr(rec);
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord cur, co_await Current(ino, true));
  co_return ToAttr(cur);
}

vfs::Attr ObjectFileSystem::ToAttr(const InodeRecord& rec) const {
  vfs::Attr a = ToAttrUnstaged(rec);
  auto file = FindStaged(rec.ino);
  if (!file) return a;
  // Being written: size, times and change come from the staged file.
  StagedState st = file->State();
  a.size = st.size;
  a.space_used = (st.size + kBlockSize - 1) / kBlockSize * kBlockSize;
  if (st.meta.mtime) a.mtime = *st.meta.mtime;
  if (st.meta.mode) a.mode = *st.meta.mode & kModePermMask;
  if (st.meta.uid) a.uid = *st.meta.uid;
  if (st.meta.gid) a.gid = *st.meta.gid;
  a.ctime = a.mtime;
  a.atime = a.mtime;
  a.change = Mix(Mix(a.change, st.version), Nanos(std::chrono::system_clock::time_point{}) + 1);
  if (a.change == 0) a.change = 1;
  return a;
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::Lookup(vfs::InodeId dir, std::string name) {
  NameCheck check = CheckName(name);
  if (check == NameCheck::kTooLong) co_return Status(ErrorCode::kNameTooLong, "name too long");
  if (check != NameCheck::kOk) {
    co_return NotFoundError(std::string("invalid name: ") + std::string(NameCheckText(check)));
  }
  BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await LoadDir(dir));
  auto index = snap->Find(name);
  if (!index) co_return NotFoundError("no such entry: " + name);
  auto attr = co_await GetAttr(snap->children[*index].ino);
  // The entry vanished after the listing was taken: the name is gone, the directory is not stale.
  if (!attr.ok() && attr.status().code() == ErrorCode::kStale) {
    co_return NotFoundError("no such entry: " + name);
  }
  co_return attr;
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::Parent(vfs::InodeId dir) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(dir));
  if (!rec.is_dir) co_return Status(ErrorCode::kNotDir, rec.key);
  co_return co_await GetAttr(rec.parent);
}

Result<vfs::DirPage> ObjectFileSystem::MakePage(const std::vector<DirSnapshot::Child>& children,
                                                std::size_t start, std::size_t max_entries,
                                                uint64_t verifier, bool complete) const {
  vfs::DirPage page;
  page.verifier = verifier;
  const std::size_t total = children.size();
  const std::size_t want = std::max<std::size_t>(max_entries, 1);
  std::vector<vfs::InodeId> inos;
  std::vector<std::size_t> slots;
  std::size_t i = std::min(start, total);
  for (; i < total && inos.size() < want; ++i) {
    if (children[i].ino == 0) continue;  // a removed entry's slot
    inos.push_back(children[i].ino);
    slots.push_back(i);
  }
  std::vector<InodeRecord> recs = table_.GetMany(inos);
  if (recs.size() != inos.size()) return InternalError("directory entry without an inode");
  page.entries.reserve(recs.size());
  for (std::size_t k = 0; k < recs.size(); ++k) {
    page.entries.push_back({children[slots[k]].name, ToAttr(recs[k]), kFirstCookie + slots[k]});
  }
  while (i < total && children[i].ino == 0) ++i;
  page.eof = complete && i == total;
  return page;
}

Awaitable<Result<vfs::DirPage>> ObjectFileSystem::ReadDir(vfs::InodeId dir, uint64_t cookie,
                                                          std::size_t max_entries) {
  // The entry in slot i carries cookie kFirstCookie + i; reading resumes after it.
  const std::size_t start =
      cookie < kFirstCookie ? 0
                            : static_cast<std::size_t>(std::min<uint64_t>(cookie - 2, SIZE_MAX));
  const std::size_t want = std::max<std::size_t>(max_entries, 1);
  BFS_CO_ASSIGN_OR_RETURN(auto cached, co_await CachedListing(dir));
  if (!cached) {
    // Never listed: serve entries as the first listing's pages arrive (a huge directory's first
    // entries reach the client long before its last LIST page). The cookie verifier is 0 until
    // the listing is complete; the final order is the streamed order, so cookies stay valid.
    BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, GetRecord(dir));
    auto stream = StartOrJoinStream(dir, rec.key, co_await asio::this_coro::executor);
    std::vector<DirSnapshot::Child> part;
    if (stream) {
      co_await WaitStream(*stream, start > SIZE_MAX - want ? SIZE_MAX : start + want);
      std::lock_guard lock(stream->mu);
      if (stream->done && !stream->status.ok()) co_return stream->status;
      if (!stream->done) {
        std::size_t end = std::min(stream->children.size(), start + want);
        for (std::size_t i = std::min(start, end); i < end; ++i) {
          part.push_back(stream->children[i]);
        }
      }
    }
    if (!part.empty()) {
      auto page = MakePage(part, 0, part.size(), 0, false);
      if (page.ok()) {
        for (auto& e : page->entries) e.cookie += start;
      }
      co_return page;
    }
  }
  BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await LoadDir(dir));
  co_return MakePage(snap->children, start, want, snap->cookie_verifier, true);
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::Open(vfs::InodeId ino) {
  // Close-to-open: Current(…, revalidate=true) HEADs when the cached facts are older than the
  // TTL; a vanished object becomes kStale, a replaced one gets its new size/ETag.
  co_return co_await GetAttr(ino);
}

Awaitable<Result<vfs::ReadResult>> ObjectFileSystem::ReadOnce(const InodeRecord& rec,
                                                              uint64_t offset, uint32_t count) {
  vfs::ReadResult out;
  if (offset >= rec.size || count == 0) {
    out.eof = offset >= rec.size;
    co_return out;
  }
  uint64_t len = std::min<uint64_t>(count, rec.size - offset);
  if (options_.cache) co_return co_await ReadCached(rec, offset, len);
  objstore::GetOptions opts;
  opts.range = objstore::ByteRange{offset, len};
  opts.if_match = rec.etag;
  ++gets_;
  BFS_CO_ASSIGN_OR_RETURN(objstore::GetResult got, co_await store_->Get(DataKey(rec.key), opts));
  if (got.data.size() > len) got.data.resize(len);
  out.data = std::move(got.data);
  out.eof = offset + out.data.size() >= rec.size;
  co_return out;
}

cache::BlockKey ObjectFileSystem::BlockKeyFor(const InodeRecord& rec, uint64_t index) const {
  return cache::BlockKey{store_->bucket(), rec.key, rec.etag, index};
}

cache::Fetch ObjectFileSystem::BlockFetcher(const InodeRecord& rec, uint64_t index) {
  const uint64_t bs = options_.cache->options().block_size;
  const uint64_t offset = index * bs;
  const uint64_t len = std::min(bs, rec.size - offset);
  // Not a coroutine itself: the coroutine's parameters are copies, so nothing dangles.
  return [this, key = rec.key, etag = rec.etag, offset, len] {
    return FetchBlock(key, etag, offset, len);
  };
}

Awaitable<Result<Bytes>> ObjectFileSystem::FetchBlock(std::string key, std::string etag,
                                                      uint64_t offset, uint64_t len) {
  objstore::GetOptions opts;
  opts.range = objstore::ByteRange{offset, len};
  opts.if_match = std::move(etag);
  ++gets_;
  BFS_CO_ASSIGN_OR_RETURN(objstore::GetResult got, co_await store_->Get(DataKey(key), opts));
  if (got.data.size() > len) got.data.resize(len);
  if (got.data.size() < len) {
    // Shorter than the size we know: the object changed under the same ETag's nose.
    co_return Status(ErrorCode::kStale, "short read of s3://" + store_->bucket() + "/" + key);
  }
  co_return std::move(got.data);
}

Awaitable<Result<vfs::ReadResult>> ObjectFileSystem::ReadCached(const InodeRecord& rec,
                                                                uint64_t offset, uint64_t len) {
  cache::BlockCache& cache = *options_.cache;
  const uint64_t bs = cache.options().block_size;
  const uint64_t first = offset / bs;
  const uint64_t last = (offset + len - 1) / bs;
  asio::any_io_executor ex = co_await asio::this_coro::executor;
  if (options_.background) ex = asio::make_strand(options_.background);
  // The later blocks of a READ spanning several load in parallel with the first.
  for (uint64_t b = first + 1; b <= last; ++b)
    cache.Prefetch(BlockKeyFor(rec, b), BlockFetcher(rec, b), ex);
  vfs::ReadResult out;
  out.data.reserve(len);
  for (uint64_t b = first; b <= last; ++b) {
    BFS_CO_ASSIGN_OR_RETURN(cache::BlockRef block,
                            co_await cache.Get(BlockKeyFor(rec, b), BlockFetcher(rec, b)));
    const uint64_t block_start = b * bs;
    const uint64_t from = std::max(offset, block_start) - block_start;
    const uint64_t to = std::min<uint64_t>(offset + len - block_start, block->data.size());
    if (from >= to) break;  // the object is shorter than we knew (stale size): return what exists
    out.data.insert(out.data.end(), block->data.begin() + from, block->data.begin() + to);
  }
  out.eof = offset + out.data.size() >= rec.size;
  ReadAheadPlan plan = read_ahead_.OnRead(rec.ino, offset, len, rec.size);
  // Blocks the cache refuses (cached, in flight, or over its in-flight share) are skipped; a
  // skipped block is fetched by the READ that needs it.
  for (uint64_t b = plan.first; b < plan.first + plan.count; ++b) {
    cache.Prefetch(BlockKeyFor(rec, b), BlockFetcher(rec, b), ex);
  }
  co_return out;
}

Awaitable<Result<ObjectFileSystem::ReadOutcome>> ObjectFileSystem::ReadRetrying(InodeRecord rec,
                                                                                uint64_t offset,
                                                                                uint32_t count) {
  auto result = co_await ReadOnce(rec, offset, count);
  if (result.ok()) co_return ReadOutcome{std::move(result).value(), rec.etag};
  ErrorCode code = result.status().code();
  if (code != ErrorCode::kStale && code != ErrorCode::kNotFound) {
    co_return result.status().WithContext("GET s3://" + store_->bucket() + "/" + rec.key);
  }
  // Replaced (If-Match failed) or deleted behind our back: refresh and retry once.
  read_ahead_.Forget(rec.ino);
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord fresh, co_await HeadAndApply(rec.ino, true));
  result = co_await ReadOnce(fresh, offset, count);
  if (result.ok()) co_return ReadOutcome{std::move(result).value(), fresh.etag};
  code = result.status().code();
  if (code == ErrorCode::kStale) {
    co_return UnavailableError("s3://" + store_->bucket() + "/" + rec.key +
                               " keeps changing during reads; retry");
  }
  if (code == ErrorCode::kNotFound) {
    table_.MarkStale(rec.ino);
    co_return Status(ErrorCode::kStale, "gone from the bucket: " + rec.key);
  }
  co_return result.status().WithContext("GET s3://" + store_->bucket() + "/" + rec.key);
}

Awaitable<Result<vfs::ReadResult>> ObjectFileSystem::Read(vfs::InodeId ino, uint64_t offset,
                                                          uint32_t count) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(ino));
  if (rec.is_dir) co_return Status(ErrorCode::kIsDir, rec.key);
  if (auto file = FindStaged(ino)) co_return co_await ReadStaged(rec, file, offset, count);
  if (rec.local && rec.etag.empty()) {
    // Created here, never uploaded and not staged: an empty new file (or its staging just
    // ended: then the record has the uploaded object's ETag now).
    if (auto again = FindStaged(ino)) co_return co_await ReadStaged(rec, again, offset, count);
    BFS_CO_ASSIGN_OR_RETURN(rec, GetRecord(ino));
    if (rec.local && rec.etag.empty()) co_return vfs::ReadResult{Bytes(), true};
  }
  BFS_CO_ASSIGN_OR_RETURN(ReadOutcome out, co_await ReadRetrying(std::move(rec), offset, count));
  co_return std::move(out.result);
}

Awaitable<Result<std::string>> ObjectFileSystem::ReadLink(vfs::InodeId ino) {
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await Current(ino, true));
  if (!IsSymlink(rec)) co_return InvalidArgumentError("not a symlink: " + rec.key);
  if (rec.symlink_etag == rec.etag && !rec.symlink_target.empty()) co_return rec.symlink_target;
  if (auto file = FindStaged(ino)) {
    BFS_CO_ASSIGN_OR_RETURN(vfs::ReadResult r, co_await ReadStaged(rec, file, 0, 4096));
    co_return std::string(AsString(r.data));
  }
  if (rec.size > options_.max_symlink_bytes) {
    co_return InvalidArgumentError("symlink target too long: " + rec.key);
  }
  uint32_t size = static_cast<uint32_t>(rec.size);
  BFS_CO_ASSIGN_OR_RETURN(ReadOutcome out, co_await ReadRetrying(std::move(rec), 0, size));
  std::string target(AsString(out.result.data));
  if (!out.etag.empty()) table_.SetSymlinkTarget(ino, out.etag, target);
  co_return target;
}

Awaitable<Status> ObjectFileSystem::Refresh(std::string path) {
  vfs::InodeId ino = kRootInode;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t slash = std::min(path.find('/', pos), path.size());
    std::string name = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (name.empty()) continue;
    BFS_CO_ASSIGN_OR_RETURN(InodeRecord dir, GetRecord(ino));
    if (!dir.is_dir) co_return Status(ErrorCode::kNotDir, "not a directory: " + dir.key);
    BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await ListAndApply(ino, dir.key, true));
    auto index = snap->Find(name);
    if (!index) co_return NotFoundError("no such file or directory in the bucket: " + path);
    ino = snap->children[*index].ino;
  }
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, GetRecord(ino));
  if (rec.is_dir) {
    BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await ListAndApply(ino, rec.key, true));
    (void)snap;
    if (rec.key.empty()) co_return Status::Ok();
  }
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord fresh, co_await HeadAndApply(ino, true));
  (void)fresh;
  co_return Status::Ok();
}

Awaitable<Result<vfs::FsStats>> ObjectFileSystem::StatFs() {
  vfs::FsStats s;
  s.total_bytes = kStatFsTotalBytes;
  s.free_bytes = kStatFsTotalBytes;
  s.avail_bytes = kStatFsTotalBytes;
  s.free_files = kStatFsFreeFiles;
  s.total_files = kStatFsFreeFiles + table_.size();
  co_return s;
}

}  // namespace bucketfs::gateway
