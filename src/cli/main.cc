// bucketfs: the command-line entry point. `bucketfs serve ...` runs the gateway in the foreground;
// `bucketfs status` and `bucketfs refresh PATH` talk to a running gateway through its admin socket.
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
#include "server/gateway_server.h"

namespace bucketfs {
namespace {

int Fail(const Status& status) {
  std::fprintf(stderr, "bucketfs: error: %s\n", status.message().c_str());
  return 1;
}

struct ServeFlags {
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
  serve
      ->add_option("--bucket,-b", f.buckets,
                   "Bucket to export, as BUCKET, BUCKET:PREFIX or NAME=BUCKET[:PREFIX]; the "
                   "export is /NAME (default NAME: the bucket). Repeat for several.")
      ->required();
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
  serve->add_flag("--delegations", f.config.delegations,
                  "Hand out NFSv4.1 read delegations (experimental; off by default)");
  serve->add_option("--io-threads", f.config.io_threads, "Network threads")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  serve->add_option("--log-level", f.config.log_level, "trace, debug, info, warn, error or off")
      ->capture_default_str();
}

Status BuildConfig(ServeFlags& f) {
  BFS_RETURN_IF_ERROR(server::ParseListen(f.listen, &f.config.listen_host, &f.config.listen_port));
  if (f.config.state_dir.empty()) f.config.state_dir = server::DefaultStateDir();
  if (f.config.admin_socket.empty()) f.config.admin_socket = f.config.state_dir + "/admin.sock";
  for (auto [flag, text, out] :
       {std::tuple{"--cache-memory", &f.cache_memory, &f.config.cache_memory_bytes},
        std::tuple{"--cache-disk-size", &f.cache_disk, &f.config.cache_disk_bytes},
        std::tuple{"--cache-block-size", &f.cache_block, &f.config.cache_block_size},
        std::tuple{"--staging-size", &f.staging_size, &f.config.staging_bytes},
        std::tuple{"--upload-part-size", &f.part_size, &f.config.upload_part_size},
        std::tuple{"--payload-memory", &f.payload_memory, &f.config.payload_memory_bytes},
        std::tuple{"--s3-max-response", &f.s3_max_response, &f.config.s3_max_response_bytes}}) {
    auto size = server::ParseSize(*text);
    if (!size.ok()) return size.status().WithContext(flag);
    *out = *size;
  }
  if (f.config.upload_part_size < (uint64_t{5} << 20) ||
      f.config.upload_part_size > (uint64_t{5} << 30)) {
    return InvalidArgumentError("--upload-part-size: must be between 5M and 5G (S3's limits)");
  }
  if (f.config.payload_memory_bytes < (uint64_t{4} << 20)) {
    // Each half must hold a READ (1 MiB) and a WRITE record, or calls run one at a time.
    return InvalidArgumentError("--payload-memory: must be at least 4M");
  }
  if (f.config.s3_max_response_bytes < (uint64_t{4} << 20)) {
    // A LIST page of 1,000 keys of 1,024 bytes is about 1.5 MB.
    return InvalidArgumentError("--s3-max-response: must be at least 4M");
  }
  for (const std::string& b : f.buckets) {
    BFS_ASSIGN_OR_RETURN(server::ExportConfig e, server::ParseExport(b));
    f.config.exports.push_back(std::move(e));
  }
  return Status::Ok();
}

int Serve(ServeFlags& f) {
  if (Status s = BuildConfig(f); !s.ok()) return Fail(s);
  if (!InitLogging(f.config.log_level)) {
    return Fail(InvalidArgumentError("unknown --log-level '" + f.config.log_level + "'"));
  }
  server::GatewayServer gateway(f.config);
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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.got_subcommand("serve")) return bucketfs::Serve(serve_flags);
  if (app.got_subcommand("status")) return bucketfs::ShowStatus(status_flags);
  if (app.got_subcommand("refresh")) return bucketfs::Refresh(refresh_flags);
  return 1;
}
