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
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const Child& c, std::string_view n) { return c.name < n; });
  if (it == children.end() || it->name != name) return std::nullopt;
  return static_cast<std::size_t>(it - children.begin());
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

Result<std::shared_ptr<const DirSnapshot>> InodeTable::ApplyListing(vfs::InodeId dir,
                                                                    DirListing listing,
                                                                    SteadyTime now) {
  std::lock_guard lock(mu_);
  Node* node = FindLocked(dir);
  if (node == nullptr) return Status(ErrorCode::kStale, "no such inode");
  if (!node->rec.is_dir) return Status(ErrorCode::kNotDir, node->rec.key);
  meta::Batch batch = NewBatch();
  if (dir != kRootInode && listing.entries.empty() && !listing.marker && listing.hidden.empty()) {
    node->rec.stale = true;
    node->listing = nullptr;
    batch.upserts.push_back(ToRow(node->rec, now));
    PersistLocked(std::move(batch));
    return Status(ErrorCode::kStale, "directory vanished: " + node->rec.key);
  }
  const std::string prefix = node->rec.key;

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
  } else {
    if (node->rec.has_marker) node->rec.meta = {};
    node->rec.has_marker = false;
    node->rec.etag.clear();
    node->rec.meta_known = true;  // no marker: defaults are the metadata
  }
  node->rec.validated_at = now;
  node->rec.stale = false;

  auto snap = std::make_shared<DirSnapshot>();
  snap->children.reserve(listing.entries.size());
  snap->loaded_at = now;
  Fnv64 hash;
  std::unordered_set<vfs::InodeId> present;
  present.reserve(listing.entries.size());
  std::vector<vfs::InodeId> listed;
  listed.reserve(listing.entries.size());
  for (auto& e : listing.entries) {
    std::string key =
        e.is_directory ? ChildDirPrefix(prefix, e.name) : ChildFileKey(prefix, e.name);
    vfs::InodeId ino = FindOrCreateLocked(key, e.is_directory, batch);
    InodeRecord& rec = nodes_.at(ino).rec;
    rec.parent = dir;
    rec.name = e.name;
    if (e.is_directory) {
      rec.stale = false;
    } else {
      UpdateFileLocked(rec, e.info, now);
    }
    hash.Add(e.name);
    hash.Add(uint64_t{e.is_directory});
    hash.Add(e.info.etag);
    hash.Add(e.info.size);
    hash.Add(Nanos(e.info.last_modified));
    hash.Add(ino);
    present.insert(ino);
    listed.push_back(ino);
    snap->children.push_back({std::move(e.name), ino});
  }
  snap->verifier = hash.value();

  // Children that were listed before and are gone now.
  node = FindLocked(dir);  // nodes_ may have rehashed
  if (node->listing) {
    for (const auto& c : node->listing->children) {
      if (present.count(c.ino) != 0) continue;
      Node* child = FindLocked(c.ino);
      if (child != nullptr && child->rec.parent == dir && !child->rec.stale) {
        child->rec.stale = true;
        child->listing = nullptr;
        batch.upserts.push_back(ToRow(child->rec, now));
      }
    }
  }
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
    l.entries.reserve(snap->children.size());
    for (std::size_t i = 0; i < listed.size(); ++i) {
      batch.upserts.push_back(ToRow(nodes_.at(listed[i]).rec, now));
      l.entries.push_back({snap->children[i].name, listed[i]});
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
    rec.parent = dir;
    rec.name = e.name;
    if (e.is_directory) {
      rec.stale = false;
    } else {
      UpdateFileLocked(rec, e.info, now);
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
  snap->loaded_at = FromWallMs(contents.loaded_at_ms, now);
  snap->children.reserve(contents.entries.size());
  for (const meta::DirEntryRow& e : contents.entries) {
    if (nodes_.count(e.ino) == 0) return;  // incomplete: a fresh LIST will rebuild it
    snap->children.push_back({e.name, e.ino});
  }
  node = FindLocked(dir);
  node->listing = std::move(snap);
}

std::size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

}  // namespace bucketfs::gateway
