#include "gateway/inode_table.h"

#include <algorithm>
#include <unordered_set>
#include <utility>

namespace bucketfs::gateway {

namespace {

class Fnv64 {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 0x100000001b3ULL;
    }
    Add(static_cast<uint64_t>(s.size()));
  }
  void Add(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ ^= (v >> (8 * i)) & 0xff;
      h_ *= 0x100000001b3ULL;
    }
  }
  uint64_t value() const { return h_ == 0 ? 1 : h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

uint64_t Nanos(std::chrono::system_clock::time_point tp) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(tp.time_since_epoch()).count());
}

int64_t WallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Wall-clock milliseconds of the steady time `t` (0 for "never").
int64_t ToWallMs(SteadyTime t, SteadyTime now) {
  if (t == SteadyTime{}) return 0;
  return WallNowMs() - std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
}

// Steady time of the wall-clock milliseconds `ms` (never in the future; "never" for 0).
SteadyTime FromWallMs(int64_t ms, SteadyTime now) {
  if (ms == 0) return SteadyTime{};
  int64_t age = std::max<int64_t>(0, WallNowMs() - ms);
  auto since_epoch = now.time_since_epoch();
  auto back = std::chrono::duration_cast<SteadyTime::duration>(std::chrono::milliseconds(age));
  return back >= since_epoch ? SteadyTime{} : now - back;
}

}  // namespace

std::optional<std::size_t> DirSnapshot::Find(std::string_view name) const {
  auto it = by_name.find(std::string(name));
  if (it == by_name.end()) return std::nullopt;
  return it->second;
}

meta::InodeRow ToRow(const InodeRecord& rec, SteadyTime now) {
  meta::InodeRow r;
  r.ino = rec.ino;
  r.generation = rec.generation;
  r.parent = rec.parent;
  r.name = rec.name;
  r.key = rec.key;
  r.is_dir = rec.is_dir;
  r.stale = rec.stale;
  r.has_marker = rec.has_marker;
  r.size = rec.size;
  r.etag = rec.etag;
  r.version_id = rec.version_id;
  r.last_modified_ns = static_cast<int64_t>(Nanos(rec.last_modified));
  r.meta_known = rec.meta_known;
  r.mode = rec.meta.mode;
  r.uid = rec.meta.uid;
  r.gid = rec.meta.gid;
  if (rec.meta.mtime) {
    r.mtime_sec = rec.meta.mtime->sec;
    r.mtime_nsec = rec.meta.mtime->nsec;
  }
  r.validated_at_ms = ToWallMs(rec.validated_at, now);
  r.listing_verifier = rec.listing_verifier;
  r.local = rec.local;
  r.links = rec.links;
  return r;
}

InodeRecord FromRow(const meta::InodeRow& row, SteadyTime now) {
  InodeRecord rec;
  rec.ino = row.ino;
  rec.generation = row.generation;
  rec.parent = row.parent;
  rec.name = row.name;
  rec.key = row.key;
  rec.is_dir = row.is_dir;
  rec.stale = row.stale;
  rec.has_marker = row.has_marker;
  rec.size = row.size;
  rec.etag = row.etag;
  rec.version_id = row.version_id;
  rec.last_modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(row.last_modified_ns)));
  rec.meta_known = row.meta_known;
  rec.meta.mode = row.mode;
  rec.meta.uid = row.uid;
  rec.meta.gid = row.gid;
  if (row.mtime_sec) rec.meta.mtime = vfs::Timespec{*row.mtime_sec, row.mtime_nsec};
  rec.validated_at = FromWallMs(row.validated_at_ms, now);
  rec.listing_verifier = row.listing_verifier;
  rec.local = row.local;
  rec.links = row.links;
  return rec;
}

InodeTable::InodeTable(std::string root_prefix, InodeTableOptions options)
    : options_(std::move(options)), next_ino_(std::max(options_.next_ino, kRootInode + 1)) {
  Node root;
  root.rec.ino = kRootInode;
  root.rec.generation = meta::kRootGeneration;
  root.rec.parent = kRootInode;
  root.rec.key = root_prefix;
  root.rec.is_dir = true;
  dir_by_prefix_[root_prefix] = kRootInode;
  nodes_.emplace(kRootInode, std::move(root));
}

InodeTable::Node* InodeTable::FindLocked(vfs::InodeId ino) {
  auto it = nodes_.find(ino);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::optional<InodeRecord> InodeTable::Get(vfs::InodeId ino) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(ino);
  if (it == nodes_.end()) return std::nullopt;
  return it->second.rec;
}

