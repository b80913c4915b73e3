// The interface between the ONC RPC server (RFC 5531) and the RPC programs it serves (NFSv4 now,
// NFSv3/MOUNT later). The server owns framing, call-header decoding, authentication parsing and
// reply encoding; a Program sees only decoded credentials and its procedure's argument bytes.
//
// Thread-safety: Call() is invoked concurrently for many requests (several per connection);
// programs are thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "rpc/xdr.h"

namespace bucketfs::rpc {

class CallMemory;     // call_memory.h
class ReverseCaller;  // reverse_call.h

enum class AuthFlavor : uint32_t { kNone = 0, kSys = 1, kShort = 2, kDh = 3, kGss = 6 };

// AUTH_SYS credentials (RFC 5531 appendix A).
struct AuthSys {
  uint32_t stamp = 0;
  std::string machine_name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> gids;
};

// What a program knows about the call it is serving.
struct CallContext {
  uint32_t xid = 0;
  uint32_t program = 0;
  uint32_t version = 0;
  uint32_t procedure = 0;
  AuthFlavor flavor = AuthFlavor::kNone;
  AuthSys sys;                 // valid when flavor == kSys
  uint64_t connection_id = 0;  // unique per TCP connection for the server's lifetime
  std::string peer;            // "127.0.0.1:812", for logs
  // Where the call charges the buffers it allocates for its reply (call_memory.h); valid during
  // Program::Call only. Null when the caller does not count (unit tests calling programs
  // directly): then nothing is charged.
  CallMemory* memory = nullptr;
};

// accept_stat (RFC 5531 §9).
enum class AcceptStat : uint32_t {
  kSuccess = 0,
  kProgUnavail = 1,
  kProgMismatch = 2,
  kProcUnavail = 3,
  kGarbageArgs = 4,
  kSystemErr = 5,
};

class Program {
 public:
  virtual ~Program() = default;
  virtual uint32_t program_number() const = 0;
  virtual uint32_t min_version() const = 0;
  virtual uint32_t max_version() const = 0;

  // Serves one call whose version is within [min_version, max_version]. On kSuccess the
  // procedure's results have been appended to `results`; on any other status `results` is
  // ignored. Must never fail on malformed `args`: that is kGarbageArgs.
  virtual Awaitable<AcceptStat> Call(const CallContext& ctx, ByteView args,
                                     xdr::Encoder& results) = 0;

  // Called when a connection closes, so per-connection state (e.g. NFSv4.1 session bindings) can
  // be dropped. Default: nothing.
  virtual void ConnectionClosed(uint64_t connection_id) {}

  // Called by Server::AddProgram: how the program sends calls back to its clients over their
  // connections (the NFSv4.1 backchannel). Default: not used.
  virtual void SetReverseCaller(std::shared_ptr<ReverseCaller> caller) {}
};

}  // namespace bucketfs::rpc
