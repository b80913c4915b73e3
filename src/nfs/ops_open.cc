// Open state operations: OPEN, OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE, TEST_STATEID, FREE_STATEID,
// DELEGRETURN, DELEGPURGE. Read-only slice: only OPEN4_SHARE_ACCESS_READ without create.
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "nfs/ops_xdr.h"

namespace bucketfs::nfs {
namespace {

// Resolves the file an OPEN names: CLAIM_NULL looks `name` up in the current directory, CLAIM_FH
// (4.1) opens the current fh.
Awaitable<Stat> OpenTarget(OpContext& ctx, const OpenArgs& a, Object* file) {
  Object cur;
  Stat s = co_await ResolveCurrent(ctx, &cur);
  if (s != Stat::kOk) co_return s;
  if (a.claim == ClaimType::kFh) {
    *file = cur;
    co_return Stat::kOk;
  }
  if (cur.attr.type == vfs::FileType::kSymlink) co_return Stat::kSymlink;
  if (!cur.is_dir()) co_return Stat::kNotDir;
  if ((s = CheckName(a.name)) != Stat::kOk) co_return s;
  co_return co_await LookupChild(ctx, cur, a.name, file);
}

void WriteDelegation(const OpContext& ctx, uint32_t share_access, xdr::Encoder& res) {
  const uint32_t want = share_access & kShareWantMask;
  if (ctx.minor_version == 0 || want == kShareWantNoPreference) {
    res.WriteU32(kOpenDelegateNone);
    return;
  }
  // 4.1 client stated a preference (RFC 8881 §18.16.3): say why there is no delegation.
  res.WriteU32(kOpenDelegateNoneExt);
  if (want == kShareWantNoDeleg || want == kShareWantCancel) {
    res.WriteU32(kWnd4NotWanted);
  } else {
    res.WriteU32(kWnd4Resource);
    res.WriteBool(false);  // ond_server_will_signal_avail
  }
}

}  // namespace

// OPEN: RFC 7530 §16.16, RFC 8881 §18.16.
Awaitable<Stat> OpOpen(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  OpenArgs a;
  if (!DecodeOpenArgs(args, &a)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  const uint32_t access = a.share_access & kShareAccessMask;
  if (access == 0 || (a.share_deny & ~kShareDenyMask) != 0) co_return Stat::kInval;
  if (ctx.minor_version == 0 && (a.share_access & ~kShareAccessMask) != 0) co_return Stat::kInval;
  switch (a.claim) {
    case ClaimType::kNull:
      break;
    case ClaimType::kFh:
      if (ctx.minor_version == 0) co_return Stat::kInval;
      break;
    case ClaimType::kPrevious:
      co_return Stat::kNoGrace;  // no reclaimable state yet
    default:
      co_return Stat::kNotSupp;  // delegation claims: we never grant delegations
  }
  if (a.create || (access & kShareAccessWrite) != 0) co_return Stat::kRofs;

  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  Object file;
  if ((s = co_await OpenTarget(ctx, a, &file)) != Stat::kOk) co_return s;
  if (file.is_dir()) co_return Stat::kIsDir;
  if (file.attr.type == vfs::FileType::kSymlink) co_return Stat::kSymlink;
  // Close-to-open consistency: revalidate the file against the backing store.
  auto fresh = co_await file.fs().Open(file.fh.ino);
  if (!fresh.ok()) co_return ToNfsStat(fresh.status());
  file.attr = *fresh;

  StateId stateid;
  bool confirm = false;
  if ((s = StateOpen(ctx, a, file, &stateid, &confirm)) != Stat::kOk) co_return s;
  WriteStateId(res, stateid);
  // change_info4: nothing changed in the directory.
  res.WriteBool(true);
  res.WriteU64(dir.attr.change);
  res.WriteU64(dir.attr.change);
  res.WriteU32(kOpen4ResultLocktypePosix | (confirm ? kOpen4ResultConfirm : 0));
  Bitmap().Encode(res);  // attrset
  WriteDelegation(ctx, a.share_access, res);
  ctx.current_fh = file.fh;
  ctx.current_stateid = stateid;
  co_return Stat::kOk;
}

// OPEN_CONFIRM: RFC 7530 §16.18.
Awaitable<Stat> OpOpenConfirm(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid, out;
  uint32_t seqid = 0;
  if (!ReadStateId(args, &sid) || !args.ReadU32(&seqid)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  Stat s = StateOpenConfirm(ctx, sid, seqid, &out);
  if (s != Stat::kOk) co_return s;
  WriteStateId(res, out);
  co_return Stat::kOk;
}

// OPEN_DOWNGRADE: RFC 7530 §16.19, RFC 8881 §18.18.
Awaitable<Stat> OpOpenDowngrade(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid, out;
  uint32_t seqid = 0, access = 0, deny = 0;
  if (!ReadStateId(args, &sid) || !args.ReadU32(&seqid) || !args.ReadU32(&access) ||
      !args.ReadU32(&deny)) {
    co_return Stat::kBadXdr;
  }
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  Stat s = StateOpenDowngrade(ctx, sid, seqid, access, deny, &out);
  if (s != Stat::kOk) co_return s;
  WriteStateId(res, out);
  co_return Stat::kOk;
}

// CLOSE: RFC 7530 §16.2, RFC 8881 §18.2.
Awaitable<Stat> OpClose(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid, out;
  uint32_t seqid = 0;
  if (!args.ReadU32(&seqid) || !ReadStateId(args, &sid)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  Stat s = StateClose(ctx, sid, seqid, &out);
  if (s != Stat::kOk) co_return s;
  WriteStateId(res, out);
  co_return Stat::kOk;
}

// TEST_STATEID: RFC 8881 §18.48.
Awaitable<Stat> OpTestStateId(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint32_t n = 0;
  if (!args.ReadArrayLength(1024, &n, 16)) co_return Stat::kBadXdr;
  std::vector<StateId> ids(n);
  for (auto& id : ids) {
    if (!ReadStateId(args, &id)) co_return Stat::kBadXdr;
  }
  res.WriteU32(n);
  for (const auto& id : ids) res.WriteU32(static_cast<uint32_t>(StateTestStateId(ctx, id)));
  co_return Stat::kOk;
}

// FREE_STATEID: RFC 8881 §18.38.
Awaitable<Stat> OpFreeStateId(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid;
  if (!ReadStateId(args, &sid)) co_return Stat::kBadXdr;
  co_return StateFreeStateId(ctx, sid);
}

// DELEGRETURN: RFC 7530 §16.6, RFC 8881 §18.6. No delegation is ever granted.
Awaitable<Stat> OpDelegReturn(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid;
  if (!ReadStateId(args, &sid)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return Stat::kBadStateId;
}

// DELEGPURGE: RFC 7530 §16.5, RFC 8881 §18.5. No CLAIM_DELEGATE_PREV support.
Awaitable<Stat> OpDelegPurge(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  if (!args.ReadU64(&clientid)) co_return Stat::kBadXdr;
  co_return Stat::kNotSupp;
}

}  // namespace bucketfs::nfs