std::vector<InodeRecord> InodeTable::GetMany(const std::vector<vfs::InodeId>& inos) const {
  std::vector<InodeRecord> out;
  out.reserve(inos.size());
  std::lock_guard lock(mu_);
  for (vfs::InodeId ino : inos) {
    auto it = nodes_.find(ino);
    if (it != nodes_.end()) out.push_back(it->second.rec);
  }
  return out;
}

std::shared_ptr<const DirSnapshot> InodeTable::Listing(vfs::InodeId dir) const {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(dir);
  return it == nodes_.end() ? nullptr : it->second.listing;
}

meta::Batch InodeTable::NewBatch() const {
  meta::Batch b;
  b.export_id = options_.export_id;
  return b;
}

void InodeTable::PersistLocked(meta::Batch batch) {
  if (options_.persist && !batch.empty()) options_.persist(std::move(batch));
}

void InodeTable::PersistRowLocked(const InodeRecord& rec, SteadyTime now) {
  if (!options_.persist) return;
  meta::Batch b = NewBatch();
  b.upserts.push_back(ToRow(rec, now));
  PersistLocked(std::move(b));
}

vfs::InodeId InodeTable::FindOrCreateLocked(const std::string& key, bool is_dir,
                                            meta::Batch& batch) {
  auto& index = is_dir ? dir_by_prefix_ : file_by_key_;
  auto it = index.find(key);
  if (it != index.end()) {
    auto node = nodes_.find(it->second);
    // A key whose inode was found gone is a new file now: new number, old handles stay stale.
    if (node != nodes_.end() && !node->second.rec.stale) return it->second;
  }
  vfs::InodeId ino = next_ino_++;
  batch.next_ino = next_ino_;
  Node node;
  node.rec.ino = ino;
  node.rec.generation = options_.generation;
  node.rec.key = key;
  node.rec.is_dir = is_dir;
  nodes_.insert_or_assign(ino, std::move(node));
  index.insert_or_assign(key, ino);
  return ino;
}

void InodeTable::UpdateFileLocked(InodeRecord& rec, const objstore::ObjectInfo& info,
                                  SteadyTime now) {
  if (rec.etag != info.etag || rec.last_modified != info.last_modified || rec.size != info.size) {
    if (!rec.etag.empty()) ++rec.bucket_version;
    rec.etag = info.etag;
    rec.version_id = info.version_id;
    rec.last_modified = info.last_modified;
    rec.size = info.size;
    rec.meta = {};
    rec.meta_known = false;
  }
  rec.validated_at = now;
  rec.stale = false;
}

