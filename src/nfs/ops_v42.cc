// NFSv4.2 operations (RFC 7862): COPY (intra-server, synchronous), SEEK, ALLOCATE, DEALLOCATE.
// The op table dispatches them for minor version 2 only; every other 4.2 op is NOTSUPP.
#include <algorithm>

#include "base/byte_budget.h"
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "rpc/call_memory.h"

namespace bucketfs::nfs {
namespace {

// netloc_type4 of the netloc4 in COPY4args (RFC 7862 §15.2.1).
constexpr uint32_t kNl4Name = 1;
constexpr uint32_t kNl4Url = 2;
constexpr uint32_t kNl4NetAddr = 3;
constexpr uint32_t kMaxSourceServers = 16;
// Charged to the reply budget while a COPY runs: the data a CopyRange holds at once (the gateway
// copies through its memory in 4 MiB pieces).
constexpr uint64_t kCopyBufferBytes = uint64_t{4} << 20;

// data_content4 (RFC 7862 §15.11.1).
constexpr uint32_t kContentData = 0;
constexpr uint32_t kContentHole = 1;

bool SkipNetloc(xdr::Decoder& d) {
  uint32_t type = 0;
  std::string a, b;
  if (!d.ReadU32(&type)) return false;
  switch (type) {
    case kNl4Name:
    case kNl4Url:
      return d.ReadString(kNfs4OpaqueLimit, &a);
    case kNl4NetAddr:
      return d.ReadString(kNfs4OpaqueLimit, &a) && d.ReadString(kNfs4OpaqueLimit, &b);
    default:
      d.Fail();
      return false;
  }
}

// The current fh as a regular file an ALLOCATE/DEALLOCATE may change: WRONG_TYPE for anything
// else (RFC 7862 §15.1.3, §15.4.3), a stateid valid for writing, a writable export and, for the
// caller's write permission.
Awaitable<Stat> ResolveWritableFile(OpContext& ctx, const StateId& stateid, Object* obj) {
  Stat s = co_await ResolveCurrent(ctx, obj);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRegularFile(*obj, Stat::kWrongType, /*dir_too=*/true)) != Stat::kOk) co_return s;
  if ((s = CheckWriteStateId(ctx, *obj, stateid)) != Stat::kOk) co_return s;
  if (obj->read_only()) co_return Stat::kRofs;
  co_return CheckDataAccess(ctx, *obj, /*write=*/true);
}

// offset4 + length4 of ALLOCATE/DEALLOCATE: a zero length is INVAL, past the largest file FBIG.
Stat CheckRange(uint64_t offset, uint64_t length) {
  if (length == 0) return Stat::kInval;
  if (offset > kMaxFileBytes || length > kMaxFileBytes - offset) return Stat::kFBig;
  return Stat::kOk;
}

}  // namespace

