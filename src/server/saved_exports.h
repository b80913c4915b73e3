// Saved exports: the exports created at runtime with `bucketfs mount create` (POST /v1/exports),
// kept in STATE_DIR/exports.json so that the gateway adds them again at every start.
//
// The file is one JSON document:
//   {"version":1,"exports":[{"name":"x","bucket":"b","prefix":"p/","endpoint":"","region":"",
//                            "read_only":false,"metadata_ttl_seconds":5,"draining":false}]}
// Empty or absent settings mean the gateway's (its --endpoint, --region, ...), read at each start.
// An export deleted with `mount delete --force` while uploads of it were pending stays in the
// file with "draining":true until they are done: the next start resumes them without exporting
// it, then drops the entry.
//
// SaveExports replaces the file atomically (a temporary file written and fsync'ed, renamed over
// the old one, the directory fsync'ed), so a crash leaves either the old list or the new one. It
// lives beside meta.db rather than in it because it is configuration, not cache: a damaged
// meta.db is rebuilt from the bucket, the list of exports could not be.
//
// Blocking (disk I/O): call at startup or on the BlockingPool, never on an I/O thread.
// Thread-safety: functions on values; the caller serialises saves to one path.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "server/config.h"

namespace bucketfs::server {

struct SavedExport {
  ExportConfig config;
  bool draining = false;  // deleted, its pending uploads not drained yet
  bool operator==(const SavedExport&) const = default;
};

// STATE_DIR/exports.json.
std::string SavedExportsPath(const std::string& state_dir);

// The saved exports; none when the file does not exist. Fails (kInvalidArgument, naming the file)
// when it is not a list this bucketfs wrote or can read: the gateway then refuses to start rather
// than silently forget exports.
Result<std::vector<SavedExport>> LoadSavedExports(const std::string& path);

// Replaces the file with `exports` (mode 0600), atomically and durably.
Status SaveExports(const std::string& path, const std::vector<SavedExport>& exports);

// The document SaveExports writes.
std::string SavedExportsJson(const std::vector<SavedExport>& exports);
// Parses that document; `where` names it in errors.
Result<std::vector<SavedExport>> ParseSavedExports(std::string_view json, const std::string& where);

}  // namespace bucketfs::server
