#include "server/config.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <string>

namespace bucketfs::server {
namespace {

bool ValidBucketName(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
              c == '_' || (c >= 'A' && c <= 'Z');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string DefaultStateDir() {
  if (const char* env = std::getenv("BUCKETFS_STATE_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  if (geteuid() == 0) return "/var/lib/bucketfs";
  if (const char* xdg = std::getenv("XDG_STATE_HOME"); xdg != nullptr && *xdg != '\0') {
    return std::string(xdg) + "/bucketfs";
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    return std::string(home) + "/.local/state/bucketfs";
  }
  return "bucketfs-state";
}

Result<uint64_t> ParseSize(std::string_view text) {
  const std::string original(text);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) {
    return InvalidArgumentError("'" + original + "' is not a size (e.g. 512M, 4MiB, 10G)");
  }
  std::string unit(end, text.data() + text.size());
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();  // "MB", "MIB" → "M", "MI"
  if (unit.size() == 2 && unit.back() == 'I') unit.pop_back();
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K") {
    shift = 10;
  } else if (unit == "M") {
    shift = 20;
  } else if (unit == "G") {
    shift = 30;
  } else if (unit == "T") {
    shift = 40;
  } else {
    return InvalidArgumentError("'" + original + "': unknown size unit (use K, M, G or T)");
  }
  if (shift > 0 && value > (UINT64_MAX >> shift)) {
    return InvalidArgumentError("'" + original + "' is too large");
  }
  return value << shift;
}

Status ParseListen(std::string_view text, std::string* host, uint16_t* port) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return InvalidArgumentError("--listen must be HOST:PORT, got '" + std::string(text) + "'");
  }
  std::string_view p = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || value > 65535) {
    return InvalidArgumentError("bad port in --listen '" + std::string(text) + "'");
  }
  std::string_view h = text.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  *host = h.empty() ? "127.0.0.1" : std::string(h);
  *port = static_cast<uint16_t>(value);
  return Status::Ok();
}

Result<ExportConfig> ParseExport(std::string_view text) {
  ExportConfig e;
  std::string_view rest = text;
  if (auto eq = rest.find('='); eq != std::string_view::npos) {
    e.name = std::string(rest.substr(0, eq));
    rest = rest.substr(eq + 1);
  }
  if (auto colon = rest.find(':'); colon != std::string_view::npos) {
    e.prefix = std::string(rest.substr(colon + 1));
    rest = rest.substr(0, colon);
  }
  e.bucket = std::string(rest);
  if (!ValidBucketName(e.bucket)) {
    return InvalidArgumentError("'" + e.bucket + "' is not a valid bucket name (in '" +
                                std::string(text) + "')");
  }
  BFS_RETURN_IF_ERROR(NormalizeExport(&e));
  return e;
}

Status NormalizeExport(ExportConfig* e) {
  if (!ValidBucketName(e->bucket)) {
    return InvalidArgumentError("'" + e->bucket + "' is not a valid bucket name");
  }
  if (e->name.empty()) e->name = e->bucket;
  while (!e->prefix.empty() && e->prefix.front() == '/') e->prefix.erase(0, 1);
  if (!e->prefix.empty() && e->prefix.back() != '/') e->prefix += '/';
  const bool control = std::any_of(e->name.begin(), e->name.end(),
                                   [](unsigned char c) { return c < 0x20 || c == 0x7f; });
  if (e->name.find('/') != std::string::npos || e->name == "." || e->name == ".." || control ||
      e->name.size() > 255) {
    return InvalidArgumentError("bad export name '" + e->name + "'");
  }
  if (e->prefix.find('\0') != std::string::npos) {
    return InvalidArgumentError("the prefix contains a NUL byte");
  }
  if (!e->endpoint.empty() && !e->endpoint.starts_with("http://") &&
      !e->endpoint.starts_with("https://")) {
    return InvalidArgumentError("endpoint '" + e->endpoint +
                                "' must start with http:// or https://");
  }
  if (e->metadata_ttl_seconds &&
      !(*e->metadata_ttl_seconds >= 0 && *e->metadata_ttl_seconds <= 86400)) {
    return InvalidArgumentError("the metadata TTL must be between 0 and 86400 seconds");
  }
  return Status::Ok();
}

}  // namespace bucketfs::server
