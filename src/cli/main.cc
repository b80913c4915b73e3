// bucketfs: the command-line entry point. `bucketfs serve ...` runs the gateway in the foreground;
// `bucketfs status`, `bucketfs refresh PATH` and `bucketfs mount create|list|delete` talk to a
// running gateway through its admin socket.
// Every failure is printed as one line "bucketfs: error: <cause>" with a non-zero exit status.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "base/log.h"
#include "cli/admin_client.h"
#include "server/config.h"
#include "server/config_file.h"
#include "server/gateway_server.h"

namespace bucketfs {
namespace {

int Fail(const Status& status) {
  std::fprintf(stderr, "bucketfs: error: %s\n", status.message().c_str());
  return 1;
}

struct ServeFlags {
  CLI::App* serve = nullptr;  // for which flags were given (they override --config's keys)
  std::string config_file;
  server::ServeConfig config;
  std::vector<std::string> buckets;
  std::string listen = "127.0.0.1:2049";
  std::string cache_memory = "1G";
  std::string cache_disk = "10G";
  std::string cache_block = "4M";
  std::string staging_size = "10G";
  std::string part_size = "16M";
  std::string payload_memory = "256M";
  std::string s3_max_response = "64M";
};

void AddServeCommand(CLI::App& app, ServeFlags& f) {
  CLI::App* serve = app.add_subcommand("serve", "Serve buckets over NFSv4 (foreground)");
  f.serve = serve;
  serve->add_option("--config", f.config_file,
                    "TOML file with serve settings and [[export]] tables (docs/configuration.md); "
                    "flags given override it; SIGHUP reloads it");
  serve->add_option("--bucket,-b", f.buckets,
                    "Bucket to export, as BUCKET, BUCKET:PREFIX or NAME=BUCKET[:PREFIX]; the "
                    "export is /NAME (default NAME: the bucket). Repeat for several. Replaces "
                    "the [[export]] tables of --config.");
  serve->add_option("--endpoint", f.config.endpoint,
                    "S3 endpoint URL (default: https://s3.REGION.amazonaws.com)");
  serve->add_option("--region", f.config.region, "S3 region")->capture_default_str();
  serve->add_flag("--path-style", f.config.force_path_style,
                  "Force path-style addressing (automatic for custom endpoints)");
  serve->add_option("--local-dir", f.config.local_dir,
                    "Use the embedded local-directory object store: each bucket is a "
                    "directory under this one (no S3 needed)");
  serve->add_option("--state-dir", f.config.state_dir,
                    "Directory for the metadata database (inode numbers, file-handle key); keep it "
                    "across restarts so clients' file handles stay valid (default: " +
                        server::DefaultStateDir() + ")");
  serve->add_option("--admin-socket", f.config.admin_socket,
                    "Unix socket of the local admin endpoint used by `bucketfs status` and "
                    "`bucketfs refresh` (default: STATE_DIR/admin.sock)");
  serve->add_option("--listen", f.listen, "NFS listen address HOST:PORT")->capture_default_str();
  serve
      ->add_option("--metadata-ttl", f.config.metadata_ttl_seconds,
                   "Seconds a listing or object's attributes are trusted before revalidation "
                   "against S3 (changes made by other writers appear within this time)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  serve
      ->add_option("--cache-memory", f.cache_memory,
                   "Memory for the shared block cache, including fetches in flight (e.g. 512M, 4G)")
      ->capture_default_str();
  serve->add_option("--cache-dir", f.config.cache_dir,
                    "Directory of the block cache's disk tier, reused after a restart (default: "
                    "STATE_DIR/cache)");
  serve
      ->add_option("--cache-disk-size", f.cache_disk,
                   "Disk space for the block cache (0 disables the disk tier)")
      ->capture_default_str();
  serve
      ->add_option("--cache-block-size", f.cache_block,
                   "Block size of the cache and of S3 range GETs (64K to 64M)")
      ->capture_default_str();
  serve->add_option("--cache-policy", f.config.cache_policy, "Cache eviction policy: s3fifo or lru")
      ->capture_default_str();
  serve
      ->add_option("--read-ahead", f.config.read_ahead_blocks,
                   "Most blocks fetched ahead of a sequential reader (0 disables read-ahead)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1024));
  serve
      ->add_option("--payload-memory", f.payload_memory,
                   "Memory for NFS payloads in flight, half for requests as read (WRITE data), "
                   "half for replies until sent (READ data); calls wait when it is full")
      ->capture_default_str();
  serve
      ->add_option("--max-connections", f.config.max_connections,
                   "NFS connections open at once; more are refused")
      ->capture_default_str()
      ->check(CLI::Range(1, 1'000'000));
  serve
      ->add_option("--s3-max-response", f.s3_max_response,
                   "Longest S3 response body accepted other than a ranged GET's (LIST pages, "
                   "errors); a ranged GET never gets more than its range")
      ->capture_default_str();
  serve->add_option("--metrics-listen", f.config.metrics_listen,
                    "Serve Prometheus metrics at http://HOST:PORT/metrics (default: off), e.g. "
                    "127.0.0.1:9464");
  serve->add_flag("--read-only", f.config.read_only,
                  "Serve every export read-only (mutations answer NFS4ERR_ROFS)");
  serve->add_flag("--sync-upload", f.config.sync_upload,
                  "COMMIT and stable WRITEs return only once the data is in S3 (default: once it "
                  "is durable on the gateway's disk; uploads follow in the background)");
  serve
      ->add_option("--staging-size", f.staging_size,
                   "Disk for written data not yet uploaded, per export; past it writes get "
                   "NFS4ERR_DELAY until uploads catch up")
      ->capture_default_str();
  serve
      ->add_option("--upload-part-size", f.part_size,
                   "Multipart upload part size (at least 5M); files up to it are one PUT")
      ->capture_default_str();
  serve
      ->add_option("--upload-delay", f.config.upload_delay_ms,
                   "Milliseconds between the last CLOSE of a written file and its upload")
      ->capture_default_str()
      ->check(CLI::Range(0, 3'600'000));
  serve->add_option("--uid", f.config.default_uid, "Owner of objects that carry no x-amz-meta-uid")
      ->capture_default_str();
  serve->add_option("--gid", f.config.default_gid, "Group of objects that carry no x-amz-meta-gid")
      ->capture_default_str();
  serve->add_option("--lease", f.config.lease_seconds, "NFSv4 lease time in seconds")
      ->capture_default_str()
      ->check(CLI::Range(5, 3600));
  serve->add_flag("--delegations,!--no-delegations", f.config.delegations,
                  "Hand out read delegations to NFSv4.0 and 4.1 clients with a callback path "
                  "(default on; --no-delegations turns them off)");
  serve->add_option("--io-threads", f.config.io_threads, "Network threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  serve->add_option("--blocking-threads", f.config.blocking_threads, "Disk and database threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  serve->add_option("--log-level", f.config.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
}

// The serve configuration: --config's settings (if given) with the flags given on the command
// line over them, checked. Reads the config file: called at start and on SIGHUP (on the
// gateway's blocking pool).
Result<server::ServeConfig> BuildConfig(const ServeFlags& f) {
  server::ServeConfig flags = f.config;
  BFS_RETURN_IF_ERROR(server::ParseListen(f.listen, &flags.listen_host, &flags.listen_port));
  for (auto [flag, text, out] :
       {std::tuple{"--cache-memory", &f.cache_memory, &flags.cache_memory_bytes},
        std::tuple{"--cache-disk-size", &f.cache_disk, &flags.cache_disk_bytes},
        std::tuple{"--cache-block-size", &f.cache_block, &flags.cache_block_size},
        std::tuple{"--staging-size", &f.staging_size, &flags.staging_bytes},
        std::tuple{"--upload-part-size", &f.part_size, &flags.upload_part_size},
        std::tuple{"--payload-memory", &f.payload_memory, &flags.payload_memory_bytes},
        std::tuple{"--s3-max-response", &f.s3_max_response, &flags.s3_max_response_bytes}}) {
    auto size = server::ParseSize(*text);
    if (!size.ok()) return size.status().WithContext(flag);
    *out = *size;
  }
  for (const std::string& b : f.buckets) {
    BFS_ASSIGN_OR_RETURN(server::ExportConfig e, server::ParseExport(b));
    flags.exports.push_back(std::move(e));
  }
  server::ServeConfig c = flags;
  if (!f.config_file.empty()) {
    BFS_ASSIGN_OR_RETURN(server::ConfigFile file, server::LoadConfigFile(f.config_file));
    const CLI::App* serve = f.serve;
    c = server::OverlayFlags(file.config, flags, [serve](std::string_view flag) {
      return serve->count(std::string(flag)) > 0;
    });
  }
  if (c.state_dir.empty()) c.state_dir = server::DefaultStateDir();
  if (c.admin_socket.empty()) c.admin_socket = c.state_dir + "/admin.sock";
  if (c.upload_part_size < (uint64_t{5} << 20) || c.upload_part_size > (uint64_t{5} << 30)) {
    return InvalidArgumentError("--upload-part-size: must be between 5M and 5G (S3's limits)");
  }
  if (c.payload_memory_bytes < (uint64_t{4} << 20)) {
    // Each half must hold a READ (1 MiB) and a WRITE record, or calls run one at a time.
    return InvalidArgumentError("--payload-memory: must be at least 4M");
  }
  if (c.s3_max_response_bytes < (uint64_t{4} << 20)) {
    // A LIST page of 1,000 keys of 1,024 bytes is about 1.5 MB.
    return InvalidArgumentError("--s3-max-response: must be at least 4M");
  }
  return c;
}

int Serve(const ServeFlags& f) {
  auto config = BuildConfig(f);
  if (!config.ok()) return Fail(config.status());
  if (!InitLogging(config->log_level)) {
    return Fail(InvalidArgumentError("unknown --log-level '" + config->log_level + "'"));
  }
  server::GatewayServer gateway(*config);
  if (!f.config_file.empty()) gateway.SetConfigSource([&f] { return BuildConfig(f); });
  if (Status s = gateway.Start(); !s.ok()) return Fail(s);
  gateway.Run();
  return 0;
}

// Options shared by the commands that talk to a running gateway.
struct AdminFlags {
  std::string admin_socket;
  std::string state_dir;
  std::string path;  // refresh's PATH
};

void AddAdminOptions(CLI::App* cmd, AdminFlags& f) {
  cmd->add_option("--admin-socket", f.admin_socket,
                  "Admin socket of the gateway (default: STATE_DIR/admin.sock)");
  cmd->add_option(
      "--state-dir", f.state_dir,
      "State directory the gateway was started with (default: " + server::DefaultStateDir() + ")");
}

void AddAdminCommands(CLI::App& app, AdminFlags& status, AdminFlags& refresh) {
  CLI::App* st = app.add_subcommand(
      "status", "Show what a running gateway serves: exports, listen address, uptime");
  AddAdminOptions(st, status);
  CLI::App* rf = app.add_subcommand(
      "refresh",
      "Make a running gateway revalidate a file or directory against the bucket now, instead of "
      "waiting for --metadata-ttl (e.g. after writing to the bucket with another tool)");
  rf->add_option("PATH", refresh.path, "/EXPORT/PATH: the file or directory (/EXPORT: its root)")
      ->required();
  AddAdminOptions(rf, refresh);
}

std::string AdminSocketPath(const AdminFlags& f) {
  if (!f.admin_socket.empty()) return f.admin_socket;
  return (f.state_dir.empty() ? server::DefaultStateDir() : f.state_dir) + "/admin.sock";
}

// "45s", "3m 05s", "2h 03m 04s", "3d 04h 05m".
std::string FormatDuration(int64_t seconds) {
  char buf[64];
  const int64_t d = seconds / 86400, h = seconds / 3600 % 24, m = seconds / 60 % 60,
                s = seconds % 60;
  if (d > 0) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "d %02" PRId64 "h %02" PRId64 "m", d, h, m);
  } else if (h > 0) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "h %02" PRId64 "m %02" PRId64 "s", h, m, s);
  } else if (m > 0) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "m %02" PRId64 "s", m, s);
  } else {
    std::snprintf(buf, sizeof(buf), "%" PRId64 "s", s);
  }
  return buf;
}

