// RpcClient: ONC RPC calls over one outbound TCP connection (RFC 5531 §9, record marking §11).
// It is the NFSv4.0 callback path: the server calls the client's callback program at the
// address the client gave in SETCLIENTID (RFC 7530 §3.3.1, §16.33), first with CB_NULL to check
// that the path works, then with CB_COMPOUND to recall delegations.
//
// One call at a time: Call() must not be started again before the previous one returned (the
// CallbackService sends a client's callbacks in order, one by one). The connection is opened on
// the first call, reused by the next ones, and closed after any failure (the next call connects
// again). Records that are not the REPLY to the call in progress (a stale reply to a call that
// timed out, a CALL from the peer) are skipped.
//
// Ownership: the RpcClient owns its socket. Thread-safety: none; use it from one coroutine at a
// time. Destroying it while a call is in progress is not allowed.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "base/async.h"
#include "base/bytes.h"
#include "base/status.h"
#include "rpc/reverse_call.h"

namespace bucketfs::rpc {

struct RpcClientOptions {
  std::size_t max_reply_size = 1 << 20;  // a longer reply record fails the call
};

class RpcClient {
 public:
  // `host`: an IP address (v4 or v6); names are not resolved.
  RpcClient(asio::any_io_executor executor, std::string host, uint16_t port,
            RpcClientOptions options = {});
  ~RpcClient();
  RpcClient(const RpcClient&) = delete;
  RpcClient& operator=(const RpcClient&) = delete;

  // Sends the CALL (a fresh xid) and returns the results of an accepted SUCCESS reply. The whole
  // exchange, connecting included, is bounded by `timeout`. Errors:
  //   kInvalidArgument  the host is not an IP address;
  //   kUnavailable      cannot connect, or the connection broke or closed before the reply;
  //   kTimeout          no reply within `timeout`;
  //   kProtocol         the reply was denied, accepted with a status other than SUCCESS, too
  //                     long or malformed (the message names which).
  Awaitable<Result<Bytes>> Call(ReverseCallHeader header, ByteView args,
                                std::chrono::milliseconds timeout);

  // "HOST:PORT", for messages.
  std::string peer() const;

  struct Shared;  // defined in client.cc

 private:
  const asio::any_io_executor executor_;
  const std::string host_;
  const uint16_t port_;
  const RpcClientOptions options_;
  // The socket and the timeout's state, shared with the watchdog that closes the socket when a
  // call's deadline passes (it may run after the call returned).
  std::shared_ptr<Shared> shared_;
  uint32_t next_xid_;
};

}  // namespace bucketfs::rpc
