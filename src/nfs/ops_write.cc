// Data and attribute mutations: WRITE, COMMIT, SETATTR.
#include <algorithm>

#include "base/byte_budget.h"
#include "base/metrics.h"
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "rpc/call_memory.h"

namespace bucketfs::nfs {
namespace {

// Resolves the current fh for SETATTR and applies the request; *set gets the attributes set.
Awaitable<Stat> SetAttrs(OpContext& ctx, const StateId& stateid, const Fattr& fattr, Bitmap* set) {
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  vfs::SetAttrRequest req;
  if ((s = DecodeSetAttrs(fattr, ctx.minor_version, &req)) != Stat::kOk) co_return s;
  if (obj.read_only()) co_return Stat::kRofs;
  bool write_open = false;
  if (req.size) {
    // A size change is a write (RFC 8881 §18.30.3): only regular files have one, and the stateid
    // must allow writing (anonymous: the caller's permissions decide).
    if (obj.is_dir()) co_return Stat::kIsDir;
    if (obj.attr.type != vfs::FileType::kRegular) co_return Stat::kInval;
    bool special = false;
    if ((s = CheckWriteStateId(ctx, obj, stateid, &special)) != Stat::kOk) co_return s;
    write_open = !special;
    if (*req.size > kMaxFileBytes) co_return Stat::kFBig;
  }
  if ((s = CheckSetAttrPerm(ctx, obj.attr, req, write_open)) != Stat::kOk) co_return s;
  if (req.empty()) co_return Stat::kOk;
  // Other clients' read delegations cache the attributes being changed.
  if (!obj.pseudo() && (s = StateBreakDelegations(ctx, obj.fh)) != Stat::kOk) co_return s;
  auto attr = co_await obj.fs().SetAttr(obj.fh.ino, req);
  if (!attr.ok()) co_return ToNfsStat(attr.status());
  *set = fattr.mask;
  co_return Stat::kOk;
}

bool DecodeStable(xdr::Decoder& args, vfs::StableHow* out) {
  uint32_t v = 0;
  if (!args.ReadU32(&v)) return false;
  if (v > kFileSync4) {
    args.Fail();
    return false;
  }
  *out = static_cast<vfs::StableHow>(v);
  return true;
}

}  // namespace

// WRITE: RFC 7530 §16.36, RFC 8881 §18.32.
Awaitable<Stat> OpWrite(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId stateid;
  uint64_t offset = 0;
  vfs::StableHow stable = vfs::StableHow::kUnstable;
  ByteView data;
  if (!ReadStateId(args, &stateid) || !args.ReadU64(&offset) || !DecodeStable(args, &stable) ||
      !args.ReadOpaque(args.remaining(), &data)) {
    co_return Stat::kBadXdr;
  }
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRegularFile(obj, Stat::kInval)) != Stat::kOk) co_return s;
  bool special = false;
  if ((s = CheckWriteStateId(ctx, obj, stateid, &special)) != Stat::kOk) co_return s;
  if (obj.read_only()) co_return Stat::kRofs;
  if ((s = CheckDataAccess(ctx, obj, /*write=*/true)) != Stat::kOk) co_return s;
  // A write under an open for writing already recalled the delegations (OPEN); one without an
  // open recalls them now.
  if (special && (s = StateBreakDelegations(ctx, obj.fh)) != Stat::kOk) co_return s;
  // More than maxwrite is a short write (the client sends the rest again).
  const std::size_t count = std::min<std::size_t>(data.size(), Server(ctx).options().max_write);
  if (offset > kMaxFileBytes || count > kMaxFileBytes - offset) co_return Stat::kFBig;
  vfs::WriteResult written;
  if (count == 0) {
    // RFC 8881 §18.32.3: a zero-length WRITE succeeds with count 0; nothing needs committing.
    written.committed = vfs::StableHow::kFileSync;
  } else {
    // The copy handed to the file system is charged to the reply budget while it exists (the
    // request record it is copied from is charged to the request budget by the RPC layer).
    ByteBudget::Grant charge;
    if (ctx.call->memory != nullptr) {
      auto granted = co_await ctx.call->memory->Acquire(count);
      if (!granted.ok()) co_return Stat::kDelay;
      charge = std::move(granted).value();
    }
    auto r = co_await obj.fs().Write(obj.fh.ino, offset, Bytes(data.begin(), data.begin() + count),
                                     stable);
    charge.Release();
    if (!r.ok()) co_return ToNfsStat(r.status());
    if (r->count > count) co_return Stat::kServerFault;
    written = *r;
    static Counter& bytes = DefaultMetrics().GetCounter("bucketfs_nfs_write_bytes_total",
                                                        "File bytes accepted by NFS WRITE.");
    bytes.Inc(written.count);
  }
  res.WriteU32(written.count);
  res.WriteU32(static_cast<uint32_t>(written.committed));
  res.WriteU64(obj.fs().WriteVerifier());  // verifier4: 8 bytes
  co_return Stat::kOk;
}

// COMMIT: RFC 7530 §16.3, RFC 8881 §18.3.
Awaitable<Stat> OpCommit(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  uint64_t offset = 0;
  uint32_t count = 0;
  if (!args.ReadU64(&offset) || !args.ReadU32(&count)) co_return Stat::kBadXdr;
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if ((s = CheckRegularFile(obj, Stat::kInval)) != Stat::kOk) co_return s;
  if (offset > UINT64_MAX - count) co_return Stat::kInval;  // RFC 8881 §18.3.3: overflow
  if (obj.read_only()) co_return Stat::kRofs;
  Status st = co_await obj.fs().Commit(obj.fh.ino, offset, count);
  if (!st.ok()) co_return ToNfsStat(st);
  res.WriteU64(obj.fs().WriteVerifier());
  co_return Stat::kOk;
}

// SETATTR: RFC 7530 §16.32, RFC 8881 §18.30. SETATTR4res carries attrsset on success and on
// error (pynfs checks it). There is no guard argument in NFSv4: a client guards a SETATTR with a
// VERIFY of the change attribute earlier in the COMPOUND (NFS4ERR_NOT_SAME stops it there).
Awaitable<Stat> OpSetAttr(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId stateid;
  Fattr fattr;
  if (!ReadStateId(args, &stateid) || !DecodeFattr(args, &fattr)) co_return Stat::kBadXdr;
  Bitmap set;
  Stat s = co_await SetAttrs(ctx, stateid, fattr, &set);
  set.Encode(res);
  co_return s;
}

}  // namespace bucketfs::nfs
