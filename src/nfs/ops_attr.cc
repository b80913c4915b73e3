// Attribute operations: GETATTR, ACCESS, VERIFY, NVERIFY.
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"

namespace bucketfs::nfs {
namespace {

// ACCESS4_* bits (RFC 7530 §16.1).
constexpr uint32_t kAccessRead = 0x01;
constexpr uint32_t kAccessLookup = 0x02;
constexpr uint32_t kAccessModify = 0x04;
constexpr uint32_t kAccessExtend = 0x08;
constexpr uint32_t kAccessDelete = 0x10;
constexpr uint32_t kAccessExecute = 0x20;
constexpr uint32_t kAccessAll = 0x3f;

// Which of `requested` the caller gets on `obj` (RFC 8881 §18.1.3).
uint32_t GrantAccess(const rpc::CallContext& call, const Object& obj, uint32_t requested) {
  const uint32_t perm = PermBits(call, obj.attr);
  const bool r = perm & kPermRead, w = perm & kPermWrite, x = perm & kPermExec;
  uint32_t granted = 0;
  if (r) granted |= kAccessRead;
  if (obj.is_dir()) {
    if (x) granted |= kAccessLookup;
    if (w) granted |= kAccessModify | kAccessExtend | kAccessDelete;
  } else {
    if (x) granted |= kAccessExecute;
    if (w) granted |= kAccessModify | kAccessExtend;
  }
  if (obj.read_only()) granted &= ~(kAccessModify | kAccessExtend | kAccessDelete);
  return granted & requested;
}

// Encodes the object's values for `fattr.mask` and compares them with the client's. Sets *same.
Awaitable<Stat> CompareAttrs(OpContext& ctx, const Fattr& fattr, bool* same) {
  // RFC 7530 §16.35.4 / RFC 8881 §18.31.3: rdattr_error and the write-only time_*_set
  // attributes cannot be compared.
  if (fattr.mask.Test(fattr::kRdattrError) || HasWriteOnlyAttrs(fattr.mask)) {
    co_return Stat::kInval;
  }
  if (!fattr.mask.IsSubsetOf(SupportedAttrs(ctx.minor_version))) co_return Stat::kAttrNotSupp;
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  AttrTarget target = MakeTarget(obj);
  vfs::FsStats stats;
  if ((s = co_await FillStats(obj, fattr.mask, &stats, &target)) != Stat::kOk) co_return s;
  Bytes ours = EncodeAttrValues(fattr.mask, target, Limits(ctx));
  *same = ours.size() == fattr.values.size() &&
          std::equal(ours.begin(), ours.end(), fattr.values.begin());
  co_return Stat::kOk;
}

}  // namespace

// GETATTR: RFC 7530 §16.7, RFC 8881 §18.7.
Awaitable<Stat> OpGetAttr(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  Bitmap requested;
  if (!requested.Decode(args)) co_return Stat::kBadXdr;
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if (HasWriteOnlyAttrs(requested)) co_return Stat::kInval;
  // A delegation being recalled for a change in the bucket: the holder keeps seeing the change
  // attribute of the grant until it returned it (StateManager::BreakDelegations).
  if (auto pinned = StatePinnedChange(ctx, obj)) obj.attr.change = *pinned;
  AttrTarget target = MakeTarget(obj);
  vfs::FsStats stats;
  if ((s = co_await FillStats(obj, requested, &stats, &target)) != Stat::kOk) co_return s;
  EncodeFattr(requested, target, Limits(ctx), res);
  co_return Stat::kOk;
}

// ACCESS: RFC 7530 §16.1, RFC 8881 §18.1.
Awaitable<Stat> OpAccess(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint32_t requested = 0;
  if (!args.ReadU32(&requested)) co_return Stat::kBadXdr;
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  // RFC 8881 §18.1.3: LOOKUP and DELETE mean something for directories only, EXECUTE for
  // everything else; `supported` leaves out the bits with no meaning for the object's type.
  const uint32_t meaningful =
      obj.is_dir() ? kAccessAll & ~kAccessExecute : kAccessAll & ~(kAccessLookup | kAccessDelete);
  const uint32_t supported = requested & meaningful;
  res.WriteU32(supported);
  res.WriteU32(GrantAccess(*ctx.call, obj, supported));
  co_return Stat::kOk;
}

// VERIFY: RFC 7530 §16.35, RFC 8881 §18.31.
Awaitable<Stat> OpVerify(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  Fattr fattr;
  if (!DecodeFattr(args, &fattr)) co_return Stat::kBadXdr;
  bool same = false;
  Stat s = co_await CompareAttrs(ctx, fattr, &same);
  if (s != Stat::kOk) co_return s;
  co_return same ? Stat::kOk : Stat::kNotSame;
}

// NVERIFY: RFC 7530 §16.15, RFC 8881 §18.15.
Awaitable<Stat> OpNVerify(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  Fattr fattr;
  if (!DecodeFattr(args, &fattr)) co_return Stat::kBadXdr;
  bool same = false;
  Stat s = co_await CompareAttrs(ctx, fattr, &same);
  if (s != Stat::kOk) co_return s;
  co_return same ? Stat::kSame : Stat::kOk;
}

}  // namespace bucketfs::nfs
