#include "server/config_file.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "base/log.h"

namespace bucketfs::server {
namespace {

// How one top-level key reads its TOML value into a ServeConfig, writes it back as TOML, and
// copies it from one ServeConfig to another (for the command-line overlay).
struct KeyDef {
  ConfigKey key;
  Status (*set)(const toml::node& value, ServeConfig& config);
  std::string (*render)(const ServeConfig& config);
  void (*copy)(const ServeConfig& from, ServeConfig& to);
};

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// "10G", "4M", "4097" (the largest unit that divides it exactly).
std::string FormatSize(uint64_t bytes) {
  static constexpr std::pair<int, char> kUnits[] = {{40, 'T'}, {30, 'G'}, {20, 'M'}, {10, 'K'}};
  if (bytes == 0) return "0";
  for (auto [shift, unit] : kUnits) {
    const uint64_t one = uint64_t{1} << shift;
    if (bytes % one == 0) return fmt::format("{}{}", bytes / one, unit);
  }
  return std::to_string(bytes);
}

std::string_view TypeName(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

Status WrongType(const toml::node& n, std::string_view wanted) {
  return InvalidArgumentError(fmt::format("must be {}, not {}", wanted, TypeName(n)));
}

Result<std::string> ReadString(const toml::node& n) {
  if (const auto* s = n.as_string()) return s->get();
  return WrongType(n, "a string");
}

Result<bool> ReadBool(const toml::node& n) {
  if (const auto* b = n.as_boolean()) return b->get();
  return WrongType(n, "true or false");
}

Result<int64_t> ReadInteger(const toml::node& n, int64_t min, int64_t max) {
  const auto* i = n.as_integer();
  if (i == nullptr) return WrongType(n, "an integer");
  if (i->get() < min || i->get() > max) {
    return InvalidArgumentError(fmt::format("{} is not in [{}, {}]", i->get(), min, max));
  }
  return i->get();
}

Result<double> ReadSeconds(const toml::node& n, double min, double max) {
  double v = 0;
  if (const auto* i = n.as_integer()) {
    v = static_cast<double>(i->get());
  } else if (const auto* f = n.as_floating_point()) {
    v = f->get();
  } else {
    return WrongType(n, "a number of seconds");
  }
  if (!(v >= min && v <= max)) {
    return InvalidArgumentError(fmt::format("{} is not in [{}, {}]", v, min, max));
  }
  return v;
}

// A size: "512M", "4MiB", "10G" (as the flags take it) or a number of bytes.
Result<uint64_t> ReadSize(const toml::node& n) {
  if (const auto* i = n.as_integer()) {
    if (i->get() < 0) return InvalidArgumentError("a size cannot be negative");
    return static_cast<uint64_t>(i->get());
  }
  if (const auto* s = n.as_string()) return ParseSize(s->get());
  return WrongType(n, "a size (\"512M\", \"10G\") or a number of bytes");
}

// Key definitions, one helper per value type. `F` is a pointer to the ServeConfig member.
template <auto F>
KeyDef StringKey(std::string_view name, std::string_view flag, bool live = false) {
  return {{name, "string", flag, live},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(c.*F, ReadString(n));
            return Status::Ok();
          },
          [](const ServeConfig& c) { return Quote(c.*F); },
          [](const ServeConfig& from, ServeConfig& to) { to.*F = from.*F; }};
}

template <auto F>
KeyDef BoolKey(std::string_view name, std::string_view flag, bool live = false) {
  return {{name, "bool", flag, live},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(c.*F, ReadBool(n));
            return Status::Ok();
          },
          [](const ServeConfig& c) { return std::string(c.*F ? "true" : "false"); },
          [](const ServeConfig& from, ServeConfig& to) { to.*F = from.*F; }};
}

template <auto F>
KeyDef SizeKey(std::string_view name, std::string_view flag) {
  return {{name, "size", flag, false},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(c.*F, ReadSize(n));
            return Status::Ok();
          },
          [](const ServeConfig& c) { return Quote(FormatSize(c.*F)); },
          [](const ServeConfig& from, ServeConfig& to) { to.*F = from.*F; }};
}

template <auto F, int64_t kMin, int64_t kMax>
KeyDef IntegerKey(std::string_view name, std::string_view flag) {
  return {{name, "integer", flag, false},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(const int64_t v, ReadInteger(n, kMin, kMax));
            c.*F = static_cast<std::remove_reference_t<decltype(c.*F)>>(v);
            return Status::Ok();
          },
          [](const ServeConfig& c) { return std::to_string(c.*F); },
          [](const ServeConfig& from, ServeConfig& to) { to.*F = from.*F; }};
}

KeyDef ListenKey() {
  return {{"listen", "HOST:PORT", "--listen", false},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(const std::string text, ReadString(n));
            return ParseListen(text, &c.listen_host, &c.listen_port);
          },
          [](const ServeConfig& c) {
            const bool v6 = c.listen_host.find(':') != std::string::npos;
            return Quote((v6 ? "[" + c.listen_host + "]" : c.listen_host) + ":" +
                         std::to_string(c.listen_port));
          },
          [](const ServeConfig& from, ServeConfig& to) {
            to.listen_host = from.listen_host;
            to.listen_port = from.listen_port;
          }};
}

