// GatewayServer: the composition root. Builds every layer from a ServeConfig — object stores,
// gateway file systems, the export table, the NFSv4 server, the RPC listener — runs them on an
// io_context with a pool of I/O threads plus a BlockingPool for disk work, and stops them.
//
// Ownership: GatewayServer owns everything it builds. Thread-safety: Start() and Run() are called
// from the main thread; Stop() from any thread or a signal handler context via asio signals.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "base/async.h"
#include "base/status.h"
#include "server/config.h"
#include "server/state_dir.h"
#include "vfs/exports.h"

namespace bucketfs::objstore {
class ObjectStore;
}
namespace bucketfs::meta {
class AsyncMetaStore;
}
namespace bucketfs::nfs {
class NfsServer;
}
namespace bucketfs::rpc {
class Server;
}

namespace bucketfs::server {

class GatewayServer {
 public:
  explicit GatewayServer(ServeConfig config);
  ~GatewayServer();
  GatewayServer(const GatewayServer&) = delete;
  GatewayServer& operator=(const GatewayServer&) = delete;

  // Builds the stores and checks every bucket (reachable, exists, credentials accepted), then
  // binds the listener. Any failure comes back as one Status with the cause; nothing is left
  // running.
  Status Start();
  // Serves until Stop() or SIGINT/SIGTERM. Returns after every thread has finished.
  void Run();
  void Stop();

  uint16_t port() const;
  const ServeConfig& config() const { return config_; }

 private:
  Result<std::shared_ptr<objstore::ObjectStore>> MakeStore(const ExportConfig& e);
  Status CheckBuckets(const std::vector<std::shared_ptr<objstore::ObjectStore>>& stores);
  // Locks the state directory and opens the metadata store in it.
  Status OpenState();

  ServeConfig config_;
  asio::io_context io_;
  BlockingPool blocking_;
  std::unique_ptr<StateDir> state_dir_;
  std::shared_ptr<meta::AsyncMetaStore> meta_;  // after blocking_: its reads run there
  vfs::ExportTable exports_;
  std::shared_ptr<nfs::NfsServer> nfs_;
  std::unique_ptr<rpc::Server> rpc_;
  std::unique_ptr<asio::signal_set> signals_;
  std::vector<std::thread> threads_;
};

}  // namespace bucketfs::server
