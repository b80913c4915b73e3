// AdminServer: the gateway's local admin endpoint, HTTP/1.1 with JSON replies on a unix domain
// socket (never on the network: only processes that can open the socket file, mode 0600, reach
// it). `bucketfs status` and `bucketfs refresh` are its clients.
//
//   GET  /v1/status                → 200, the document AdminHandlers::status_json returns
//   POST /v1/refresh?path=/EXP/REL → 200 {"refreshed":"/EXP/REL"}; on failure {"error":"..."}
//                                    with 404 (kNotFound), 400 (bad path), 503 (kUnavailable)
//                                    or 500 (anything else)
//   any other path → 404, a known path with another method → 405, both {"error":"..."}
//
// Parameters travel in the query string (URL-encoded); requests carry no body. One request per
// connection (the reply closes it), requests are bounded by max_request_size (413 beyond), and a
// connection that sends nothing for idle_timeout is closed.
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

namespace bucketfs::server {

struct AdminHandlers {
  // The body of GET /v1/status: one JSON document.
  std::function<std::string()> status_json;
  // Forces revalidation of `path` ("/EXPORT/rel/path") against the object store.
  std::function<Awaitable<Status>(std::string path)> refresh;
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

// The HTTP status that reports a failed refresh with `code`.
unsigned HttpStatusFor(ErrorCode code);

}  // namespace bucketfs::server
