// Test helpers: build COMPOUND4args by hand and walk a COMPOUND4res. For nfs unit tests and the
// compound fuzz target. Value types, not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "nfs/attrs.h"
#include "nfs/compound.h"
#include "nfs/nfs4_const.h"
#include "rpc/xdr.h"

namespace bucketfs::nfs::testing {

class CompoundBuilder {
 public:
  explicit CompoundBuilder(uint32_t minor = 1, std::string tag = "") : minor_(minor), tag_(tag) {}

  // Raw access for ops without a helper: Op(x) then write its args to args().
  CompoundBuilder& Op(nfs::Op op) {
    ops_.WriteU32(static_cast<uint32_t>(op));
    ++count_;
    return *this;
  }
  xdr::Encoder& args() { return ops_; }

  CompoundBuilder& PutRootFh() { return Op(Op::kPutRootFh); }
  CompoundBuilder& GetFh() { return Op(Op::kGetFh); }
  CompoundBuilder& SaveFh() { return Op(Op::kSaveFh); }
  CompoundBuilder& RestoreFh() { return Op(Op::kRestoreFh); }
  CompoundBuilder& LookupP() { return Op(Op::kLookupP); }
  CompoundBuilder& ReadLink() { return Op(Op::kReadLink); }
  CompoundBuilder& PutFh(ByteView fh) {
    Op(Op::kPutFh);
    ops_.WriteOpaque(fh);
    return *this;
  }
  CompoundBuilder& Lookup(std::string_view name) {
    Op(Op::kLookup);
    ops_.WriteString(name);
    return *this;
  }
  CompoundBuilder& GetAttr(const Bitmap& attrs) {
    Op(Op::kGetAttr);
    attrs.Encode(ops_);
    return *this;
  }
  CompoundBuilder& Access(uint32_t bits) {
    Op(Op::kAccess);
    ops_.WriteU32(bits);
    return *this;
  }
  CompoundBuilder& ReadDir(uint64_t cookie, uint64_t verf, uint32_t dircount, uint32_t maxcount,
                           const Bitmap& attrs) {
    Op(Op::kReadDir);
    ops_.WriteU64(cookie);
    ops_.WriteU64(verf);
    ops_.WriteU32(dircount);
    ops_.WriteU32(maxcount);
    attrs.Encode(ops_);
    return *this;
  }
  CompoundBuilder& Read(const StateId& sid, uint64_t offset, uint32_t count) {
    Op(Op::kRead);
    WriteSid(sid);
    ops_.WriteU64(offset);
    ops_.WriteU32(count);
    return *this;
  }
  CompoundBuilder& Sequence(ByteView sessionid, uint32_t seqid, uint32_t slot = 0,
                            uint32_t highest_slot = 0, bool cache_this = true) {
    Op(Op::kSequence);
    ops_.WriteFixedOpaque(sessionid);
    ops_.WriteU32(seqid);
    ops_.WriteU32(slot);
    ops_.WriteU32(highest_slot);
    ops_.WriteBool(cache_this);
    return *this;
  }
  // OPEN4args for CLAIM_NULL `name` (4.0: `clientid`; 4.1: the session's client). `how` is the
  // createmode4 (-1 = OPEN4_NOCREATE); `attrs` is the createattrs fattr4 (mask + values) and
  // `verifier` the exclusive-create verifier.
  CompoundBuilder& Open(std::string_view name, uint32_t access, int how = -1,
                        const Bitmap& mask = Bitmap(), ByteView values = {}, uint64_t verifier = 0,
                        std::string_view owner = "owner", uint64_t clientid = 0, uint32_t seqid = 0,
                        uint32_t deny = 0) {
    Op(Op::kOpen);
    ops_.WriteU32(seqid);
    ops_.WriteU32(access);
    ops_.WriteU32(deny);
    ops_.WriteU64(clientid);
    ops_.WriteString(owner);
    if (how < 0) {
      ops_.WriteU32(0);  // OPEN4_NOCREATE
    } else {
      ops_.WriteU32(1);  // OPEN4_CREATE
      ops_.WriteU32(static_cast<uint32_t>(how));
      if (how == 2 || how == 3) ops_.WriteU64(verifier);
      if (how != 2) {
        mask.Encode(ops_);
        ops_.WriteOpaque(values);
      }
    }
    ops_.WriteU32(0);  // CLAIM_NULL
    ops_.WriteString(name);
    return *this;
  }
  CompoundBuilder& Close(const StateId& sid, uint32_t seqid = 0) {
    Op(Op::kClose);
    ops_.WriteU32(seqid);
    WriteSid(sid);
    return *this;
  }
  CompoundBuilder& Write(const StateId& sid, uint64_t offset, uint32_t stable,
                         std::string_view data) {
    Op(Op::kWrite);
    WriteSid(sid);
    ops_.WriteU64(offset);
    ops_.WriteU32(stable);
    ops_.WriteString(data);
    return *this;
  }
  CompoundBuilder& Commit(uint64_t offset = 0, uint32_t count = 0) {
    Op(Op::kCommit);
    ops_.WriteU64(offset);
    ops_.WriteU32(count);
    return *this;
  }
  CompoundBuilder& SetAttr(const StateId& sid, const Bitmap& mask, ByteView values) {
    Op(Op::kSetAttr);
    WriteSid(sid);
    mask.Encode(ops_);
    ops_.WriteOpaque(values);
    return *this;
  }
  // CREATE of a directory (type 2) or a symlink (type 5, `linkdata`) or any other type.
  CompoundBuilder& Create(uint32_t type, std::string_view name, std::string_view linkdata = "",
                          const Bitmap& mask = Bitmap(), ByteView values = {}) {
    Op(Op::kCreate);
    ops_.WriteU32(type);
    if (type == 5) ops_.WriteString(linkdata);
    if (type == 3 || type == 4) {
      ops_.WriteU32(0);
      ops_.WriteU32(0);
    }
    ops_.WriteString(name);
    mask.Encode(ops_);
    ops_.WriteOpaque(values);
    return *this;
  }
  CompoundBuilder& Remove(std::string_view name) {
    Op(Op::kRemove);
    ops_.WriteString(name);
    return *this;
  }
  CompoundBuilder& Rename(std::string_view from, std::string_view to) {
    Op(Op::kRename);
    ops_.WriteString(from);
    ops_.WriteString(to);
    return *this;
  }
  CompoundBuilder& Link(std::string_view name) {
    Op(Op::kLink);
    ops_.WriteString(name);
    return *this;
  }
  // 4.2 ops (RFC 7862).
  CompoundBuilder& Copy(const StateId& src, const StateId& dst, uint64_t src_offset,
                        uint64_t dst_offset, uint64_t count, uint32_t source_servers = 0) {
    Op(Op::kCopy);
    WriteSid(src);
    WriteSid(dst);
    ops_.WriteU64(src_offset);
    ops_.WriteU64(dst_offset);
    ops_.WriteU64(count);
    ops_.WriteBool(false);  // ca_consecutive
    ops_.WriteBool(true);   // ca_synchronous
    ops_.WriteU32(source_servers);
    for (uint32_t i = 0; i < source_servers; ++i) {
      ops_.WriteU32(1);  // NL4_NAME
      ops_.WriteString("server.example");
    }
    return *this;
  }
  CompoundBuilder& Seek(const StateId& sid, uint64_t offset, uint32_t what) {
    Op(Op::kSeek);
    WriteSid(sid);
    ops_.WriteU64(offset);
    ops_.WriteU32(what);
    return *this;
  }
  CompoundBuilder& Allocate(const StateId& sid, uint64_t offset, uint64_t length) {
    Op(Op::kAllocate);
    WriteSid(sid);
    ops_.WriteU64(offset);
    ops_.WriteU64(length);
    return *this;
  }
  CompoundBuilder& Deallocate(const StateId& sid, uint64_t offset, uint64_t length) {
    Op(Op::kDeallocate);
    WriteSid(sid);
    ops_.WriteU64(offset);
    ops_.WriteU64(length);
    return *this;
  }
  void WriteSid(const StateId& sid) {
    ops_.WriteU32(sid.seqid);
    ops_.WriteFixedOpaque(ByteView(sid.other, kNfs4OtherSize));
  }

