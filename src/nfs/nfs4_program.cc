#include "nfs/nfs4_program.h"

#include <array>
#include <chrono>

#include "base/log.h"
#include "base/metrics.h"
#include "nfs/attrs.h"
#include "nfs/callback.h"
#include "nfs/compound.h"
#include "nfs/errors.h"
#include "nfs/nfs_server.h"
#include "nfs/ops.h"
#include "nfs/ops_state.h"

namespace bucketfs::nfs {
namespace {

// Per-operation metrics, registered once for every opcode any minor version defines:
// bucketfs_nfs_ops_total{op,status} and bucketfs_nfs_op_duration_seconds{op}.
class OpMetrics {
 public:
  static constexpr uint32_t kMaxOpcode = 128;

  static OpMetrics& Get() {
    static OpMetrics* m = new OpMetrics();
    return *m;
  }
  void Record(uint32_t opcode, Stat s, std::chrono::steady_clock::duration took) {
    if (opcode >= kMaxOpcode || latency_[opcode] == nullptr) return;
    (s == Stat::kOk ? ok_ : error_)[opcode]->Inc();
    latency_[opcode]->Observe(std::chrono::duration<double>(took).count());
  }
  Counter& compounds() { return *compounds_; }

 private:
  OpMetrics() {
    MetricsRegistry& m = DefaultMetrics();
    compounds_ = &m.GetCounter("bucketfs_nfs_compounds_total", "NFSv4 COMPOUND requests.");
    for (uint32_t op = 0; op < kMaxOpcode; ++op) {
      OpAvailability availability;
      const OpInfo* info = FindOp(op, 2, &availability);
      if (info == nullptr) info = FindOp(op, 0, &availability);
      if (info == nullptr || info->handler == nullptr) continue;
      const char* help = "NFSv4 operations by type and outcome.";
      ok_[op] =
          &m.GetCounter("bucketfs_nfs_ops_total", help, {{"op", info->name}, {"status", "ok"}});
      error_[op] =
          &m.GetCounter("bucketfs_nfs_ops_total", help, {{"op", info->name}, {"status", "error"}});
      latency_[op] = &m.GetHistogram("bucketfs_nfs_op_duration_seconds",
                                     "NFSv4 operation latency inside COMPOUND.",
                                     {{"op", info->name}}, LatencyBuckets());
    }
  }

