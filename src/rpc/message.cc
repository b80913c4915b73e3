#include "rpc/message.h"

namespace bucketfs::rpc {
namespace {

constexpr uint32_t kCall = 0;
constexpr uint32_t kReply = 1;
constexpr uint32_t kMsgAccepted = 0;
constexpr uint32_t kMsgDenied = 1;
constexpr uint32_t kRejectRpcMismatch = 0;
constexpr uint32_t kRejectAuthError = 1;

// AUTH_SYS body (RFC 5531 appendix A).
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

}  // namespace

CallDecode DecodeCall(ByteView record, CallContext* ctx, ByteView* args) {
  xdr::Decoder d(record);
  uint32_t mtype = 0;
  if (!d.ReadU32(&ctx->xid) || !d.ReadU32(&mtype) || mtype != kCall) return CallDecode::kDrop;
  uint32_t rpcvers = 0;
  if (!d.ReadU32(&rpcvers)) return CallDecode::kDrop;
  if (rpcvers != kRpcVersion) return CallDecode::kRpcMismatch;
  uint32_t flavor = 0;
  ByteView cred;
  uint32_t verf_flavor = 0;
  ByteView verf;
  if (!d.ReadU32(&ctx->program) || !d.ReadU32(&ctx->version) || !d.ReadU32(&ctx->procedure) ||
      !d.ReadU32(&flavor) || !d.ReadOpaque(kMaxAuthBytes, &cred) || !d.ReadU32(&verf_flavor) ||
      !d.ReadOpaque(kMaxAuthBytes, &verf)) {
    return CallDecode::kBadCred;
  }
  switch (static_cast<AuthFlavor>(flavor)) {
    case AuthFlavor::kNone:
      ctx->flavor = AuthFlavor::kNone;
      break;
    case AuthFlavor::kSys:
      ctx->flavor = AuthFlavor::kSys;
      if (!DecodeAuthSys(cred, &ctx->sys)) return CallDecode::kBadCred;
      break;
    default:
      return CallDecode::kTooWeak;
  }
  *args = d.Rest();
  return CallDecode::kOk;
}

std::size_t BeginAcceptedReply(xdr::Encoder& out, uint32_t xid) {
  out.WriteU32(xid);
  out.WriteU32(kReply);
  out.WriteU32(kMsgAccepted);
  out.WriteU32(static_cast<uint32_t>(AuthFlavor::kNone));  // verifier
  out.WriteU32(0);
  return out.ReserveU32();
}

void EncodeDeniedRpcMismatch(xdr::Encoder& out, uint32_t xid) {
  out.WriteU32(xid);
  out.WriteU32(kReply);
  out.WriteU32(kMsgDenied);
  out.WriteU32(kRejectRpcMismatch);
  out.WriteU32(kRpcVersion);  // low
  out.WriteU32(kRpcVersion);  // high
}

void EncodeDeniedAuth(xdr::Encoder& out, uint32_t xid, AuthStat why) {
  out.WriteU32(xid);
  out.WriteU32(kReply);
  out.WriteU32(kMsgDenied);
  out.WriteU32(kRejectAuthError);
  out.WriteU32(static_cast<uint32_t>(why));
}

}  // namespace bucketfs::rpc
