#include "objstore/local_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

namespace bucketfs::objstore {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMetaDir = ".bucketfs-meta";
constexpr const char* kMetaSuffix = ".bfsmeta";
constexpr const char* kMarkerName = ".bucketfs-dir";

std::string Md5Hex(ByteView data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_md5(), nullptr);
  return HexEncode(ByteView(digest, len));
}

// Percent-encodes bytes outside [A-Za-z0-9._-] so metadata values survive one-line storage.
std::string Escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '.' || c == '_' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[4];
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned value = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::sscanf(std::string(s.substr(i + 1, 2)).c_str(), "%2x", &value) == 1) {
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct Sidecar {
  std::string etag;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  std::map<std::string, std::string> meta;
};

bool ReadSidecar(const fs::path& p, Sidecar* out) {
  std::ifstream in(p);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "etag") {
      ls >> out->etag;
    } else if (tag == "size") {
      ls >> out->size;
    } else if (tag == "mtime_ns") {
      ls >> out->mtime_ns;
    } else if (tag == "meta") {
      std::string k, v;
      ls >> k >> v;
      if (!k.empty()) out->meta[Unescape(k)] = Unescape(v);
    }
  }
  return true;
}

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

Status ErrnoStatus(const std::string& what, int err) {
  if (err == ENOENT) return NotFoundError(what + ": no such object");
  if (err == ENOSPC || err == EDQUOT) return Status(ErrorCode::kNoSpace, what + ": disk full");
  if (err == EACCES || err == EPERM) return Status(ErrorCode::kAccessDenied, what);
  return IoError(what + ": " + std::strerror(err));
}

// Writes `data` to `path` atomically: temp file in the same directory, fsync, rename.
Status WriteFileAtomic(const fs::path& path, ByteView data) {
  fs::path tmp = path;
  tmp += ".bfs-tmp-" + std::to_string(::getpid()) + "-" +
         std::to_string(reinterpret_cast<uintptr_t>(data.data()));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("create " + tmp.string(), errno);
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return ErrnoStatus("write " + path.string(), err);
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("fsync " + path.string(), err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return ErrnoStatus("rename " + path.string(), err);
  }
  return Status::Ok();
}

std::string SerializeSidecar(const Sidecar& s) {
  std::string out = "etag " + s.etag + "\nsize " + std::to_string(s.size) + "\nmtime_ns " +
                    std::to_string(s.mtime_ns) + "\n";
  for (const auto& [k, v] : s.meta) out += "meta " + Escape(k) + " " + Escape(v) + "\n";
  return out;
}

bool IsInternalName(const std::string& name) { return name.find(".bfs-tmp-") != std::string::npos; }

// True when `dir` holds at least one object (a file, or a marked directory) at any depth.
bool HasObjects(const fs::path& dir, const fs::path& meta_dir) {
  std::error_code ec;
  if (fs::exists(meta_dir / kMarkerName, ec)) return true;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (IsInternalName(name)) continue;
    if (e.is_directory(ec)) {
      if (HasObjects(e.path(), meta_dir / name)) return true;
    } else {
      return true;
    }
  }
  return false;
}

struct Candidate {
  std::string key;
  bool is_prefix = false;
  bool operator<(const Candidate& o) const { return key < o.key; }
};

}  // namespace

Status ValidateLocalKey(const std::string& key) {
  if (key.empty()) return InvalidArgumentError("empty key");
  std::string_view rest = key;
  if (rest.back() == '/') rest.remove_suffix(1);
  std::size_t start = 0;
  while (start <= rest.size()) {
    std::size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view c = rest.substr(start, end - start);
    if (c.empty() || c == "." || c == "..") {
      return InvalidArgumentError("key '" + key + "' cannot be stored as a file path");
    }
    if (c.size() > 255) return Status(ErrorCode::kNameTooLong, "key component over 255 bytes");
    if (c.find(".bfs-tmp-") != std::string_view::npos) {
      return InvalidArgumentError("key '" + key + "' uses a reserved name");
    }
    start = end + 1;
  }
  return Status::Ok();
}

