#include "rpc/message.h"

#include "rpc/reverse_call.h"

namespace bucketfs::rpc {
namespace {

constexpr uint32_t U32(auto e) { return static_cast<uint32_t>(e); }

// AUTH_SYS body (RFC 5531 appendix A): the whole body must be consumed.
bool DecodeAuthSys(ByteView body, AuthSys* out) {
  xdr::Decoder d(body);
  uint32_t ngids = 0;
  if (!d.ReadU32(&out->stamp) || !d.ReadString(kMaxMachineName, &out->machine_name) ||
      !d.ReadU32(&out->uid) || !d.ReadU32(&out->gid) ||
      !d.ReadArrayLength(kMaxAuthSysGids, &ngids)) {
    return false;
  }
  out->gids.resize(ngids);
  for (uint32_t& g : out->gids) {
    if (!d.ReadU32(&g)) return false;
  }
  return d.remaining() == 0;
}

// The credential (RFC 5531 §9 call body `cred`).
CallDecode DecodeCredential(xdr::Decoder& d, CallContext* ctx) {
  uint32_t flavor = 0;
  ByteView body;
  if (!d.ReadU32(&flavor) || !d.ReadOpaque(kMaxAuthBytes, &body)) return CallDecode::kBadCred;
  switch (static_cast<AuthFlavor>(flavor)) {
    case AuthFlavor::kNone:
      ctx->flavor = AuthFlavor::kNone;
      return CallDecode::kOk;
    case AuthFlavor::kSys:
      ctx->flavor = AuthFlavor::kSys;
      return DecodeAuthSys(body, &ctx->sys) ? CallDecode::kOk : CallDecode::kBadCred;
    case AuthFlavor::kShort:
    case AuthFlavor::kDh:
    case AuthFlavor::kGss:
      break;
  }
  return CallDecode::kTooWeak;
}

void WriteNoneVerifier(xdr::Encoder& out) {
  out.WriteU32(U32(AuthFlavor::kNone));
  out.WriteU32(0);
}

void WriteReplyHead(xdr::Encoder& out, uint32_t xid, ReplyStat stat) {
  out.WriteU32(xid);
  out.WriteU32(U32(MsgType::kReply));
  out.WriteU32(U32(stat));
}

}  // namespace

CallDecode DecodeCall(ByteView record, CallContext* ctx, ByteView* args) {
  xdr::Decoder d(record);
  uint32_t mtype = 0;
  if (!d.ReadU32(&ctx->xid) || !d.ReadU32(&mtype)) return CallDecode::kDrop;
  if (mtype == U32(MsgType::kReply)) return CallDecode::kReply;
  if (mtype != U32(MsgType::kCall)) return CallDecode::kDrop;
  uint32_t rpcvers = 0;
  if (!d.ReadU32(&rpcvers)) return CallDecode::kGarbage;
  if (rpcvers != kRpcVersion) return CallDecode::kRpcMismatch;
  if (!d.ReadU32(&ctx->program) || !d.ReadU32(&ctx->version) || !d.ReadU32(&ctx->procedure)) {
    return CallDecode::kGarbage;
  }
  const CallDecode cred = DecodeCredential(d, ctx);
  if (cred != CallDecode::kOk) return cred;
  uint32_t verf_flavor = 0;
  ByteView verf;
  if (!d.ReadU32(&verf_flavor) || !d.ReadOpaque(kMaxAuthBytes, &verf)) return CallDecode::kBadVerf;
  *args = d.Rest();
  return CallDecode::kOk;
}

void EncodeCallHeader(xdr::Encoder& out, const CallContext& ctx) {
  out.WriteU32(ctx.xid);
  out.WriteU32(U32(MsgType::kCall));
  out.WriteU32(kRpcVersion);
  out.WriteU32(ctx.program);
  out.WriteU32(ctx.version);
  out.WriteU32(ctx.procedure);
  if (ctx.flavor == AuthFlavor::kSys) {
    xdr::Encoder body;
    body.WriteU32(ctx.sys.stamp);
    body.WriteString(ctx.sys.machine_name);
    body.WriteU32(ctx.sys.uid);
    body.WriteU32(ctx.sys.gid);
    body.WriteU32(static_cast<uint32_t>(ctx.sys.gids.size()));
    for (uint32_t g : ctx.sys.gids) body.WriteU32(g);
    out.WriteU32(U32(AuthFlavor::kSys));
    out.WriteOpaque(body.buffer());
  } else {
    WriteNoneVerifier(out);  // AUTH_NONE credential has the same shape
  }
  WriteNoneVerifier(out);
}

std::size_t BeginAcceptedReply(xdr::Encoder& out, uint32_t xid) {
  WriteReplyHead(out, xid, ReplyStat::kAccepted);
  WriteNoneVerifier(out);
  return out.ReserveU32();
}

void FinishAcceptedReply(xdr::Encoder& out, std::size_t stat_offset, AcceptStat stat) {
  if (stat != AcceptStat::kSuccess) out.Truncate(stat_offset + 4);
  out.PatchU32(stat_offset, U32(stat));
}

void EncodeAcceptedReply(xdr::Encoder& out, uint32_t xid, AcceptStat stat) {
  FinishAcceptedReply(out, BeginAcceptedReply(out, xid), stat);
}

void EncodeProgMismatch(xdr::Encoder& out, uint32_t xid, uint32_t low, uint32_t high) {
  EncodeAcceptedReply(out, xid, AcceptStat::kProgMismatch);
  out.WriteU32(low);
  out.WriteU32(high);
}

void EncodeDeniedRpcMismatch(xdr::Encoder& out, uint32_t xid) {
  WriteReplyHead(out, xid, ReplyStat::kDenied);
  out.WriteU32(U32(RejectStat::kRpcMismatch));
  out.WriteU32(kRpcVersion);  // low
  out.WriteU32(kRpcVersion);  // high
}

void EncodeDeniedAuth(xdr::Encoder& out, uint32_t xid, AuthStat why) {
  WriteReplyHead(out, xid, ReplyStat::kDenied);
  out.WriteU32(U32(RejectStat::kAuthError));
  out.WriteU32(U32(why));
}

namespace {

bool DecodeAccepted(xdr::Decoder& d, ReplyHeader* out) {
  uint32_t verf_flavor = 0, stat = 0;
  ByteView verf;
  if (!d.ReadU32(&verf_flavor) || !d.ReadOpaque(kMaxAuthBytes, &verf) || !d.ReadU32(&stat) ||
      stat > U32(AcceptStat::kSystemErr)) {
    return false;
  }
  out->accept_stat = static_cast<AcceptStat>(stat);
  if (out->accept_stat == AcceptStat::kSuccess) {
    out->results = d.Rest();
    return true;
  }
  if (out->accept_stat == AcceptStat::kProgMismatch) {
    return d.ReadU32(&out->mismatch_low) && d.ReadU32(&out->mismatch_high);
  }
  return true;
}

bool DecodeDenied(xdr::Decoder& d, ReplyHeader* out) {
  uint32_t stat = 0;
  if (!d.ReadU32(&stat)) return false;
  if (stat == U32(RejectStat::kRpcMismatch)) {
    out->reject_stat = RejectStat::kRpcMismatch;
    return d.ReadU32(&out->mismatch_low) && d.ReadU32(&out->mismatch_high);
  }
  if (stat != U32(RejectStat::kAuthError)) return false;
  out->reject_stat = RejectStat::kAuthError;
  uint32_t why = 0;
  if (!d.ReadU32(&why) || why > U32(AuthStat::kTooWeak)) return false;
  out->auth_stat = static_cast<AuthStat>(why);
  return true;
}

}  // namespace

bool DecodeReply(ByteView record, ReplyHeader* out) {
  xdr::Decoder d(record);
  uint32_t mtype = 0, stat = 0;
  if (!d.ReadU32(&out->xid) || !d.ReadU32(&mtype) || mtype != U32(MsgType::kReply) ||
      !d.ReadU32(&stat)) {
    return false;
  }
  if (stat == U32(ReplyStat::kAccepted)) {
    out->reply_stat = ReplyStat::kAccepted;
    return DecodeAccepted(d, out);
  }
  if (stat != U32(ReplyStat::kDenied)) return false;
  out->reply_stat = ReplyStat::kDenied;
  return DecodeDenied(d, out);
}

std::string_view AcceptStatName(AcceptStat s) {
  switch (s) {
    case AcceptStat::kSuccess:
      return "SUCCESS";
    case AcceptStat::kProgUnavail:
      return "PROG_UNAVAIL";
    case AcceptStat::kProgMismatch:
      return "PROG_MISMATCH";
    case AcceptStat::kProcUnavail:
      return "PROC_UNAVAIL";
    case AcceptStat::kGarbageArgs:
      return "GARBAGE_ARGS";
    case AcceptStat::kSystemErr:
      return "SYSTEM_ERR";
  }
  return "?";
}

std::string_view AuthStatName(AuthStat s) {
  switch (s) {
    case AuthStat::kOk:
      return "AUTH_OK";
    case AuthStat::kBadCred:
      return "AUTH_BADCRED";
    case AuthStat::kRejectedCred:
      return "AUTH_REJECTEDCRED";
    case AuthStat::kBadVerf:
      return "AUTH_BADVERF";
    case AuthStat::kRejectedVerf:
      return "AUTH_REJECTEDVERF";
    case AuthStat::kTooWeak:
      return "AUTH_TOOWEAK";
  }
  return "?";
}

Result<Bytes> ReplyResults(ByteView record, std::string_view what_sv) {
  const std::string what(what_sv);
  ReplyHeader reply;
  if (!DecodeReply(record, &reply)) return ProtocolError(what + ": malformed reply");
  if (reply.reply_stat == ReplyStat::kDenied) {
    if (reply.reject_stat == RejectStat::kRpcMismatch) {
      return ProtocolError(what + ": denied: RPC_MISMATCH (versions " +
                           std::to_string(reply.mismatch_low) + "-" +
                           std::to_string(reply.mismatch_high) + ")");
    }
    return ProtocolError(what + ": denied: AUTH_ERROR " +
                         std::string(AuthStatName(reply.auth_stat)));
  }
  if (reply.accept_stat == AcceptStat::kProgMismatch) {
    return ProtocolError(what + ": accepted with PROG_MISMATCH (versions " +
                         std::to_string(reply.mismatch_low) + "-" +
                         std::to_string(reply.mismatch_high) + ")");
  }
  if (reply.accept_stat != AcceptStat::kSuccess) {
    return ProtocolError(what + ": accepted with " +
                         std::string(AcceptStatName(reply.accept_stat)));
  }
  return Bytes(reply.results.begin(), reply.results.end());
}

Bytes EncodeCallRecord(uint32_t xid, const ReverseCallHeader& header, ByteView args) {
  CallContext ctx;
  ctx.xid = xid;
  ctx.program = header.program;
  ctx.version = header.version;
  ctx.procedure = header.procedure;
  ctx.flavor = header.flavor == AuthFlavor::kSys ? AuthFlavor::kSys : AuthFlavor::kNone;
  ctx.sys = header.sys;
  xdr::Encoder call;
  EncodeCallHeader(call, ctx);
  call.WriteRaw(args);
  return call.Release();
}

std::string DescribeCall(const ReverseCallHeader& header) {
  return "program " + std::to_string(header.program) + " version " +
         std::to_string(header.version) + " procedure " + std::to_string(header.procedure);
}

}  // namespace bucketfs::rpc