int ShowStatus(const AdminFlags& f) {
  auto reply = cli::CallAdmin(AdminSocketPath(f), "GET", "/v1/status");
  if (!reply.ok()) return Fail(reply.status());
  const server::JsonValue& st = reply->body;
  const server::JsonValue* uptime = st.Find("uptime_seconds");
  std::printf("bucketfs %s serving NFSv4 on %s, up %s\n", st.GetString("version", "?").c_str(),
              st.GetString("listen", "?").c_str(),
              uptime && uptime->is_number()
                  ? FormatDuration(static_cast<int64_t>(uptime->number())).c_str()
                  : "?");
  const server::JsonValue* exports = st.Find("exports");
  const std::size_t n = exports && exports->is_array() ? exports->items().size() : 0;
  std::printf("%zu export%s:\n", n, n == 1 ? "" : "s");
  std::size_t width = 0;
  for (std::size_t i = 0; i < n; ++i) {
    width = std::max(width, exports->items()[i].GetString("name").size() + 1);
  }
  for (std::size_t i = 0; i < n; ++i) {
    const server::JsonValue& e = exports->items()[i];
    const std::string name = "/" + e.GetString("name");
    std::printf("  %-*s  %s\n", static_cast<int>(width), name.c_str(),
                e.GetString("source", "?").c_str());
  }
  return 0;
}