LocalStore::LocalStore(std::string root, std::string bucket, BlockingPool& pool)
    : bucket_dir_(fs::path(root) / bucket),
      meta_dir_(fs::path(root) / kMetaDir / bucket),
      bucket_(std::move(bucket)),
      pool_(pool) {}

fs::path LocalStore::DataPath(const std::string& key) const {
  std::string k = key;
  while (!k.empty() && k.back() == '/') k.pop_back();
  return bucket_dir_ / k;
}

fs::path LocalStore::MetaPath(const std::string& key) const {
  if (!key.empty() && key.back() == '/') return meta_dir_ / key / kMarkerName;
  return meta_dir_ / (key + kMetaSuffix);
}

Awaitable<Status> LocalStore::CheckBucket() {
  auto check = [this]() -> Status {
    std::error_code ec;
    if (!fs::is_directory(bucket_dir_, ec)) {
      return NotFoundError("bucket directory " + bucket_dir_.string() + " does not exist");
    }
    return Status::Ok();
  };
  co_return co_await RunBlocking(pool_, std::move(check));
}

Result<ObjectInfo> LocalStore::HeadSync(const std::string& key) const {
  if (Status s = ValidateLocalKey(key); !s.ok()) return NotFoundError(s.message());
  struct stat st;
  fs::path data = DataPath(key);
  if (::stat(data.c_str(), &st) != 0) return ErrnoStatus("HEAD " + key, errno);
  const bool marker = key.back() == '/';
  if (marker != S_ISDIR(st.st_mode)) return NotFoundError("HEAD " + key + ": no such object");
  Sidecar side;
  const bool has_side = ReadSidecar(MetaPath(key), &side);
  if (marker && !has_side) return NotFoundError("HEAD " + key + ": no marker object");
  ObjectInfo info;
  info.key = key;
  info.size = marker ? 0 : static_cast<uint64_t>(st.st_size);
  info.last_modified = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(MtimeNs(st))));
  info.has_metadata = true;
  if (has_side && (marker || (side.size == info.size && side.mtime_ns == MtimeNs(st)))) {
    info.etag = side.etag;
    info.user_metadata = side.meta;
  } else {
    // Placed or changed by hand: derive a stable ETag from what the file system knows.
    std::string id = std::to_string(info.size) + ":" + std::to_string(MtimeNs(st));
    info.etag = Md5Hex(AsBytes(id));
  }
  return info;
}

