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

// ---- Permissions (AUTH_SYS uid/gids; AUTH_NONE is nobody). The same rules answer ACCESS and
// guard the mutating ops, so that what ACCESS grants is what the ops allow. ----
inline constexpr uint32_t kNobody = 65534;
inline constexpr uint32_t kPermRead = 4, kPermWrite = 2, kPermExec = 1;

uint32_t CallerUid(const rpc::CallContext& call);
uint32_t CallerGid(const rpc::CallContext& call);
bool IsRoot(const rpc::CallContext& call);
bool InGroup(const rpc::CallContext& call, uint32_t gid);
// The rwx bits (kPerm*) of `attr.mode` that apply to the caller. Root gets read and write, and
// execute when anyone may execute (or on a directory).
uint32_t PermBits(const rpc::CallContext& call, const vfs::Attr& attr);
// NFS4ERR_ACCESS unless the caller holds every one of `bits` on `obj`. With `owner_override`
// the file's owner always passes (as Linux nfsd does for OPEN and special-stateid I/O, so that a
// client can use a file it created read-only, e.g. tar extracting a 0444 file).
Stat CheckPerm(const OpContext& ctx, const Object& obj, uint32_t bits, bool owner_override = false);
// READ / WRITE (and ALLOCATE, COPY) permission, checked on every call whatever the stateid: a
// stateid is no capability, and another principal using a client's open stateid gets
// NFS4ERR_ACCESS (as from Linux nfsd). The owner always passes (owner_override); reading also
// passes with execute permission (a client reads a program it may only execute).
Stat CheckDataAccess(const OpContext& ctx, const Object& obj, bool write);
// Who may change which attribute (POSIX chmod/chown/utimes/truncate rules; chown_restricted):
// mode and client times → owner or root (else NFS4ERR_PERM); uid → root (unless unchanged);
// gid → root, or the owner to a group of theirs; time "now" → owner, root or write permission;
// size → write permission unless `write_open` (the caller holds an open for writing).
Stat CheckSetAttrPerm(const OpContext& ctx, const vfs::Attr& attr,
                      const vfs::SetAttrRequest& request, bool write_open);

// The attributes of a new object (CREATE, OPEN4_CREATE): those the client asked for must be ones
// the caller could set on a file of its own (CheckSetAttrPerm); owner and group default to the
// caller's.
Stat PrepareCreateAttrs(const OpContext& ctx, vfs::SetAttrRequest* attrs);

// ---- Object checks shared by the data and namespace ops. ----
// For ops that need a regular file: NFS4ERR_ISDIR for a directory and `other` for anything else
// (WRITE and COMMIT use INVAL as READ does; the 4.2 ops WRONG_TYPE, RFC 7862 §15.1.3).
// With `dir_too`, a directory is `other` as well.
Stat CheckRegularFile(const Object& obj, Stat other, bool dir_too = false);
// A directory the caller may change entries in: NOTDIR when it is not a directory, ROFS on the
// pseudo fs or a read-only export, ACCESS without write and search permission.
Stat CheckMutableDir(const OpContext& ctx, const Object& dir);
// True if `a` and `b` are on one file system (the same export, or both in the pseudo fs).
bool SameFs(const Object& a, const Object& b);
// change_info4 (RFC 7530 §2.2, RFC 8881 §3.3): `before` and `after` are read with two separate
// GETATTRs of the directory around the change, so they are never atomic.
void WriteChangeInfo(xdr::Encoder& res, uint64_t before, uint64_t after);
// The directory's change attribute after a mutation (`before` if it cannot be read now).
Awaitable<uint64_t> ChangeAfter(const Object& dir, uint64_t before);
// Sets the current filehandle (and, per RFC 8881 §16.2.3.1.2, clears the current stateid).
void SetCurrentFh(OpContext& ctx, const FileHandle& fh);

// component4 checks (RFC 8881 §18.15.3 / RFC 7530 §16.15): empty → INVAL, longer than 255 →
// NAMETOOLONG, "." / ".." / containing '/' or NUL → BADNAME, invalid UTF-8 → INVAL.
Stat CheckName(std::string_view name);
// Structural UTF-8 check (RFC 3629): no overlongs, surrogates or code points past U+10FFFF.
bool ValidUtf8(std::string_view s);
// Reads a component4 (bounded) and checks it.
Stat ReadName(xdr::Decoder& args, std::string* name);

bool ReadStateId(xdr::Decoder& in, StateId* out);
void WriteStateId(xdr::Encoder& out, const StateId& id);

// Reads an op's argument and maps a decode failure to BADXDR: `if (!args.ok()) co_return ...`.
inline Stat XdrStat(const xdr::Decoder& d) { return d.ok() ? Stat::kOk : Stat::kBadXdr; }

}  // namespace bucketfs::nfs
