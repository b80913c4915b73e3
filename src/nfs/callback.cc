#include "nfs/callback.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>

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
  if (path.minor == 0) {
    e.WriteU32(path.cb40.ident);  // callback_ident from SETCLIENTID (RFC 7530 §16.2)
    e.WriteU32(1);
    e.WriteU32(kOpCbRecall);
    WriteStateId(e, recall.stateid);
    e.WriteBool(false);  // truncate
    e.WriteOpaque(fh);
    return e.Release();
  }
  e.WriteU32(0);  // callback_ident: unused in 4.1
  e.WriteU32(2);  // two operations
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

namespace {

bool ParseByte(std::string_view text, uint32_t* out) {
  if (text.empty() || text.size() > 3) return false;
  uint32_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v > 255) return false;
  *out = v;
  return true;
}

}  // namespace

Status ParseUniversalAddress(const std::string& netid, const std::string& uaddr, std::string* host,
                             uint16_t* port) {
  const auto bad = [&] {
    return InvalidArgumentError("callback address '" + uaddr + "' (netid '" + netid +
                                "') is not a TCP universal address");
  };
  if (netid != "tcp" && netid != "tcp6") return bad();
  const std::size_t lo_dot = uaddr.rfind('.');
  if (lo_dot == std::string::npos || lo_dot == 0) return bad();
  const std::size_t hi_dot = uaddr.rfind('.', lo_dot - 1);
  if (hi_dot == std::string::npos || hi_dot == 0) return bad();
  uint32_t hi = 0, lo = 0;
  if (!ParseByte(std::string_view(uaddr).substr(hi_dot + 1, lo_dot - hi_dot - 1), &hi) ||
      !ParseByte(std::string_view(uaddr).substr(lo_dot + 1), &lo)) {
    return bad();
  }
  std::string ip = uaddr.substr(0, hi_dot);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(ip, ec);
  if (ec || address.is_v4() != (netid == "tcp")) return bad();
  *host = std::move(ip);
  *port = static_cast<uint16_t>(hi << 8 | lo);
  return Status::Ok();
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
  for (nfs::Recall& r : recalls) {
    const uint64_t clientid = r.clientid;
    Enqueue(clientid, std::move(r));
  }
}

void CallbackService::Probe(uint64_t clientid) { Enqueue(clientid, ProbeJob{clientid}); }

void CallbackService::Enqueue(uint64_t clientid, Job job) {
  bool start = false;
  {
    std::lock_guard lock(mu_);
    auto [it, fresh] = queues_.try_emplace(clientid);
    start = fresh;
    it->second.push_back(std::move(job));
  }
  // One drain coroutine per client with a queue; a client already being drained is served by
  // the coroutine that runs.
  if (start) asio::co_spawn(ex_, Drain(shared_from_this(), clientid), asio::detached);
}

void CallbackService::Prune() {
  std::vector<std::shared_ptr<rpc::RpcClient>> closing;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  for (auto it = conns40_.begin(); it != conns40_.end();) {
    if (state_->HasClient(it->first)) {
      ++it;
      continue;
    }
    closing.push_back(std::move(it->second.client));
    it = conns40_.erase(it);
  }
}

Awaitable<void> CallbackService::Drain(std::shared_ptr<CallbackService> self, uint64_t clientid) {
  for (;;) {
    Job next;
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
    if (const auto* probe = std::get_if<ProbeJob>(&next)) {
      co_await self->RunProbe(probe->clientid);
      continue;
    }
    const nfs::Recall& recall = std::get<nfs::Recall>(next);
    Status st = co_await self->Send(recall);
    {
      std::lock_guard lock(self->mu_);
      if (st.ok()) {
        ++self->sent_;
      } else {
        ++self->failed_;
      }
    }
    if (st.ok()) {
      RecallCounter("sent").Inc();
      continue;
    }
    RecallCounter("failed").Inc();
    BFS_LOG_INFO("nfs: delegation recall to client {:x} failed, revoking it: {}", clientid,
                 st.ToString());
    self->state_->RevokeDelegation(recall.stateid);
  }
}

Awaitable<void> CallbackService::RunProbe(uint64_t clientid) {
  auto path = state_->CallbackPath40(clientid);
  if (!path) co_return;  // named no callback path, or gone
  auto reply = co_await Call40(clientid, *path, /*CB_NULL*/ 0, Bytes{});
  state_->SetCallbackUp(clientid, path->cb40.version, reply.ok());
  if (reply.ok()) {
    BFS_LOG_DEBUG("nfs: callback path to NFSv4.0 client {:x} at {} is up", clientid,
                  path->cb40.addr);
  } else {
    BFS_LOG_INFO(
        "nfs: callback path to NFSv4.0 client {:x} ({} {}) is down, so it gets no "
        "delegations: {}",
        clientid, path->cb40.netid, path->cb40.addr, reply.status().ToString());
  }
}

Awaitable<Result<Bytes>> CallbackService::Call40(uint64_t clientid, const CallbackPath& path,
                                                 uint32_t procedure, Bytes args) {
  std::string host;
  uint16_t port = 0;
  if (Status st = ParseUniversalAddress(path.cb40.netid, path.cb40.addr, &host, &port); !st.ok()) {
    co_return st;
  }
  std::shared_ptr<rpc::RpcClient> client;
  std::shared_ptr<rpc::RpcClient> replaced;  // destroyed outside the lock
  {
    std::lock_guard lock(mu_);
    Conn40& conn = conns40_[clientid];
    if (!conn.client || conn.addr != path.cb40.addr) {
      replaced = std::move(conn.client);
      conn.addr = path.cb40.addr;
      conn.client = std::make_shared<rpc::RpcClient>(ex_, host, port);
    }
    client = conn.client;
  }
  rpc::ReverseCallHeader header;
  header.program = path.cb.program;
  header.version = kCbVersion;
  header.procedure = procedure;
  header.flavor = path.cb.flavor;
  header.sys = path.cb.sys;
  co_return co_await client->Call(std::move(header), args, timeout_);
}

Awaitable<Status> CallbackService::Send(const nfs::Recall& recall) {
  auto path = state_->TakeCallbackPath(recall.clientid);
  if (!path) co_return UnavailableError("the client has no back channel or callback path");
  Bytes args = EncodeRecallCompound(*path, recall, encode_fh_(recall.file));
  Result<Bytes> reply = UnavailableError("no back channel transport");
  if (path->minor == 0) {
    reply = co_await Call40(recall.clientid, *path, kCbProcCompound, std::move(args));
  } else {
    std::shared_ptr<rpc::ReverseCaller> caller;
    {
      std::lock_guard lock(mu_);
      caller = caller_;
    }
    if (!caller) co_return UnavailableError("no back channel transport");
    rpc::ReverseCallHeader header;
    header.program = path->cb.program;
    header.version = kCbVersion;
    header.procedure = kCbProcCompound;
    header.flavor = path->cb.flavor;
    header.sys = path->cb.sys;
    reply = co_await caller->Call(path->connection, std::move(header), std::move(args), timeout_);
  }
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