Result<GetResult> LocalStore::GetSync(const std::string& key, const GetOptions& options) const {
  BFS_ASSIGN_OR_RETURN(ObjectInfo info, HeadSync(key));
  if (!options.if_match.empty() && options.if_match != info.etag) {
    return Status(ErrorCode::kStale, "GET " + key + ": object changed (ETag mismatch)");
  }
  uint64_t offset = 0, length = info.size;
  if (options.range) {
    offset = options.range->offset;
    if (offset >= info.size && !(info.size == 0 && offset == 0)) {
      return InvalidArgumentError("GET " + key + ": range not satisfiable");
    }
    length = std::min<uint64_t>(options.range->length.value_or(info.size), info.size - offset);
  }
  GetResult r;
  r.info = std::move(info);
  r.data.resize(length);
  if (length == 0) return r;
  int fd = ::open(DataPath(key).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("GET " + key, errno);
  std::size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, r.data.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  r.data.resize(done);
  return r;
}

Result<ListPage> LocalStore::ListSync(const ListRequest& req) const {
  if (!req.delimiter.empty() && req.delimiter != "/") {
    return NotSupportedError("the local store lists with delimiter '/' or none");
  }
  const std::string& prefix = req.prefix;
  const std::string dir_part =
      prefix.substr(0, prefix.rfind('/') == std::string::npos ? 0 : prefix.rfind('/') + 1);
  // Only keys after the continuation point are collected, and only the first max_keys + 1 of
  // them are put in order: a page of a 100,000-entry directory costs one directory scan, not a
  // full sort (a complete listing was quadratic-times-log before).
  const std::string& after = std::max(req.start_after, req.continuation_token);
  auto wanted = [&](const std::string& key) {
    return key.compare(0, prefix.size(), prefix) == 0 && (after.empty() || key > after);
  };
  std::vector<Candidate> found;
  std::error_code ec;
  fs::path start = dir_part.empty() ? bucket_dir_ : DataPath(dir_part);
  fs::path start_meta = meta_dir_ / dir_part;
  if (!fs::is_directory(start, ec)) return ListPage{};
  // The marker object of the listed directory itself ("a/" when listing prefix "a/").
  if (!dir_part.empty() && dir_part == prefix && wanted(prefix) &&
      fs::exists(start_meta / kMarkerName, ec)) {
    found.push_back({prefix, false});
  }
  if (req.delimiter == "/") {
    std::string key = dir_part;
    for (const auto& e : fs::directory_iterator(start, ec)) {
      const std::string name = e.path().filename().string();
      if (IsInternalName(name)) continue;
      key.resize(dir_part.size());
      key += name;
      if (e.is_directory(ec)) {
        key += '/';
        if (wanted(key) && HasObjects(e.path(), start_meta / name)) found.push_back({key, true});
      } else if (wanted(key)) {
        found.push_back({key, false});
      }
    }
  } else {
    for (auto it = fs::recursive_directory_iterator(start, ec);
         it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      std::string rel = fs::relative(it->path(), bucket_dir_, ec).generic_string();
      if (IsInternalName(it->path().filename().string())) continue;
      bool dir = it->is_directory(ec);
      std::string key = dir ? rel + "/" : rel;
      if (!wanted(key) || (dir && key == prefix)) continue;
      if (dir && !fs::exists(meta_dir_ / rel / kMarkerName, ec)) continue;
      found.push_back({key, false});
    }
  }
  const std::size_t max_keys = static_cast<std::size_t>(std::clamp(req.max_keys, 1, 1000));
  // One more than a page, so that "is there a next page" is known.
  const std::size_t keep = std::min(found.size(), max_keys + 1);
  std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(keep), found.end());
  found.resize(keep);
  ListPage page;
  std::size_t taken = 0;
  std::string last_key;
  for (const Candidate& c : found) {
    if (taken == max_keys) {
      page.next_continuation_token = last_key;
      break;
    }
    last_key = c.key;
    ++taken;
    if (c.is_prefix) {
      page.common_prefixes.push_back(c.key);
      continue;
    }
    auto info = HeadSync(c.key);
    if (!info.ok()) continue;  // vanished while listing
    info->user_metadata.clear();
    info->has_metadata = false;  // LIST carries no user metadata, as on S3
    page.objects.push_back(std::move(*info));
  }
  return page;
}

Result<ObjectInfo> LocalStore::PutSync(const std::string& key, const Bytes& data,
                                       const std::map<std::string, std::string>& meta) {
  BFS_RETURN_IF_ERROR(ValidateLocalKey(key));
  std::error_code ec;
  fs::path path = DataPath(key);
  fs::create_directories(key.back() == '/' ? path : path.parent_path(), ec);
  if (ec) {
    return Status(ErrorCode::kExists,
                  "PUT " + key + ": a parent of this key is an object: " + ec.message());
  }
  Sidecar side;
  side.meta = meta;
  if (key.back() != '/') {
    if (fs::is_directory(path, ec)) {
      return Status(ErrorCode::kExists, "PUT " + key + ": a prefix with this name exists");
    }
    BFS_RETURN_IF_ERROR(WriteFileAtomic(path, data));
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("PUT " + key, errno);
    side.etag = Md5Hex(data);
    side.size = data.size();
    side.mtime_ns = MtimeNs(st);
  } else {
    side.etag = Md5Hex(ByteView());
  }
  fs::path mpath = MetaPath(key);
  fs::create_directories(mpath.parent_path(), ec);
  if (ec) return IoError("PUT " + key + ": metadata directory: " + ec.message());
  BFS_RETURN_IF_ERROR(WriteFileAtomic(mpath, AsBytes(SerializeSidecar(side))));
  return HeadSync(key);
}