KeyDef MetadataTtlKey() {
  return {{"metadata_ttl", "seconds", "--metadata-ttl", true},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(c.metadata_ttl_seconds, ReadSeconds(n, 0, 86400));
            return Status::Ok();
          },
          [](const ServeConfig& c) { return fmt::format("{}", c.metadata_ttl_seconds); },
          [](const ServeConfig& from, ServeConfig& to) {
            to.metadata_ttl_seconds = from.metadata_ttl_seconds;
          }};
}

KeyDef LogLevelKey() {
  return {{"log_level", "string", "--log-level", true},
          [](const toml::node& n, ServeConfig& c) -> Status {
            BFS_ASSIGN_OR_RETURN(std::string level, ReadString(n));
            if (!IsLogLevel(level)) {
              return InvalidArgumentError("unknown log level '" + level +
                                          "' (trace, debug, info, warn, error or off)");
            }
            c.log_level = std::move(level);
            return Status::Ok();
          },
          [](const ServeConfig& c) { return Quote(c.log_level); },
          [](const ServeConfig& from, ServeConfig& to) { to.log_level = from.log_level; }};
}

// In the order of docs/configuration.md.
const std::vector<KeyDef>& TopLevelKeys() {
  using C = ServeConfig;
  static const std::vector<KeyDef> keys = {
      ListenKey(),
      StringKey<&C::state_dir>("state_dir", "--state-dir"),
      StringKey<&C::admin_socket>("admin_socket", "--admin-socket"),
      StringKey<&C::metrics_listen>("metrics_listen", "--metrics-listen"),
      LogLevelKey(),
      StringKey<&C::endpoint>("endpoint", "--endpoint"),
      StringKey<&C::region>("region", "--region"),
      BoolKey<&C::force_path_style>("path_style", "--path-style"),
      StringKey<&C::local_dir>("local_dir", "--local-dir"),
      MetadataTtlKey(),
      IntegerKey<&C::default_uid, 0, UINT32_MAX>("uid", "--uid"),
      IntegerKey<&C::default_gid, 0, UINT32_MAX>("gid", "--gid"),
      SizeKey<&C::cache_memory_bytes>("cache_memory", "--cache-memory"),
      StringKey<&C::cache_dir>("cache_dir", "--cache-dir"),
      SizeKey<&C::cache_disk_bytes>("cache_disk_size", "--cache-disk-size"),
      SizeKey<&C::cache_block_size>("cache_block_size", "--cache-block-size"),
      StringKey<&C::cache_policy>("cache_policy", "--cache-policy"),
      IntegerKey<&C::read_ahead_blocks, 0, 1024>("read_ahead", "--read-ahead"),
      BoolKey<&C::read_only>("read_only", "--read-only"),
      BoolKey<&C::sync_upload>("sync_upload", "--sync-upload"),
      IntegerKey<&C::upload_delay_ms, 0, 3'600'000>("upload_delay", "--upload-delay"),
      SizeKey<&C::upload_part_size>("upload_part_size", "--upload-part-size"),
      SizeKey<&C::staging_bytes>("staging_size", "--staging-size"),
      SizeKey<&C::payload_memory_bytes>("payload_memory", "--payload-memory"),
      IntegerKey<&C::max_connections, 1, 1'000'000>("max_connections", "--max-connections"),
      SizeKey<&C::s3_max_response_bytes>("s3_max_response", "--s3-max-response"),
      IntegerKey<&C::lease_seconds, 5, 3600>("lease", "--lease"),
      BoolKey<&C::delegations>("delegations", "--delegations"),
      IntegerKey<&C::io_threads, 1, 256>("io_threads", "--io-threads"),
      IntegerKey<&C::blocking_threads, 1, 256>("blocking_threads", "--blocking-threads"),
  };
  return keys;
}

constexpr ConfigKey kExportKeys[] = {
    {"export.name", "string", "", true},    {"export.bucket", "string", "", true},
    {"export.prefix", "string", "", true},  {"export.endpoint", "string", "", true},
    {"export.region", "string", "", true},  {"export.profile", "string", "", true},
    {"export.read_only", "bool", "", true}, {"export.metadata_ttl", "seconds", "", true},
};

std::size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1] ? 1 : 0)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

