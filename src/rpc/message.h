// ONC RPC message headers (RFC 5531 §9): decoding a CALL and encoding every kind of REPLY.
//
// DecodeCall never reads past the record and never trusts a length: a header too short to carry
// an xid is kDrop (the connection is closed); any other defect gets the reply RFC 5531 defines
// (RPC_MISMATCH, AUTH_ERROR, GARBAGE_ARGS via the caller). Stateless functions; thread-safe.
#pragma once

#include <cstdint>

#include "base/bytes.h"
#include "rpc/program.h"
#include "rpc/xdr.h"

namespace bucketfs::rpc {

inline constexpr uint32_t kRpcVersion = 2;
inline constexpr std::size_t kMaxAuthBytes = 400;    // RFC 5531 §8.2 opaque_auth body
inline constexpr std::size_t kMaxMachineName = 255;  // RFC 5531 appendix A
inline constexpr uint32_t kMaxAuthSysGids = 16;

// auth_stat (RFC 5531 §9).
enum class AuthStat : uint32_t { kBadCred = 1, kRejectedCred = 2, kBadVerf = 3, kTooWeak = 5 };

enum class CallDecode {
  kOk,           // ctx and args are valid
  kDrop,         // not even an xid / not a CALL: close the connection
  kRpcMismatch,  // rpcvers != 2 → MSG_DENIED RPC_MISMATCH
  kBadCred,      // malformed credential → MSG_DENIED AUTH_ERROR AUTH_BADCRED
  kTooWeak,      // unsupported flavor → MSG_DENIED AUTH_ERROR AUTH_TOOWEAK
};

// Decodes the call header of `record`. On kOk fills `ctx` (xid, program, version, procedure,
// credentials) and points `args` at the procedure arguments. ctx->xid is set whenever the result
// is not kDrop.
CallDecode DecodeCall(ByteView record, CallContext* ctx, ByteView* args);

// Writes the head of an accepted reply (xid, REPLY, MSG_ACCEPTED, AUTH_NONE verifier) and returns
// the offset of the accept_stat slot, to be patched once the procedure finished.
std::size_t BeginAcceptedReply(xdr::Encoder& out, uint32_t xid);
void EncodeDeniedRpcMismatch(xdr::Encoder& out, uint32_t xid);
void EncodeDeniedAuth(xdr::Encoder& out, uint32_t xid, AuthStat why);

}  // namespace bucketfs::rpc
