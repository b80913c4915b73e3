// Key mapping: the one rule that turns S3 keys into a POSIX namespace, and the parser for the
// POSIX attributes stored in object user metadata. Pure functions and value types: no I/O, no
// shared state, safe to use from any thread.
//
// THE RULE (also in docs/s3-mapping.md; keep both in sync)
//
//  * An export is a key prefix E ("" for the whole bucket, else ending in "/"). The root
//    directory is E. A directory at path p (relative to the root) has key prefix E + p + "/".
//  * A directory D with key prefix P is listed with ListObjectsV2(prefix=P, delimiter="/"):
//      - an object P + n (no "/" in n)        → regular file (or symlink, see metadata) named n;
//      - a CommonPrefix P + n + "/"           → directory named n (implicit: no marker needed);
//      - the object whose key equals P itself → D's own marker object ("dir/"), which carries D's
//        metadata; it is never an entry.
//  * A name that cannot be a file name is hidden (not an entry, never an error, never followed):
//    empty (from "a//b" or a key starting with "/"), "." or "..", longer than 255 bytes
//    (kMaxNameBytes), or containing NUL. Keys below a hidden prefix are unreachable.
//  * A name that is both an object and a prefix ("a" and "a/x"): the directory wins and the
//    object "a" is hidden.
//  * Entries are sorted by name (bytewise) and unique.
//
// METADATA (s3fs-compatible, read from HEAD; LIST carries none)
//  x-amz-meta-mode  decimal st_mode including the type bits (S_IFREG, S_IFDIR, S_IFLNK); an octal
//                   string (as rclone writes it) is accepted when its decimal value cannot be a
//                   st_mode (> 0177777).
//  x-amz-meta-uid, x-amz-meta-gid  decimal.
//  x-amz-meta-mtime decimal seconds since the epoch, possibly fractional ("1700000000.25"), or
//                   RFC 3339 ("2023-11-14T22:13:20.25Z", rclone).
//  Unparseable values are ignored (the default applies). Defaults: files 0644, directories 0755,
//  uid/gid from the export options, mtime = LastModified.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "objstore/object_store.h"
#include "vfs/vfs.h"

namespace bucketfs::gateway {

inline constexpr std::size_t kMaxNameBytes = 255;

// st_mode type bits (values fixed by POSIX practice and by s3fs's on-bucket format).
inline constexpr uint32_t kModeTypeMask = 0170000;
inline constexpr uint32_t kModeRegular = 0100000;
inline constexpr uint32_t kModeDirectory = 0040000;
inline constexpr uint32_t kModeSymlink = 0120000;
inline constexpr uint32_t kModePermMask = 07777;

enum class NameCheck : uint8_t { kOk, kEmpty, kDotOrDotDot, kTooLong, kHasNul, kHasSlash };

// Whether `name` can be a directory entry name under the rule above.
NameCheck CheckName(std::string_view name);
std::string_view NameCheckText(NameCheck check);

// Why a listed key is not an entry.
enum class HideReason : uint8_t { kInvalidName, kShadowedByDirectory, kOutsidePrefix };

struct HiddenKey {
  std::string key;
  HideReason reason = HideReason::kInvalidName;
  NameCheck name_check = NameCheck::kOk;  // for kInvalidName
};

struct ListedEntry {
  std::string name;
  bool is_directory = false;
  objstore::ObjectInfo info;  // files only: the Contents entry
};

// One directory's classified listing.
struct DirListing {
  std::vector<ListedEntry> entries;            // sorted by name, unique
  std::optional<objstore::ObjectInfo> marker;  // the directory's own marker object, if any
  std::vector<HiddenKey> hidden;
};

// Accumulates the pages of one ListObjectsV2(prefix=dir_prefix, delimiter="/") sequence and
// classifies them. Not thread-safe (one per listing).
class ListingClassifier {
 public:
  explicit ListingClassifier(std::string dir_prefix) : prefix_(std::move(dir_prefix)) {}

  void AddPage(const objstore::ListPage& page);
  // Entries no later page can precede or hide, in final order (that of Finish()), each returned
  // once. Later pages only carry keys greater than those seen, so an entry n is final once no
  // directory whose name is n (hiding a file n) or a prefix of n followed by a byte below '/'
  // (sorting before n) can still arrive. Lets READDIR serve a huge directory while it loads.
  std::vector<ListedEntry> TakeFinal();
  // Number of entries collected so far (before the file-vs-prefix rule).
  std::size_t size() const { return files_.size() + dirs_.size(); }
  DirListing Finish() &&;

 private:
  void AddObject(const objstore::ObjectInfo& info);
  void AddPrefix(const std::string& common_prefix);
  void NoteKey(const std::string& key);
  // No directory named `name` can arrive in a later page.
  bool DirCannotArrive(std::string_view name) const;
  bool IsFinal(std::string_view name, bool is_file) const;

  std::string prefix_;
  std::string max_key_;   // greatest key or common prefix seen
  std::string released_;  // last name TakeFinal returned
  bool any_released_ = false;
  std::map<std::string, objstore::ObjectInfo> files_;
  std::map<std::string, bool> dirs_;  // name → present
  std::optional<objstore::ObjectInfo> marker_;
  std::vector<HiddenKey> hidden_;
};

// Key prefix of the child directory `name` of a directory with key prefix `dir_prefix`.
inline std::string ChildDirPrefix(std::string_view dir_prefix, std::string_view name) {
  std::string out(dir_prefix);
  out.append(name);
  out.push_back('/');
  return out;
}
inline std::string ChildFileKey(std::string_view dir_prefix, std::string_view name) {
  std::string out(dir_prefix);
  out.append(name);
  return out;
}

// Normalises an export prefix: "" stays "", anything else ends in exactly one "/".
std::string NormalizeExportPrefix(std::string_view prefix);

// POSIX attributes found in user metadata; each field is absent when missing or unparseable.
struct PosixMeta {
  std::optional<uint32_t> mode;  // full st_mode, type bits included when present
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::optional<vfs::Timespec> mtime;
};

PosixMeta ParsePosixMeta(const std::map<std::string, std::string>& user_metadata);
// The x-amz-meta-* of `meta` as s3fs writes them: mode/uid/gid in decimal, mtime in decimal
// seconds (with a fraction when not whole). Absent fields are left out.
std::map<std::string, std::string> FormatPosixMeta(const PosixMeta& meta);

// Parsers used by ParsePosixMeta, exposed for tests.
std::optional<uint32_t> ParseMode(std::string_view text);
std::optional<uint32_t> ParseId(std::string_view text);
std::optional<vfs::Timespec> ParseMtime(std::string_view text);

vfs::Timespec ToTimespec(std::chrono::system_clock::time_point tp);

}  // namespace bucketfs::gateway