Result<std::shared_ptr<const DirSnapshot>> InodeTable::ApplyListing(
    vfs::InodeId dir, DirListing listing, SteadyTime now,
    const std::function<bool(const std::string&, bool)>& pending_away, SteadyTime listed_since) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(dir);
  if (node == nullptr) return Status(ErrorCode::kStale, "no such inode");
  if (!node->rec.is_dir) return Status(ErrorCode::kNotDir, node->rec.key);
  meta::Batch batch = NewBatch();
  const std::string prefix = node->rec.key;
  if (pending_away) {
    std::erase_if(listing.entries, [&](const ListedEntry& e) {
      return pending_away(
          e.is_directory ? ChildDirPrefix(prefix, e.name) : ChildFileKey(prefix, e.name),
          e.is_directory);
    });
  }
  bool has_local_children = false;
  if (node->listing) {
    for (const auto& c : node->listing->children) {
      if (c.ino == 0) continue;
      auto it = nodes_.find(c.ino);
      if (it != nodes_.end() && it->second.rec.local && !it->second.rec.stale) {
        has_local_children = true;
        break;
      }
    }
  }
  if (dir != kRootInode && listing.entries.empty() && !listing.marker && listing.hidden.empty() &&
      !node->rec.local && !has_local_children) {
    node->rec.stale = true;
    node->listing = nullptr;
    batch.upserts.push_back(ToRow(node->rec, now));
    PersistLocked(std::move(batch));
    return Status(ErrorCode::kStale, "directory vanished: " + node->rec.key);
  }

  // The directory's own marker.
  if (listing.marker) {
    const auto& m = *listing.marker;
    if (!node->rec.has_marker || node->rec.etag != m.etag ||
        node->rec.last_modified != m.last_modified) {
      node->rec.meta = {};
      node->rec.meta_known = false;
    }
    node->rec.has_marker = true;
    node->rec.etag = m.etag;
    node->rec.version_id = m.version_id;
    node->rec.last_modified = m.last_modified;
  } else if (!node->rec.local) {
    if (node->rec.has_marker) node->rec.meta = {};
    node->rec.has_marker = false;
    node->rec.etag.clear();
    node->rec.meta_known = true;  // no marker: defaults are the metadata
  }
  node->rec.validated_at = now;
  node->rec.stale = false;

  // Slots: entries still present keep theirs, new ones are appended, gone ones leave a hole.
  auto old = node->listing;
  auto snap = std::make_shared<DirSnapshot>();
  snap->loaded_at = now;
  if (listed_since != SteadyTime{} && now > listed_since) snap->list_time = now - listed_since;
  snap->cookie_verifier = old ? old->cookie_verifier : ((dir * 0x9e3779b97f4a7c15ULL) | 1);
  if (old) snap->children = old->children;
  std::unordered_set<std::string> listed_names;
  listed_names.reserve(listing.entries.size());
  for (auto& e : listing.entries) {
    std::string key =
        e.is_directory ? ChildDirPrefix(prefix, e.name) : ChildFileKey(prefix, e.name);
    vfs::InodeId ino = FindOrCreateLocked(key, e.is_directory, batch);
    InodeRecord& rec = nodes_.at(ino).rec;
    if (rec.key == key) {  // (a hard link's object says nothing about the file's first name)
      rec.parent = dir;
      rec.name = e.name;
      if (e.is_directory) {
        rec.stale = false;
      } else if (!rec.local) {
        UpdateFileLocked(rec, e.info, now);
      }
    }
    listed_names.insert(e.name);
    auto slot = old ? old->Find(e.name) : std::nullopt;
    if (slot) {
      snap->children[*slot].ino = ino;
    } else {
      snap->children.push_back({e.name, ino});
    }
  }
  // Entries that were listed before and are gone now, unless the gateway put them there.
  for (auto& c : snap->children) {
    if (c.ino == 0 || listed_names.count(c.name) != 0) continue;
    Node* child = FindLocked(c.ino);
    if (child != nullptr && child->rec.local && !child->rec.stale) continue;
    if (child != nullptr && !child->rec.stale && listed_since != SteadyTime{} &&
        child->rec.validated_at >= listed_since) {
      continue;  // confirmed after this LIST began (e.g. uploaded meanwhile)
    }
    if (child != nullptr && child->rec.parent == dir && !child->rec.stale) {
      child->rec.stale = true;
      child->listing = nullptr;
      batch.upserts.push_back(ToRow(child->rec, now));
    }
    c.ino = 0;
  }
  // Many holes: renumber (cookies change, so does the cookie verifier).
  std::size_t live = 0;
  for (const auto& c : snap->children) live += c.ino != 0;
  if (snap->children.size() > 64 && snap->children.size() > 2 * live) {
    std::erase_if(snap->children, [](const DirSnapshot::Child& c) { return c.ino == 0; });
    snap->cookie_verifier = (snap->cookie_verifier * 0x100000001b3ULL) | 1;
  }
  Fnv64 hash;
  snap->by_name.reserve(live);
  for (std::size_t i = 0; i < snap->children.size(); ++i) {
    const auto& c = snap->children[i];
    if (c.ino == 0) continue;
    snap->by_name.emplace(c.name, i);
    const InodeRecord& rec = nodes_.at(c.ino).rec;
    hash.Add(c.name);
    hash.Add(uint64_t{rec.is_dir});
    hash.Add(rec.etag);
    hash.Add(rec.size);
    hash.Add(Nanos(rec.last_modified));
    hash.Add(c.ino);
    hash.Add(uint64_t{i});
  }
  snap->verifier = hash.value();

  node = FindLocked(dir);  // nodes_ may have rehashed
  const bool changed = node->rec.listing_verifier != snap->verifier;
  node->rec.listing_verifier = snap->verifier;
  node->listing = snap;
  batch.upserts.push_back(ToRow(node->rec, now));
  if (changed) {
    // Rows and entries are rewritten only when the listing's content changed; an unchanged
    // re-listing just moves the listing's load time.
    meta::Batch::Listing l;
    l.dir = dir;
    l.verifier = snap->verifier;
    l.loaded_at_ms = ToWallMs(now, now);
    l.entries.reserve(live);
    for (std::size_t i = 0; i < snap->children.size(); ++i) {
      const auto& c = snap->children[i];
      if (c.ino == 0) continue;
      batch.upserts.push_back(ToRow(nodes_.at(c.ino).rec, now));
      l.entries.push_back({c.name, c.ino, i});
    }
    batch.listings.push_back(std::move(l));
  } else {
    batch.listing_touches.emplace_back(dir, ToWallMs(now, now));
  }
  PersistLocked(std::move(batch));
  return std::shared_ptr<const DirSnapshot>(std::move(snap));
}

