// Open state operations: OPEN (with OPEN4_CREATE), OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE,
// TEST_STATEID, FREE_STATEID, DELEGRETURN, DELEGPURGE.
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
  // CLAIM_FH (4.1), CLAIM_PREVIOUS (a reclaim after a restart) and CLAIM_DELEG_CUR_FH (an open
  // made under a delegation being returned) name the file itself.
  if (a.claim == ClaimType::kFh || a.claim == ClaimType::kPrevious ||
      a.claim == ClaimType::kDelegCurFh) {
    *file = cur;
    co_return Stat::kOk;
  }
  if (cur.attr.type == vfs::FileType::kSymlink) co_return Stat::kSymlink;
  if (!cur.is_dir()) co_return Stat::kNotDir;
  if ((s = CheckName(a.name)) != Stat::kOk) co_return s;
  co_return co_await LookupChild(ctx, cur, a.name, file);
}

// What an OPEN4_CREATE found or did.
struct OpenOutcome {
  bool created = false;   // a new file (or an exclusive create's retransmission)
  bool truncate = false;  // UNCHECKED4 with size 0 found an existing file
  Bitmap attrset;         // the createattrs applied (OPEN4resok attrset)
};

// createattrs of UNCHECKED4, GUARDED4 and EXCLUSIVE4_1 (EXCLUSIVE4 has none: the verifier is
// kept by the file system, not in an attribute, so its attrset stays empty).
Stat DecodeCreateAttrs(const OpContext& ctx, const OpenArgs& a, vfs::SetAttrRequest* attrs,
                       Bitmap* attrset) {
  if (a.create_mode == CreateMode::kExclusive) return Stat::kOk;
  Fattr f{a.create_mask, a.create_values};
  if (Stat s = DecodeSetAttrs(f, ctx.minor_version, attrs); s != Stat::kOk) return s;
  // EXCLUSIVE4_1 takes what suppattr_exclcreat lists (RFC 8881 §18.16.3); DecodeSetAttrs already
  // refused anything outside it.
  *attrset = a.create_mask;
  return Stat::kOk;
}

uint64_t VerifierValue(const Verifier& v) {
  uint64_t x = 0;
  for (uint8_t b : v) x = (x << 8) | b;
  return x;
}

// OPEN4_CREATE (RFC 7530 §16.16.4, RFC 8881 §18.16.3): UNCHECKED4 creates `a.name` or opens the
// existing regular file (createattrs then not applied, except that size 0 truncates); GUARDED4
// fails with EXIST when the name exists; EXCLUSIVE4/EXCLUSIVE4_1 create with a verifier, and the
// file system answers a retransmission (same verifier) with the file it created.
Awaitable<Stat> CreateOrFind(OpContext& ctx, const OpenArgs& a, const Object& dir,
                             vfs::SetAttrRequest attrs, Object* file, OpenOutcome* out) {
  const bool exclusive =
      a.create_mode == CreateMode::kExclusive || a.create_mode == CreateMode::kExclusive41;
  const bool truncate_existing = attrs.size && *attrs.size == 0;
  auto use_existing = [&](const Object& found) {
    *file = found;
    out->created = false;
    out->truncate = truncate_existing;
    out->attrset = Bitmap();
  };
  if (!exclusive) {
    Object found;
    Stat s = co_await LookupChild(ctx, dir, a.name, &found);
    if (s == Stat::kOk) {
      if (a.create_mode == CreateMode::kGuarded) co_return Stat::kExist;
      use_existing(found);
      co_return Stat::kOk;
    }
    if (s != Stat::kNoEnt) co_return s;
  }
  Stat s = CheckMutableDir(ctx, dir);
  if (s == Stat::kOk) s = PrepareCreateAttrs(ctx, &attrs);
  if (s != Stat::kOk) co_return s;
  // A non-zero initial size is applied after the create (vfs creates empty files).
  std::optional<uint64_t> size;
  if (attrs.size && *attrs.size != 0) size = attrs.size;
  attrs.size.reset();
  vfs::CreateRequest req;
  req.type = vfs::FileType::kRegular;
  req.attrs = std::move(attrs);
  if (exclusive) req.verifier = VerifierValue(a.create_verifier);
  auto created = co_await dir.fs().Create(dir.fh.ino, a.name, req);
  if (!created.ok()) {
    if (created.status().code() != ErrorCode::kExists || exclusive ||
        a.create_mode == CreateMode::kGuarded) {
      co_return ToNfsStat(created.status());
    }
    // UNCHECKED4: created by someone else since the lookup; open that file.
    Object found;
    if ((s = co_await LookupChild(ctx, dir, a.name, &found)) != Stat::kOk) co_return s;
    use_existing(found);
    co_return Stat::kOk;
  }
  file->exp = dir.exp;
  file->fh = FileHandle{dir.exp->id, created->ino, created->generation};
  file->attr = *created;
  out->created = true;
  // (An exclusive create's retransmission returns the file as it is now: leave its size alone.)
  if (size && created->size == 0) {
    vfs::SetAttrRequest grow;
    grow.size = size;
    auto attr = co_await dir.fs().SetAttr(file->fh.ino, grow);
    if (!attr.ok()) co_return ToNfsStat(attr.status());
    file->attr = *attr;
  }
  co_return Stat::kOk;
}

