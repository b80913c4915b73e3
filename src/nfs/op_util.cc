#include "nfs/op_util.h"

#include <cstring>

namespace bucketfs::nfs {

bool ValidUtf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    std::size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

Awaitable<Stat> Resolve(OpContext& ctx, const FileHandle& fh, Object* out) {
  out->fh = fh;
  if (fh.IsPseudo()) {
    out->exp = nullptr;
    out->attr = Server(ctx).pseudo().RootAttr();
    co_return Stat::kOk;
  }
  out->exp = Server(ctx).exports().FindById(fh.export_id);
  if (!out->exp) co_return Stat::kStale;
  auto attr = co_await out->exp->fs->GetAttr(fh.ino);
  if (!attr.ok()) {
    Stat s = ToNfsStat(attr.status());
    co_return s == Stat::kNoEnt ? Stat::kStale : s;
  }
  // Another incarnation of the inode number: the file the handle named is gone.
  if (attr->generation != fh.generation) co_return Stat::kStale;
  out->attr = *attr;
  co_return Stat::kOk;
}

Awaitable<Stat> ResolveExportRoot(OpContext& ctx, const vfs::Export& exp, Object* out) {
  auto attr = co_await exp.fs->GetAttr(exp.fs->RootInode());
  if (!attr.ok()) co_return ToNfsStat(attr.status());
  out->exp = Server(ctx).exports().FindById(exp.id);
  if (!out->exp) co_return Stat::kStale;
  out->fh = FileHandle{exp.id, attr->ino, attr->generation};
  out->attr = *attr;
  co_return Stat::kOk;
}

Awaitable<Stat> ResolveCurrent(OpContext& ctx, Object* out) {
  if (!ctx.current_fh) co_return Stat::kNoFileHandle;
  co_return co_await Resolve(ctx, *ctx.current_fh, out);
}

Awaitable<Stat> LookupChild(OpContext& ctx, const Object& dir, const std::string& name,
                            Object* out) {
  if (dir.pseudo()) {
    auto exp = Server(ctx).pseudo().Lookup(name);
    if (!exp) co_return Stat::kNoEnt;
    co_return co_await ResolveExportRoot(ctx, *exp, out);
  }
  auto attr = co_await dir.fs().Lookup(dir.fh.ino, name);
  if (!attr.ok()) co_return ToNfsStat(attr.status());
  out->exp = dir.exp;
  out->fh = FileHandle{dir.exp->id, attr->ino, attr->generation};
  out->attr = *attr;
  co_return Stat::kOk;
}

Awaitable<Stat> LookupParent(OpContext& ctx, const Object& dir, Object* out) {
  if (dir.pseudo()) co_return Stat::kNoEnt;
  if (dir.is_export_root()) {
    co_return co_await Resolve(ctx, FileHandle{0, kPseudoRootIno, 0}, out);
  }
  auto attr = co_await dir.fs().Parent(dir.fh.ino);
  if (!attr.ok()) co_return ToNfsStat(attr.status());
  out->exp = dir.exp;
  out->fh = FileHandle{dir.exp->id, attr->ino, attr->generation};
  out->attr = *attr;
  co_return Stat::kOk;
}

AttrTarget MakeTarget(const Object& obj) {
  AttrTarget t;
  t.fh = obj.fh;
  t.attr = obj.attr;
  if (obj.pseudo()) {
    t.fsid = PseudoFs::RootFsid();
  } else {
    t.fsid = PseudoFs::ExportFsid(obj.exp->id);
    if (obj.is_export_root()) t.mounted_on_fileid = PseudoFs::JunctionFileId(obj.exp->id);
  }
  return t;
}

AttrLimits Limits(const OpContext& ctx) {
  const NfsOptions& o = ctx.server->options();
  AttrLimits l;
  l.minor_version = ctx.minor_version;
  l.lease_seconds = o.lease_seconds;
  l.max_read = o.max_read;
  l.max_write = o.max_write;
  l.handle_key = o.handle_key;
  return l;
}

Awaitable<Stat> FillStats(const Object& obj, const Bitmap& requested, vfs::FsStats* stats,
                          AttrTarget* target) {
  if (!NeedsFsStats(requested)) co_return Stat::kOk;
  if (!obj.pseudo()) {
    auto st = co_await obj.fs().StatFs();
    if (!st.ok()) co_return ToNfsStat(st.status());
    *stats = *st;
  }
  target->stats = stats;
  co_return Stat::kOk;
}

uint32_t CallerUid(const rpc::CallContext& call) {
  return call.flavor == rpc::AuthFlavor::kSys ? call.sys.uid : kNobody;
}

uint32_t CallerGid(const rpc::CallContext& call) {
  return call.flavor == rpc::AuthFlavor::kSys ? call.sys.gid : kNobody;
}

bool IsRoot(const rpc::CallContext& call) {
  return call.flavor == rpc::AuthFlavor::kSys && call.sys.uid == 0;
}

bool InGroup(const rpc::CallContext& call, uint32_t gid) {
  if (call.flavor != rpc::AuthFlavor::kSys) return gid == kNobody;
  if (call.sys.gid == gid) return true;
  for (uint32_t g : call.sys.gids) {
    if (g == gid) return true;
  }
  return false;
}

uint32_t PermBits(const rpc::CallContext& call, const vfs::Attr& attr) {
  if (IsRoot(call)) {
    const bool x = (attr.mode & 0111) != 0 || attr.type == vfs::FileType::kDirectory;
    return kPermRead | kPermWrite | (x ? kPermExec : 0);
  }
  if (CallerUid(call) == attr.uid) return (attr.mode >> 6) & 7;
  if (InGroup(call, attr.gid)) return (attr.mode >> 3) & 7;
  return attr.mode & 7;
}

Stat CheckPerm(const OpContext& ctx, const Object& obj, uint32_t bits, bool owner_override) {
  if (owner_override && CallerUid(*ctx.call) == obj.attr.uid) return Stat::kOk;
  return (PermBits(*ctx.call, obj.attr) & bits) == bits ? Stat::kOk : Stat::kAccess;
}

Stat CheckDataAccess(const OpContext& ctx, const Object& obj, bool write) {
  if (write) return CheckPerm(ctx, obj, kPermWrite, /*owner_override=*/true);
  if (CallerUid(*ctx.call) == obj.attr.uid) return Stat::kOk;
  return (PermBits(*ctx.call, obj.attr) & (kPermRead | kPermExec)) != 0 ? Stat::kOk : Stat::kAccess;
}

Stat CheckSetAttrPerm(const OpContext& ctx, const vfs::Attr& attr,
                      const vfs::SetAttrRequest& request, bool write_open) {
  const rpc::CallContext& call = *ctx.call;
  if (IsRoot(call)) return Stat::kOk;
  const bool owner = CallerUid(call) == attr.uid;
  const bool can_write = (PermBits(call, attr) & kPermWrite) != 0;
  if (request.size && !write_open && !can_write) return Stat::kAccess;
  if ((request.mode || request.atime || request.mtime) && !owner) return Stat::kPerm;
  if (request.uid && *request.uid != attr.uid) return Stat::kPerm;
  if (request.gid && *request.gid != attr.gid && !(owner && InGroup(call, *request.gid))) {
    return Stat::kPerm;
  }
  if ((request.atime_now || request.mtime_now) && !owner && !can_write) return Stat::kAccess;
  return Stat::kOk;
}

Stat PrepareCreateAttrs(const OpContext& ctx, vfs::SetAttrRequest* attrs) {
  vfs::Attr mine;
  mine.uid = CallerUid(*ctx.call);
  mine.gid = CallerGid(*ctx.call);
  if (Stat s = CheckSetAttrPerm(ctx, mine, *attrs, /*write_open=*/true); s != Stat::kOk) return s;
  if (!attrs->uid) attrs->uid = mine.uid;
  if (!attrs->gid) attrs->gid = mine.gid;
  return Stat::kOk;
}

Stat CheckRegularFile(const Object& obj, Stat other, bool dir_too) {
  if (obj.attr.type == vfs::FileType::kRegular) return Stat::kOk;
  if (obj.is_dir() && !dir_too) return Stat::kIsDir;
  return other;
}

Stat CheckMutableDir(const OpContext& ctx, const Object& dir) {
  if (!dir.is_dir()) return Stat::kNotDir;
  if (dir.read_only()) return Stat::kRofs;
  return CheckPerm(ctx, dir, kPermWrite | kPermExec);
}

bool SameFs(const Object& a, const Object& b) {
  if (a.pseudo() || b.pseudo()) return a.pseudo() && b.pseudo();
  return a.exp->id == b.exp->id;
}

void WriteChangeInfo(xdr::Encoder& res, uint64_t before, uint64_t after) {
  res.WriteBool(false);  // atomic: before and after come from two separate GETATTRs
  res.WriteU64(before);
  res.WriteU64(after);
}

Awaitable<uint64_t> ChangeAfter(const Object& dir, uint64_t before) {
  if (dir.pseudo()) co_return before;
  auto attr = co_await dir.fs().GetAttr(dir.fh.ino);
  co_return attr.ok() ? attr->change : before;
}

void SetCurrentFh(OpContext& ctx, const FileHandle& fh) {
  ctx.current_fh = fh;
  ctx.current_stateid.reset();
}

Stat CheckName(std::string_view name) {
  if (name.empty()) return Stat::kInval;
  if (name.size() > 255) return Stat::kNameTooLong;
  if (name == "." || name == "..") return Stat::kBadName;
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return Stat::kBadName;
  }
  if (!ValidUtf8(name)) return Stat::kInval;
  return Stat::kOk;
}

Stat ReadName(xdr::Decoder& args, std::string* name) {
  // Bound the read by the opaque limit; longer names are NAMETOOLONG only if they decode, so
  // accept up to the XDR limit here and check the length after.
  if (!args.ReadString(kNfs4OpaqueLimit * 4, name)) return Stat::kBadXdr;
  return CheckName(*name);
}

bool ReadStateId(xdr::Decoder& in, StateId* out) {
  ByteView other;
  if (!in.ReadU32(&out->seqid) || !in.ReadFixedOpaque(kNfs4OtherSize, &other)) return false;
  std::memcpy(out->other, other.data(), kNfs4OtherSize);
  return true;
}

void WriteStateId(xdr::Encoder& out, const StateId& id) {
  out.WriteU32(id.seqid);
  out.WriteFixedOpaque(ByteView(id.other, kNfs4OtherSize));
}

}  // namespace bucketfs::nfs
