#include "nfs/op_util.h"

#include <cstring>

namespace bucketfs::nfs {
namespace {

// Structural UTF-8 check (RFC 3629): no overlongs, surrogates or code points past U+10FFFF.
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

}  // namespace

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