std::vector<DirSnapshot::Child> InodeTable::AddStreamed(vfs::InodeId dir,
                                                        std::vector<ListedEntry> entries,
                                                        SteadyTime now) {
  std::lock_guard lock(mu_);
  std::vector<DirSnapshot::Child> out;
  Node* node = FindLocked(dir);
  if (node == nullptr) return out;
  const std::string prefix = node->rec.key;
  meta::Batch unused = NewBatch();  // next_ino is persisted with the complete listing
  out.reserve(entries.size());
  for (auto& e : entries) {
    std::string key =
        e.is_directory ? ChildDirPrefix(prefix, e.name) : ChildFileKey(prefix, e.name);
    vfs::InodeId ino = FindOrCreateLocked(key, e.is_directory, unused);
    InodeRecord& rec = nodes_.at(ino).rec;
    if (rec.key == key) {
      rec.parent = dir;
      rec.name = e.name;
      if (e.is_directory) {
        rec.stale = false;
      } else if (!rec.local) {
        UpdateFileLocked(rec, e.info, now);
      }
    }
    out.push_back({std::move(e.name), ino});
  }
  return out;
}

void InodeTable::ApplyHead(vfs::InodeId ino, const objstore::ObjectInfo& info, SteadyTime now) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(ino);
  if (node == nullptr) return;
  InodeRecord& rec = node->rec;
  if (rec.is_dir) {
    rec.has_marker = true;
    rec.etag = info.etag;
    rec.last_modified = info.last_modified;
  } else {
    if (!rec.etag.empty() && rec.etag != info.etag) ++rec.bucket_version;
    rec.etag = info.etag;
    rec.last_modified = info.last_modified;
    rec.size = info.size;
    rec.stale = false;
  }
  rec.version_id = info.version_id;
  rec.meta = ParsePosixMeta(info.user_metadata);
  rec.meta_known = true;
  rec.validated_at = now;
  PersistRowLocked(rec, now);
}

void InodeTable::ApplyNoMarker(vfs::InodeId dir, SteadyTime now) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(dir);
  if (node == nullptr || !node->rec.is_dir) return;
  node->rec.has_marker = false;
  node->rec.etag.clear();
  node->rec.meta = {};
  node->rec.meta_known = true;
  node->rec.validated_at = now;
  PersistRowLocked(node->rec, now);
}

void InodeTable::MarkStale(vfs::InodeId ino) {
  std::lock_guard lock(mu_);
  if (Node* node = FindLocked(ino)) {
    node->rec.stale = true;
    node->listing = nullptr;
    PersistRowLocked(node->rec, SteadyTime{});
  }
}

void InodeTable::SetSymlinkTarget(vfs::InodeId ino, const std::string& etag,
                                  const std::string& target) {
  std::lock_guard lock(mu_);
  if (Node* node = FindLocked(ino)) {
    node->rec.symlink_etag = etag;
    node->rec.symlink_target = target;
  }
}

void InodeTable::AdoptLocked(const meta::InodeRow& row, SteadyTime now) {
  if (row.ino == kRootInode || nodes_.count(row.ino) != 0) return;
  Node node;
  node.rec = FromRow(row, now);
  if (!node.rec.stale) {
    auto& index = node.rec.is_dir ? dir_by_prefix_ : file_by_key_;
    // A live inode already owning the key (created by this process) wins.
    auto it = index.find(node.rec.key);
    bool owned =
        it != index.end() && nodes_.count(it->second) != 0 && !nodes_.at(it->second).rec.stale;
    if (!owned) index.insert_or_assign(node.rec.key, node.rec.ino);
    for (const auto& l : node.rec.links) file_by_key_.try_emplace(l.key, node.rec.ino);
  }
  next_ino_ = std::max(next_ino_, row.ino + 1);
  nodes_.emplace(row.ino, std::move(node));
}

InodeRecord InodeTable::Adopt(const meta::InodeRow& row, SteadyTime now) {
  std::lock_guard lock(mu_);
  AdoptLocked(row, now);
  auto it = nodes_.find(row.ino);
  return it != nodes_.end() ? it->second.rec : FromRow(row, now);
}

void InodeTable::AdoptListing(vfs::InodeId dir, const meta::DirContents& contents, SteadyTime now) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(dir);
  if (node == nullptr || !node->rec.is_dir || node->listing) return;
  for (const meta::InodeRow& row : contents.children) {
    meta::InodeRow confirmed = row;
    // The listing confirmed every file's size and ETag when it was taken.
    confirmed.validated_at_ms = std::max(row.validated_at_ms, contents.loaded_at_ms);
    AdoptLocked(confirmed, now);
  }
  auto snap = std::make_shared<DirSnapshot>();
  snap->verifier = contents.verifier;
  snap->cookie_verifier = (dir * 0x9e3779b97f4a7c15ULL) | 1;
  snap->loaded_at = FromWallMs(contents.loaded_at_ms, now);
  snap->children.reserve(contents.entries.size());
  for (const meta::DirEntryRow& e : contents.entries) {
    if (nodes_.count(e.ino) == 0) return;  // incomplete: a fresh LIST will rebuild it
    if (e.pos > contents.entries.size() * 4 + 1024) return;  // implausible: re-list instead
    if (e.pos >= snap->children.size()) snap->children.resize(e.pos + 1);
    snap->children[e.pos] = {e.name, e.ino};
    snap->by_name[e.name] = e.pos;
  }
  node = FindLocked(dir);
  // (The root's record is never adopted from the store: its verifier comes with its listing.)
  if (node->rec.listing_verifier == 0) node->rec.listing_verifier = contents.verifier;
  node->listing = std::move(snap);
}

