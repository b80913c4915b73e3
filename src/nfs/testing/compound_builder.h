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
