// ReverseCaller: sends an ONC RPC CALL to the client at the other end of one of the server's
// accepted TCP connections and awaits its REPLY on that same connection: the NFSv4.1 backchannel
// (RFC 8881 §2.10.3.1, §18.36: callbacks travel over a connection the client opened, so they
// work through NAT and firewalls).
//
// The rpc::Server implements it and hands it to every Program (Program::SetReverseCaller). Calls
// and replies interleave with the client's own calls on the connection: records whose msg_type
// is REPLY are matched to the pending call by xid (RFC 5531 §9).
//
// Thread-safety: Call() may be used from any thread and coroutine, concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "base/async.h"
#include "base/bytes.h"
#include "base/status.h"
#include "rpc/program.h"

namespace bucketfs::rpc {

// What a reverse call sends besides its arguments.
struct ReverseCallHeader {
  uint32_t program = 0;
  uint32_t version = 0;
  uint32_t procedure = 0;
  AuthFlavor flavor = AuthFlavor::kNone;  // kNone or kSys
  AuthSys sys;                            // the credential when flavor == kSys
};

// The CALL record (unframed) of `header` with `xid` and the encoded `args`: AUTH_SYS or AUTH_NONE
// credential, AUTH_NONE verifier (message.cc). Shared by ReverseCaller and RpcClient.
Bytes EncodeCallRecord(uint32_t xid, const ReverseCallHeader& header, ByteView args);
// "program P version V procedure N", for messages.
std::string DescribeCall(const ReverseCallHeader& header);

class ReverseCaller {
 public:
  virtual ~ReverseCaller() = default;

  // Sends the CALL (a fresh xid) on connection `connection_id` and returns the results of an
  // accepted SUCCESS reply (the bytes after accept_stat). Errors:
  //   kUnavailable  no such open connection, or it closed before the reply came;
  //   kTimeout      no reply within `timeout`;
  //   kProtocol     the reply was denied, or accepted with a status other than SUCCESS
  //                 (the message names which).
  // Resumes the caller on its own executor.
  virtual Awaitable<Result<Bytes>> Call(uint64_t connection_id, ReverseCallHeader header,
                                        Bytes args, std::chrono::milliseconds timeout) = 0;
};

}  // namespace bucketfs::rpc