int Refresh(const AdminFlags& f) {
  auto reply =
      cli::CallAdmin(AdminSocketPath(f), "POST", "/v1/refresh?path=" + cli::QueryEscape(f.path));
  if (!reply.ok()) return Fail(reply.status());
  std::printf("refreshed %s\n", reply->body.GetString("refreshed", f.path).c_str());
  return 0;
}

// `bucketfs mount create|list|delete`: exports of a running gateway (POST, GET /v1/exports,
// DELETE /v1/exports/NAME).
struct MountFlags {
  AdminFlags create_admin, list_admin, delete_admin;
  CLI::App* create = nullptr;
  CLI::App* list = nullptr;
  CLI::App* del = nullptr;
  CLI::Option* ttl_option = nullptr;
  std::string bucket, name, prefix, region, endpoint, protocol = "nfs";
  bool read_only = false;
  double metadata_ttl = 0;
  bool json = false;
  std::string delete_name;
  bool force = false;
};

void AddMountCommands(CLI::App& app, MountFlags& f) {
  CLI::App* mount = app.add_subcommand(
      "mount", "Add, list and remove the exports of a running gateway (no restart needed)");
  mount->require_subcommand(1);
  f.create = mount->add_subcommand(
      "create",
      "Export a bucket from the running gateway as /NAME at once; it is kept across restarts "
      "(saved in the state directory). Prints the command that mounts it.");
  f.create->add_option("--bucket,-b", f.bucket, "Bucket to export")->required();
  f.create->add_option("--name", f.name, "Export name: clients mount /NAME (default: the bucket)");
  f.create->add_option("--prefix", f.prefix, "Export only the keys under this prefix");
  f.create->add_option("--region", f.region, "S3 region (default: the gateway's --region)");
  f.create->add_option("--endpoint", f.endpoint,
                       "S3 endpoint URL (default: the gateway's --endpoint)");
  f.create->add_flag("--read-only", f.read_only, "Serve it read-only (mutations: NFS4ERR_ROFS)");
  f.create->add_option("--protocol", f.protocol, "Protocol to serve it with (only nfs)")
      ->capture_default_str();
  f.ttl_option = f.create->add_option(
      "--metadata-ttl", f.metadata_ttl,
      "Seconds its listings and attributes are trusted before revalidation (default: the "
      "gateway's --metadata-ttl)");
  f.create->add_flag("--json", f.json, "Print the gateway's JSON reply");
  AddAdminOptions(f.create, f.create_admin);
  f.list = mount->add_subcommand(
      "list", "Show the exports, their settings and pending uploads, NFS clients, cache use");
  f.list->add_flag("--json", f.json, "Print the gateway's JSON document");
  AddAdminOptions(f.list, f.list_admin);
  f.del = mount->add_subcommand(
      "delete",
      "Remove an export from the running gateway. Refused while it has writes not yet uploaded, "
      "unless --force (they then keep uploading in the background). An export given to `serve` "
      "comes back at the gateway's next start.");
  f.del->add_option("NAME", f.delete_name, "The export (its /NAME, with or without the /)")
      ->required();
  f.del->add_flag("--force", f.force,
                  "Remove it even with writes not yet uploaded (they keep uploading in the "
                  "background, and resume at the next start if the gateway stops first)");
  f.del->add_flag("--json", f.json, "Print the gateway's JSON reply");
  AddAdminOptions(f.del, f.delete_admin);
}