std::size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

// ---- Namespace changes (write path) ----

void InodeTable::MergeJournal(meta::Batch& into, meta::Batch& from) {
  for (auto& j : from.journal_appends) into.journal_appends.push_back(std::move(j));
  for (auto& u : from.journal_updates) into.journal_updates.push_back(std::move(u));
  for (int64_t id : from.journal_completes) into.journal_completes.push_back(id);
  into.durable = into.durable || from.durable;
}

std::shared_ptr<DirSnapshot> InodeTable::MutableListingLocked(Node& dir) {
  if (!dir.listing) return nullptr;
  auto copy = std::make_shared<DirSnapshot>(*dir.listing);
  dir.listing = copy;
  return copy;
}

void InodeTable::PutSlotLocked(vfs::InodeId dir, DirSnapshot& snap, const std::string& name,
                               vfs::InodeId ino, meta::Batch& batch) {
  std::size_t slot;
  if (auto existing = snap.Find(name)) {
    slot = *existing;
    snap.children[slot].ino = ino;
  } else {
    slot = snap.children.size();
    snap.children.push_back({name, ino});
    snap.by_name.emplace(name, slot);
  }
  batch.dirent_puts.push_back({dir, meta::DirEntryRow{name, ino, slot}});
}

void InodeTable::ClearSlotLocked(vfs::InodeId dir, DirSnapshot& snap, const std::string& name,
                                 meta::Batch& batch) {
  auto slot = snap.Find(name);
  if (!slot) return;
  snap.children[*slot].ino = 0;
  snap.by_name.erase(name);
  batch.dirent_deletes.emplace_back(dir, *slot);
}

void InodeTable::BumpDirLocked(Node& dir, SteadyTime now, meta::Batch& batch) {
  Fnv64 h;
  h.Add(dir.rec.listing_verifier);
  h.Add(static_cast<uint64_t>(now.time_since_epoch().count()));
  dir.rec.listing_verifier = h.value();
  if (dir.listing) {
    auto snap = MutableListingLocked(dir);
    snap->verifier = dir.rec.listing_verifier;
  }
  batch.upserts.push_back(ToRow(dir.rec, now));
}

std::optional<vfs::InodeId> InodeTable::FindByKey(const std::string& key, bool is_dir) const {
  std::lock_guard lock(mu_);
  const auto& index = is_dir ? dir_by_prefix_ : file_by_key_;
  auto it = index.find(key);
  if (it == index.end()) return std::nullopt;
  auto node = nodes_.find(it->second);
  if (node == nodes_.end() || node->second.rec.stale) return std::nullopt;
  return it->second;
}

vfs::InodeId InodeTable::ReserveIno() {
  std::lock_guard lock(mu_);
  return next_ino_++;
}

