// CallbackService: sends CB_RECALL to NFSv4.1 clients over their back channel (RFC 8881 §20.2,
// §2.10.3.1): a CB_COMPOUND of CB_SEQUENCE (slot 0 of the session's back channel) and CB_RECALL,
// as an RPC call on a connection the client bound for callbacks (rpc::ReverseCaller).
//
// Recalls to one client go out one at a time, in order (one back-channel slot); different clients
// are called in parallel. A recall the client cannot be sent (no back channel, the connection
// gone, no reply in time, an error status) revokes the delegation at once, so the operation that
// waits for it proceeds on its next retry; a delivered recall is returned by the client with
// DELEGRETURN, or revoked by the lease reaper when it is not (StateManager).
//
// Ownership: shared by NfsServer and its running send coroutines; holds the StateManager shared.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "nfs/state.h"
#include "rpc/reverse_call.h"

namespace bucketfs::nfs {

// CB_COMPOUND4args with CB_SEQUENCE + CB_RECALL (RFC 8881 §20.9, §20.2, §20.9): exposed for tests.
Bytes EncodeRecallCompound(const CallbackPath& path, const Recall& recall, ByteView fh);
// The status of a CB_COMPOUND4res (the first failing op's, or NFS4_OK); kBadXdr if it does not
// decode.
Stat DecodeCallbackStatus(ByteView results);

class CallbackService : public std::enable_shared_from_this<CallbackService> {
 public:
  // `encode_fh` turns a FileHandle into the wire bytes of nfs_fh4 (the server's handle key).
  using EncodeFh = std::function<Bytes(const FileHandle&)>;
  CallbackService(asio::any_io_executor ex, std::shared_ptr<StateManager> state, EncodeFh encode_fh,
                  std::chrono::milliseconds timeout);

  void SetCaller(std::shared_ptr<rpc::ReverseCaller> caller);
  // Queues the CB_RECALLs (returns at once).
  void Recall(std::vector<nfs::Recall> recalls);
  // Recalls sent / failed (and so revoked) since start.
  uint64_t sent() const;
  uint64_t failed() const;

 private:
  static Awaitable<void> Drain(std::shared_ptr<CallbackService> self, uint64_t clientid);
  Awaitable<Status> Send(const nfs::Recall& recall);

  const asio::any_io_executor ex_;
  const std::shared_ptr<StateManager> state_;
  const EncodeFh encode_fh_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::shared_ptr<rpc::ReverseCaller> caller_;          // guarded by mu_
  std::map<uint64_t, std::deque<nfs::Recall>> queues_;  // by client; guarded by mu_
  uint64_t sent_ = 0, failed_ = 0;                      // guarded by mu_
};

}  // namespace bucketfs::nfs
