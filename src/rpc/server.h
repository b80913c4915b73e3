// rpc::Server: ONC RPC over TCP (RFC 5531). Accepts connections, reassembles record-marked
// records, decodes call headers and credentials, dispatches to registered Programs and sends the
// replies.
//
// Concurrency: each connection runs on its own strand. A reader coroutine reassembles records and
// spawns one coroutine per call, so many calls are in flight per connection (bounded by
// max_inflight_per_connection; the reader pauses at the bound) and replies go out as they
// complete, possibly out of order. Replies are queued and written by one writer coroutine, so
// records never interleave. Different connections run in parallel when the io_context has several
// threads. Nothing in this class holds a mutex across a co_await.
//
// Ownership: the Server owns its acceptor and (through shared_ptr) its connections; Programs are
// shared with the caller and must stay valid while calls run. Start/Listen/AddProgram are called
// from one thread before serving; Stop() may be called from any thread.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/status.h"
#include "rpc/program.h"

namespace bucketfs::rpc {

struct ServerOptions {
  std::size_t max_record_size = 4 * 1024 * 1024 + 64 * 1024;
  std::size_t max_inflight_per_connection = 128;
};

class Connection;

class Server {
 public:
  Server(asio::any_io_executor executor, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void AddProgram(std::shared_ptr<Program> program);
  // Binds and listens now, so a port in use is reported before serving starts.
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const;
  void Start();
  void Stop();

 private:
  Awaitable<void> AcceptLoop();

  asio::any_io_executor executor_;
  ServerOptions options_;
  std::vector<std::shared_ptr<Program>> programs_;
  asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  uint64_t next_connection_id_ = 1;

  std::mutex mu_;  // guards connections_ and stopped_
  std::vector<std::weak_ptr<Connection>> connections_;
  bool stopped_ = false;
};

}  // namespace bucketfs::rpc
