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

}  // namespace

std::optional<std::size_t> DirSnapshot::Find(std::string_view name) const {
  auto it = std::lower_bound(children.begin(), children.end(), name,
                             [](const Child& c, std::string_view n) { return c.name < n; });
  if (it == children.end() || it->name != name) return std::nullopt;
  return static_cast<std::size_t>(it - children.begin());
}

InodeTable::InodeTable(std::string root_prefix) {
  Node root;
  root.rec.ino = kRootInode;
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

vfs::InodeId InodeTable::FindOrCreateLocked(const std::string& key, bool is_dir) {
  auto& index = is_dir ? dir_by_prefix_ : file_by_key_;
  auto it = index.find(key);
  if (it != index.end()) return it->second;
  vfs::InodeId ino = next_ino_++;
  Node node;
  node.rec.ino = ino;
  node.rec.key = key;
  node.rec.is_dir = is_dir;
  nodes_.emplace(ino, std::move(node));
  index.emplace(key, ino);
  return ino;
}

void InodeTable::UpdateFileLocked(InodeRecord& rec, const objstore::ObjectInfo& info,
                                  SteadyTime now) {
  if (rec.etag != info.etag || rec.last_modified != info.last_modified || rec.size != info.size) {
    rec.etag = info.etag;
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
  if (dir != kRootInode && listing.entries.empty() && !listing.marker && listing.hidden.empty()) {
    node->rec.stale = true;
    node->listing = nullptr;
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
  for (auto& e : listing.entries) {
    std::string key =
        e.is_directory ? ChildDirPrefix(prefix, e.name) : ChildFileKey(prefix, e.name);
    vfs::InodeId ino = FindOrCreateLocked(key, e.is_directory);
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
    present.insert(ino);
    snap->children.push_back({std::move(e.name), ino});
  }
  snap->verifier = hash.value();

  // Children that were listed before and are gone now.
  node = FindLocked(dir);  // nodes_ may have rehashed
  if (node->listing) {
    for (const auto& c : node->listing->children) {
      if (present.count(c.ino) != 0) continue;
      Node* child = FindLocked(c.ino);
      if (child != nullptr && child->rec.parent == dir) {
        child->rec.stale = true;
        child->listing = nullptr;
      }
    }
  }
  node->rec.listing_verifier = snap->verifier;
  node->listing = snap;
  return std::shared_ptr<const DirSnapshot>(std::move(snap));
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
  rec.meta = ParsePosixMeta(info.user_metadata);
  rec.meta_known = true;
  rec.validated_at = now;
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
}

void InodeTable::MarkStale(vfs::InodeId ino) {
  std::lock_guard lock(mu_);
  if (Node* node = FindLocked(ino)) {
    node->rec.stale = true;
    node->listing = nullptr;
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

std::size_t InodeTable::size() const {
  std::lock_guard lock(mu_);
  return nodes_.size();
}

}  // namespace bucketfs::gateway
