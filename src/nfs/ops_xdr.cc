#include "nfs/ops_xdr.h"

#include <cstring>

namespace bucketfs::nfs {
namespace {

constexpr uint32_t kAuthNone = 0;
constexpr uint32_t kAuthSys = 1;
constexpr uint32_t kRpcSecGss = 6;
constexpr uint32_t kMaxSecParms = 16;

template <std::size_t N>
bool ReadFixed(xdr::Decoder& d, std::array<uint8_t, N>* out) {
  ByteView v;
  if (!d.ReadFixedOpaque(N, &v)) return false;
  std::memcpy(out->data(), v.data(), N);
  return true;
}

bool DecodeAuthSys(xdr::Decoder& d, rpc::AuthSys* sys) {
  uint32_t ngids = 0;
  if (!d.ReadU32(&sys->stamp) || !d.ReadString(255, &sys->machine_name) || !d.ReadU32(&sys->uid) ||
      !d.ReadU32(&sys->gid) || !d.ReadArrayLength(16, &ngids)) {
    return false;
  }
  sys->gids.resize(ngids);
  for (uint32_t& gid : sys->gids) {
    if (!d.ReadU32(&gid)) return false;
  }
  return true;
}

bool ReadClaimStateId(xdr::Decoder& d, StateId* sid) {
  ByteView other;
  if (!d.ReadU32(&sid->seqid) || !d.ReadFixedOpaque(kNfs4OtherSize, &other)) return false;
  std::memcpy(sid->other, other.data(), kNfs4OtherSize);
  return true;
}

}  // namespace

bool ReadVerifier(xdr::Decoder& d, Verifier* v) { return ReadFixed(d, v); }
void WriteVerifier(xdr::Encoder& e, const Verifier& v) { e.WriteFixedOpaque(v); }
bool ReadSessionId(xdr::Decoder& d, SessionId* s) { return ReadFixed(d, s); }
void WriteSessionId(xdr::Encoder& e, const SessionId& s) { e.WriteFixedOpaque(s); }

bool DecodeExchangeIdArgs(xdr::Decoder& d, ExchangeIdArgs* a) {
  if (!ReadVerifier(d, &a->verifier) || !d.ReadOpaque(kNfs4OpaqueLimit, &a->owner_id) ||
      !d.ReadU32(&a->flags) || !d.ReadU32(&a->state_protect)) {
    return false;
  }
  switch (a->state_protect) {
    case kSp4None:
      break;
    case kSp4MachCred:
      if (!a->must_enforce.Decode(d) || !a->must_allow.Decode(d)) return false;
      break;
    case kSp4Ssv: {
      if (!a->must_enforce.Decode(d) || !a->must_allow.Decode(d)) return false;
      for (int list = 0; list < 2; ++list) {  // ssp_hash_algs<>, ssp_encr_algs<>
        uint32_t n = 0;
        if (!d.ReadArrayLength(16, &n)) return false;
        for (uint32_t i = 0; i < n; ++i) {
          ByteView oid;
          if (!d.ReadOpaque(kNfs4OpaqueLimit, &oid)) return false;
        }
      }
      uint32_t window = 0, handles = 0;
      if (!d.ReadU32(&window) || !d.ReadU32(&handles)) return false;
      break;
    }
    default:
      d.Fail();
      return false;
  }
  // eia_client_impl_id<1>: domain, name, date.
  uint32_t n = 0;
  if (!d.ReadArrayLength(1, &n)) return false;
  if (n == 1) {
    std::string domain, name;
    int64_t sec = 0;
    uint32_t nsec = 0;
    if (!d.ReadString(kNfs4OpaqueLimit, &domain) || !d.ReadString(kNfs4OpaqueLimit, &name) ||
        !d.ReadI64(&sec) || !d.ReadU32(&nsec)) {
      return false;
    }
  }
  return true;
}

bool DecodeChannelAttrs(xdr::Decoder& d, ChannelAttrs* a) {
  uint32_t n = 0;
  if (!d.ReadU32(&a->header_pad_size) || !d.ReadU32(&a->max_request_size) ||
      !d.ReadU32(&a->max_response_size) || !d.ReadU32(&a->max_response_size_cached) ||
      !d.ReadU32(&a->max_operations) || !d.ReadU32(&a->max_requests) || !d.ReadArrayLength(1, &n)) {
    return false;
  }
  if (n == 1) {
    uint32_t ird = 0;
    if (!d.ReadU32(&ird)) return false;
    a->rdma_ird = ird;
  }
  return true;
}

void EncodeChannelAttrs(xdr::Encoder& e, const ChannelAttrs& a) {
  e.WriteU32(a.header_pad_size);
  e.WriteU32(a.max_request_size);
  e.WriteU32(a.max_response_size);
  e.WriteU32(a.max_response_size_cached);
  e.WriteU32(a.max_operations);
  e.WriteU32(a.max_requests);
  e.WriteU32(a.rdma_ird ? 1 : 0);
  if (a.rdma_ird) e.WriteU32(*a.rdma_ird);
}

bool DecodeCallbackSecParms(xdr::Decoder& d, CallbackSec* cb) {
  uint32_t n = 0;
  if (!d.ReadArrayLength(kMaxSecParms, &n)) return false;
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t flavor = 0;
    if (!d.ReadU32(&flavor)) return false;
    if (flavor == kAuthNone) {
      if (!cb->usable) {
        cb->usable = true;
        cb->flavor = rpc::AuthFlavor::kNone;
      }
    } else if (flavor == kAuthSys) {
      rpc::AuthSys sys;
      if (!DecodeAuthSys(d, &sys)) return false;
      if (!cb->usable) {
        cb->usable = true;
        cb->flavor = rpc::AuthFlavor::kSys;
        cb->sys = std::move(sys);
      }
    } else if (flavor == kRpcSecGss) {
      uint32_t service = 0;
      ByteView h1, h2;
      if (!d.ReadU32(&service) || !d.ReadOpaque(kNfs4OpaqueLimit, &h1) ||
          !d.ReadOpaque(kNfs4OpaqueLimit, &h2)) {
        return false;
      }
    } else {
      d.Fail();
      return false;
    }
  }
  return true;
}

