// Name-space mutations: CREATE, REMOVE, RENAME, LINK.
#include "nfs/nfs_server.h"
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "nfs/state.h"

namespace bucketfs::nfs {
namespace {

// nfs_ftype4 (RFC 7530 §3.2).
constexpr uint32_t kNf4Dir = 2;
constexpr uint32_t kNf4Blk = 3;
constexpr uint32_t kNf4Chr = 4;
constexpr uint32_t kNf4Lnk = 5;

// The longest symlink target accepted (PATH_MAX).
constexpr std::size_t kMaxLinkText = 4096;

struct CreateArgs {
  uint32_t type = 0;
  std::string linkdata;  // NF4LNK
  std::string name;
  Fattr attrs;
};

// CREATE4args: createtype4 (a union on nfs_ftype4 whose other arms are void), component4, fattr4.
bool DecodeCreateArgs(xdr::Decoder& d, CreateArgs* a) {
  if (!d.ReadU32(&a->type)) return false;
  if (a->type == kNf4Lnk) {
    if (!d.ReadString(d.remaining(), &a->linkdata)) return false;
  } else if (a->type == kNf4Blk || a->type == kNf4Chr) {
    uint32_t major = 0, minor = 0;  // specdata4
    if (!d.ReadU32(&major) || !d.ReadU32(&minor)) return false;
  }
  return d.ReadString(kNfs4OpaqueLimit * 4, &a->name) && DecodeFattr(d, &a->attrs);
}

// Resolves the saved fh (NOFILEHANDLE when there is none) for two-handle ops.
Awaitable<Stat> ResolveSaved(OpContext& ctx, Object* out) {
  if (!ctx.saved_fh) co_return Stat::kNoFileHandle;
  co_return co_await Resolve(ctx, *ctx.saved_fh, out);
}

}  // namespace

// CREATE: RFC 7530 §16.4, RFC 8881 §18.4. Directories and symlinks; regular files are created by
// OPEN, and the special types (block/char devices, sockets, FIFOs) have no representation as
// objects: NFS4ERR_BADTYPE, which RFC 8881 §15.1 defines for a type the server does not support.
Awaitable<Stat> OpCreate(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  CreateArgs a;
  if (!DecodeCreateArgs(args, &a)) co_return Stat::kBadXdr;
  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if (!dir.is_dir()) co_return Stat::kNotDir;
  if ((s = CheckName(a.name)) != Stat::kOk) co_return s;
  if (a.type != kNf4Dir && a.type != kNf4Lnk) co_return Stat::kBadType;
  if (a.type == kNf4Lnk) {
    if (a.linkdata.empty() || !ValidUtf8(a.linkdata)) co_return Stat::kInval;
    if (a.linkdata.size() > kMaxLinkText) co_return Stat::kNameTooLong;
  }
  vfs::SetAttrRequest attrs;
  if ((s = DecodeSetAttrs(a.attrs, ctx.minor_version, &attrs)) != Stat::kOk) co_return s;
  if (attrs.size) co_return Stat::kInval;  // neither a directory nor a symlink has a settable size
  if ((s = CheckMutableDir(ctx, dir)) != Stat::kOk) co_return s;
  if ((s = PrepareCreateAttrs(ctx, &attrs)) != Stat::kOk) co_return s;

  vfs::CreateRequest req;
  req.type = a.type == kNf4Dir ? vfs::FileType::kDirectory : vfs::FileType::kSymlink;
  req.symlink_target = std::move(a.linkdata);
  req.attrs = std::move(attrs);
  auto created = co_await dir.fs().Create(dir.fh.ino, a.name, std::move(req));
  if (!created.ok()) co_return ToNfsStat(created.status());
  WriteChangeInfo(res, dir.attr.change, co_await ChangeAfter(dir, dir.attr.change));
  a.attrs.mask.Encode(res);  // attrset: every createattr was applied by the create
  SetCurrentFh(ctx, FileHandle{dir.exp->id, created->ino, created->generation});
  co_return Stat::kOk;
}

// The delegations other clients hold on `dir`/`name` are recalled first (NFS4ERR_DELAY until they
// are returned); nothing to do when the name does not exist or no delegation is out.
namespace {
Awaitable<Stat> BreakDelegationsOf(OpContext& ctx, const Object& dir, const std::string& name) {
  if (!ctx.server->state().has_delegations()) co_return Stat::kOk;
  Object target;
  if (co_await LookupChild(ctx, dir, name, &target) != Stat::kOk) co_return Stat::kOk;
  co_return StateBreakDelegations(ctx, target.fh);
}
}  // namespace

// REMOVE: RFC 7530 §16.26, RFC 8881 §18.25.
Awaitable<Stat> OpRemove(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  std::string name;
  if (!args.ReadString(kNfs4OpaqueLimit * 4, &name)) co_return Stat::kBadXdr;
  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if (!dir.is_dir()) co_return Stat::kNotDir;
  if ((s = CheckName(name)) != Stat::kOk) co_return s;
  if ((s = CheckMutableDir(ctx, dir)) != Stat::kOk) co_return s;
  if ((s = co_await BreakDelegationsOf(ctx, dir, name)) != Stat::kOk) co_return s;
  Status st = co_await dir.fs().Remove(dir.fh.ino, name);
  if (!st.ok()) co_return ToNfsStat(st);
  WriteChangeInfo(res, dir.attr.change, co_await ChangeAfter(dir, dir.attr.change));
  co_return Stat::kOk;
}

// RENAME: RFC 7530 §16.27, RFC 8881 §18.26. The saved fh is the source directory, the current fh
// the target directory. When both names refer to the same file (the same name, or two links to
// one file) nothing happens and the result is OK (RFC 8881 §18.26.3).
Awaitable<Stat> OpRename(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  std::string oldname, newname;
  if (!args.ReadString(kNfs4OpaqueLimit * 4, &oldname) ||
      !args.ReadString(kNfs4OpaqueLimit * 4, &newname)) {
    co_return Stat::kBadXdr;
  }
  Object src, dst;
  Stat s = co_await ResolveSaved(ctx, &src);
  if (s == Stat::kOk) s = co_await ResolveCurrent(ctx, &dst);
  if (s != Stat::kOk) co_return s;
  if (!src.is_dir() || !dst.is_dir()) co_return Stat::kNotDir;
  if ((s = CheckName(oldname)) != Stat::kOk || (s = CheckName(newname)) != Stat::kOk) {
    co_return s;
  }
  if (!SameFs(src, dst)) co_return Stat::kXdev;
  if ((s = CheckMutableDir(ctx, src)) != Stat::kOk) co_return s;
  if ((s = CheckMutableDir(ctx, dst)) != Stat::kOk) co_return s;
  Object from;
  if ((s = co_await LookupChild(ctx, src, oldname, &from)) != Stat::kOk) co_return s;
  bool same_file = src.fh.ino == dst.fh.ino && oldname == newname;
  if (!same_file) {
    Object to;
    s = co_await LookupChild(ctx, dst, newname, &to);
    if (s == Stat::kOk) {
      same_file = to.fh.ino == from.fh.ino;
    } else if (s != Stat::kNoEnt) {
      co_return s;
    }
  }
  if (!same_file) {
    // Both the file renamed and the one it replaces change under their delegation holders.
    if ((s = StateBreakDelegations(ctx, from.fh)) != Stat::kOk ||
        (s = co_await BreakDelegationsOf(ctx, dst, newname)) != Stat::kOk) {
      co_return s;
    }
    Status st = co_await src.fs().Rename(src.fh.ino, oldname, dst.fh.ino, newname);
    if (!st.ok()) co_return ToNfsStat(st);
  }
  uint64_t src_after = src.attr.change, dst_after = dst.attr.change;
  if (!same_file) {
    src_after = co_await ChangeAfter(src, src.attr.change);
    dst_after = co_await ChangeAfter(dst, dst.attr.change);
  }
  WriteChangeInfo(res, src.attr.change, src_after);  // source_cinfo
  WriteChangeInfo(res, dst.attr.change, dst_after);  // target_cinfo
  co_return Stat::kOk;
}

// LINK: RFC 7530 §16.9, RFC 8881 §18.9. The saved fh is the file, the current fh the directory
// that gets the new name; the current fh stays the directory.
Awaitable<Stat> OpLink(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  std::string name;
  if (!args.ReadString(kNfs4OpaqueLimit * 4, &name)) co_return Stat::kBadXdr;
  Object file, dir;
  Stat s = co_await ResolveSaved(ctx, &file);
  if (s == Stat::kOk) s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if (!dir.is_dir()) co_return Stat::kNotDir;
  if (file.is_dir()) co_return Stat::kIsDir;
  if ((s = CheckName(name)) != Stat::kOk) co_return s;
  if (!SameFs(file, dir)) co_return Stat::kXdev;
  if ((s = CheckMutableDir(ctx, dir)) != Stat::kOk) co_return s;
  if ((s = StateBreakDelegations(ctx, file.fh)) != Stat::kOk) co_return s;  // its nlink changes
  auto linked = co_await dir.fs().Link(file.fh.ino, dir.fh.ino, name);
  if (!linked.ok()) co_return ToNfsStat(linked.status());
  WriteChangeInfo(res, dir.attr.change, co_await ChangeAfter(dir, dir.attr.change));
  co_return Stat::kOk;
}

}  // namespace bucketfs::nfs