// "0", "512 B", "3.0 KiB", "1.5 GiB".
std::string FormatBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(static_cast<int64_t>(bytes)) + " B";
  int unit = 0;
  while (bytes >= 1024 && unit < 5) {
    bytes /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", bytes, kUnits[unit]);
  return buf;
}

double NumberOf(const server::JsonValue& v, std::string_view key) {
  const server::JsonValue* n = v.Find(key);
  return n != nullptr && n->is_number() ? n->number() : 0;
}

bool BoolOf(const server::JsonValue& v, std::string_view key) {
  const server::JsonValue* b = v.Find(key);
  return b != nullptr && b->type() == server::JsonValue::Type::kBool && b->boolean();
}

int MountCreate(const MountFlags& f) {
  if (f.protocol != "nfs") {
    return Fail(
        InvalidArgumentError("--protocol " + f.protocol +
                             " is not supported: bucketfs serves NFS only (--protocol nfs)"));
  }
  server::JsonWriter w;
  w.BeginObject();
  w.Key("bucket").String(f.bucket);
  if (!f.name.empty()) w.Key("name").String(f.name);
  if (!f.prefix.empty()) w.Key("prefix").String(f.prefix);
  if (!f.region.empty()) w.Key("region").String(f.region);
  if (!f.endpoint.empty()) w.Key("endpoint").String(f.endpoint);
  if (f.read_only) w.Key("read_only").Bool(true);
  if (f.ttl_option->count() > 0) w.Key("metadata_ttl_seconds").Double(f.metadata_ttl);
  w.Key("protocol").String(f.protocol);
  w.EndObject();
  // The gateway checks the bucket first: S3's retries of an unreachable endpoint take a while.
  auto reply = cli::CallAdmin(AdminSocketPath(f.create_admin), "POST", "/v1/exports",
                              std::chrono::seconds(120), w.str());
  if (!reply.ok()) return Fail(reply.status());
  if (f.json) {
    std::printf("%s\n", reply->text.c_str());
    return 0;
  }
  const server::JsonValue* e = reply->body.Find("export");
  if (e != nullptr) {
    std::printf("exporting %s as /%s\n", e->GetString("source", "?").c_str(),
                e->GetString("name", "?").c_str());
  }
  std::printf("%s\n", reply->body.GetString("mount").c_str());
  return 0;
}

