// ONC RPC message headers (RFC 5531 §9): decoding a CALL header with its credentials and
// encoding every kind of REPLY the server sends.
//
// DecodeCall never reads past the record and never trusts a length (opaque_auth bodies ≤ 400
// bytes, §8.2; AUTH_SYS machine names ≤ 255 bytes and ≤ 16 gids, appendix A). A record too
// short to carry an xid and a message type, or whose type is neither CALL nor REPLY, is kDrop
// (the stream is garbage: close the connection); every other defect maps to the reply RFC 5531
// defines for it. Stateless functions; thread-safe. Nothing here asserts on wire bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/bytes.h"
#include "base/status.h"
#include "rpc/program.h"
#include "rpc/xdr.h"

namespace bucketfs::rpc {

inline constexpr uint32_t kRpcVersion = 2;
inline constexpr std::size_t kMaxAuthBytes = 400;    // RFC 5531 §8.2 opaque_auth body
inline constexpr std::size_t kMaxMachineName = 255;  // RFC 5531 appendix A
inline constexpr uint32_t kMaxAuthSysGids = 16;      // RFC 5531 appendix A

// msg_type, reply_stat, reject_stat (RFC 5531 §9).
enum class MsgType : uint32_t { kCall = 0, kReply = 1 };
enum class ReplyStat : uint32_t { kAccepted = 0, kDenied = 1 };
enum class RejectStat : uint32_t { kRpcMismatch = 0, kAuthError = 1 };

// auth_stat (RFC 5531 §9).
enum class AuthStat : uint32_t {
  kOk = 0,
  kBadCred = 1,
  kRejectedCred = 2,
  kBadVerf = 3,
  kRejectedVerf = 4,
  kTooWeak = 5,
};

enum class CallDecode {
  kOk,           // ctx and args are valid
  kDrop,         // no xid/msg_type, or an unknown msg_type: close the connection
  kReply,        // a REPLY (a backchannel answer); ctx->xid is set, nothing else
  kGarbage,      // CALL header truncated before the credential → GARBAGE_ARGS
  kRpcMismatch,  // rpcvers != 2 → MSG_DENIED RPC_MISMATCH(2, 2)
  kBadCred,      // malformed or truncated credential → MSG_DENIED AUTH_ERROR AUTH_BADCRED
  kBadVerf,      // malformed or truncated verifier → MSG_DENIED AUTH_ERROR AUTH_BADVERF
  kTooWeak,      // unsupported flavor (AUTH_DH, RPCSEC_GSS, ...) → AUTH_ERROR AUTH_TOOWEAK
};

// Decodes the call header of `record`. On kOk fills `ctx` (xid, program, version, procedure,
// credentials) and points `args` into `record` at the procedure arguments. ctx->xid is valid
// whenever the result is not kDrop; program/version/procedure whenever they could be read.
CallDecode DecodeCall(ByteView record, CallContext* ctx, ByteView* args);

// Encodes a CALL header (AUTH_NONE or AUTH_SYS credential, AUTH_NONE verifier); for tests, the
// fuzz corpus and a future backchannel.
void EncodeCallHeader(xdr::Encoder& out, const CallContext& ctx);

// Accepted replies (MSG_ACCEPTED, AUTH_NONE verifier). BeginAcceptedReply writes the head and
// returns the offset of the accept_stat slot; the procedure's results are appended after it and
// FinishAcceptedReply patches the status (truncating the results unless it is kSuccess).
std::size_t BeginAcceptedReply(xdr::Encoder& out, uint32_t xid);
void FinishAcceptedReply(xdr::Encoder& out, std::size_t stat_offset, AcceptStat stat);
// A complete accepted reply without results: PROG_UNAVAIL, PROC_UNAVAIL, GARBAGE_ARGS,
// SYSTEM_ERR (or SUCCESS with empty results, e.g. NULL).
void EncodeAcceptedReply(xdr::Encoder& out, uint32_t xid, AcceptStat stat);
void EncodeProgMismatch(xdr::Encoder& out, uint32_t xid, uint32_t low, uint32_t high);

// Denied replies (MSG_DENIED).
void EncodeDeniedRpcMismatch(xdr::Encoder& out, uint32_t xid);  // RPC_MISMATCH(2, 2)
void EncodeDeniedAuth(xdr::Encoder& out, uint32_t xid, AuthStat why);

// A decoded REPLY header, for tests and a future backchannel client.
struct ReplyHeader {
  uint32_t xid = 0;
  ReplyStat reply_stat = ReplyStat::kAccepted;
  AcceptStat accept_stat = AcceptStat::kSuccess;      // when accepted
  RejectStat reject_stat = RejectStat::kRpcMismatch;  // when denied
  AuthStat auth_stat = AuthStat::kOk;                 // when denied with AUTH_ERROR
  uint32_t mismatch_low = 0;                          // PROG_MISMATCH or RPC_MISMATCH
  uint32_t mismatch_high = 0;                         // PROG_MISMATCH or RPC_MISMATCH
  ByteView results;                                   // SUCCESS results, borrowed from the record
};
bool DecodeReply(ByteView record, ReplyHeader* out);

// The results of the REPLY `record` to a call we made, when it was accepted with SUCCESS (the
// bytes after accept_stat). Otherwise kProtocol, the message starting with `what` (the call, e.g.
// "callback to program 1073741824 version 1 procedure 1") and naming the reason: malformed,
// denied with RPC_MISMATCH or AUTH_ERROR, or accepted with another accept_stat.
Result<Bytes> ReplyResults(ByteView record, std::string_view what);

std::string_view AcceptStatName(AcceptStat s);
std::string_view AuthStatName(AuthStat s);

}  // namespace bucketfs::rpc
