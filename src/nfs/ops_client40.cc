// NFSv4.0 client operations: SETCLIENTID (RFC 7530 §16.33), SETCLIENTID_CONFIRM (§16.34),
// RENEW (§16.28).
#include "nfs/callback.h"
#include "nfs/nfs_server.h"
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "nfs/ops_xdr.h"

namespace bucketfs::nfs {

// SETCLIENTID: RFC 7530 §16.33.
Awaitable<Stat> OpSetClientId(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  SetClientIdArgs a;
  if (!DecodeSetClientIdArgs(args, &a)) co_return Stat::kBadXdr;
  uint64_t clientid = 0;
  Verifier confirm{};
  Stat s = StateSetClientId(ctx, a, &clientid, &confirm);
  if (s == Stat::kClidInUse) {
    // RFC 7530 §16.33.2: CLID_INUSE carries the client address of the existing record; we do
    // not keep it, so report the one given.
    res.WriteString(a.r_netid);
    res.WriteString(a.r_addr);
  }
  if (s != Stat::kOk) co_return s;
  res.WriteU64(clientid);
  WriteVerifier(res, confirm);
  co_return Stat::kOk;
}

// SETCLIENTID_CONFIRM: RFC 7530 §16.34.
Awaitable<Stat> OpSetClientIdConfirm(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  Verifier confirm{};
  if (!args.ReadU64(&clientid) || !ReadVerifier(args, &confirm)) co_return Stat::kBadXdr;
  Stat s = StateSetClientIdConfirm(ctx, clientid, confirm);
  if (s != Stat::kOk) co_return s;
  // The callback path (new, or changed by this confirm) is probed with CB_NULL before the
  // client gets delegations (RFC 7530 §16.33.4).
  if (ctx.server->options().delegations) ctx.server->callbacks().Probe(clientid);
  co_await PersistClientRecord(ctx, clientid);
  co_return s;
}

// RENEW: RFC 7530 §16.28.
Awaitable<Stat> OpRenew(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  if (!args.ReadU64(&clientid)) co_return Stat::kBadXdr;
  co_return StateRenew(ctx, clientid);
}

}  // namespace bucketfs::nfs
