// bucketfs: the command-line entry point. `bucketfs serve ...` runs the gateway in the foreground.
// Every failure is printed as one line "bucketfs: error: <cause>" with a non-zero exit status.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "base/log.h"
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
  serve->add_option("--listen", f.listen, "NFS listen address HOST:PORT")->capture_default_str();
  serve
      ->add_option("--metadata-ttl", f.config.metadata_ttl_seconds,
                   "Seconds a listing or object's attributes are trusted before revalidation "
                   "against S3 (changes made by other writers appear within this time)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));
  serve->add_option("--uid", f.config.default_uid, "Owner of objects that carry no x-amz-meta-uid")
      ->capture_default_str();
  serve->add_option("--gid", f.config.default_gid, "Group of objects that carry no x-amz-meta-gid")
      ->capture_default_str();
  serve->add_option("--lease", f.config.lease_seconds, "NFSv4 lease time in seconds")
      ->capture_default_str()
      ->check(CLI::Range(5, 3600));
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

}  // namespace
}  // namespace bucketfs

int main(int argc, char** argv) {
  CLI::App app{"bucketfs: an NFSv4 gateway for S3 buckets"};
  app.require_subcommand(1);
  bucketfs::ServeFlags serve_flags;
  bucketfs::AddServeCommand(app, serve_flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (app.got_subcommand("serve")) return bucketfs::Serve(serve_flags);
  return 1;
}
