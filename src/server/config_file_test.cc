#include "server/config_file.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace bucketfs::server {
namespace {

std::string ReadSourceFile(const std::string& rel) {
  std::ifstream in(std::string(BUCKETFS_SOURCE_DIR) + "/" + rel);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

// "`x`" → "x"; anything else unchanged.
std::string Unquote(const std::string& cell) {
  if (cell.size() >= 2 && cell.front() == '`' && cell.back() == '`') {
    return cell.substr(1, cell.size() - 2);
  }
  return cell;
}

// The rows of the key tables of docs/configuration.md: key ("export.NAME" under the [[export]]
// heading) → cells after the key.
std::map<std::string, std::vector<std::string>> DocumentedKeys() {
  std::map<std::string, std::vector<std::string>> rows;
  std::istringstream doc(ReadSourceFile("docs/configuration.md"));
  std::string line;
  std::string prefix;
  bool in_keys = false;
  while (std::getline(doc, line)) {
    if (line.starts_with("## ")) {
      in_keys = line.find("keys") != std::string::npos || line.find("[[export]]") != line.npos;
      prefix = line.find("[[export]]") != std::string::npos ? "export." : "";
      continue;
    }
    if (!in_keys || !line.starts_with("| `")) continue;
    std::vector<std::string> cells;
    std::size_t pos = 1;
    for (std::size_t bar; (bar = line.find(" | ", pos)) != std::string::npos; pos = bar + 3) {
      cells.push_back(Trim(line.substr(pos, bar - pos)));
    }
    cells.push_back(Trim(line.substr(pos, line.rfind('|') - pos)));
    const std::string key = prefix + Unquote(cells[0]);
    cells.erase(cells.begin());
    EXPECT_TRUE(rows.emplace(key, cells).second) << "documented twice: " << key;
  }
  return rows;
}

TEST(ConfigFileDocTest, EveryKeyIsDocumentedWithItsTypeDefaultFlagAndReload) {
  const auto documented = DocumentedKeys();
  std::set<std::string> accepted;
  const ServeConfig defaults;
  for (const ConfigKey& k : ConfigKeys()) {
    const std::string name(k.name);
    accepted.insert(name);
    auto row = documented.find(name);
    if (row == documented.end()) {
      ADD_FAILURE() << "docs/configuration.md does not document key " << name;
      continue;
    }
    const std::vector<std::string>& cells = row->second;
    SCOPED_TRACE(name);
    EXPECT_EQ(cells[0], k.type);
    if (k.name.starts_with("export.")) {
      ASSERT_EQ(cells.size(), 4u);  // type, default, reload, meaning
      EXPECT_EQ(cells[2], k.live ? "live" : "restart");
    } else {
      ASSERT_EQ(cells.size(), 5u);  // type, default, flag, reload, meaning
      EXPECT_EQ(Unquote(cells[1]), RenderConfigValue(defaults, k.name)) << "default";
      EXPECT_EQ(Unquote(cells[2]), k.flag);
      EXPECT_EQ(cells[3], k.live ? "live" : "restart");
    }
  }
  for (const auto& [name, cells] : documented) {
    EXPECT_TRUE(accepted.contains(name)) << "documented but not accepted: " << name;
  }
}

TEST(ConfigFileDocTest, TheExampleParses) {
  auto file = ParseConfigFile(ReadSourceFile("docs/bucketfs.example.toml"), "example");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  ASSERT_EQ(file->config.exports.size(), 3u);
  EXPECT_EQ(file->config.exports[1].name, "ckpt");
  EXPECT_EQ(file->config.exports[1].prefix, "runs/2026/");
  EXPECT_EQ(file->config.cache_memory_bytes, 2ull << 30);
}

TEST(ConfigFileTest, EveryKeyIsRead) {
  auto file = ParseConfigFile(R"(
listen = "0.0.0.0:20490"
state_dir = "/s"
admin_socket = "/s/a.sock"
metrics_listen = "127.0.0.1:9464"
log_level = "debug"
endpoint = "http://127.0.0.1:9000"
region = "eu-west-1"
path_style = true
local_dir = "/l"
metadata_ttl = 2.5
uid = 1000
gid = 1001
cache_memory = "512M"
cache_dir = "/c"
cache_disk_size = 0
cache_block_size = "1MiB"
cache_policy = "lru"
read_ahead = 4
read_only = true
sync_upload = true
upload_delay = 60000
upload_part_size = "32M"
staging_size = "1T"
payload_memory = "64M"
max_connections = 10
s3_max_response = "8M"
lease = 30
delegations = true
io_threads = 8
blocking_threads = 16

[[export]]
bucket = "data"

[[export]]
name = "ckpt"
bucket = "checkpoints"
prefix = "/runs/7"
endpoint = "https://s3.example"
region = "us-west-2"
profile = "ckpt"
read_only = false
metadata_ttl = 60
)",
                              "t.toml");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  const ServeConfig& c = file->config;
  EXPECT_EQ(c.listen_host, "0.0.0.0");
  EXPECT_EQ(c.listen_port, 20490);
  EXPECT_EQ(c.state_dir, "/s");
  EXPECT_EQ(c.admin_socket, "/s/a.sock");
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.endpoint, "http://127.0.0.1:9000");
  EXPECT_EQ(c.region, "eu-west-1");
  EXPECT_TRUE(c.force_path_style);
  EXPECT_EQ(c.local_dir, "/l");
  EXPECT_EQ(c.metadata_ttl_seconds, 2.5);
  EXPECT_EQ(c.default_uid, 1000u);
  EXPECT_EQ(c.default_gid, 1001u);
  EXPECT_EQ(c.cache_memory_bytes, 512ull << 20);
  EXPECT_EQ(c.cache_dir, "/c");
  EXPECT_EQ(c.cache_disk_bytes, 0u);
  EXPECT_EQ(c.cache_block_size, 1ull << 20);
  EXPECT_EQ(c.cache_policy, "lru");
  EXPECT_EQ(c.read_ahead_blocks, 4u);
  EXPECT_TRUE(c.read_only);
  EXPECT_TRUE(c.sync_upload);
  EXPECT_EQ(c.upload_delay_ms, 60000u);
  EXPECT_EQ(c.upload_part_size, 32ull << 20);
  EXPECT_EQ(c.staging_bytes, 1ull << 40);
  EXPECT_EQ(c.payload_memory_bytes, 64ull << 20);
  EXPECT_EQ(c.max_connections, 10u);
  EXPECT_EQ(c.s3_max_response_bytes, 8ull << 20);
  EXPECT_EQ(c.lease_seconds, 30u);
  EXPECT_TRUE(c.delegations);
  EXPECT_EQ(c.io_threads, 8);
  EXPECT_EQ(c.blocking_threads, 16);
  EXPECT_EQ(file->keys.size(), ConfigKeys().size() - 8);  // every top-level key
  ASSERT_EQ(c.exports.size(), 2u);
  EXPECT_EQ(c.exports[0].name, "data");
  EXPECT_EQ(c.exports[0].bucket, "data");
  EXPECT_FALSE(c.exports[0].read_only.has_value());
  EXPECT_FALSE(c.exports[0].metadata_ttl_seconds.has_value());
  const ExportConfig& e = c.exports[1];
  EXPECT_EQ(e.name, "ckpt");
  EXPECT_EQ(e.bucket, "checkpoints");
  EXPECT_EQ(e.prefix, "runs/7/");
  EXPECT_EQ(e.endpoint, "https://s3.example");
  EXPECT_EQ(e.region, "us-west-2");
  EXPECT_EQ(e.profile, "ckpt");
  EXPECT_EQ(e.read_only, false);
  EXPECT_EQ(e.metadata_ttl_seconds, 60.0);
}