Result<InodeRecord> InodeTable::CreateChild(
    vfs::InodeId dir, const std::string& name, const NewInode& spec, SteadyTime now,
    const std::function<void(const InodeRecord&, meta::Batch&)>& extra_fn) {
  std::lock_guard lock(mu_);
  Node* d = FindLocked(dir);
  if (d == nullptr || d->rec.stale) return Status(ErrorCode::kStale, "directory is gone");
  if (!d->rec.is_dir) return Status(ErrorCode::kNotDir, d->rec.key);
  if (!d->listing) return InternalError("create in a directory that was not listed");
  if (auto slot = d->listing->Find(name)) {
    vfs::InodeId existing = d->listing->children[*slot].ino;
    auto it = nodes_.find(existing);
    if (it != nodes_.end() && !it->second.rec.stale) {
      return Status(ErrorCode::kExists, "exists: " + name);
    }
  }
  const std::string prefix = d->rec.key;
  const std::string key = spec.is_dir ? ChildDirPrefix(prefix, name) : ChildFileKey(prefix, name);
  meta::Batch batch = NewBatch();
  batch.durable = true;
  // A new inode even if the key had one before (its old handles stay stale).
  vfs::InodeId ino = spec.ino != 0 ? spec.ino : next_ino_++;
  next_ino_ = std::max(next_ino_, ino + 1);
  batch.next_ino = next_ino_;
  Node node;
  node.rec.ino = ino;
  node.rec.generation = options_.generation;
  node.rec.parent = dir;
  node.rec.name = name;
  node.rec.key = key;
  node.rec.is_dir = spec.is_dir;
  node.rec.size = spec.size;
  node.rec.meta = spec.meta;
  node.rec.meta_known = true;
  node.rec.local = true;
  node.rec.last_modified = std::chrono::system_clock::now();
  node.rec.validated_at = now;
  if (spec.is_dir) {
    // An empty listing: a new directory has nothing in the bucket below it yet.
    auto snap = std::make_shared<DirSnapshot>();
    snap->loaded_at = now;
    snap->cookie_verifier = (ino * 0x9e3779b97f4a7c15ULL) | 1;
    snap->verifier = (ino * 0x100000001b3ULL) | 1;
    node.rec.listing_verifier = snap->verifier;
    node.listing = std::move(snap);
    meta::Batch::Listing l;
    l.dir = ino;
    l.verifier = node.rec.listing_verifier;
    l.loaded_at_ms = ToWallMs(now, now);
    batch.listings.push_back(std::move(l));
  }
  (spec.is_dir ? dir_by_prefix_ : file_by_key_).insert_or_assign(key, ino);
  batch.upserts.push_back(ToRow(node.rec, now));
  InodeRecord out = node.rec;
  nodes_.insert_or_assign(ino, std::move(node));
  d = FindLocked(dir);
  auto snap = MutableListingLocked(*d);
  PutSlotLocked(dir, *snap, name, ino, batch);
  BumpDirLocked(*d, now, batch);
  if (extra_fn) extra_fn(out, batch);
  PersistLocked(std::move(batch));
  return out;
}

void InodeTable::IndexLocked(const InodeRecord& rec) {
  (rec.is_dir ? dir_by_prefix_ : file_by_key_).insert_or_assign(rec.key, rec.ino);
  for (const auto& l : rec.links) file_by_key_.insert_or_assign(l.key, rec.ino);
}

Result<InodeTable::RemovedName> InodeTable::RemoveNameLocked(vfs::InodeId dir,
                                                             const std::string& name,
                                                             SteadyTime now, meta::Batch& batch) {
  Node* d = FindLocked(dir);
  if (d == nullptr || d->rec.stale) return Status(ErrorCode::kStale, "directory is gone");
  if (!d->listing) return InternalError("remove in a directory that was not listed");
  auto slot = d->listing->Find(name);
  if (!slot) return NotFoundError("no such entry: " + name);
  const vfs::InodeId ino = d->listing->children[*slot].ino;
  Node* child = FindLocked(ino);
  if (child == nullptr || child->rec.stale) return NotFoundError("no such entry: " + name);
  if (child->rec.is_dir) {
    if (!child->listing) return InternalError("rmdir of a directory that was not listed");
    if (child->listing->live() != 0) return Status(ErrorCode::kNotEmpty, "not empty: " + name);
  }
  RemovedName out;
  InodeRecord& rec = child->rec;
  auto unindex = [this, ino](const std::string& key) {
    if (auto it = file_by_key_.find(key); it != file_by_key_.end() && it->second == ino) {
      file_by_key_.erase(it);
    }
  };
  auto link = std::find_if(rec.links.begin(), rec.links.end(),
                           [&](const auto& l) { return l.parent == dir && l.name == name; });
  if (link != rec.links.end()) {
    // One of its other names.
    out.key = link->key;
    unindex(link->key);
    rec.links.erase(link);
    out.inode_gone = false;
  } else if (!rec.is_dir && !rec.links.empty()) {
    // Its first name: the next name takes its place.
    out.key = rec.key;
    unindex(rec.key);
    rec.parent = rec.links.front().parent;
    rec.name = rec.links.front().name;
    rec.key = rec.links.front().key;
    rec.links.erase(rec.links.begin());
    IndexLocked(rec);
    out.inode_gone = false;
  } else {
    out.key = rec.key;
    rec.stale = true;
    rec.local = false;
    child->listing = nullptr;
  }
  batch.upserts.push_back(ToRow(rec, now));
  out.rec = rec;
  d = FindLocked(dir);
  auto snap = MutableListingLocked(*d);
  ClearSlotLocked(dir, *snap, name, batch);
  BumpDirLocked(*d, now, batch);
  return out;
}

Result<InodeTable::RemovedName> InodeTable::RemoveChild(vfs::InodeId dir, const std::string& name,
                                                        SteadyTime now, meta::Batch extra) {
  std::lock_guard lock(mu_);
  meta::Batch batch = NewBatch();
  batch.durable = true;
  BFS_ASSIGN_OR_RETURN(RemovedName out, RemoveNameLocked(dir, name, now, batch));
  MergeJournal(batch, extra);
  PersistLocked(std::move(batch));
  return out;
}