Status LocalStore::DeleteSync(const std::string& key) {
  if (!ValidateLocalKey(key).ok()) return Status::Ok();  // nothing can exist there
  std::error_code ec;
  fs::path path = DataPath(key);
  if (key.back() == '/') {
    fs::remove(MetaPath(key), ec);
    fs::remove(path, ec);  // only succeeds when empty, like dropping a marker
    return Status::Ok();
  }
  if (fs::is_directory(path, ec)) return Status::Ok();  // a prefix, not an object
  if (!fs::remove(path, ec) && ec && ec != std::errc::no_such_file_or_directory) {
    return IoError("DELETE " + key + ": " + ec.message());
  }
  fs::remove(MetaPath(key), ec);
  // Drop parents that became empty and carry no marker (S3 has no empty implicit prefixes).
  for (fs::path p = path.parent_path();
       p != bucket_dir_ && p.string().size() > bucket_dir_.string().size(); p = p.parent_path()) {
    std::string rel = fs::relative(p, bucket_dir_, ec).generic_string();
    if (fs::exists(meta_dir_ / rel / kMarkerName, ec) || !fs::is_empty(p, ec)) break;
    fs::remove(p, ec);
  }
  return Status::Ok();
}

// ---- Copy and multipart ----

fs::path LocalStore::UploadDir(const std::string& upload_id) const {
  return meta_dir_ / ".uploads" / upload_id;
}