// "unknown key 'cache_mem' (did you mean cache_memory?)".
Status UnknownKey(std::string_view key, const std::vector<std::string_view>& known) {
  std::string_view best;
  std::size_t best_distance = 3;  // suggest only close matches
  for (std::string_view k : known) {
    // A truncated key ("cache_mem") is as close as one typo.
    const std::size_t d = key.size() >= 4 && k.starts_with(key) ? 1 : EditDistance(key, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  return InvalidArgumentError(fmt::format(
      "unknown key '{}'{}", key, best.empty() ? "" : fmt::format(" (did you mean {}?)", best)));
}

Status AtLine(const Status& s, std::string_view source, const toml::source_region& where,
              std::string_view key) {
  return s.WithContext(key.empty() ? fmt::format("{}:{}", source, where.begin.line)
                                   : fmt::format("{}:{}: {}", source, where.begin.line, key));
}

Result<ExportConfig> ParseExportTable(const toml::table& t, std::string_view source) {
  std::vector<std::string_view> known;
  for (const ConfigKey& k : kExportKeys) known.push_back(k.name.substr(7));
  ExportConfig e;
  for (auto&& [k, v] : t) {
    const std::string_view key = k.str();
    const std::string full = "export." + std::string(key);
    Status s;
    auto read_string = [&s, &v](std::string& out) {
      auto r = ReadString(v);
      if (r.ok()) {
        out = std::move(r).value();
      } else {
        s = r.status();
      }
    };
    if (key == "name") {
      read_string(e.name);
    } else if (key == "bucket") {
      read_string(e.bucket);
    } else if (key == "prefix") {
      read_string(e.prefix);
    } else if (key == "endpoint") {
      read_string(e.endpoint);
    } else if (key == "region") {
      read_string(e.region);
    } else if (key == "profile") {
      read_string(e.profile);
    } else if (key == "read_only") {
      auto r = ReadBool(v);
      if (r.ok()) e.read_only = *r;
      s = r.status();
    } else if (key == "metadata_ttl") {
      auto r = ReadSeconds(v, 0, 86400);
      if (r.ok()) e.metadata_ttl_seconds = *r;
      s = r.status();
    } else {
      return AtLine(UnknownKey(key, known), source, k.source(), "[[export]]");
    }
    if (!s.ok()) return AtLine(s, source, v.source(), full);
  }
  if (e.bucket.empty()) {
    return AtLine(InvalidArgumentError("has no bucket"), source, t.source(), "[[export]]");
  }
  if (Status s = NormalizeExport(&e); !s.ok()) {
    return AtLine(s, source, t.source(), "[[export]]");
  }
  return e;
}

}  // namespace

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey> keys = [] {
    std::vector<ConfigKey> out;
    for (const KeyDef& d : TopLevelKeys()) out.push_back(d.key);
    for (const ConfigKey& k : kExportKeys) out.push_back(k);
    return out;
  }();
  return keys;
}

std::string RenderConfigValue(const ServeConfig& config, std::string_view name) {
  for (const KeyDef& d : TopLevelKeys()) {
    if (d.key.name == name) return d.render(config);
  }
  return "";
}

Result<ConfigFile> ParseConfigFile(std::string_view text, std::string_view source) {
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return InvalidArgumentError(fmt::format("{}:{}:{}: {}", source, e.source().begin.line,
                                            e.source().begin.column, e.description()));
  }
  std::vector<std::string_view> known;
  for (const KeyDef& d : TopLevelKeys()) known.push_back(d.key.name);
  known.push_back("export");
  ConfigFile out;
  for (auto&& [k, v] : root) {
    const std::string_view key = k.str();
    if (key == "export") {
      const toml::array* tables = v.as_array();
      if (tables == nullptr || !tables->is_array_of_tables()) {
        return AtLine(InvalidArgumentError("exports are [[export]] tables"), source, k.source(),
                      "export");
      }
      for (const toml::node& t : *tables) {
        BFS_ASSIGN_OR_RETURN(ExportConfig e, ParseExportTable(*t.as_table(), source));
        for (const ExportConfig& other : out.config.exports) {
          if (other.name == e.name) {
            return AtLine(InvalidArgumentError("a second export named /" + e.name), source,
                          t.source(), "[[export]]");
          }
        }
        out.config.exports.push_back(std::move(e));
      }
      continue;
    }
    const auto& defs = TopLevelKeys();
    auto def = std::find_if(defs.begin(), defs.end(),
                            [key](const KeyDef& d) { return d.key.name == key; });
    if (def == defs.end()) {
      const bool table = v.is_table();
      return AtLine(table ? InvalidArgumentError(fmt::format("unknown table [{}]", key))
                          : UnknownKey(key, known),
                    source, k.source(), "");
    }
    if (Status s = def->set(v, out.config); !s.ok()) {
      return AtLine(s, source, v.source(), key);
    }
    out.keys.insert(std::string(key));
  }
  return out;
}

Result<ConfigFile> LoadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read config file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return IoError("reading config file " + path);
  return ParseConfigFile(text.str(), path);
}

ServeConfig OverlayFlags(const ServeConfig& file, const ServeConfig& flags,
                         const std::function<bool(std::string_view flag)>& given) {
  ServeConfig out = file;
  for (const KeyDef& d : TopLevelKeys()) {
    if (!d.key.flag.empty() && given(d.key.flag)) d.copy(flags, out);
  }
  if (!flags.exports.empty()) out.exports = flags.exports;
  return out;
}

}  // namespace bucketfs::server