Result<InodeRecord> InodeTable::AddLink(
    vfs::InodeId ino, vfs::InodeId dir, const std::string& name, SteadyTime now,
    const std::function<void(const InodeRecord&, meta::Batch&)>& extra_fn) {
  std::lock_guard lock(mu_);
  Node* d = FindLocked(dir);
  if (d == nullptr || d->rec.stale) return Status(ErrorCode::kStale, "directory is gone");
  if (!d->rec.is_dir) return Status(ErrorCode::kNotDir, d->rec.key);
  if (!d->listing) return InternalError("link in a directory that was not listed");
  if (auto slot = d->listing->Find(name)) {
    auto it = nodes_.find(d->listing->children[*slot].ino);
    if (it != nodes_.end() && !it->second.rec.stale) {
      return Status(ErrorCode::kExists, "exists: " + name);
    }
  }
  const std::string key = ChildFileKey(d->rec.key, name);
  Node* node = FindLocked(ino);
  if (node == nullptr || node->rec.stale) return Status(ErrorCode::kStale, "file is gone");
  if (node->rec.is_dir) return Status(ErrorCode::kIsDir, "hard link to a directory");
  meta::Batch batch = NewBatch();
  batch.durable = true;
  node->rec.links.push_back({dir, name, key});
  node->rec.local = true;
  file_by_key_.insert_or_assign(key, ino);
  batch.upserts.push_back(ToRow(node->rec, now));
  InodeRecord out = node->rec;
  d = FindLocked(dir);
  PutSlotLocked(dir, *MutableListingLocked(*d), name, ino, batch);
  BumpDirLocked(*d, now, batch);
  if (extra_fn) extra_fn(out, batch);
  PersistLocked(std::move(batch));
  return out;
}

Result<RenameCheck> InodeTable::CheckRename(vfs::InodeId src_dir, const std::string& src_name,
                                            vfs::InodeId dst_dir,
                                            const std::string& dst_name) const {
  std::lock_guard lock(mu_);
  auto live_child = [&](vfs::InodeId dir, const std::string& name) -> const Node* {
    auto d = nodes_.find(dir);
    if (d == nodes_.end() || !d->second.listing) return nullptr;
    auto slot = d->second.listing->Find(name);
    if (!slot) return nullptr;
    auto c = nodes_.find(d->second.listing->children[*slot].ino);
    return c == nodes_.end() || c->second.rec.stale ? nullptr : &c->second;
  };
  for (vfs::InodeId d : {src_dir, dst_dir}) {
    auto it = nodes_.find(d);
    if (it == nodes_.end() || it->second.rec.stale) return Status(ErrorCode::kStale, "gone");
    if (!it->second.rec.is_dir) return Status(ErrorCode::kNotDir, "not a directory");
    if (!it->second.listing) return InternalError("rename in a directory that was not listed");
  }
  const Node* src = live_child(src_dir, src_name);
  if (src == nullptr) return NotFoundError("no such entry: " + src_name);
  if (src->rec.is_dir) {
    // Into its own subtree?
    for (vfs::InodeId up = dst_dir;;) {
      if (up == src->rec.ino) return RenameCheck::kInvalid;
      auto it = nodes_.find(up);
      if (it == nodes_.end() || up == kRootInode) break;
      up = it->second.rec.parent;
    }
  }
  const Node* dst = live_child(dst_dir, dst_name);
  if (dst == nullptr || dst == src) return RenameCheck::kOk;
  if (src->rec.is_dir && !dst->rec.is_dir) return RenameCheck::kNotDir;
  if (!src->rec.is_dir && dst->rec.is_dir) return RenameCheck::kIsDir;
  if (dst->rec.is_dir) {
    if (!dst->listing) return InternalError("rename over a directory that was not listed");
    if (dst->listing->live() != 0) return RenameCheck::kNotEmpty;
  }
  return RenameCheck::kOk;
}

void InodeTable::RekeyLocked(vfs::InodeId ino, const std::string& old_key,
                             const std::string& new_key, SteadyTime now, meta::Batch& batch) {
  Node* node = FindLocked(ino);
  if (node == nullptr) return;
  InodeRecord& rec = node->rec;
  bool changed = false;
  auto rekey = [&](std::string& key, bool is_dir) {
    if (key.compare(0, old_key.size(), old_key) != 0) return;
    auto& index = is_dir ? dir_by_prefix_ : file_by_key_;
    auto it = index.find(key);
    if (it != index.end() && it->second == ino) index.erase(it);
    key = new_key + key.substr(old_key.size());
    index.insert_or_assign(key, ino);
    changed = true;
  };
  rekey(rec.key, rec.is_dir);
  for (auto& l : rec.links) rekey(l.key, false);
  if (!changed) return;
  rec.local = true;
  batch.upserts.push_back(ToRow(rec, now));
  if (!rec.is_dir || !node->listing) return;
  std::vector<vfs::InodeId> kids;
  for (const auto& c : node->listing->children) {
    if (c.ino != 0) kids.push_back(c.ino);
  }
  for (vfs::InodeId kid : kids) RekeyLocked(kid, old_key, new_key, now, batch);
}

