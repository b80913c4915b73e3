// rpc::Server: ONC RPC over TCP (RFC 5531). Accepts connections, reassembles record-marked
// records (§11), decodes call headers and credentials (§9, §8.2), dispatches to registered
// Programs and sends the replies.
//
// Dispatch: NULL (procedure 0) is answered by the server for every registered program and
// version; an unknown program gets PROG_UNAVAIL, a version outside [min, max] PROG_MISMATCH, and
// everything else goes to Program::Call, whose AcceptStat is the reply (results only on SUCCESS).
//
// Concurrency: each connection runs on its own strand. A reader coroutine reassembles records and
// spawns one coroutine per call, so many calls are in flight per connection (bounded by
// max_inflight_per_connection, counted until the reply is written; the reader stops reading at
// the bound) and replies go out as they complete, possibly out of order. Replies are queued and
// written by one writer coroutine, so records never interleave. Different connections run in
// parallel when the io_context is run by several threads. No mutex is held across a co_await.
// A framing error or oversized record closes only that connection. At most max_connections
// accepted connections are open at once: one more is closed at once, with a warning in the log
// (at most one per 10 s, counting the refusals).
//
// Memory: with budgets in ServerOptions, the payload bytes in flight are bounded gateway-wide.
// Each connection's reader charges the request budget for every record as soon as its first
// fragment header announces its size, before any of its body is buffered (a record that may
// have more fragments is charged max_record_size, cut to its size once complete), and waits,
// without reading more from the socket, while the budget is exhausted; the charge is held until
// the call's reply has been built. Programs charge the reply budget for the buffers they
// allocate (CallContext::memory), held until the reply has been written to the socket. Outside
// the budgets: per connection one read chunk (64 KiB) and the replies of calls that charge
// nothing (small, bounded by the in-flight limit).
//
// Reverse calls (the NFSv4.1 backchannel, see reverse_call.h): AddProgram hands every program a
// ReverseCaller through which it sends a CALL to the client of one of the accepted connections
// (by CallContext::connection_id) and awaits the REPLY on that connection. Each connection
// allocates the xids of its calls from its own counter (random start) and keeps its pending
// calls on its strand; the reader passes each REPLY record to the pending call of its xid
// without taking or waiting for an in-flight slot (replies to unknown xids are dropped), and
// closing the connection fails its pending calls with kUnavailable at once. A reverse call may
// be made from any thread or coroutine (also from within a Program::Call of the same
// connection) and resumes its caller on the caller's executor.
//
// Ownership: the Server owns its listener and connections through shared state that pending
// coroutines keep alive, so destroying the Server (which stops it) is safe while the io_context
// still runs. Programs are shared with the caller. The ReverseCaller holds the server only
// weakly (programs would otherwise keep it alive): once the server is stopped or destroyed it
// answers kUnavailable. AddProgram/Listen/Start are called from one thread before serving;
// Stop() may be called from any thread, any number of times.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/async.h"
#include "base/byte_budget.h"
#include "base/status.h"
#include "rpc/program.h"

namespace bucketfs::rpc {

struct ServerOptions {
  std::size_t max_record_size = 4 * 1024 * 1024 + 64 * 1024;
  std::size_t max_inflight_per_connection = 128;
  std::size_t max_connections = 4096;  // open at once; more are refused
  // Shared by every connection; null: unbounded. See "Memory" above.
  std::shared_ptr<ByteBudget> request_budget;  // call records as read
  std::shared_ptr<ByteBudget> reply_budget;    // what programs allocate for replies
};

class Server {
 public:
  Server(asio::any_io_executor executor, ServerOptions options);
  ~Server();  // Stop()s
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers a program and hands it the server's ReverseCaller; before Start().
  void AddProgram(std::shared_ptr<Program> program);
  // Binds (SO_REUSEADDR) and listens now, so a port in use is reported before serving starts.
  // Port 0 picks an ephemeral port, see port().
  Status Listen(const std::string& host, uint16_t port);
  uint16_t port() const;
  // Spawns the accept loop on the executor.
  void Start();
  // Closes the listener and every connection. Thread-safe, idempotent.
  void Stop();
  // A graceful stop: closes the listener, stops reading new calls on every connection (the
  // receive side is shut down; a call not read completely is dropped, the client resends it),
  // lets the calls in flight finish and their replies be written, then closes the connections:
  // at once when all are done, else when `timeout` passes. Then as Stop().
  Awaitable<void> Drain(std::chrono::milliseconds timeout);

  class Impl;  // shared with the coroutines; defined in server.cc

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace bucketfs::rpc
