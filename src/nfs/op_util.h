// Helpers shared by the op handlers (ops_*.cc): resolving file handles to objects in the pseudo
// fs or an export, attribute encoding context, name checks and small XDR pieces. Internal to the
// nfs library. Functions take the per-COMPOUND OpContext (single coroutine, not thread-safe).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "base/async.h"
#include "nfs/attrs.h"
#include "nfs/compound.h"
#include "nfs/errors.h"
#include "nfs/nfs_server.h"
#include "vfs/exports.h"

namespace bucketfs::nfs {

// An object named by a file handle, with its current attributes.
struct Object {
  FileHandle fh;
  std::shared_ptr<const vfs::Export> exp;  // null in the pseudo fs
  vfs::Attr attr;

  bool pseudo() const { return exp == nullptr; }
  vfs::FileSystem& fs() const { return *exp->fs; }
  bool read_only() const { return pseudo() || exp->fs->ReadOnly(); }
  bool is_export_root() const { return exp && fh.ino == exp->fs->RootInode(); }
  bool is_dir() const { return attr.type == vfs::FileType::kDirectory; }
};

inline NfsServer& Server(OpContext& ctx) { return *ctx.server; }

// Resolves `fh`: STALE when its export is gone, the object vanished, or the inode number now
// belongs to another incarnation (generation mismatch).
Awaitable<Stat> Resolve(OpContext& ctx, const FileHandle& fh, Object* out);
// Resolves an export's root (reached from the pseudo-fs), with its current generation.
Awaitable<Stat> ResolveExportRoot(OpContext& ctx, const vfs::Export& exp, Object* out);
// Resolves the current filehandle (NOFILEHANDLE if none).
Awaitable<Stat> ResolveCurrent(OpContext& ctx, Object* out);
// The object `name` in directory `dir` (crossing from the pseudo root into an export).
Awaitable<Stat> LookupChild(OpContext& ctx, const Object& dir, const std::string& name,
                            Object* out);
// The parent of `dir` (from an export root: the pseudo root). NOENT at the pseudo root.
Awaitable<Stat> LookupParent(OpContext& ctx, const Object& dir, Object* out);

// The attribute-encoder view of `obj`, without fs stats.
AttrTarget MakeTarget(const Object& obj);
AttrLimits Limits(const OpContext& ctx);
// Fetches fs stats into `stats` if `requested` needs them and points target.stats at it.
Awaitable<Stat> FillStats(const Object& obj, const Bitmap& requested, vfs::FsStats* stats,
                          AttrTarget* target);

// component4 checks (RFC 8881 §18.15.3 / RFC 7530 §16.15): empty → INVAL, longer than 255 →
// NAMETOOLONG, "." / ".." / containing '/' or NUL → BADNAME, invalid UTF-8 → INVAL.
Stat CheckName(std::string_view name);
// Reads a component4 (bounded) and checks it.
Stat ReadName(xdr::Decoder& args, std::string* name);

bool ReadStateId(xdr::Decoder& in, StateId* out);
void WriteStateId(xdr::Encoder& out, const StateId& id);

// Reads an op's argument and maps a decode failure to BADXDR: `if (!args.ok()) co_return ...`.
inline Stat XdrStat(const xdr::Decoder& d) { return d.ok() ? Stat::kOk : Stat::kBadXdr; }

}  // namespace bucketfs::nfs
