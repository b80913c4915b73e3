// NFSv4.1 client and session operations (RFC 8881 §18.33-18.37, §18.46, §18.50, §18.51). Each
// decodes its arguments (ops_xdr.h), calls the state adapter (ops_state.h) and encodes the result.
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "nfs/ops_xdr.h"

namespace bucketfs::nfs {
namespace {

// EXCHGID4_FLAG_* (RFC 8881 §18.35.1).
constexpr uint32_t kExchgIdSuppMovedRefer = 0x1;
constexpr uint32_t kExchgIdSuppMovedMigr = 0x2;
constexpr uint32_t kExchgIdBindPrincStateid = 0x100;
constexpr uint32_t kExchgIdUsePnfsMask = 0x70000;
constexpr uint32_t kExchgIdUpdConfirmedRecA = 0x40000000;
constexpr uint32_t kExchgIdConfirmedR = 0x80000000;
constexpr uint32_t kExchgIdClientFlags = kExchgIdSuppMovedRefer | kExchgIdSuppMovedMigr |
                                         kExchgIdBindPrincStateid | kExchgIdUsePnfsMask |
                                         kExchgIdUpdConfirmedRecA;

void WriteServerIdentity(xdr::Encoder& res) {
  res.WriteU64(0);                            // so_minor_id
  res.WriteString("bucketfs");                // so_major_id
  res.WriteString("bucketfs");                // eir_server_scope
  res.WriteU32(1);                            // eir_server_impl_id<1>
  res.WriteString("bucketfs.example");        // nii_domain
  res.WriteString("bucketfs NFSv4 gateway");  // nii_name
  res.WriteI64(0);                            // nii_date
  res.WriteU32(0);
}

}  // namespace

// EXCHANGE_ID: RFC 8881 §18.35.
Awaitable<Stat> OpExchangeId(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  ExchangeIdArgs a;
  if (!DecodeExchangeIdArgs(args, &a)) co_return Stat::kBadXdr;
  if ((a.flags & ~kExchgIdClientFlags) != 0) co_return Stat::kInval;
  if (a.state_protect == kSp4Ssv) co_return Stat::kEncrAlgUnsupp;
  ExchangeIdResult r;
  Stat s = StateExchangeId(ctx, a, &r);
  if (s != Stat::kOk) co_return s;
  res.WriteU64(r.clientid);
  res.WriteU32(r.sequenceid);
  res.WriteU32(r.flags);
  res.WriteU32(a.state_protect);
  if (a.state_protect == kSp4MachCred) {
    Bitmap().Encode(res);  // spo_must_enforce: nothing
    Bitmap().Encode(res);  // spo_must_allow
  }
  WriteServerIdentity(res);
  co_return Stat::kOk;
}

// CREATE_SESSION: RFC 8881 §18.36.
Awaitable<Stat> OpCreateSession(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  CreateSessionArgs a;
  if (!DecodeCreateSessionArgs(args, &a)) co_return Stat::kBadXdr;
  CreateSessionResult r;
  Stat s = StateCreateSession(ctx, a, &r);
  if (s != Stat::kOk) co_return s;
  co_await PersistClientRecord(ctx, a.clientid);
  WriteSessionId(res, r.sessionid);
  res.WriteU32(r.sequenceid);
  res.WriteU32(r.flags);
  EncodeChannelAttrs(res, r.fore);
  EncodeChannelAttrs(res, r.back);
  co_return Stat::kOk;
}

// SEQUENCE: RFC 8881 §18.46.
Awaitable<Stat> OpSequence(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  SequenceArgs a;
  if (!DecodeSequenceArgs(args, &a)) co_return Stat::kBadXdr;
  SequenceResult r;
  Stat s = StateSequence(ctx, a, &r);
  if (s != Stat::kOk || ctx.replay) co_return s;
  WriteSessionId(res, a.sessionid);
  res.WriteU32(a.sequenceid);
  res.WriteU32(a.slotid);
  res.WriteU32(r.highest_slotid);
  res.WriteU32(r.target_highest_slotid);
  res.WriteU32(r.status_flags);
  co_return Stat::kOk;
}

// DESTROY_SESSION: RFC 8881 §18.37.
Awaitable<Stat> OpDestroySession(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  SessionId sid;
  if (!ReadSessionId(args, &sid)) co_return Stat::kBadXdr;
  co_return StateDestroySession(ctx, sid);
}

// DESTROY_CLIENTID: RFC 8881 §18.50.
Awaitable<Stat> OpDestroyClientId(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  if (!args.ReadU64(&clientid)) co_return Stat::kBadXdr;
  co_return StateDestroyClientId(ctx, clientid);
}

// BIND_CONN_TO_SESSION: RFC 8881 §18.34. The back channel is bound when asked for (and the
// session has a credential to call the client with): CB_RECALLs then travel on it.
Awaitable<Stat> OpBindConnToSession(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  constexpr uint32_t kCdfcFore = 1, kCdfcBack = 2, kCdfcForeOrBoth = 3, kCdfcBackOrBoth = 7;
  constexpr uint32_t kCdfsFore = 1, kCdfsBack = 2, kCdfsBoth = 3;
  SessionId sid;
  uint32_t dir = 0;
  bool rdma = false;
  if (!ReadSessionId(args, &sid) || !args.ReadU32(&dir) || !args.ReadBool(&rdma)) {
    co_return Stat::kBadXdr;
  }
  if (dir != kCdfcFore && dir != kCdfcBack && dir != kCdfcForeOrBoth && dir != kCdfcBackOrBoth) {
    co_return Stat::kInval;
  }
  const bool back = dir != kCdfcFore;
  Stat s = StateBindConnToSession(ctx, sid, back);
  if (s != Stat::kOk) co_return s;
  WriteSessionId(res, sid);
  res.WriteU32(dir == kCdfcFore ? kCdfsFore : dir == kCdfcBack ? kCdfsBack : kCdfsBoth);
  res.WriteBool(false);
  co_return Stat::kOk;
}

// RECLAIM_COMPLETE: RFC 8881 §18.51.
Awaitable<Stat> OpReclaimComplete(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  bool one_fs = false;
  if (!args.ReadBool(&one_fs)) co_return Stat::kBadXdr;
  co_return StateReclaimComplete(ctx, one_fs);
}

// BACKCHANNEL_CTL: RFC 8881 §18.33: the callback program and credential for the session's back
// channel from now on.
Awaitable<Stat> OpBackchannelCtl(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  CallbackSec cb;
  if (!args.ReadU32(&cb.program) || !DecodeCallbackSecParms(args, &cb)) co_return Stat::kBadXdr;
  co_return StateBackchannelCtl(ctx, cb);
}

}  // namespace bucketfs::nfs
