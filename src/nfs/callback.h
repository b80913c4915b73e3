// CallbackService: calls clients back (RFC 8881 §20, RFC 7530 §16.33, §17): CB_RECALL of a
// delegation, and for NFSv4.0 the CB_NULL probe of a new callback path.
//   - 4.1 clients: a CB_COMPOUND of CB_SEQUENCE (slot 0 of the session's back channel) and
//     CB_RECALL, as an RPC call on a connection the client bound for callbacks
//     (rpc::ReverseCaller, RFC 8881 §2.10.3.1).
//   - 4.0 clients: a CB_COMPOUND of CB_RECALL with the callback_ident of SETCLIENTID, on a TCP
//     connection the server opens to the universal address the client gave (rpc::RpcClient,
//     RFC 7530 §3.3.1), reused for the client's later callbacks. After every SETCLIENTID_CONFIRM
//     a CB_NULL probes that address; the client gets delegations only once it answered.
//
// Callbacks to one client go out one at a time, in order (one back-channel slot; one 4.0
// connection); different clients are called in parallel. A recall the client cannot be sent (no
// back channel or callback path, the connection gone, no reply in time, an error status)
// revokes the delegation at once, so the operation that waits for it proceeds on its next retry;
// a delivered recall is returned by the client with DELEGRETURN, or revoked by the lease reaper
// when it is not (StateManager).
//
// Ownership: shared by NfsServer and its running send coroutines; holds the StateManager shared
// and the 4.0 callback connections. Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "base/async.h"
#include "base/bytes.h"
#include "nfs/state.h"
#include "rpc/client.h"
#include "rpc/reverse_call.h"

namespace bucketfs::nfs {

// CB_COMPOUND4args with CB_SEQUENCE + CB_RECALL (RFC 8881 §20.9, §20.2) for 4.1, with CB_RECALL
// alone and the path's callback_ident for 4.0 (RFC 7530 §16.2.3): exposed for tests.
Bytes EncodeRecallCompound(const CallbackPath& path, const Recall& recall, ByteView fh);
// The IP address and port of universal address `uaddr` of netid "tcp" ("h1.h2.h3.h4.p1.p2") or
// "tcp6" ("x:...:x.p1.p2") (RFC 5665 §5.2.3); kInvalidArgument for anything else.
Status ParseUniversalAddress(const std::string& netid, const std::string& uaddr, std::string* host,
                             uint16_t* port);
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
  // Queues a CB_NULL probe of 4.0 client `clientid`'s callback path (after SETCLIENTID_CONFIRM);
  // its outcome goes to StateManager::SetCallbackUp.
  void Probe(uint64_t clientid);
  // Closes the callback connections of 4.0 clients that no longer exist (lease reaper).
  void Prune();
  // Recalls sent / failed (and so revoked) since start.
  uint64_t sent() const;
  uint64_t failed() const;

 private:
  struct ProbeJob {
    uint64_t clientid = 0;
  };
  using Job = std::variant<nfs::Recall, ProbeJob>;

  void Enqueue(uint64_t clientid, Job job);
  static Awaitable<void> Drain(std::shared_ptr<CallbackService> self, uint64_t clientid);
  Awaitable<Status> Send(const nfs::Recall& recall);
  Awaitable<void> RunProbe(uint64_t clientid);
  // A call to 4.0 client `clientid` at `path`'s address.
  Awaitable<Result<Bytes>> Call40(uint64_t clientid, const CallbackPath& path, uint32_t procedure,
                                  Bytes args);

  const asio::any_io_executor ex_;
  const std::shared_ptr<StateManager> state_;
  const EncodeFh encode_fh_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::shared_ptr<rpc::ReverseCaller> caller_;  // guarded by mu_
  std::map<uint64_t, std::deque<Job>> queues_;  // by client; guarded by mu_
  // 4.0 callback connections by client, with the universal address each is for; guarded by mu_
  // (a call in progress holds its RpcClient shared).
  struct Conn40 {
    std::string addr;
    std::shared_ptr<rpc::RpcClient> client;
  };
  std::map<uint64_t, Conn40> conns40_;
  uint64_t sent_ = 0, failed_ = 0;  // guarded by mu_
};

}  // namespace bucketfs::nfs