  Counter* compounds_ = nullptr;
  std::array<Counter*, kMaxOpcode> ok_{}, error_{};
  std::array<Histogram*, kMaxOpcode> latency_{};
};

// Ops that may open a 4.1 COMPOUND without SEQUENCE, as its only op (RFC 8881 §2.6.3.1.1.8 ...
// each op's DESCRIPTION: EXCHANGE_ID §18.35.3, CREATE_SESSION §18.36.3, DESTROY_SESSION
// §18.37.3, DESTROY_CLIENTID §18.50.3, BIND_CONN_TO_SESSION §18.34.3).
bool IsSessionlessOp(uint32_t opcode) {
  switch (static_cast<Op>(opcode)) {
    case Op::kExchangeId:
    case Op::kCreateSession:
    case Op::kDestroySession:
    case Op::kDestroyClientId:
    case Op::kBindConnToSession:
      return true;
    default:
      return false;
  }
}

// The 4.1+ COMPOUND placement rules (RFC 8881 §2.10.6.1, §18.46.3).
Stat CheckSessionRules(const OpContext& ctx, uint32_t opcode) {
  const bool is_sequence = opcode == static_cast<uint32_t>(Op::kSequence);
  if (ctx.op_index > 0) return is_sequence ? Stat::kSequencePos : Stat::kOk;
  if (is_sequence) return Stat::kOk;
  if (IsSessionlessOp(opcode)) return ctx.op_count > 1 ? Stat::kNotOnlyOp : Stat::kOk;
  return Stat::kOpNotInSession;
}

}  // namespace

Awaitable<rpc::AcceptStat> Nfs4Program::Call(const rpc::CallContext& call, ByteView args,
                                             xdr::Encoder& results) {
  if (call.procedure == kProcNull) co_return rpc::AcceptStat::kSuccess;
  if (call.procedure != kProcCompound) co_return rpc::AcceptStat::kProcUnavail;

  // COMPOUND4args header (RFC 7530 §16.2.1): tag, minorversion, argarray length.
  xdr::Decoder d(args);
  ByteView tag;
  uint32_t minor = 0;
  uint32_t count = 0;
  if (!d.ReadOpaque(kMaxTagLength, &tag) || !d.ReadU32(&minor) || !d.ReadU32(&count)) {
    co_return rpc::AcceptStat::kGarbageArgs;
  }

  const std::size_t base = results.size();
  const std::size_t status_pos = results.ReserveU32();
  results.WriteOpaque(tag);
  const std::size_t count_pos = results.ReserveU32();
  auto finish = [&](Stat status, uint32_t n) {
    results.PatchU32(status_pos, static_cast<uint32_t>(status));
    results.PatchU32(count_pos, n);
  };

  if (minor > kMaxMinorVersion) {
    finish(Stat::kMinorVersMismatch, 0);
    co_return rpc::AcceptStat::kSuccess;
  }
  if (count > server_.options().max_ops) {
    // RFC 7530 §15.2.3: RESOURCE for 4.0; RFC 8881 §15.1.10.x: TOO_MANY_OPS for 4.1+.
    finish(minor == 0 ? Stat::kResource : Stat::kTooManyOps, 0);
    co_return rpc::AcceptStat::kSuccess;
  }

  OpMetrics::Get().compounds().Inc();
  OpContext ctx;
  ctx.server = &server_;
  ctx.call = &call;
  ctx.minor_version = minor;
  ctx.op_count = count;

  Stat status = Stat::kOk;
  uint32_t done = 0;
  for (uint32_t i = 0; i < count; ++i) {
    ctx.op_index = i;
    uint32_t opcode = 0;
    if (!d.ReadU32(&opcode)) {
      // The array promised more ops than the request holds.
      results.WriteU32(static_cast<uint32_t>(Op::kIllegal));
      results.WriteU32(static_cast<uint32_t>(Stat::kBadXdr));
      ++done;
      status = Stat::kBadXdr;
      break;
    }
    OpAvailability availability = OpAvailability::kIllegal;
    const OpInfo* info = FindOp(opcode, minor, &availability);
    if (info == nullptr || availability == OpAvailability::kIllegal) {
      // RFC 7530 §15.2.4 / RFC 8881 §16.2.3: resop is OP_ILLEGAL.
      results.WriteU32(static_cast<uint32_t>(Op::kIllegal));
      results.WriteU32(static_cast<uint32_t>(Stat::kOpIllegal));
      ++done;
      status = Stat::kOpIllegal;
      break;
    }
    results.WriteU32(opcode);
    const std::size_t op_status_pos = results.ReserveU32();
    const std::size_t body_pos = results.size();
    ++done;

    Stat s = Stat::kOk;
    if (availability == OpAvailability::kNotSupp) {
      s = Stat::kNotSupp;
    } else if (minor >= 1) {
      s = CheckSessionRules(ctx, opcode);
    }
    if (s == Stat::kOk) {
      const auto started = std::chrono::steady_clock::now();
      s = co_await info->handler(ctx, d, results);
      if (!d.ok()) s = Stat::kBadXdr;
      OpMetrics::Get().Record(opcode, s, std::chrono::steady_clock::now() - started);
    }
    if (ctx.replay) {
      // SEQUENCE found a retransmission: the cached COMPOUND4res is the whole reply.
      results.Truncate(base);
      results.WriteRaw(*ctx.replay);
      co_return rpc::AcceptStat::kSuccess;
    }
    if (s == Stat::kOk && i + 1 == count && d.remaining() > 0) s = Stat::kBadXdr;
    if (s == Stat::kBadXdr) {
      results.Truncate(body_pos);
      // SETATTR4res is a struct, not a union: attrsset follows the status even on error.
      if (opcode == static_cast<uint32_t>(Op::kSetAttr)) Bitmap().Encode(results);
    }
    if (ctx.seqid_owner) {
      // 4.0: the owner keeps this reply for a retransmission (RFC 7530 §9.1.9).
      if (IsSeqidMutating(s)) {
        std::optional<FileHandle> fh;
        if (opcode == static_cast<uint32_t>(Op::kOpen) && s == Stat::kOk) fh = ctx.current_fh;
        server_.state().RememberReply40(*ctx.seqid_owner, s,
                                        ByteView(results.buffer()).subspan(body_pos), fh);
      }
      ctx.seqid_owner.reset();
    }
    results.PatchU32(op_status_pos, static_cast<uint32_t>(s));
    if (s != Stat::kOk) {
      BFS_LOG_DEBUG("nfs4.{} {} (op {} of {}) failed: {} (current file: export {} inode {})", minor,
                    info ? info->name : "?", i + 1, count, static_cast<uint32_t>(s),
                    ctx.current_fh ? ctx.current_fh->export_id : 0,
                    ctx.current_fh ? ctx.current_fh->ino : 0);
      status = s;
      break;
    }
  }
  if (count == 0 && d.remaining() > 0) status = Stat::kBadXdr;
  finish(status, done);

  if (ctx.session) {
    // RFC 8881 §2.10.6.1.3: the slot keeps the reply for retransmissions.
    StoreSessionReply(ctx, ByteView(results.buffer()).subspan(base));
  }
  co_return rpc::AcceptStat::kSuccess;
}

void Nfs4Program::ConnectionClosed(uint64_t connection_id) {
  StateConnectionClosed(server_, connection_id);
}

void Nfs4Program::SetReverseCaller(std::shared_ptr<rpc::ReverseCaller> caller) {
  server_.callbacks().SetCaller(std::move(caller));
}

}  // namespace bucketfs::nfs