int MountList(const MountFlags& f) {
  auto reply = cli::CallAdmin(AdminSocketPath(f.list_admin), "GET", "/v1/exports");
  if (!reply.ok()) return Fail(reply.status());
  const server::JsonValue& doc = reply->body;
  if (f.json) {
    std::printf("%s\n", reply->text.c_str());
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "BUCKET", "PREFIX", "ENDPOINT", "RO", "TTL", "CREATED BY", "STATE", "PENDING"}};
  const server::JsonValue* exports = doc.Find("exports");
  if (exports != nullptr && exports->is_array()) {
    for (const server::JsonValue& e : exports->items()) {
      std::string endpoint = e.GetString("endpoint");
      if (endpoint.empty()) {
        endpoint = e.GetString("source").starts_with("s3://") ? "aws " + e.GetString("region")
                                                              : "local directory";
      }
      char ttl[32];
      std::snprintf(ttl, sizeof(ttl), "%gs", NumberOf(e, "metadata_ttl_seconds"));
      const double changes = NumberOf(e, "pending_changes");
      const double staged = NumberOf(e, "staged_bytes");
      std::string pending = std::to_string(static_cast<int64_t>(changes));
      if (staged > 0) pending += " (" + FormatBytes(staged) + " staged)";
      const std::string prefix = e.GetString("prefix");
      const std::string by = e.GetString("created_by");
      rows.push_back({"/" + e.GetString("name"), e.GetString("bucket"),
                      prefix.empty() ? "-" : prefix, endpoint,
                      BoolOf(e, "read_only") ? "yes" : "no", ttl, by == "cli" ? "mount create" : by,
                      e.GetString("state"), pending});
    }
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    std::printf("%s\n", line.c_str());
  }
  if (const server::JsonValue* nfs = doc.Find("nfs")) {
    std::printf("NFS: %lld clients, %lld sessions, %lld open files\n",
                static_cast<long long>(NumberOf(*nfs, "clients")),
                static_cast<long long>(NumberOf(*nfs, "sessions")),
                static_cast<long long>(NumberOf(*nfs, "opens")));
  }
  if (const server::JsonValue* cache = doc.Find("cache")) {
    std::printf("block cache: %s of %s in memory, %s of %s on disk\n",
                FormatBytes(NumberOf(*cache, "memory_bytes")).c_str(),
                FormatBytes(NumberOf(*cache, "memory_limit_bytes")).c_str(),
                FormatBytes(NumberOf(*cache, "disk_bytes")).c_str(),
                FormatBytes(NumberOf(*cache, "disk_limit_bytes")).c_str());
  }
  return 0;
}