Result<InodeTable::RenameResult> InodeTable::Rename(
    vfs::InodeId src_dir, const std::string& src_name, vfs::InodeId dst_dir,
    const std::string& dst_name, SteadyTime now,
    const std::function<void(const RenameResult&, meta::Batch&)>& extra_fn) {
  std::lock_guard lock(mu_);
  Node* sd = FindLocked(src_dir);
  Node* dd = FindLocked(dst_dir);
  if (sd == nullptr || dd == nullptr || !sd->listing || !dd->listing) {
    return InternalError("rename between directories that were not listed");
  }
  auto slot = sd->listing->Find(src_name);
  if (!slot) return NotFoundError("no such entry: " + src_name);
  const vfs::InodeId ino = sd->listing->children[*slot].ino;
  meta::Batch batch = NewBatch();
  batch.durable = true;
  RenameResult result;
  if (auto dslot = dd->listing->Find(dst_name)) {
    vfs::InodeId target = dd->listing->children[*dslot].ino;
    if (target == ino) {
      result.moved = nodes_.at(ino).rec;
      result.old_key = result.new_key = result.moved.key;
      return result;  // two names of the same file: nothing to do (RFC 8881 §18.26.3)
    }
    if (Node* t = FindLocked(target); t != nullptr && !t->rec.stale) {
      BFS_ASSIGN_OR_RETURN(RemovedName gone, RemoveNameLocked(dst_dir, dst_name, now, batch));
      result.replaced = std::move(gone);
    }
  }
  Node* node = FindLocked(ino);
  dd = FindLocked(dst_dir);
  InodeRecord& rec = node->rec;
  auto link = std::find_if(rec.links.begin(), rec.links.end(), [&](const auto& l) {
    return l.parent == src_dir && l.name == src_name;
  });
  if (link != rec.links.end()) {
    // A hard link's name moves; the file's first name stays.
    result.old_key = link->key;
    result.new_key = ChildFileKey(dd->rec.key, dst_name);
    if (auto it = file_by_key_.find(link->key); it != file_by_key_.end() && it->second == ino) {
      file_by_key_.erase(it);
    }
    link->parent = dst_dir;
    link->name = dst_name;
    link->key = result.new_key;
    file_by_key_.insert_or_assign(result.new_key, ino);
    rec.local = true;
    batch.upserts.push_back(ToRow(rec, now));
  } else {
    result.old_key = rec.key;
    result.new_key =
        rec.is_dir ? ChildDirPrefix(dd->rec.key, dst_name) : ChildFileKey(dd->rec.key, dst_name);
    rec.parent = dst_dir;
    rec.name = dst_name;
    RekeyLocked(ino, result.old_key, result.new_key, now, batch);
  }
  sd = FindLocked(src_dir);
  ClearSlotLocked(src_dir, *MutableListingLocked(*sd), src_name, batch);
  BumpDirLocked(*sd, now, batch);
  dd = FindLocked(dst_dir);
  PutSlotLocked(dst_dir, *MutableListingLocked(*dd), dst_name, ino, batch);
  if (dst_dir != src_dir) BumpDirLocked(*dd, now, batch);
  result.moved = nodes_.at(ino).rec;
  if (extra_fn) extra_fn(result, batch);
  PersistLocked(std::move(batch));
  return result;
}

Result<InodeRecord> InodeTable::Update(vfs::InodeId ino,
                                       const std::function<void(InodeRecord&)>& fn, SteadyTime now,
                                       bool durable, meta::Batch extra) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(ino);
  if (node == nullptr || node->rec.stale) {
    return Status(ErrorCode::kStale, "unknown inode " + std::to_string(ino));
  }
  fn(node->rec);
  meta::Batch batch = NewBatch();
  batch.durable = durable;
  batch.upserts.push_back(ToRow(node->rec, now));
  MergeJournal(batch, extra);
  PersistLocked(std::move(batch));
  return node->rec;
}

void InodeTable::PersistJournal(meta::Batch extra, bool durable) {
  std::lock_guard lock(mu_);
  meta::Batch batch = NewBatch();
  batch.durable = durable;
  MergeJournal(batch, extra);
  PersistLocked(std::move(batch));
}

}  // namespace bucketfs::gateway