Result<ObjectInfo> LocalStore::InstallSync(const std::string& key, const fs::path& tmp,
                                           const std::string& etag,
                                           const std::map<std::string, std::string>& meta) {
  std::error_code ec;
  fs::path path = DataPath(key);
  fs::create_directories(path.parent_path(), ec);
  if (ec || fs::is_directory(path, ec)) {
    fs::remove(tmp, ec);
    return Status(ErrorCode::kExists, "PUT " + key + ": a prefix or parent object is in the way");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    fs::remove(tmp, ec);
    return ErrnoStatus("rename " + path.string(), err);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("PUT " + key, errno);
  Sidecar side;
  side.meta = meta;
  side.etag = etag;
  side.size = static_cast<uint64_t>(st.st_size);
  side.mtime_ns = MtimeNs(st);
  fs::path mpath = MetaPath(key);
  fs::create_directories(mpath.parent_path(), ec);
  if (ec) return IoError("PUT " + key + ": metadata directory: " + ec.message());
  BFS_RETURN_IF_ERROR(WriteFileAtomic(mpath, AsBytes(SerializeSidecar(side))));
  return HeadSync(key);
}

Result<ObjectInfo> LocalStore::CopySync(
    const std::string& src, const std::string& dst,
    const std::optional<std::map<std::string, std::string>>& metadata,
    const std::string& src_if_match) {
  BFS_RETURN_IF_ERROR(ValidateLocalKey(dst));
  BFS_ASSIGN_OR_RETURN(ObjectInfo info, HeadSync(src));
  if (!src_if_match.empty() && src_if_match != info.etag) {
    return Status(ErrorCode::kStale, "COPY " + src + ": source changed (ETag mismatch)");
  }
  if (!src.empty() && src.back() == '/')
    return PutSync(dst, Bytes(), metadata.value_or(info.user_metadata));
  fs::path tmp = DataPath(dst);
  tmp += ".bfs-tmp-copy-" + std::to_string(::getpid());
  std::error_code ec;
  fs::create_directories(tmp.parent_path(), ec);
  fs::copy_file(DataPath(src), tmp, fs::copy_options::overwrite_existing, ec);
  if (ec) return IoError("COPY " + src + " → " + dst + ": " + ec.message());
  // A copy keeps the source's ETag (as S3 does for single-part objects).
  return InstallSync(dst, tmp, info.etag, metadata.value_or(info.user_metadata));
}

Result<std::string> LocalStore::CreateMultipartSync(
    const std::string& key, const std::map<std::string, std::string>& meta) {
  BFS_RETURN_IF_ERROR(ValidateLocalKey(key));
  unsigned char rnd[12];
  if (RAND_bytes(rnd, sizeof(rnd)) != 1) return InternalError("no randomness for an upload id");
  std::string id = HexEncode(ByteView(rnd, sizeof(rnd)));
  std::error_code ec;
  fs::create_directories(UploadDir(id), ec);
  if (ec) return IoError("create multipart upload: " + ec.message());
  Sidecar side;
  side.etag = "-";
  side.meta = meta;
  side.meta[" key"] = key;  // which key the upload is for (never a real metadata name)
  BFS_RETURN_IF_ERROR(WriteFileAtomic(UploadDir(id) / "upload", AsBytes(SerializeSidecar(side))));
  return id;
}

Result<std::string> LocalStore::UploadPartSync(const std::string& key, const std::string& upload_id,
                                               int part_number, ByteView data) {
  if (part_number < 1 || part_number > kMaxParts) return InvalidArgumentError("bad part number");
  Sidecar side;
  if (upload_id.find_first_not_of("0123456789abcdef") != std::string::npos ||
      !ReadSidecar(UploadDir(upload_id) / "upload", &side) || side.meta[" key"] != key) {
    return NotFoundError("no such upload " + upload_id);
  }
  std::string etag = Md5Hex(data);
  fs::path part = UploadDir(upload_id) / std::to_string(part_number);
  BFS_RETURN_IF_ERROR(WriteFileAtomic(part, data));
  BFS_RETURN_IF_ERROR(WriteFileAtomic(part.string() + ".md5", AsBytes(etag)));
  return etag;
}

Result<ObjectInfo> LocalStore::CompleteMultipartSync(const std::string& key,
                                                     const std::string& upload_id,
                                                     const std::vector<CompletedPart>& parts) {
  Sidecar side;
  if (upload_id.find_first_not_of("0123456789abcdef") != std::string::npos ||
      !ReadSidecar(UploadDir(upload_id) / "upload", &side) || side.meta[" key"] != key) {
    return NotFoundError("no such upload " + upload_id);
  }
  side.meta.erase(" key");
  if (parts.empty()) return InvalidArgumentError("MalformedXML: no parts");
  fs::path tmp = DataPath(key);
  tmp += ".bfs-tmp-mpu-" + upload_id;
  std::error_code ec;
  fs::create_directories(tmp.parent_path(), ec);
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  if (!out) return IoError("complete multipart upload: cannot create " + tmp.string());
  std::string md5s;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    const CompletedPart& p = parts[i];
    if (i > 0 && p.number <= parts[i - 1].number) return InvalidArgumentError("InvalidPartOrder");
    fs::path part = UploadDir(upload_id) / std::to_string(p.number);
    std::ifstream md5_in(part.string() + ".md5");
    std::string md5;
    if (!md5_in || !(md5_in >> md5) || md5 != p.etag) {
      fs::remove(tmp, ec);
      return InvalidArgumentError("InvalidPart: part " + std::to_string(p.number));
    }
    const auto size = fs::file_size(part, ec);
    if (ec || (i + 1 < parts.size() && size < kMinPartSize)) {
      fs::remove(tmp, ec);
      return InvalidArgumentError("EntityTooSmall: part " + std::to_string(p.number));
    }
    std::ifstream in(part, std::ios::binary);
    out << in.rdbuf();
    for (std::size_t k = 0; k + 1 < md5.size(); k += 2) {
      md5s.push_back(static_cast<char>(std::stoi(md5.substr(k, 2), nullptr, 16)));
    }
  }
  out.flush();
  if (!out) {
    fs::remove(tmp, ec);
    return Status(ErrorCode::kNoSpace, "complete multipart upload: write failed");
  }
  out.close();
  {
    int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }
  // S3's convention: MD5 of the parts' binary MD5s, "-" part count.
  std::string etag = Md5Hex(AsBytes(md5s)) + "-" + std::to_string(parts.size());
  auto info = InstallSync(key, tmp, etag, side.meta);
  if (info.ok()) fs::remove_all(UploadDir(upload_id), ec);
  return info;
}