TEST(ConfigFileTest, AnEmptyFileIsTheDefaults) {
  auto file = ParseConfigFile("# nothing\n", "t.toml");
  ASSERT_TRUE(file.ok());
  EXPECT_TRUE(file->keys.empty());
  for (const ConfigKey& k : ConfigKeys()) {
    if (k.name.starts_with("export.")) continue;
    EXPECT_EQ(RenderConfigValue(file->config, k.name), RenderConfigValue(ServeConfig{}, k.name));
  }
}

TEST(ConfigFileTest, ErrorsNameTheFileTheLineAndTheKey) {
  struct Case {
    const char* text;
    const char* message;
  };
  const Case cases[] = {
      {"log_level = \"info\"\ncache_mem = \"1G\"\n",
       "t.toml:2: unknown key 'cache_mem' (did you mean cache_memory?)"},
      {"[[export]]\nbucket = \"data\"\nbukcet = \"x\"\n",
       "t.toml:3: [[export]]: unknown key 'bukcet' (did you mean bucket?)"},
      {"frobnicate = 1\n", "t.toml:1: unknown key 'frobnicate'"},
      {"[cache]\nmemory = \"1G\"\n", "t.toml:1: unknown table [cache]"},
      {"\n\ncache_memory = \"4Q\"\n", "t.toml:3: cache_memory: '4Q': unknown size unit"},
      {"cache_memory = -1\n", "t.toml:1: cache_memory: a size cannot be negative"},
      {"lease = 1\n", "t.toml:1: lease: 1 is not in [5, 3600]"},
      {"lease = \"90\"\n", "t.toml:1: lease: must be an integer, not a string"},
      {"read_only = 1\n", "t.toml:1: read_only: must be true or false, not an integer"},
      {"metadata_ttl = -2\n", "t.toml:1: metadata_ttl: -2 is not in [0, 86400]"},
      {"listen = \"nowhere\"\n", "t.toml:1: listen: --listen must be HOST:PORT"},
      {"log_level = \"loud\"\n", "t.toml:1: log_level: unknown log level 'loud'"},
      {"listen = \n", "t.toml:1:"},  // a TOML syntax error
      {"export = 1\n", "t.toml:1: export: exports are [[export]] tables"},
      {"[[export]]\nname = \"x\"\n", "t.toml:1: [[export]]: has no bucket"},
      {"[[export]]\nbucket = \"a\"\n", "t.toml:1: [[export]]: 'a' is not a valid bucket name"},
      {"[[export]]\nbucket = \"data\"\nmetadata_ttl = true\n",
       "t.toml:3: export.metadata_ttl: must be a number of seconds, not a boolean"},
      {"[[export]]\nbucket = \"data\"\n[[export]]\nbucket = \"data\"\n",
       "t.toml:3: [[export]]: a second export named /data"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto file = ParseConfigFile(c.text, "t.toml");
    ASSERT_FALSE(file.ok());
    EXPECT_EQ(file.status().code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(file.status().message().starts_with(c.message)) << file.status().message();
  }
}

TEST(ConfigFileTest, LoadConfigFileReportsAMissingFile) {
  auto file = LoadConfigFile("/nonexistent/bucketfs.toml");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.status().message().find("/nonexistent/bucketfs.toml"), std::string::npos);
}

TEST(ConfigFileTest, FlagsGivenOverrideTheFile) {
  auto file = ParseConfigFile(
      "listen = \"127.0.0.1:1\"\ncache_memory = \"2G\"\nlease = 30\n[[export]]\nbucket = "
      "\"data\"\n",
      "t.toml");
  ASSERT_TRUE(file.ok());
  ServeConfig flags;
  flags.listen_port = 2;
  flags.cache_memory_bytes = 3ull << 30;
  flags.lease_seconds = 40;
  auto given = [](std::string_view flag) { return flag == "--cache-memory" || flag == "--lease"; };
  ServeConfig c = OverlayFlags(file->config, flags, given);
  EXPECT_EQ(c.listen_port, 1);  // not given: the file's
  EXPECT_EQ(c.cache_memory_bytes, 3ull << 30);
  EXPECT_EQ(c.lease_seconds, 40u);
  ASSERT_EQ(c.exports.size(), 1u);  // no --bucket: the file's exports
  EXPECT_EQ(c.exports[0].bucket, "data");
  flags.exports.push_back({.name = "other", .bucket = "other"});
  c = OverlayFlags(file->config, flags, given);
  ASSERT_EQ(c.exports.size(), 1u);
  EXPECT_EQ(c.exports[0].bucket, "other");
}

TEST(ConfigFileTest, RenderConfigValue) {
  ServeConfig c;
  EXPECT_EQ(RenderConfigValue(c, "cache_memory"), "\"1G\"");
  c.cache_memory_bytes = 1536ull << 20;
  EXPECT_EQ(RenderConfigValue(c, "cache_memory"), "\"1536M\"");
  c.cache_memory_bytes = 4097;
  EXPECT_EQ(RenderConfigValue(c, "cache_memory"), "\"4097\"");
  EXPECT_EQ(RenderConfigValue(c, "listen"), "\"127.0.0.1:2049\"");
  c.listen_host = "::1";
  EXPECT_EQ(RenderConfigValue(c, "listen"), "\"[::1]:2049\"");
  EXPECT_EQ(RenderConfigValue(c, "metadata_ttl"), "5");
  c.metadata_ttl_seconds = 0.25;
  EXPECT_EQ(RenderConfigValue(c, "metadata_ttl"), "0.25");
  EXPECT_EQ(RenderConfigValue(c, "no_such_key"), "");
}

}  // namespace
}  // namespace bucketfs::server
