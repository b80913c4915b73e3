// AdminServer: the gateway's local admin endpoint, HTTP/1.1 with JSON replies on a unix domain
// socket (never on the network: only processes that can open the socket file, mode 0600, reach
// it). `bucketfs status`, `bucketfs refresh` and `bucketfs mount create|list|delete` are its
// clients.
//
//   GET    /v1/status                → 200, the document AdminHandlers::status_json returns
//   POST   /v1/refresh?path=/EXP/REL → 200 {"refreshed":"/EXP/REL"}
//   GET    /v1/exports               → 200, the document AdminHandlers::list_exports returns
//   POST   /v1/exports               → 201, the document create_export returns; the body is a JSON
//          object {"bucket":"b"} with optional "name", "prefix", "endpoint", "region" (strings),
//          "read_only" (bool), "metadata_ttl_seconds" (number), "protocol" (only "nfs"); any
//          other member is refused (400), as is a body ParseJson or NormalizeExport rejects
//   DELETE /v1/exports/NAME[?force=1] → 200, the document delete_export returns (NAME
//          percent-encoded; force: absent, "", "1", "true", "0" or "false")
//   any other path → 404, a known path with another method → 405 (with Allow), a handler left
//   empty → 404; every failure is {"error":"message"}, its HTTP status from HttpStatusFor().
//
// Parameters travel in the query string (URL-encoded); only POST /v1/exports carries a body. One
// request per connection (the reply closes it), requests are bounded by max_request_size (413
// beyond), and a connection that sends nothing for idle_timeout is closed.
//
// The server knows nothing of the gateway: what it reports and does comes from AdminHandlers.
//
// Ownership: the AdminServer owns its listener and connections through shared state that pending
// coroutines keep alive, so destroying it (which stops it) is safe while the io_context still
// runs; it owns the socket file from a successful Start() until Stop(). Thread-safety: Start() is
// called once, from one thread; Stop() from any thread, any number of times. Handlers are called
// from the executor's threads, possibly concurrently for different connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "base/async.h"
#include "base/status.h"
#include "server/config.h"

namespace bucketfs::server {

struct AdminHandlers {
  // The body of GET /v1/status: one JSON document.
  std::function<std::string()> status_json;
  // Forces revalidation of `path` ("/EXPORT/rel/path") against the object store.
  std::function<Awaitable<Status>(std::string path)> refresh;
  // The body of GET /v1/exports: one JSON document.
  std::function<std::string()> list_exports;
  // POST /v1/exports: adds the export (already checked with NormalizeExport); on success the
  // reply document.
  std::function<Awaitable<Result<std::string>>(ExportConfig request)> create_export;
  // DELETE /v1/exports/NAME: removes the export; on success the reply document.
  std::function<Awaitable<Result<std::string>>(std::string name, bool force)> delete_export;
};

struct AdminServerOptions {
  std::size_t max_request_size = 64 * 1024;  // request line + headers + body
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
};

class AdminServer {
 public:
  AdminServer(asio::any_io_executor executor, std::string socket_path, AdminHandlers handlers,
              AdminServerOptions options = {});
  ~AdminServer();  // Stop()s
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Creates the socket's parent directory, removes a stale socket file (one nobody listens on),
  // binds and listens (mode 0600), then spawns the accept loop. Fails, touching nothing, when
  // another process already serves the socket.
  Status Start();
  // Closes the listener and every connection and removes the socket file. Thread-safe,
  // idempotent.
  void Stop();

  const std::string& socket_path() const;

  class Impl;  // shared with the coroutines; defined in admin_server.cc

 private:
  std::shared_ptr<Impl> impl_;
};

// The HTTP status that reports a failed request with `code`: 404 kNotFound, 400 a malformed
// argument, 403 credentials rejected or access denied, 409 kExists (a duplicate export) or
// kNotEmpty (an export with pending uploads), 503 kUnavailable or kTimeout, else 500.
unsigned HttpStatusFor(ErrorCode code);

// Parses the body of POST /v1/exports (see above) into a normalised ExportConfig.
Result<ExportConfig> ParseExportRequest(std::string_view body);

}  // namespace bucketfs::server
