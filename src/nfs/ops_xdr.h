// XDR argument and result types of the NFSv4 state operations (RFC 7530 §16, RFC 8881 §18),
// with their decoders and encoders. The handlers (ops_session.cc, ops_client40.cc, ops_open.cc)
// decode with these, call the StateManager, and encode. Value types; decoders borrow nothing
// (opaques are copied) and fail on any malformed or out-of-range field.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nfs/attrs.h"
#include "nfs/compound.h"
#include "rpc/xdr.h"

namespace bucketfs::nfs {

using Verifier = std::array<uint8_t, kNfs4VerifierSize>;
using SessionId = std::array<uint8_t, kNfs4SessionIdSize>;

bool ReadVerifier(xdr::Decoder& d, Verifier* v);
void WriteVerifier(xdr::Encoder& e, const Verifier& v);
bool ReadSessionId(xdr::Decoder& d, SessionId* s);
void WriteSessionId(xdr::Encoder& e, const SessionId& s);

// state_protect_how4 (RFC 8881 §18.35).
inline constexpr uint32_t kSp4None = 0;
inline constexpr uint32_t kSp4MachCred = 1;
inline constexpr uint32_t kSp4Ssv = 2;

// EXCHANGE_ID4args (RFC 8881 §18.35.1).
struct ExchangeIdArgs {
  Verifier verifier{};
  Bytes owner_id;
  uint32_t flags = 0;
  uint32_t state_protect = kSp4None;
  Bitmap must_enforce;
  Bitmap must_allow;
};
bool DecodeExchangeIdArgs(xdr::Decoder& d, ExchangeIdArgs* a);

// channel_attrs4 (RFC 8881 §18.36.1).
struct ChannelAttrs {
  uint32_t header_pad_size = 0;
  uint32_t max_request_size = 0;
  uint32_t max_response_size = 0;
  uint32_t max_response_size_cached = 0;
  uint32_t max_operations = 0;
  uint32_t max_requests = 0;
  std::optional<uint32_t> rdma_ird;
};
bool DecodeChannelAttrs(xdr::Decoder& d, ChannelAttrs* a);
void EncodeChannelAttrs(xdr::Encoder& e, const ChannelAttrs& a);

// How the server calls a client back: the callback program and the credential to use, the first
// AUTH_SYS or AUTH_NONE entry of callback_sec_parms4<> (RFC 8881 §18.36.1; RPCSEC_GSS is not
// supported, so a client offering only that gets no callbacks).
struct CallbackSec {
  uint32_t program = 0;
  bool usable = false;  // an AUTH_SYS or AUTH_NONE entry was offered
  rpc::AuthFlavor flavor = rpc::AuthFlavor::kNone;
  rpc::AuthSys sys;
};
// callback_sec_parms4<>: fills cb->flavor/sys/usable (not program).
bool DecodeCallbackSecParms(xdr::Decoder& d, CallbackSec* cb);

// CREATE_SESSION4args (RFC 8881 §18.36.1).
struct CreateSessionArgs {
  uint64_t clientid = 0;
  uint32_t sequence = 0;
  uint32_t flags = 0;
  ChannelAttrs fore;
  ChannelAttrs back;
  CallbackSec cb;
};
bool DecodeCreateSessionArgs(xdr::Decoder& d, CreateSessionArgs* a);

// SEQUENCE4args (RFC 8881 §18.46.1).
struct SequenceArgs {
  SessionId sessionid{};
  uint32_t sequenceid = 0;
  uint32_t slotid = 0;
  uint32_t highest_slotid = 0;
  bool cache_this = false;
};
bool DecodeSequenceArgs(xdr::Decoder& d, SequenceArgs* a);

// SETCLIENTID4args (RFC 7530 §16.33.1).
struct SetClientIdArgs {
  Verifier verifier{};
  Bytes id;
  uint32_t cb_program = 0;
  std::string r_netid;
  std::string r_addr;
  uint32_t callback_ident = 0;
};
bool DecodeSetClientIdArgs(xdr::Decoder& d, SetClientIdArgs* a);

// OPEN4args (RFC 7530 §16.16.1, RFC 8881 §18.16.1).
inline constexpr uint32_t kShareAccessRead = 1;
inline constexpr uint32_t kShareAccessWrite = 2;
inline constexpr uint32_t kShareAccessBoth = 3;
inline constexpr uint32_t kShareAccessMask = 3;
inline constexpr uint32_t kShareWantMask = 0xFF00;
inline constexpr uint32_t kShareWantNoPreference = 0;
inline constexpr uint32_t kShareWantNoDeleg = 0x0400;
inline constexpr uint32_t kShareWantCancel = 0x0500;
inline constexpr uint32_t kShareDenyRead = 1;
inline constexpr uint32_t kShareDenyMask = 3;

enum class ClaimType : uint32_t {
  kNull = 0,
  kPrevious = 1,
  kDelegateCur = 2,
  kDelegatePrev = 3,
  kFh = 4,
  kDelegCurFh = 5,
  kDelegPrevFh = 6,
};

// createmode4 (RFC 7530 §16.16.1, RFC 8881 §18.16.1).
enum class CreateMode : uint32_t {
  kUnchecked = 0,
  kGuarded = 1,
  kExclusive = 2,
  kExclusive41 = 3,  // 4.1+
};

struct OpenArgs {
  uint32_t seqid = 0;
  uint32_t share_access = 0;  // with 4.1 want flags in bits 8..17
  uint32_t share_deny = 0;
  uint64_t clientid = 0;
  Bytes owner;
  bool create = false;
  // createhow4, when `create`: the mode, createattrs (UNCHECKED4, GUARDED4, EXCLUSIVE4_1; the
  // values copied) and the verifier (EXCLUSIVE4, EXCLUSIVE4_1).
  CreateMode create_mode = CreateMode::kUnchecked;
  Bitmap create_mask;
  Bytes create_values;
  Verifier create_verifier{};
  ClaimType claim = ClaimType::kNull;
  std::string name;       // CLAIM_NULL, CLAIM_DELEGATE_CUR, CLAIM_DELEGATE_PREV
  StateId deleg_stateid;  // CLAIM_DELEGATE_CUR, CLAIM_DELEG_CUR_FH
};
bool DecodeOpenArgs(xdr::Decoder& d, OpenArgs* a);

// CREATE_SESSION4_FLAG_CONN_BACK_CHAN (RFC 8881 §18.36.1).
inline constexpr uint32_t kCreateSessionConnBackChan = 0x2;
// sr_status_flags of SEQUENCE (RFC 8881 §18.46.3).
inline constexpr uint32_t kSeq4StatusRecallableStateRevoked = 0x40;
// open_delegation_type4 / why_no_delegation4 (RFC 8881 §18.16.1).
inline constexpr uint32_t kOpenDelegateRead = 1;
inline constexpr uint32_t kOpenDelegateNone = 0;
inline constexpr uint32_t kOpenDelegateNoneExt = 3;
inline constexpr uint32_t kWnd4NotWanted = 0;
inline constexpr uint32_t kWnd4Resource = 2;

// OPEN4resok rflags.
inline constexpr uint32_t kOpen4ResultConfirm = 0x2;
inline constexpr uint32_t kOpen4ResultLocktypePosix = 0x4;

}  // namespace bucketfs::nfs
