// The serve config file (`bucketfs serve --config FILE`): every serve setting in TOML, top-level
// keys named after the command-line flags ("cache_memory" for --cache-memory) plus one
// [[export]] table per export. docs/configuration.md lists every key; config_file_test.cc checks
// that list against ConfigKeys() and ServeConfig's defaults.
//
// Parsing is strict: an unknown key, a value of the wrong type or out of range, or a TOML syntax
// error is an error naming the file, the line and the key. Nothing here throws: toml++'s parse
// exceptions are caught and come back as a Status.
//
// Thread-safety: plain functions of their arguments; ConfigKeys() is a constant table.
// LoadConfigFile reads a file: call it where blocking is allowed (startup, the BlockingPool).
#pragma once

#include <functional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "server/config.h"

namespace bucketfs::server {

// One key the config file accepts. Keys of [[export]] tables are named "export.KEY".
struct ConfigKey {
  std::string_view name;  // "cache_memory", "export.bucket"
  std::string_view type;  // "string", "size", "bool", "integer", "seconds", "HOST:PORT"
  std::string_view flag;  // the serve flag setting the same thing ("--cache-memory"), or ""
  // Whether SIGHUP applies a change of this key to the running gateway (else it needs a restart).
  bool live = false;
};

// Every accepted key: the top-level ones, then those of [[export]] tables.
const std::vector<ConfigKey>& ConfigKeys();

// The value of top-level key `name` in `config`, as TOML would write it ("1G", "\"lru\"", "5",
// "true", "\"127.0.0.1:2049\""); "" for an unknown key. Used for the documented defaults and for
// saying what changed on reload.
std::string RenderConfigValue(const ServeConfig& config, std::string_view name);

struct ConfigFile {
  ServeConfig config;          // ServeConfig's defaults overridden by the file's values
  std::set<std::string> keys;  // the top-level keys the file sets
};

// Parses a config file's text; `source` names it in errors ("bucketfs.toml:12: ...").
Result<ConfigFile> ParseConfigFile(std::string_view text, std::string_view source);
// Reads and parses the file at `path` (blocking).
Result<ConfigFile> LoadConfigFile(const std::string& path);

// `file` with every top-level setting whose flag `given(flag)` says was on the command line taken
// from `flags` instead, and the exports of `flags` if it has any (--bucket replaces the file's
// [[export]] tables). Command-line flags override the file.
ServeConfig OverlayFlags(const ServeConfig& file, const ServeConfig& flags,
                         const std::function<bool(std::string_view flag)>& given);

}  // namespace bucketfs::server
