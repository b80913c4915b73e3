// MetricsServer: the Prometheus scrape endpoint. HTTP/1.1 on a TCP address
// (`serve --metrics-listen HOST:PORT`, off by default):
//
//   GET /metrics → 200 text/plain; version=0.0.4, the default registry (base/metrics.h) rendered
//   GET /healthz → 200 "ok" while the health check passes, else 503 and the reason ("starting",
//                  "shutting down"); for load balancers and Kubernetes probes
//   any other path → 404; another method on /metrics or /healthz → 405
//
// Keep-alive is honoured (scrapers reuse connections); requests are bounded in size (8 KiB of
// headers, no body), and a connection idle for `idle_timeout` is closed. Rendering reads atomics
// and runs the registry's callbacks, which must not block.
//
// Ownership: like AdminServer, connections keep the shared state alive, so destroying the server
// (which stops it) is safe while the io_context runs. Thread-safety: SetHealthCheck() and Start()
// once from one thread, before serving; Stop() from any thread, idempotent. The health check is
// called on the io_context's threads, concurrently: it must be thread-safe and must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "base/async.h"
#include "base/status.h"

namespace bucketfs::server {

class MetricsServer {
 public:
  MetricsServer(asio::any_io_executor executor, std::string host, uint16_t port,
                std::chrono::milliseconds idle_timeout = std::chrono::seconds(60));
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // What /healthz answers: OK → 200 "ok", an error → 503 with its message. Unset: always OK.
  void SetHealthCheck(std::function<Status()> check);
  // Binds and listens; fails with the cause (address in use, bad address).
  Status Start();
  void Stop();
  // The bound port (useful with port 0), after Start().
  uint16_t port() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace bucketfs::server
