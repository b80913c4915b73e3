// Filehandle and name-space operations: PUTROOTFH, PUTPUBFH, PUTFH, GETFH, SAVEFH, RESTOREFH,
// LOOKUP, LOOKUPP, SECINFO, SECINFO_NO_NAME.
#include "base/log.h"
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"

namespace bucketfs::nfs {
namespace {

void SetCurrent(OpContext& ctx, const FileHandle& fh) {
  ctx.current_fh = fh;
  ctx.current_stateid.reset();  // RFC 8881 §16.2.3.1.2: a new current fh clears the stateid
}

constexpr uint32_t kAuthNone = 0;
constexpr uint32_t kAuthSys = 1;

// SECINFO4resok: the flavors every export accepts, strongest first.
void WriteSecInfo(xdr::Encoder& res) {
  res.WriteU32(2);
  res.WriteU32(kAuthSys);
  res.WriteU32(kAuthNone);
}

// Checks that the current object is a directory a name can be looked up in.
Stat CheckLookupDir(const Object& dir) {
  if (dir.attr.type == vfs::FileType::kSymlink) return Stat::kSymlink;
  if (!dir.is_dir()) return Stat::kNotDir;
  return Stat::kOk;
}

}  // namespace

// PUTROOTFH: RFC 7530 §16.22, RFC 8881 §18.21.
Awaitable<Stat> OpPutRootFh(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  SetCurrent(ctx, FileHandle{0, kPseudoRootIno, 0});
  co_return Stat::kOk;
}

// PUTPUBFH: RFC 7530 §16.21, RFC 8881 §18.20. The public fh is the pseudo root.
Awaitable<Stat> OpPutPubFh(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  SetCurrent(ctx, FileHandle{0, kPseudoRootIno, 0});
  co_return Stat::kOk;
}

// PUTFH: RFC 7530 §16.20, RFC 8881 §18.19.
Awaitable<Stat> OpPutFh(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  ByteView wire;
  if (!args.ReadOpaque(kNfs4FhSize, &wire)) co_return Stat::kBadXdr;
  auto decoded = Server(ctx).options().handle_key.Decode(wire);
  if (!decoded.fh) {
    BFS_LOG_DEBUG("PUTFH of a {}-byte handle that is not ours ({})", wire.size(),
                  decoded.error == HandleKey::DecodeError::kForged ? "tag mismatch" : "malformed");
    // A well-formed handle we did not mint under our key is not "ours any more": STALE, which
    // lets clients fall back to looking the path up again.
    co_return decoded.error == HandleKey::DecodeError::kForged ? Stat::kStale : Stat::kBadHandle;
  }
  const auto& fh = decoded.fh;
  if (!fh->IsPseudo() && !Server(ctx).exports().FindById(fh->export_id)) co_return Stat::kStale;
  SetCurrent(ctx, *fh);
  co_return Stat::kOk;
}

// GETFH: RFC 7530 §16.8, RFC 8881 §18.8.
Awaitable<Stat> OpGetFh(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  res.WriteOpaque(Server(ctx).options().handle_key.Encode(*ctx.current_fh));
  co_return Stat::kOk;
}

// SAVEFH: RFC 7530 §16.30, RFC 8881 §18.28.
Awaitable<Stat> OpSaveFh(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  ctx.saved_fh = ctx.current_fh;
  ctx.saved_stateid = ctx.current_stateid;
  co_return Stat::kOk;
}

// RESTOREFH: RFC 7530 §16.29, RFC 8881 §18.27.
Awaitable<Stat> OpRestoreFh(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  if (!ctx.saved_fh) co_return Stat::kRestoreFh;
  ctx.current_fh = ctx.saved_fh;
  ctx.current_stateid = ctx.saved_stateid;
  co_return Stat::kOk;
}

// LOOKUP: RFC 7530 §16.13, RFC 8881 §18.13.
Awaitable<Stat> OpLookup(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  std::string name;
  if (!args.ReadString(kNfs4OpaqueLimit * 4, &name)) co_return Stat::kBadXdr;
  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckLookupDir(dir)) != Stat::kOk) co_return s;
  if ((s = CheckName(name)) != Stat::kOk) co_return s;
  Object child;
  if ((s = co_await LookupChild(ctx, dir, name, &child)) != Stat::kOk) co_return s;
  SetCurrent(ctx, child.fh);
  co_return Stat::kOk;
}

// LOOKUPP: RFC 7530 §16.14, RFC 8881 §18.14.
Awaitable<Stat> OpLookupP(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if (dir.attr.type == vfs::FileType::kSymlink) co_return Stat::kSymlink;
  if (!dir.is_dir()) co_return Stat::kNotDir;
  Object parent;
  if ((s = co_await LookupParent(ctx, dir, &parent)) != Stat::kOk) co_return s;
  SetCurrent(ctx, parent.fh);
  co_return Stat::kOk;
}

// SECINFO: RFC 7530 §16.31, RFC 8881 §18.29 (4.1: consumes the current fh, §2.6.3.1.1.8).
Awaitable<Stat> OpSecInfo(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  std::string name;
  if (!args.ReadString(kNfs4OpaqueLimit * 4, &name)) co_return Stat::kBadXdr;
  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if (!dir.is_dir()) co_return Stat::kNotDir;
  if ((s = CheckName(name)) != Stat::kOk) co_return s;
  Object child;
  if ((s = co_await LookupChild(ctx, dir, name, &child)) != Stat::kOk) co_return s;
  WriteSecInfo(res);
  if (ctx.minor_version >= 1) ctx.current_fh.reset();
  co_return Stat::kOk;
}

// SECINFO_NO_NAME: RFC 8881 §18.45 (consumes the current fh).
Awaitable<Stat> OpSecInfoNoName(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  constexpr uint32_t kStyleCurrentFh = 0;
  constexpr uint32_t kStyleParent = 1;
  uint32_t style = 0;
  if (!args.ReadU32(&style)) co_return Stat::kBadXdr;
  if (style != kStyleCurrentFh && style != kStyleParent) co_return Stat::kBadXdr;
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if (style == kStyleParent) {
    if (!obj.is_dir()) co_return Stat::kNotDir;
    Object parent;
    if ((s = co_await LookupParent(ctx, obj, &parent)) != Stat::kOk) co_return s;
  }
  WriteSecInfo(res);
  ctx.current_fh.reset();
  co_return Stat::kOk;
}

}  // namespace bucketfs::nfs
