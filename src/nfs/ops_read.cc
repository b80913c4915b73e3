// Data operations of the read path: READ, READLINK.
#include <algorithm>

#include "base/byte_budget.h"
#include "base/metrics.h"
#include "nfs/op_util.h"
#include "nfs/ops_handlers.h"
#include "nfs/ops_state.h"
#include "rpc/call_memory.h"

namespace bucketfs::nfs {

// READ: RFC 7530 §16.23, RFC 8881 §18.22.
Awaitable<Stat> OpRead(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  StateId stateid;
  uint64_t offset = 0;
  uint32_t count = 0;
  if (!ReadStateId(args, &stateid) || !args.ReadU64(&offset) || !args.ReadU32(&count)) {
    co_return Stat::kBadXdr;
  }
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if (obj.is_dir()) co_return Stat::kIsDir;
  if (obj.attr.type != vfs::FileType::kRegular) co_return Stat::kInval;
  if ((s = CheckReadStateId(ctx, obj, stateid)) != Stat::kOk) co_return s;
  if ((s = CheckDataAccess(ctx, obj, /*write=*/false)) != Stat::kOk) co_return s;
  count = std::min(count, Server(ctx).options().max_read);
  if (count == 0 || offset >= obj.attr.size) {
    // RFC 8881 §18.22.3: a zero-length read or one at/after end of file returns eof.
    res.WriteBool(offset >= obj.attr.size);
    res.WriteOpaque({});
    co_return Stat::kOk;
  }
  // The data is charged to the gateway's reply budget before the file system allocates it, and
  // stays charged until the reply carrying it has been written to the socket.
  ByteBudget::Grant charge;
  if (ctx.call->memory != nullptr) {
    auto granted = co_await ctx.call->memory->Acquire(count);
    if (!granted.ok()) co_return Stat::kDelay;  // a second READ in this COMPOUND: retry it
    charge = std::move(granted).value();
  }
  auto r = co_await obj.fs().Read(obj.fh.ino, offset, count);
  if (!r.ok()) co_return ToNfsStat(r.status());
  if (r->data.size() > count) co_return Stat::kServerFault;
  static Counter& served = DefaultMetrics().GetCounter("bucketfs_nfs_read_bytes_total",
                                                       "File bytes returned by NFS READ.");
  served.Inc(r->data.size());
  res.WriteBool(r->eof);
  res.WriteOpaque(r->data);
  // From here the reply buffer holds the data (the file system's copy is freed on return).
  charge.ShrinkTo(r->data.size());
  if (ctx.call->memory != nullptr) ctx.call->memory->HoldUntilSent(std::move(charge));
  co_return Stat::kOk;
}

// READLINK: RFC 7530 §16.25, RFC 8881 §18.24.
Awaitable<Stat> OpReadLink(OpContext& ctx, xdr::Decoder& args, xdr::Encoder& res) {
  Object obj;
  Stat s = co_await ResolveCurrent(ctx, &obj);
  if (s != Stat::kOk) co_return s;
  if (obj.attr.type != vfs::FileType::kSymlink) co_return Stat::kInval;
  auto target = co_await obj.fs().ReadLink(obj.fh.ino);
  if (!target.ok()) co_return ToNfsStat(target.status());
  res.WriteString(*target);
  co_return Stat::kOk;
}

}  // namespace bucketfs::nfs