// COPY: RFC 7862 §15.2. The saved fh is the source, the current fh the destination. Only
// intra-server copies: a non-empty ca_source_server asks for an inter-server copy, which this
// server does not offer (NFS4ERR_NOTSUPP, as Linux nfsd without inter-server copy). The copy is
// always done before the reply (cr_synchronous = true, no wr_callback_id), and the copied data
// is as durable as an UNSTABLE write: the client COMMITs it against wr_writeverf.
Awaitable<Stat> OpCopy(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId src_sid, dst_sid;
  uint64_t src_offset = 0, dst_offset = 0, count = 0;
  bool consecutive = false, synchronous = false;
  uint32_t nservers = 0;
  if (!ReadStateId(args, &src_sid) || !ReadStateId(args, &dst_sid) || !args.ReadU64(&src_offset) ||
      !args.ReadU64(&dst_offset) || !args.ReadU64(&count) || !args.ReadBool(&consecutive) ||
      !args.ReadBool(&synchronous) || !args.ReadArrayLength(kMaxSourceServers, &nservers)) {
    co_return Stat::kBadXdr;
  }
  for (uint32_t i = 0; i < nservers; ++i) {
    if (!SkipNetloc(args)) co_return Stat::kBadXdr;
  }
  if (!ctx.saved_fh || !ctx.current_fh) co_return Stat::kNoFileHandle;
  if (nservers != 0) co_return Stat::kNotSupp;
  Object src, dst;
  Stat s = co_await Resolve(ctx, *ctx.saved_fh, &src);
  if (s == Stat::kOk) s = co_await ResolveCurrent(ctx, &dst);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRegularFile(src, Stat::kWrongType, true)) != Stat::kOk ||
      (s = CheckRegularFile(dst, Stat::kWrongType, true)) != Stat::kOk) {
    co_return s;
  }
  if (!SameFs(src, dst)) co_return Stat::kXdev;
  if ((s = CheckReadStateId(ctx, src, src_sid)) != Stat::kOk) co_return s;
  if ((s = CheckWriteStateId(ctx, dst, dst_sid)) != Stat::kOk) co_return s;
  if (dst.read_only()) co_return Stat::kRofs;
  if ((s = CheckDataAccess(ctx, src, /*write=*/false)) != Stat::kOk ||
      (s = CheckDataAccess(ctx, dst, /*write=*/true)) != Stat::kOk) {
    co_return s;
  }
  // RFC 7862 §15.2.3: a source range past the source's end is INVAL; count 0 copies to its end.
  if (src_offset > src.attr.size) co_return Stat::kInval;
  const uint64_t available = src.attr.size - src_offset;
  if (count > available) co_return Stat::kInval;
  const uint64_t n = count == 0 ? available : count;
  if (dst_offset > kMaxFileBytes || n > kMaxFileBytes - dst_offset) co_return Stat::kFBig;
  // Overlapping ranges of one file (RFC 7862 §15.2.3).
  if (src.fh.ino == dst.fh.ino && n != 0 && src_offset < dst_offset + n &&
      dst_offset < src_offset + n) {
    co_return Stat::kInval;
  }
  uint64_t copied = 0;
  if (n != 0) {
    ByteBudget::Grant charge;
    if (ctx.call->memory != nullptr) {
      auto granted = co_await ctx.call->memory->Acquire(std::min(n, kCopyBufferBytes));
      if (!granted.ok()) co_return Stat::kDelay;
      charge = std::move(granted).value();
    }
    auto r = co_await dst.fs().CopyRange(src.fh.ino, src_offset, dst.fh.ino, dst_offset, n);
    if (!r.ok()) co_return ToNfsStat(r.status());
    if (*r > n) co_return Stat::kServerFault;
    copied = *r;
  }
  // write_response4
  res.WriteU32(0);  // wr_callback_id<1>: none, the copy is done
  res.WriteU64(copied);
  res.WriteU32(kUnstable4);
  res.WriteU64(dst.fs().WriteVerifier());
  // copy_requirements4
  res.WriteBool(true);  // cr_consecutive
  res.WriteBool(true);  // cr_synchronous
  co_return Stat::kOk;
}

// SEEK: RFC 7862 §15.11. Objects have no holes: the data runs from 0 to the size, followed by the
// implicit hole at the end of the file. An offset at or past the end is NFS4ERR_NXIO.
Awaitable<Stat> OpSeek(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId stateid;
  uint64_t offset = 0;
  uint32_t what = 0;
  if (!ReadStateId(args, &stateid) || !args.ReadU64(&offset) || !args.ReadU32(&what)) {
    co_return Stat::kBadXdr;
  }
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRegularFile(obj, Stat::kWrongType, true)) != Stat::kOk) co_return s;
  if ((s = CheckReadStateId(ctx, obj, stateid)) != Stat::kOk) co_return s;
  if (what != kContentData && what != kContentHole) co_return Stat::kUnionNotSupp;
  const uint64_t size = obj.attr.size;
  if (offset >= size) co_return Stat::kNxio;
  const uint64_t found = what == kContentData ? offset : size;
  res.WriteBool(found >= size);  // sr_eof
  res.WriteU64(found);
  co_return Stat::kOk;
}

// ALLOCATE: RFC 7862 §15.1. Objects are not preallocated; a range past the end extends the file
// to offset + length (it reads back as zeros).
Awaitable<Stat> OpAllocate(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId stateid;
  uint64_t offset = 0, length = 0;
  if (!ReadStateId(args, &stateid) || !args.ReadU64(&offset) || !args.ReadU64(&length)) {
    co_return Stat::kBadXdr;
  }
  Object obj;
  Stat s = co_await ResolveWritableFile(ctx, stateid, &obj);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRange(offset, length)) != Stat::kOk) co_return s;
  if (offset + length <= obj.attr.size) co_return Stat::kOk;
  vfs::SetAttrRequest grow;
  grow.size = offset + length;
  auto attr = co_await obj.fs().SetAttr(obj.fh.ino, grow);
  co_return attr.ok() ? Stat::kOk : ToNfsStat(attr.status());
}

// DEALLOCATE: RFC 7862 §15.4. The range within the file's size reads back as zeros afterwards;
// the size does not change.
Awaitable<Stat> OpDeallocate(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId stateid;
  uint64_t offset = 0, length = 0;
  if (!ReadStateId(args, &stateid) || !args.ReadU64(&offset) || !args.ReadU64(&length)) {
    co_return Stat::kBadXdr;
  }
  Object obj;
  Stat s = co_await ResolveWritableFile(ctx, stateid, &obj);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRange(offset, length)) != Stat::kOk) co_return s;
  Status st = co_await obj.fs().Deallocate(obj.fh.ino, offset, length);
  co_return st.ok() ? Stat::kOk : ToNfsStat(st);
}

}  // namespace bucketfs::nfs