  // COMPOUND4args with `count` as the array length (default: ops added).
  Bytes Build(int64_t count_override = -1) const {
    xdr::Encoder e;
    e.WriteString(tag_);
    e.WriteU32(minor_);
    e.WriteU32(count_override >= 0 ? static_cast<uint32_t>(count_override) : count_);
    e.WriteRaw(ops_.buffer());
    return e.Release();
  }
  uint32_t count() const { return count_; }

 private:
  uint32_t minor_;
  std::string tag_;
  xdr::Encoder ops_;
  uint32_t count_ = 0;
};

// Walks a COMPOUND4res: header first, then Next() per op result; op bodies are read from d().
class ReplyReader {
 public:
  explicit ReplyReader(Bytes reply) : bytes_(std::move(reply)), d_(bytes_) {
    d_.ReadU32(&status_);
    d_.ReadString(1024, &tag_);
    d_.ReadU32(&count_);
  }
  Stat status() const { return static_cast<Stat>(status_); }
  uint32_t count() const { return count_; }
  const std::string& tag() const { return tag_; }
  // Reads resop and its status. Returns false when the reply is exhausted or malformed.
  bool Next(uint32_t* op, Stat* status) {
    uint32_t s = 0;
    if (!d_.ReadU32(op) || !d_.ReadU32(&s)) return false;
    *status = static_cast<Stat>(s);
    return true;
  }
  xdr::Decoder& d() { return d_; }

 private:
  Bytes bytes_;
  xdr::Decoder d_;
  uint32_t status_ = 0;
  std::string tag_;
  uint32_t count_ = 0;
};

}  // namespace bucketfs::nfs::testing