void WriteDelegation(const OpContext& ctx, uint32_t share_access,
                     const std::optional<StateId>& deleg, xdr::Encoder& res) {
  if (deleg) {
    // open_read_delegation4 (RFC 8881 §18.16.1): not being recalled, and an ACE that promises
    // nothing (the client keeps asking ACCESS).
    res.WriteU32(kOpenDelegateRead);
    WriteStateId(res, *deleg);
    res.WriteBool(false);  // recall
    res.WriteU32(0);       // ACE4_ACCESS_ALLOWED_ACE_TYPE
    res.WriteU32(0);       // flags
    res.WriteU32(0);       // access mask
    res.WriteString("");   // who
    return;
  }
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

// OPEN after decoding (OpOpen).
Awaitable<Stat> OpenDecoded(OpContext& ctx, const OpenArgs& a, xdr::Encoder& res) {
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  const uint32_t access = a.share_access & kShareAccessMask;
  if (access == 0 || (a.share_deny & ~kShareDenyMask) != 0) co_return Stat::kInval;
  if (ctx.minor_version == 0 && (a.share_access & ~kShareAccessMask) != 0) co_return Stat::kInval;
  // EXCLUSIVE4_1 is not a createmode4 of 4.0 (RFC 7530 §16.16.1): an unknown union arm.
  if (a.create && a.create_mode == CreateMode::kExclusive41 && ctx.minor_version == 0) {
    co_return Stat::kBadXdr;
  }
  switch (a.claim) {
    case ClaimType::kNull:
      break;
    case ClaimType::kFh:
      if (ctx.minor_version == 0) co_return Stat::kInval;
      if (a.create) co_return Stat::kInval;  // CLAIM_FH opens an existing file
      break;
    case ClaimType::kPrevious:
      // Reclaim of an open held before the gateway restarted (RFC 7530 §9.6.2, RFC 8881
      // §8.4.2.1): allowed during the grace period to clients the previous instance recorded
      // (StateManager::Open). Delegations do not survive a restart, so none is reclaimed.
      if (a.create) co_return Stat::kInval;
      break;
    case ClaimType::kDelegateCur:
    case ClaimType::kDelegCurFh:
      // An open the client made locally under its delegation, sent while returning it
      // (RFC 8881 §10.2.1): checked against the delegation once the file is known.
      if (a.create) co_return Stat::kInval;
      if (ctx.minor_version == 0 && a.claim == ClaimType::kDelegCurFh) co_return Stat::kInval;
      break;
    default:
      // CLAIM_DELEGATE_PREV / CLAIM_DELEG_PREV_FH: delegations do not survive a client restart.
      co_return Stat::kNotSupp;
  }
  const bool write = (access & kShareAccessWrite) != 0;

  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  Object file;
  OpenOutcome outcome;
  if (a.create) {
    if (dir.attr.type == vfs::FileType::kSymlink) co_return Stat::kSymlink;
    if (!dir.is_dir()) co_return Stat::kNotDir;
    if ((s = CheckName(a.name)) != Stat::kOk) co_return s;
    vfs::SetAttrRequest attrs;
    if ((s = DecodeCreateAttrs(ctx, a, &attrs, &outcome.attrset)) != Stat::kOk) co_return s;
    if (dir.read_only()) co_return Stat::kRofs;
    // Fail on the client or the open-owner seqid before anything is created.
    if ((s = StateCheckOpen(ctx, a, nullptr)) != Stat::kOk) co_return s;
    if ((s = co_await CreateOrFind(ctx, a, dir, std::move(attrs), &file, &outcome)) != Stat::kOk) {
      co_return s;
    }
  } else if ((s = co_await OpenTarget(ctx, a, &file)) != Stat::kOk) {
    co_return s;
  }
  if (file.is_dir()) co_return Stat::kIsDir;
  if (file.attr.type == vfs::FileType::kSymlink) co_return Stat::kSymlink;
  if (!outcome.created) {
    if (write && file.read_only()) co_return Stat::kRofs;
    // Read is granted by read or execute permission (a client opens a file to execute it).
    const uint32_t perm = PermBits(*ctx.call, file.attr);
    if ((access & kShareAccessRead) != 0 && (perm & (kPermRead | kPermExec)) == 0 &&
        CallerUid(*ctx.call) != file.attr.uid) {
      co_return Stat::kAccess;
    }
    if (write && (s = CheckPerm(ctx, file, kPermWrite, /*owner_override=*/true)) != Stat::kOk) {
      co_return s;
    }
    // Close-to-open consistency: revalidate the file against the backing store.
    auto fresh = co_await file.fs().Open(file.fh.ino);
    if (!fresh.ok()) co_return ToNfsStat(fresh.status());
    file.attr = *fresh;
    if (a.claim == ClaimType::kDelegateCur || a.claim == ClaimType::kDelegCurFh) {
      if ((s = StateCheckDelegCur(ctx, a, file)) != Stat::kOk) co_return s;
    }
    // Writing (or denying reads to others) conflicts with other clients' read delegations.
    if ((write || (a.share_deny & kShareDenyRead) != 0) &&
        (s = StateBreakDelegations(ctx, file.fh)) != Stat::kOk) {
      co_return s;
    }
  }
  if (outcome.truncate) {
    // RFC 8881 §18.16.3: UNCHECKED4 with size 0 on an existing file truncates it, which only an
    // open for writing may do (as Linux nfsd). Check share reservations first: a DENY_WRITE
    // holder must not see its file truncated by an OPEN that then fails.
    if (!write) co_return Stat::kInval;
    if ((s = StateCheckOpen(ctx, a, &file)) != Stat::kOk) co_return s;
    vfs::SetAttrRequest trunc;
    trunc.size = 0;
    auto attr = co_await file.fs().SetAttr(file.fh.ino, trunc);
    if (!attr.ok()) co_return ToNfsStat(attr.status());
    file.attr = *attr;
    outcome.attrset.Set(fattr::kSize);
  }

  StateId stateid;
  bool confirm = false;
  if ((s = StateOpen(ctx, a, file, &stateid, &confirm)) != Stat::kOk) co_return s;
  std::optional<StateId> deleg;
  if (!outcome.created) deleg = StateOfferDelegation(ctx, a, file, confirm);
  WriteStateId(res, stateid);
  if (outcome.created) {
    WriteChangeInfo(res, dir.attr.change, co_await ChangeAfter(dir, dir.attr.change));
  } else {
    // Nothing changed in the directory.
    res.WriteBool(true);
    res.WriteU64(dir.attr.change);
    res.WriteU64(dir.attr.change);
  }
  res.WriteU32(kOpen4ResultLocktypePosix | (confirm ? kOpen4ResultConfirm : 0));
  outcome.attrset.Encode(res);
  WriteDelegation(ctx, a.share_access, deleg, res);
  ctx.current_fh = file.fh;
  ctx.current_stateid = stateid;
  co_return Stat::kOk;
}

}  // namespace

