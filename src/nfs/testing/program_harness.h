// ProgramHarness: an NfsServer over two MemoryFs exports ("data" id 1, writable; "other" id 2,
// read-only) and a synchronous Compound() that calls Nfs4Program::Call on a private io_context.
// For unit tests and the fuzz target. Not thread-safe.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "nfs/nfs4_const.h"
#include "nfs/nfs_server.h"
#include "nfs/testing/compound_builder.h"
#include "nfs/testing/memory_fs.h"
#include "rpc/program.h"
#include "vfs/exports.h"

namespace bucketfs::nfs::testing {

class ProgramHarness {
 public:
  ProgramHarness() {
    fs_ = std::make_shared<MemoryFs>(/*read_only=*/false);
    docs_ = fs_->AddDir(1, "docs");
    hello_ = fs_->AddFile(1, "hello.txt", "hello world\n");
    link_ = fs_->AddSymlink(1, "link", "hello.txt");
    for (int i = 0; i < 20; ++i) {
      char name[8];
      std::snprintf(name, sizeof(name), "f%02d", i);
      fs_->AddFile(docs_, name, std::string(static_cast<std::size_t>(i) * 100, 'x'));
    }
    other_ = std::make_shared<MemoryFs>(/*read_only=*/true);
    other_->AddFile(1, "readme", "other export\n");
    (void)exports_.Add(vfs::Export{1, "data", fs_});
    (void)exports_.Add(vfs::Export{2, "other", other_});
    server_ = std::make_unique<NfsServer>(io_.get_executor(), exports_, NfsOptions{});
    program_ = server_->program();
    call_.program = kNfsProgram;
    call_.version = kNfsVersion4;
    call_.procedure = 1;
    call_.flavor = rpc::AuthFlavor::kSys;
    call_.sys.uid = 1000;
    call_.sys.gid = 1000;
    call_.connection_id = 1;
  }

  // Runs one COMPOUND; returns the results (empty unless the accept status is SUCCESS).
  Bytes Compound(const Bytes& args, rpc::AcceptStat* accept = nullptr) {
    xdr::Encoder out;
    rpc::AcceptStat st = rpc::AcceptStat::kSystemErr;
    asio::co_spawn(
        io_, [&]() -> Awaitable<void> { st = co_await program_->Call(call_, args, out); },
        asio::detached);
    io_.restart();
    io_.run();
    if (accept) *accept = st;
    return st == rpc::AcceptStat::kSuccess ? out.Release() : Bytes{};
  }

  // 4.1: EXCHANGE_ID + CREATE_SESSION (+ RECLAIM_COMPLETE). Sets clientid_ and session_id_; the
  // next SEQUENCE on slot 0 uses ++seqid_. Returns false if any step fails. `session_flags`:
  // csa_flags (CONN_BACK_CHAN makes call_'s connection the back channel); `owner`: the client.
  bool EstablishSession(uint32_t minor = 1, uint32_t session_flags = 0,
                        const std::string& owner = "harness-client") {
    CompoundBuilder x(minor);
    x.Op(Op::kExchangeId);
    x.args().WriteFixedOpaque(Bytes(8, 1));  // verifier
    x.args().WriteString(owner);
    x.args().WriteU32(0);  // flags
    x.args().WriteU32(0);  // SP4_NONE
    x.args().WriteU32(0);  // no impl id
    ReplyReader xr(Compound(x.Build()));
    uint32_t op = 0, sequence = 0;
    Stat st;
    if (xr.status() != Stat::kOk || !xr.Next(&op, &st) || !xr.d().ReadU64(&clientid_) ||
        !xr.d().ReadU32(&sequence)) {
      return false;
    }
    CompoundBuilder c(minor);
    c.Op(Op::kCreateSession);
    c.args().WriteU64(clientid_);
    c.args().WriteU32(sequence);
    c.args().WriteU32(session_flags);
    for (int chan = 0; chan < 2; ++chan) {
      for (uint32_t v : {0u, 1u << 20, 1u << 20, 8192u, 16u, 8u, 0u}) c.args().WriteU32(v);
    }
    c.args().WriteU32(0x40000000);  // cb_program
    c.args().WriteU32(1);           // one callback_sec_parms4 ...
    c.args().WriteU32(0);           // ... AUTH_NONE
    ReplyReader cr(Compound(c.Build()));
    ByteView sid;
    if (cr.status() != Stat::kOk || !cr.Next(&op, &st) || !cr.d().ReadFixedOpaque(16, &sid)) {
      return false;
    }
    session_id_.assign(sid.begin(), sid.end());
    seqid_ = 0;
    // As real clients do, before they take any state (RFC 8881 §18.51.3).
    CompoundBuilder rc(minor);
    rc.Sequence(session_id_, ++seqid_);
    rc.Op(Op::kReclaimComplete);
    rc.args().WriteBool(false);
    return ReplyReader(Compound(rc.Build())).status() == Stat::kOk;
  }

  // 4.0: SETCLIENTID + SETCLIENTID_CONFIRM for `owner`; returns the clientid (0 on failure).
  uint64_t EstablishClient40(const std::string& owner) {
    CompoundBuilder sc(0);
    sc.Op(Op::kSetClientId);
    sc.args().WriteFixedOpaque(Bytes(8, 2));  // verifier
    sc.args().WriteString(owner);
    sc.args().WriteU32(0x40000000);  // cb_program
    sc.args().WriteString("tcp");
    sc.args().WriteString("127.0.0.1.0.1");
    sc.args().WriteU32(1);  // callback_ident
    ReplyReader sr(Compound(sc.Build()));
    uint32_t op = 0;
    Stat st;
    uint64_t clientid = 0;
    ByteView confirm;
    if (sr.status() != Stat::kOk || !sr.Next(&op, &st) || !sr.d().ReadU64(&clientid) ||
        !sr.d().ReadFixedOpaque(8, &confirm)) {
      return 0;
    }
    CompoundBuilder cc(0);
    cc.Op(Op::kSetClientIdConfirm);
    cc.args().WriteU64(clientid);
    cc.args().WriteFixedOpaque(confirm);
    return ReplyReader(Compound(cc.Build())).status() == Stat::kOk ? clientid : 0;
  }

 protected:
  Bytes session_id_;
  uint32_t seqid_ = 0;
  uint64_t clientid_ = 0;
  asio::io_context io_;
  vfs::ExportTable exports_;
  std::shared_ptr<MemoryFs> fs_;
  std::shared_ptr<MemoryFs> other_;
  vfs::InodeId docs_ = 0, hello_ = 0, link_ = 0;
  std::unique_ptr<NfsServer> server_;
  std::shared_ptr<rpc::Program> program_;
  rpc::CallContext call_;
};

}  // namespace bucketfs::nfs::testing
