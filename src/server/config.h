// ServeConfig: everything `bucketfs serve` needs, as parsed from the command line. Plain value
// type.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"

namespace bucketfs::server {

// One exported bucket (or key prefix of a bucket), visible to clients as /name.
struct ExportConfig {
  std::string name;    // export name: one path component
  std::string bucket;  // S3 bucket (or directory under --local-dir)
  std::string prefix;  // "" or a key prefix ending in "/"
  // Per-export settings (an [[export]] table of the config file); empty or unset: the
  // ServeConfig's.
  std::string endpoint;
  std::string region;
  std::string profile;  // shared credentials/config profile; "": AWS_PROFILE or "default"
  std::optional<bool> read_only;
  std::optional<double> metadata_ttl_seconds;

  bool operator==(const ExportConfig&) const = default;
};

struct ServeConfig {
  std::string listen_host = "127.0.0.1";
  uint16_t listen_port = 2049;
  // Object store: S3 at `endpoint` (empty = AWS's regional endpoint), or the embedded
  // local-directory store when `local_dir` is set.
  std::string endpoint;
  std::string region = "us-east-1";
  std::string local_dir;
  bool force_path_style = false;
  std::vector<ExportConfig> exports;

  // Where the metadata database (inode numbers, file-handle secret, directory entries) lives.
  // Handles stay valid across restarts as long as this directory is kept. Empty: DefaultStateDir().
  std::string state_dir;
  // Unix socket of the local admin endpoint (`bucketfs refresh`, `bucketfs status`). Empty:
  // STATE_DIR/admin.sock.
  std::string admin_socket;

  // Shared block cache. Memory tier: blocks plus fetches in flight stay within cache_memory_bytes.
  // Disk tier under cache_dir (empty: STATE_DIR/cache), at most cache_disk_bytes (0: no disk
  // tier); reused after a restart.
  uint64_t cache_block_size = 4ull << 20;
  uint64_t cache_memory_bytes = 1ull << 30;
  std::string cache_dir;
  uint64_t cache_disk_bytes = 10ull << 30;
  std::string cache_policy = "s3fifo";
  // Read-ahead window bound for sequential readers, in blocks (0 disables read-ahead).
  uint32_t read_ahead_blocks = 16;

  // Write path (docs/architecture.md "Write path"). Written data is staged under
  // STATE_DIR/staging and uploaded in the background.
  bool read_only = false;
  bool sync_upload = false;
  uint64_t staging_bytes = 10ull << 30;     // per export
  uint64_t upload_part_size = 16ull << 20;  // multipart part size; single PUT up to it
  uint32_t upload_delay_ms = 500;           // last CLOSE → upload

  // NFS payload memory (docs/cache.md, "Payload memory"): the bytes of call records as read
  // (WRITE data) and of what calls allocate for their replies (READ data), until the reply is
  // built or written, stay within payload_memory_bytes, half for each; calls wait when it is
  // full. Accepted connections beyond max_connections are closed at once (and logged).
  uint64_t payload_memory_bytes = 256ull << 20;
  uint32_t max_connections = 4096;
  // Longest S3 response body other than a ranged GET's (which may not exceed its range).
  uint64_t s3_max_response_bytes = 64ull << 20;

  // Prometheus endpoint, "HOST:PORT"; empty: off.
  std::string metrics_listen;

  double metadata_ttl_seconds = 5.0;
  uint32_t default_uid = 0;
  uint32_t default_gid = 0;
  uint32_t lease_seconds = 90;
  // Read delegations for clients the gateway can call back (a 4.1 back channel, a probed 4.0
  // callback address).
  bool delegations = true;
  int io_threads = 2;
  int blocking_threads = 4;
  std::string log_level = "info";
};

// $BUCKETFS_STATE_DIR if set; else /var/lib/bucketfs when running as root, else
// $XDG_STATE_HOME/bucketfs or ~/.local/state/bucketfs.
std::string DefaultStateDir();

// Parses "HOST:PORT" (HOST may be empty for 127.0.0.1).
Status ParseListen(std::string_view text, std::string* host, uint16_t* port);

// Parses a byte size: a number with an optional suffix K, M, G, T (powers of 1024; "KiB",
// "MiB", ... and "B" are accepted too), e.g. "512M", "4MiB", "10G", "0".
Result<uint64_t> ParseSize(std::string_view text);

// Parses "BUCKET" or "BUCKET:PREFIX" (the export is named after the bucket) or
// "NAME=BUCKET[:PREFIX]". Normalises the prefix to end in "/".
Result<ExportConfig> ParseExport(std::string_view text);

// Checks an export given field by field (`bucketfs mount create`) as ParseExport checks its text:
// a valid bucket name, a name that is one path component (default: the bucket), the prefix
// normalised (no leading "/", a trailing one), an http(s) endpoint, a TTL within [0, 86400] s.
Status NormalizeExport(ExportConfig* e);

}  // namespace bucketfs::server