// OPEN: RFC 7530 §16.16, RFC 8881 §18.16.
Awaitable<Stat> OpOpen(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  OpenArgs a;
  if (!DecodeOpenArgs(args, &a)) co_return Stat::kBadXdr;
  if (auto replayed = StateReplay40(ctx, SeqidOwner{false, a.clientid, a.owner, a.seqid}, res)) {
    co_return *replayed;
  }
  Stat s = co_await OpenDecoded(ctx, a, res);
  // 4.0: an OPEN that failed for any reason but a bad stateid, seqid or the like still used up
  // its open-owner seqid (RFC 7530 §9.1.7), as the client counts it; NOENT is the common case.
  if (s != Stat::kOk && ctx.minor_version == 0 && IsSeqidMutating(s)) {
    StateAdvanceOpenSeqid(ctx, a);
  }
  co_return s;
}

// OPEN_CONFIRM: RFC 7530 §16.18.
Awaitable<Stat> OpOpenConfirm(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid, out;
  uint32_t seqid = 0;
  if (!ReadStateId(args, &sid) || !args.ReadU32(&seqid)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  if (auto replayed = StateReplay40(ctx, sid, false, seqid, res)) co_return *replayed;
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
  if (auto replayed = StateReplay40(ctx, sid, false, seqid, res)) co_return *replayed;
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
  if (auto replayed = StateReplay40(ctx, sid, false, seqid, res)) co_return *replayed;
  bool last_open = false;
  Stat s = StateClose(ctx, sid, seqid, &out, &last_open);
  if (s != Stat::kOk) co_return s;
  WriteStateId(res, out);
  // The last open of the file by any client is gone: tell the file system (a good moment to
  // start uploading what was written).
  if (last_open && !ctx.current_fh->IsPseudo()) {
    if (auto exp = Server(ctx).exports().FindById(ctx.current_fh->export_id)) {
      co_await exp->fs->Closed(ctx.current_fh->ino);
    }
  }
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

// DELEGRETURN: RFC 7530 §16.6, RFC 8881 §18.6.
Awaitable<Stat> OpDelegReturn(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId sid;
  if (!ReadStateId(args, &sid)) co_return Stat::kBadXdr;
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return StateDelegReturn(ctx, sid);
}

// DELEGPURGE: RFC 7530 §16.5, RFC 8881 §18.5. No CLAIM_DELEGATE_PREV support.
Awaitable<Stat> OpDelegPurge(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t clientid = 0;
  if (!args.ReadU64(&clientid)) co_return Stat::kBadXdr;
  co_return Stat::kNotSupp;
}

}  // namespace bucketfs::nfs