int MountDelete(const MountFlags& f) {
  std::string name = f.delete_name;
  if (name.starts_with("/")) name.erase(0, 1);
  std::string target = "/v1/exports/" + cli::QueryEscape(name);
  if (f.force) target += "?force=1";
  auto reply = cli::CallAdmin(AdminSocketPath(f.delete_admin), "DELETE", target);
  if (!reply.ok()) return Fail(reply.status());
  if (f.json) {
    std::printf("%s\n", reply->text.c_str());
    return 0;
  }
  std::printf("%s\n", reply->body.GetString("message", "deleted /" + name).c_str());
  return 0;
}

}  // namespace
}  // namespace bucketfs

int main(int argc, char** argv) {
  CLI::App app{"bucketfs: an NFSv4 gateway for S3 buckets"};
  app.require_subcommand(1);
  bucketfs::ServeFlags serve_flags;
  bucketfs::AddServeCommand(app, serve_flags);
  bucketfs::AdminFlags status_flags;
  bucketfs::AdminFlags refresh_flags;
  bucketfs::AddAdminCommands(app, status_flags, refresh_flags);
  bucketfs::MountFlags mount_flags;
  bucketfs::AddMountCommands(app, mount_flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.got_subcommand("serve")) return bucketfs::Serve(serve_flags);
  if (app.got_subcommand("status")) return bucketfs::ShowStatus(status_flags);
  if (app.got_subcommand("refresh")) return bucketfs::Refresh(refresh_flags);
  if (mount_flags.create->parsed()) return bucketfs::MountCreate(mount_flags);
  if (mount_flags.list->parsed()) return bucketfs::MountList(mount_flags);
  if (mount_flags.del->parsed()) return bucketfs::MountDelete(mount_flags);
  return 1;
}
