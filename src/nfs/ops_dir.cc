// READDIR (RFC 7530 §16.24, RFC 8881 §18.23) over the pseudo root and export directories.
#include <algorithm>

#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"

namespace bucketfs::nfs {
namespace {

struct ReadDirArgs {
  uint64_t cookie = 0;
  uint64_t verifier = 0;
  uint32_t dircount = 0;
  uint32_t maxcount = 0;
  Bitmap attrs;
};

bool DecodeArgs(xdr::Decoder& d, ReadDirArgs* a) {
  return d.ReadU64(&a->cookie) && d.ReadU64(&a->verifier) && d.ReadU32(&a->dircount) &&
         d.ReadU32(&a->maxcount) && a->attrs.Decode(d);
}

// Bytes of a READDIR4resok besides its entries: cookieverf, the final "no more entries"
// discriminant and eof.
constexpr std::size_t kFixedReplyBytes = 8 + 4 + 4;
// The smallest possible entry4 on the wire (value_follows, cookie, empty name, empty fattr4).
constexpr std::size_t kMinEntryBytes = 4 + 8 + 4 + 4 + 4;

// Accumulates entries into the reply within dircount / maxcount.
class EntryWriter {
 public:
  EntryWriter(const ReadDirArgs& args, xdr::Encoder& res)
      : args_(args), res_(res), start_(res.size()) {}

  // Adds one entry whose fattr4 is already in `fattr`. Returns false when it does not fit.
  bool Add(uint64_t cookie, const std::string& name, const Bytes& fattr) {
    xdr::Encoder e;
    e.WriteBool(true);
    e.WriteU64(cookie);
    e.WriteString(name);
    const std::size_t dir_bytes = e.size() - 4;
    e.WriteRaw(fattr);
    const std::size_t used = res_.size() - start_;
    if (8 + used + e.size() + 8 > args_.maxcount) return false;
    if (args_.dircount != 0 && count_ > 0 && dir_bytes_ + dir_bytes > args_.dircount) return false;
    res_.WriteRaw(e.buffer());
    dir_bytes_ += dir_bytes;
    ++count_;
    return true;
  }
  std::size_t count() const { return count_; }

 private:
  const ReadDirArgs& args_;
  xdr::Encoder& res_;
  std::size_t start_;
  std::size_t dir_bytes_ = 0;
  std::size_t count_ = 0;
};

void WriteVerifier(xdr::Encoder& res, uint64_t v) { res.WriteU64(v); }

// Lists the exports in the pseudo root.
Awaitable<Stat> ListPseudo(OpContext& ctx, const ReadDirArgs& args, EntryWriter& w, bool* eof) {
  const AttrLimits limits = Limits(ctx);
  auto entries = Server(ctx).pseudo().List(args.cookie);
  *eof = true;
  for (const auto& e : entries) {
    Object obj;
    xdr::Encoder fattr;
    Stat s = co_await ResolveExportRoot(ctx, *e.exp, &obj);
    vfs::FsStats stats;
    AttrTarget target;
    if (s == Stat::kOk) {
      target = MakeTarget(obj);
      s = co_await FillStats(obj, args.attrs, &stats, &target);
    }
    if (s == Stat::kOk) {
      EncodeFattr(args.attrs, target, limits, fattr);
    } else if (args.attrs.Test(fattr::kRdattrError)) {
      EncodeFattrError(s, fattr);
    } else {
      co_return s;
    }
    if (!w.Add(e.cookie, e.exp->name, fattr.buffer())) {
      *eof = false;
      break;
    }
  }
  co_return Stat::kOk;
}

// Lists a directory of an export.
Awaitable<Stat> ListExportDir(OpContext& ctx, const Object& dir, const ReadDirArgs& args,
                              const vfs::DirPage& page, EntryWriter& w, bool* eof) {
  const AttrLimits limits = Limits(ctx);
  vfs::FsStats stats;
  AttrTarget proto = MakeTarget(dir);
  Stat s = co_await FillStats(dir, args.attrs, &stats, &proto);
  if (s != Stat::kOk) co_return s;
  *eof = page.eof;
  for (const auto& e : page.entries) {
    AttrTarget target = proto;
    target.fh = FileHandle{dir.exp->id, e.attr.ino, e.attr.generation};
    target.attr = e.attr;
    target.mounted_on_fileid = 0;
    xdr::Encoder fattr;
    EncodeFattr(args.attrs, target, limits, fattr);
    if (!w.Add(e.cookie, e.name, fattr.buffer())) {
      *eof = false;
      break;
    }
  }
  co_return Stat::kOk;
}

}  // namespace

// READDIR: RFC 7530 §16.24, RFC 8881 §18.23.
Awaitable<Stat> OpReadDir(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  ReadDirArgs a;
  if (!DecodeArgs(args, &a)) co_return Stat::kBadXdr;
  Object dir;
  Stat s = co_await ResolveCurrent(ctx, &dir);
  if (s != Stat::kOk) co_return s;
  if (!dir.is_dir()) co_return Stat::kNotDir;
  if (a.cookie == 1 || a.cookie == 2) co_return Stat::kBadCookie;
  if (HasWriteOnlyAttrs(a.attrs)) co_return Stat::kInval;
  if (a.maxcount < kFixedReplyBytes) co_return Stat::kTooSmall;

  vfs::DirPage page;
  uint64_t verifier = 0;
  if (dir.pseudo()) {
    verifier = Server(ctx).pseudo().Verifier();
  } else {
    const std::size_t max_entries = std::min<std::size_t>(Server(ctx).options().max_readdir_entries,
                                                          a.maxcount / kMinEntryBytes + 1);
    auto listed = co_await dir.fs().ReadDir(dir.fh.ino, a.cookie, max_entries);
    if (!listed.ok()) {
      s = ToNfsStat(listed.status());
      // A cookie the file system does not know is a bad cookie, not a missing directory.
      co_return s == Stat::kInval&& a.cookie != 0 ? Stat::kBadCookie : s;
    }
    page = std::move(*listed);
    verifier = page.verifier;
  }
  // A zero verifier with a non-zero cookie is accepted (clients that do not keep verifiers).
  if (a.cookie != 0 && a.verifier != 0 && a.verifier != verifier) co_return Stat::kNotSame;

  const std::size_t reply_start = res.size();
  WriteVerifier(res, verifier);
  EntryWriter writer(a, res);
  bool eof = false;
  if (dir.pseudo()) {
    s = co_await ListPseudo(ctx, a, writer, &eof);
  } else {
    s = co_await ListExportDir(ctx, dir, a, page, writer, &eof);
  }
  if (s == Stat::kOk && writer.count() == 0 && !eof) s = Stat::kTooSmall;
  if (s != Stat::kOk) {
    res.Truncate(reply_start);
    co_return s;
  }
  res.WriteBool(false);  // no more entries
  res.WriteBool(eof);
  co_return Stat::kOk;
}

}  // namespace bucketfs::nfs