bool DecodeCreateSessionArgs(xdr::Decoder& d, CreateSessionArgs* a) {
  return d.ReadU64(&a->clientid) && d.ReadU32(&a->sequence) && d.ReadU32(&a->flags) &&
         DecodeChannelAttrs(d, &a->fore) && DecodeChannelAttrs(d, &a->back) &&
         d.ReadU32(&a->cb.program) && DecodeCallbackSecParms(d, &a->cb);
}

bool DecodeSequenceArgs(xdr::Decoder& d, SequenceArgs* a) {
  return ReadSessionId(d, &a->sessionid) && d.ReadU32(&a->sequenceid) && d.ReadU32(&a->slotid) &&
         d.ReadU32(&a->highest_slotid) && d.ReadBool(&a->cache_this);
}

bool DecodeSetClientIdArgs(xdr::Decoder& d, SetClientIdArgs* a) {
  return ReadVerifier(d, &a->verifier) && d.ReadOpaque(kNfs4OpaqueLimit, &a->id) &&
         d.ReadU32(&a->cb_program) && d.ReadString(kNfs4OpaqueLimit, &a->r_netid) &&
         d.ReadString(kNfs4OpaqueLimit, &a->r_addr) && d.ReadU32(&a->callback_ident);
}

bool DecodeOpenArgs(xdr::Decoder& d, OpenArgs* a) {
  uint32_t opentype = 0;
  if (!d.ReadU32(&a->seqid) || !d.ReadU32(&a->share_access) || !d.ReadU32(&a->share_deny) ||
      !d.ReadU64(&a->clientid) || !d.ReadOpaque(kNfs4OpaqueLimit, &a->owner) ||
      !d.ReadU32(&opentype)) {
    return false;
  }
  if (opentype > 1) {
    d.Fail();
    return false;
  }
  a->create = opentype == 1;
  if (a->create) {
    uint32_t mode = 0;
    if (!d.ReadU32(&mode)) return false;
    a->create_mode = static_cast<CreateMode>(mode);
    Fattr attrs;
    switch (a->create_mode) {
      case CreateMode::kUnchecked:
      case CreateMode::kGuarded:
        if (!DecodeFattr(d, &attrs)) return false;
        break;
      case CreateMode::kExclusive:
        if (!ReadVerifier(d, &a->create_verifier)) return false;
        break;
      case CreateMode::kExclusive41:
        if (!ReadVerifier(d, &a->create_verifier) || !DecodeFattr(d, &attrs)) return false;
        break;
      default:
        d.Fail();
        return false;
    }
    a->create_mask = attrs.mask;
    a->create_values.assign(attrs.values.begin(), attrs.values.end());
  }
  uint32_t claim = 0;
  if (!d.ReadU32(&claim)) return false;
  a->claim = static_cast<ClaimType>(claim);
  StateId& sid = a->deleg_stateid;
  uint32_t deleg_type = 0;
  switch (a->claim) {
    case ClaimType::kNull:
    case ClaimType::kDelegatePrev:
      return d.ReadString(kNfs4OpaqueLimit * 4, &a->name);
    case ClaimType::kPrevious:
      return d.ReadU32(&deleg_type);
    case ClaimType::kDelegateCur:
      return ReadClaimStateId(d, &sid) && d.ReadString(kNfs4OpaqueLimit * 4, &a->name);
    case ClaimType::kFh:
    case ClaimType::kDelegPrevFh:
      return true;
    case ClaimType::kDelegCurFh:
      return ReadClaimStateId(d, &sid);
  }
  d.Fail();
  return false;
}

}  // namespace bucketfs::nfs
