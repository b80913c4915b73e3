#include "server/saved_exports.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "server/json.h"

namespace bucketfs::server {
namespace {

constexpr int kVersion = 1;

std::string Errno() { return std::strerror(errno); }

Status WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError(Errno());
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::Ok();
}

Status SyncDirectoryOf(const std::string& path) {
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return IoError("cannot open " + dir + ": " + Errno());
  Status s = ::fsync(fd) == 0 ? Status::Ok() : IoError("cannot sync " + dir + ": " + Errno());
  ::close(fd);
  return s;
}

}  // namespace

std::string SavedExportsPath(const std::string& state_dir) { return state_dir + "/exports.json"; }

std::string SavedExportsJson(const std::vector<SavedExport>& exports) {
  JsonWriter w;
  w.BeginObject().Key("version").Int(kVersion).Key("exports").BeginArray();
  for (const SavedExport& x : exports) {
    const ExportConfig& e = x.config;
    w.BeginObject();
    w.Key("name").String(e.name);
    w.Key("bucket").String(e.bucket);
    w.Key("prefix").String(e.prefix);
    w.Key("endpoint").String(e.endpoint);
    w.Key("region").String(e.region);
    if (!e.profile.empty()) w.Key("profile").String(e.profile);
    if (e.read_only) w.Key("read_only").Bool(*e.read_only);
    if (e.metadata_ttl_seconds) w.Key("metadata_ttl_seconds").Double(*e.metadata_ttl_seconds);
    w.Key("draining").Bool(x.draining);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.str() + "\n";
}

Result<std::vector<SavedExport>> ParseSavedExports(std::string_view json,
                                                   const std::string& where) {
  auto bad = [&where](const std::string& why) {
    return InvalidArgumentError(where + " is not a list of exports bucketfs can read (" + why +
                                "); repair or remove it (its exports are then not served)");
  };
  auto doc = ParseJson(json);
  if (!doc.ok()) return bad(doc.status().message());
  const JsonValue* version = doc->Find("version");
  if (version == nullptr || !version->is_number()) return bad("no version");
  if (version->number() != kVersion) {
    return bad("version " + std::to_string(static_cast<int64_t>(version->number())) +
               ", this bucketfs reads version " + std::to_string(kVersion));
  }
  const JsonValue* list = doc->Find("exports");
  if (list == nullptr || !list->is_array()) return bad("no \"exports\" array");
  std::vector<SavedExport> out;
  for (const JsonValue& item : list->items()) {
    if (!item.is_object()) return bad("an export that is not an object");
    SavedExport x;
    ExportConfig& e = x.config;
    for (const auto& [key, value] : item.members()) {
      std::string* text = key == "name"       ? &e.name
                          : key == "bucket"   ? &e.bucket
                          : key == "prefix"   ? &e.prefix
                          : key == "endpoint" ? &e.endpoint
                          : key == "region"   ? &e.region
                          : key == "profile"  ? &e.profile
                                              : nullptr;
      if (text != nullptr) {
        if (!value.is_string()) return bad("\"" + key + "\" is not a string");
        *text = value.string();
      } else if (key == "read_only" || key == "draining") {
        if (value.type() != JsonValue::Type::kBool) return bad("\"" + key + "\" is not a boolean");
        if (key == "read_only") {
          e.read_only = value.boolean();
        } else {
          x.draining = value.boolean();
        }
      } else if (key == "metadata_ttl_seconds") {
        if (!value.is_number()) return bad("\"" + key + "\" is not a number");
        e.metadata_ttl_seconds = value.number();
      }  // other members: written by a later bucketfs of the same version, ignored
    }
    Status s = NormalizeExport(&e);
    if (!s.ok()) return bad("export '" + e.name + "': " + s.message());
    for (const SavedExport& other : out) {
      if (other.config.name == e.name) return bad("export '" + e.name + "' appears twice");
    }
    out.push_back(std::move(x));
  }
  return out;
}

Result<std::vector<SavedExport>> LoadSavedExports(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return std::vector<SavedExport>();
  if (fd < 0) return IoError("cannot read " + path + ": " + Errno());
  std::string text;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Status s = IoError("cannot read " + path + ": " + Errno());
      ::close(fd);
      return s;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return ParseSavedExports(text, path);
}

Status SaveExports(const std::string& path, const std::vector<SavedExport>& exports) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return IoError("cannot create " + tmp + ": " + Errno());
  Status s = WriteAll(fd, SavedExportsJson(exports));
  if (!s.ok()) s = IoError("cannot write " + tmp + ": " + s.message());
  if (s.ok() && ::fsync(fd) != 0) s = IoError("cannot sync " + tmp + ": " + Errno());
  ::close(fd);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    s = IoError("cannot rename " + tmp + " to " + path + ": " + Errno());
  }
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  return SyncDirectoryOf(path);
}

}  // namespace bucketfs::server