Status LocalStore::AbortMultipartSync(const std::string& upload_id) {
  if (upload_id.empty() || upload_id.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return Status::Ok();
  }
  std::error_code ec;
  fs::remove_all(UploadDir(upload_id), ec);
  return Status::Ok();
}

Awaitable<Result<ObjectInfo>> LocalStore::Copy(
    std::string src_key, std::string dst_key,
    std::optional<std::map<std::string, std::string>> metadata, std::string src_if_match) {
  auto work = [this, src = std::move(src_key), dst = std::move(dst_key), meta = std::move(metadata),
               m = std::move(src_if_match)] { return CopySync(src, dst, meta, m); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<std::string>> LocalStore::CreateMultipart(
    std::string key, std::map<std::string, std::string> user_metadata) {
  auto work = [this, key = std::move(key), meta = std::move(user_metadata)] {
    return CreateMultipartSync(key, meta);
  };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<std::string>> LocalStore::UploadPart(std::string key, std::string upload_id,
                                                      int part_number, Bytes data) {
  auto work = [this, key = std::move(key), id = std::move(upload_id), part_number,
               data = std::move(data)] { return UploadPartSync(key, id, part_number, data); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<std::string>> LocalStore::UploadPartCopy(std::string key, std::string upload_id,
                                                          int part_number, std::string src_key,
                                                          ByteRange range,
                                                          std::string src_if_match) {
  auto work = [this, key = std::move(key), id = std::move(upload_id), part_number,
               src = std::move(src_key), range,
               m = std::move(src_if_match)]() -> Result<std::string> {
    if (!range.length) return InvalidArgumentError("UploadPartCopy needs a bounded range");
    GetOptions opts;
    opts.range = range;
    opts.if_match = m;
    BFS_ASSIGN_OR_RETURN(GetResult got, GetSync(src, opts));
    if (got.data.size() != *range.length) {
      return InvalidArgumentError("InvalidRange: copy source range beyond the object");
    }
    return UploadPartSync(key, id, part_number, got.data);
  };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<ObjectInfo>> LocalStore::CompleteMultipart(std::string key, std::string upload_id,
                                                            std::vector<CompletedPart> parts) {
  auto work = [this, key = std::move(key), id = std::move(upload_id), parts = std::move(parts)] {
    return CompleteMultipartSync(key, id, parts);
  };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Status> LocalStore::AbortMultipart(std::string key, std::string upload_id) {
  auto work = [this, id = std::move(upload_id)] { return AbortMultipartSync(id); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<ObjectInfo>> LocalStore::Head(std::string key) {
  auto work = [this, key = std::move(key)] { return HeadSync(key); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<GetResult>> LocalStore::Get(std::string key, GetOptions options) {
  auto work = [this, key = std::move(key), options = std::move(options)] {
    return GetSync(key, options);
  };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<ListPage>> LocalStore::List(ListRequest request) {
  auto work = [this, request = std::move(request)] { return ListSync(request); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Result<ObjectInfo>> LocalStore::Put(std::string key, Bytes data,
                                              std::map<std::string, std::string> user_metadata) {
  auto work = [this, key = std::move(key), data = std::move(data),
               meta = std::move(user_metadata)] { return PutSync(key, data, meta); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

Awaitable<Status> LocalStore::Delete(std::string key) {
  auto work = [this, key = std::move(key)] { return DeleteSync(key); };
  co_return co_await RunBlocking(pool_, std::move(work));
}

}  // namespace bucketfs::objstore
