// Nfs4Program: ONC RPC program 100003 version 4 — the COMPOUND procedure (RFC 7530 §15.2,
// RFC 8881 §16.2). Decodes the COMPOUND4args header, runs each operation through the op table
// (ops.h) with an OpContext, stops at the first error and encodes COMPOUND4res; applies the
// NFSv4.1 session rules (SEQUENCE first, sessionless ops alone) and the reply cache (replays
// from SEQUENCE, stores results through the slot).
//
// Ownership: created and owned by NfsServer, which must outlive every call. Thread-safety: Call()
// runs concurrently; each call has its own OpContext.
#pragma once

#include <cstdint>

#include "nfs/nfs4_const.h"
#include "rpc/program.h"

namespace bucketfs::nfs {

class NfsServer;

class Nfs4Program : public rpc::Program {
 public:
  static constexpr uint32_t kProcNull = 0;
  static constexpr uint32_t kProcCompound = 1;
  static constexpr uint32_t kMaxTagLength = 1024;

  explicit Nfs4Program(NfsServer& server) : server_(server) {}

  uint32_t program_number() const override { return kNfsProgram; }
  uint32_t min_version() const override { return kNfsVersion4; }
  uint32_t max_version() const override { return kNfsVersion4; }

  Awaitable<rpc::AcceptStat> Call(const rpc::CallContext& ctx, ByteView args,
                                  xdr::Encoder& results) override;
  void ConnectionClosed(uint64_t connection_id) override;
  // The back channel's transport: CB_RECALLs go out through it (nfs/callback.h).
  void SetReverseCaller(std::shared_ptr<rpc::ReverseCaller> caller) override;

 private:
  NfsServer& server_;
};

}  // namespace bucketfs::nfs
