#include "nfs/callback.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "base/log.h"
#include "base/metrics.h"
#include "nfs/op_util.h"

namespace bucketfs::nfs {
namespace {

constexpr uint32_t kCbProcCompound = 1;  // CB_COMPOUND (RFC 8881 §20.1)
constexpr uint32_t kCbVersion = 1;       // the callback program's version
constexpr uint32_t kOpCbRecall = 4;      // RFC 8881 §20.2
constexpr uint32_t kOpCbSequence = 11;   // RFC 8881 §20.9

Counter& RecallCounter(const char* outcome) {
  return DefaultMetrics().GetCounter("bucketfs_nfs_delegation_recalls_total",
                                     "CB_RECALLs sent to clients, by outcome.",
                                     {{"outcome", outcome}});
}

}  // namespace

Bytes EncodeRecallCompound(const CallbackPath& path, const Recall& recall, ByteView fh) {
  xdr::Encoder e;
  e.WriteString("");       // tag
  e.WriteU32(path.minor);  // minorversion: the client's
  e.WriteU32(0);           // callback_ident: unused in 4.1
  e.WriteU32(2);           // two operations
  e.WriteU32(kOpCbSequence);
  WriteSessionId(e, path.session);
  e.WriteU32(path.seqid);
  e.WriteU32(0);       // csa_slotid
  e.WriteU32(0);       // csa_highest_slotid
  e.WriteBool(false);  // csa_cachethis
  e.WriteU32(0);       // csa_referring_call_lists<>
  e.WriteU32(kOpCbRecall);
  WriteStateId(e, recall.stateid);
  e.WriteBool(false);  // truncate
  e.WriteOpaque(fh);
  return e.Release();
}

Stat DecodeCallbackStatus(ByteView results) {
  xdr::Decoder d(results);
  uint32_t status = 0;
  if (!d.ReadU32(&status)) return Stat::kBadXdr;
  return static_cast<Stat>(status);
}

CallbackService::CallbackService(asio::any_io_executor ex, std::shared_ptr<StateManager> state,
                                 EncodeFh encode_fh, std::chrono::milliseconds timeout)
    : ex_(std::move(ex)),
      state_(std::move(state)),
      encode_fh_(std::move(encode_fh)),
      timeout_(timeout) {}

void CallbackService::SetCaller(std::shared_ptr<rpc::ReverseCaller> caller) {
  std::lock_guard lock(mu_);
  caller_ = std::move(caller);
}

void CallbackService::Recall(std::vector<nfs::Recall> recalls) {
  std::vector<uint64_t> start;
  {
    std::lock_guard lock(mu_);
    for (nfs::Recall& r : recalls) {
      auto [it, fresh] = queues_.try_emplace(r.clientid);
      if (fresh) start.push_back(r.clientid);
      it->second.push_back(std::move(r));
    }
  }
  // One drain coroutine per client with a queue; a client already being drained is served by
  // the coroutine that runs.
  for (uint64_t clientid : start) {
    asio::co_spawn(ex_, Drain(shared_from_this(), clientid), asio::detached);
  }
}

Awaitable<void> CallbackService::Drain(std::shared_ptr<CallbackService> self, uint64_t clientid) {
  for (;;) {
    nfs::Recall next;
    {
      std::lock_guard lock(self->mu_);
      auto it = self->queues_.find(clientid);
      if (it == self->queues_.end()) co_return;
      if (it->second.empty()) {
        self->queues_.erase(it);
        co_return;
      }
      next = std::move(it->second.front());
      it->second.pop_front();
    }
    Status st = co_await self->Send(next);
    std::lock_guard lock(self->mu_);
    if (st.ok()) {
      ++self->sent_;
      RecallCounter("sent").Inc();
      continue;
    }
    ++self->failed_;
    RecallCounter("failed").Inc();
    BFS_LOG_INFO("nfs: delegation recall to client {:x} failed, revoking it: {}", clientid,
                 st.ToString());
    self->state_->RevokeDelegation(next.stateid);
  }
}

Awaitable<Status> CallbackService::Send(const nfs::Recall& recall) {
  std::shared_ptr<rpc::ReverseCaller> caller;
  {
    std::lock_guard lock(mu_);
    caller = caller_;
  }
  if (!caller) co_return UnavailableError("no back channel transport");
  auto path = state_->TakeCallbackPath(recall.clientid);
  if (!path) co_return UnavailableError("the client has no back channel");
  rpc::ReverseCallHeader header;
  header.program = path->cb.program;
  header.version = kCbVersion;
  header.procedure = kCbProcCompound;
  header.flavor = path->cb.flavor;
  header.sys = path->cb.sys;
  Bytes args = EncodeRecallCompound(*path, recall, encode_fh_(recall.file));
  auto reply =
      co_await caller->Call(path->connection, std::move(header), std::move(args), timeout_);
  if (!reply.ok()) co_return reply.status();
  const Stat s = DecodeCallbackStatus(*reply);
  // NOENT / BAD_STATEID: the client no longer has it (it is returning it already).
  if (s == Stat::kOk || s == Stat::kNoEnt || s == Stat::kBadStateId) co_return Status::Ok();
  co_return ProtocolError("CB_RECALL answered " + std::string(StatName(s)));
}

uint64_t CallbackService::sent() const {
  std::lock_guard lock(mu_);
  return sent_;
}

uint64_t CallbackService::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

}  // namespace bucketfs::nfs
