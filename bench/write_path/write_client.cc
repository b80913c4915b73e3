// write_client: the writer side of the write-path benchmarks. Writes either over NFSv4.1 (its own
// small client on the project's XDR codec: libnfs 4.0 cannot encode NFSv4 WRITEs larger than a
// few hundred bytes) or through a local path (a FUSE mount), so the same workload measures
// bucketfs, s3fs and rclone mount.
//
//   write_client create TARGET PREFIX COUNT SIZE  COUNT files PREFIX-fN of SIZE bytes in the
//                                               export root, one after the other: create,
//                                               write, commit (fsync), close: files/s
//   write_client seq    TARGET FILE MIB         one file of MIB MiB in 1 MiB writes (up to 16 in
//                                               flight over NFS), then commit/fsync and close:
//                                               MiB/s
//
// TARGET: nfs://HOST:PORT/EXPORT, or a local directory. Output: one line of key=value figures.
// NFS errors end the run with the status; nothing here retries.
#include <fcntl.h>
#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "rpc/xdr.h"

namespace {

using bucketfs::Bytes;
using bucketfs::ByteView;
using bucketfs::xdr::Decoder;
using bucketfs::xdr::Encoder;
using Clock = std::chrono::steady_clock;
namespace asio = boost::asio;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "write_client: %s\n", what.c_str());
  std::exit(1);
}

// NFSv4 operation numbers and constants used here (RFC 8881).
enum Op : uint32_t {
  kClose = 4, kCommit = 5, kGetFh = 10, kLookup = 15, kOpen = 18, kPutFh = 22, kPutRootFh = 24,
  kWrite = 38, kExchangeId = 42, kCreateSession = 43, kSequence = 53, kReclaimComplete = 58
};

struct StateId {
  uint32_t seqid = 0;
  uint8_t other[12] = {};
};

// One NFSv4.1 session over one TCP connection, with `slots` requests in flight at most.
class NfsSession {
 public:
  NfsSession(const std::string& host, const std::string& port, uint32_t slots)
      : socket_(io_), slots_(slots), seqids_(slots, 1) {
    asio::ip::tcp::resolver resolver(io_);
    asio::connect(socket_, resolver.resolve(host, port));
    socket_.set_option(asio::ip::tcp::no_delay(true));
    Setup();
  }

  Bytes RootFh(const std::string& export_name) {
    Encoder e;
    Begin(e, 4, 0);
    e.WriteU32(kPutRootFh);
    e.WriteU32(kLookup);
    e.WriteString(export_name);
    e.WriteU32(kGetFh);
    Decoder d = Call(e, 0);
    Expect(d, kPutRootFh);
    Expect(d, kLookup);
    Expect(d, kGetFh);
    Bytes fh;
    if (!d.ReadOpaque(128, &fh)) Die("bad GETFH reply");
    return fh;
  }

  // OPEN (create, UNCHECKED4) of `name` in `dir` for writing: the stateid and the file handle.
  std::pair<StateId, Bytes> Create(const Bytes& dir, const std::string& name) {
    Encoder e;
    Begin(e, 4, 0);
    e.WriteU32(kPutFh);
    e.WriteOpaque(dir);
    e.WriteU32(kOpen);
    e.WriteU32(0);                     // seqid
    e.WriteU32(2);                     // OPEN4_SHARE_ACCESS_WRITE
    e.WriteU32(0);                     // deny none
    e.WriteU64(clientid_);
    e.WriteString("write-client");     // open owner
    e.WriteU32(1);                     // OPEN4_CREATE
    e.WriteU32(0);                     // UNCHECKED4
    e.WriteU32(0);                     // fattr4: empty bitmap
    e.WriteU32(0);                     //         no values
    e.WriteU32(0);                     // CLAIM_NULL
    e.WriteString(name);
    e.WriteU32(kGetFh);
    Decoder d = Call(e, 0);
    Expect(d, kPutFh);
    Expect(d, kOpen);
    StateId sid = ReadStateId(d);
    uint32_t u = 0;
    uint64_t u64 = 0;
    d.ReadU32(&u);  // cinfo.atomic
    d.ReadU64(&u64);
    d.ReadU64(&u64);
    d.ReadU32(&u);  // rflags
    uint32_t n = 0;
    d.ReadArrayLength(8, &n);
    for (uint32_t i = 0; i < n; ++i) d.ReadU32(&u);
    uint32_t deleg = 0;
    d.ReadU32(&deleg);
    if (deleg == 3) {  // OPEN_DELEGATE_NONE_EXT: why (+ a bool for two of the reasons)
      uint32_t why = 0;
      d.ReadU32(&why);
      if (why == 4 || why == 5) d.ReadU32(&u);
    } else if (deleg != 0) {
      Die("delegations are not expected by this client");
    }
    Expect(d, kGetFh);
    Bytes fh;
    if (!d.ReadOpaque(128, &fh)) Die("bad OPEN reply");
    return {sid, fh};
  }

  // Sends WRITE requests for the chunks, up to slots_ in flight; returns when all are answered.
  void WriteAll(const Bytes& fh, const StateId& sid, uint64_t total, uint32_t chunk,
                const Bytes& data) {
    uint64_t sent = 0, done = 0;
    std::deque<std::pair<uint32_t, uint32_t>> in_flight;  // (xid, slot)
    std::vector<bool> busy(slots_, false);
    while (done < total) {
      while (sent < total && in_flight.size() < slots_) {
        uint32_t slot = 0;
        while (busy[slot]) ++slot;
        busy[slot] = true;
        const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(chunk, total - sent));
        Encoder e;
        Begin(e, 3, slot);
        e.WriteU32(kPutFh);
        e.WriteOpaque(fh);
        e.WriteU32(kWrite);
        WriteStateId(e, sid);
        e.WriteU64(sent);
        e.WriteU32(0);  // UNSTABLE4
        e.WriteOpaque(ByteView(data.data(), n));
        in_flight.emplace_back(Send(e), slot);
        sent += n;
      }
      auto [xid, slot] = in_flight.front();
      in_flight.pop_front();
      Decoder d = Receive(xid, slot);
      Expect(d, kPutFh);
      Expect(d, kWrite);
      uint32_t count = 0;
      d.ReadU32(&count);
      done += count;
      busy[slot] = false;
      if (count == 0) Die("WRITE wrote nothing");
    }
  }

  void CommitClose(const Bytes& fh, StateId sid) {
    Encoder e;
    Begin(e, 4, 0);
    e.WriteU32(kPutFh);
    e.WriteOpaque(fh);
    e.WriteU32(kCommit);
    e.WriteU64(0);
    e.WriteU32(0);
    e.WriteU32(kClose);
    e.WriteU32(0);
    WriteStateId(e, sid);
    Decoder d = Call(e, 0);
    Expect(d, kPutFh);
    Expect(d, kCommit);
    ByteView verifier;
    d.ReadFixedOpaque(8, &verifier);
    Expect(d, kClose);
  }

 private:
  void Setup() {
    // EXCHANGE_ID (RFC 8881 §18.35).
    Encoder e;
    BeginCompound(e, 1);
    e.WriteU32(kExchangeId);
    uint8_t verifier[8];
    std::mt19937_64 rng(std::random_device{}());
    uint64_t v = rng();
    std::memcpy(verifier, &v, 8);
    e.WriteFixedOpaque(ByteView(verifier, 8));
    e.WriteString("bucketfs-write-client-" + std::to_string(::getpid()) + "-" +
                  std::to_string(v));
    e.WriteU32(0x00010000);  // EXCHGID4_FLAG_USE_NON_PNFS
    e.WriteU32(0);           // SP4_NONE
    e.WriteU32(0);           // no implementation id
    Decoder d = Receive(Send(e), UINT32_MAX);
    Expect(d, kExchangeId);
    uint32_t seq = 0;
    d.ReadU64(&clientid_);
    d.ReadU32(&seq);
    // CREATE_SESSION (§18.36).
    Encoder c;
    BeginCompound(c, 1);
    c.WriteU32(kCreateSession);
    c.WriteU64(clientid_);
    c.WriteU32(seq);
    c.WriteU32(0);  // flags
    for (int chan = 0; chan < 2; ++chan) {
      c.WriteU32(0);                       // headerpadsize
      c.WriteU32(chan == 0 ? 2 << 20 : 4096);  // maxrequestsize
      c.WriteU32(chan == 0 ? 2 << 20 : 4096);  // maxresponsesize
      c.WriteU32(4096);                    // maxresponsesize_cached
      c.WriteU32(16);                      // maxoperations
      c.WriteU32(chan == 0 ? slots_ : 1);  // maxrequests
      c.WriteU32(0);                       // no rdma_ird
    }
    c.WriteU32(0x40000000);  // cb_program
    c.WriteU32(1);           // one callback security parameter: AUTH_NONE
    c.WriteU32(0);
    Decoder r = Receive(Send(c), UINT32_MAX);
    Expect(r, kCreateSession);
    ByteView sid;
    if (!r.ReadFixedOpaque(16, &sid)) Die("bad CREATE_SESSION reply");
    std::memcpy(sessionid_, sid.data(), 16);
    uint32_t granted_seq = 0, flags = 0;
    r.ReadU32(&granted_seq);
    r.ReadU32(&flags);
    uint32_t hp, mreq, mres, mcache, mops, mreqs;
    r.ReadU32(&hp);
    r.ReadU32(&mreq);
    r.ReadU32(&mres);
    r.ReadU32(&mcache);
    r.ReadU32(&mops);
    r.ReadU32(&mreqs);
    slots_ = std::min(slots_, std::max<uint32_t>(mreqs, 1));
    // RECLAIM_COMPLETE (§18.51): nothing to reclaim.
    Encoder rc;
    Begin(rc, 2, 0);
    rc.WriteU32(kReclaimComplete);
    rc.WriteBool(false);
    Decoder rr = Call(rc, 0);
    uint32_t op = 0, status = 0;
    rr.ReadU32(&op);
    rr.ReadU32(&status);  // COMPLETE_ALREADY is fine
  }

  static void WriteStateId(Encoder& e, const StateId& s) {
    e.WriteU32(s.seqid);
    e.WriteFixedOpaque(ByteView(s.other, 12));
  }
  static StateId ReadStateId(Decoder& d) {
    StateId s;
    ByteView other;
    if (!d.ReadU32(&s.seqid) || !d.ReadFixedOpaque(12, &other)) Die("bad stateid");
    std::memcpy(s.other, other.data(), 12);
    return s;
  }

  void BeginCompound(Encoder& e, uint32_t ops) {
    pending_header_ = e.size();
    e.WriteU32(0);  // record mark, patched in Send
    e.WriteU32(++xid_);
    e.WriteU32(0);  // CALL
    e.WriteU32(2);
    e.WriteU32(100003);
    e.WriteU32(4);
    e.WriteU32(1);  // COMPOUND
    // AUTH_SYS as root (RFC 5531 §A.2).
    Encoder cred;
    cred.WriteU32(0);
    cred.WriteString("bench");
    cred.WriteU32(0);
    cred.WriteU32(0);
    cred.WriteU32(0);
    e.WriteU32(1);
    e.WriteOpaque(cred.buffer());
    e.WriteU32(0);  // verifier AUTH_NONE
    e.WriteU32(0);
    e.WriteString("");  // tag
    e.WriteU32(1);      // minor version
    e.WriteU32(ops);
  }
  // A COMPOUND of `ops` operations (SEQUENCE on `slot` included, written here).
  void Begin(Encoder& e, uint32_t ops, uint32_t slot) {
    BeginCompound(e, ops);
    e.WriteU32(kSequence);
    e.WriteFixedOpaque(ByteView(sessionid_, 16));
    e.WriteU32(seqids_[slot]++);
    e.WriteU32(slot);
    e.WriteU32(slots_ - 1);
    e.WriteBool(false);
  }
  uint32_t Send(Encoder& e) {
    e.PatchU32(pending_header_, 0x80000000u | static_cast<uint32_t>(e.size() - 4));
    asio::write(socket_, asio::buffer(e.buffer().data(), e.size()));
    return xid_;
  }
  Decoder Call(Encoder& e, uint32_t slot) { return Receive(Send(e), slot); }

  // Reads replies until the one for `xid` (replies to other xids are kept for later).
  Decoder Receive(uint32_t xid, uint32_t slot) {
    while (replies_.count(xid) == 0) {
      Bytes record;
      for (bool last = false; !last;) {
        uint8_t h[4];
        asio::read(socket_, asio::buffer(h, 4));
        uint32_t mark = (uint32_t{h[0]} << 24) | (uint32_t{h[1]} << 16) | (uint32_t{h[2]} << 8) | h[3];
        last = (mark & 0x80000000u) != 0;
        std::size_t old = record.size();
        record.resize(old + (mark & 0x7fffffffu));
        asio::read(socket_, asio::buffer(record.data() + old, record.size() - old));
      }
      uint32_t rxid = 0;
      std::memcpy(&rxid, record.data(), 4);
      rxid = __builtin_bswap32(rxid);
      replies_[rxid] = std::move(record);
    }
    current_ = std::move(replies_[xid]);
    replies_.erase(xid);
    Decoder d{ByteView(current_.data(), current_.size())};
    uint32_t v = 0, msg = 0, stat = 0, flavor = 0, accept = 0, status = 0;
    ByteView verf;
    d.ReadU32(&v);
    d.ReadU32(&msg);
    d.ReadU32(&stat);
    d.ReadU32(&flavor);
    d.ReadOpaque(400, &verf);
    d.ReadU32(&accept);
    if (msg != 1 || stat != 0 || accept != 0) Die("RPC call rejected");
    d.ReadU32(&status);
    std::string tag;
    d.ReadString(1024, &tag);
    uint32_t n = 0;
    d.ReadArrayLength(64, &n);
    if (status != 0) {
      // Say which op failed: skip the results before it.
      for (uint32_t i = 0; i < n; ++i) {
        uint32_t op = 0, st = 0;
        if (!d.ReadU32(&op) || !d.ReadU32(&st)) break;
        if (st != 0) Die("op " + std::to_string(op) + " failed with NFS status " + std::to_string(st));
        break;  // results have op-specific bodies: only the first op is reported reliably
      }
      Die("COMPOUND failed with NFS status " + std::to_string(status));
    }
    if (slot != UINT32_MAX) {
      Expect(d, kSequence);
      ByteView skip;
      d.ReadFixedOpaque(16, &skip);
      uint32_t u;
      for (int i = 0; i < 5; ++i) d.ReadU32(&u);
    }
    return d;
  }
  static void Expect(Decoder& d, uint32_t op) {
    uint32_t got = 0, status = 0;
    if (!d.ReadU32(&got) || !d.ReadU32(&status) || got != op || status != 0) {
      Die("op " + std::to_string(op) + " failed: status " + std::to_string(status));
    }
  }

  asio::io_context io_;
  asio::ip::tcp::socket socket_;
  uint32_t slots_;
  std::vector<uint32_t> seqids_;
  uint64_t clientid_ = 0;
  uint8_t sessionid_[16] = {};
  uint32_t xid_ = 0;
  std::size_t pending_header_ = 0;
  std::map<uint32_t, Bytes> replies_;
  Bytes current_;
};

struct Target {
  bool nfs = false;
  std::string host, port, export_name, dir;
};

Target ParseTarget(const std::string& t) {
  Target out;
  if (t.rfind("nfs://", 0) != 0) {
    out.dir = t;
    return out;
  }
  out.nfs = true;
  std::string rest = t.substr(6);
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  out.export_name = slash == std::string::npos ? "" : rest.substr(slash + 1);
  auto colon = hostport.rfind(':');
  out.host = hostport.substr(0, colon);
  out.port = colon == std::string::npos ? "2049" : hostport.substr(colon + 1);
  return out;
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

Bytes RandomBytes(std::size_t n) {
  Bytes b(n);
  std::mt19937_64 rng(42);
  for (auto& c : b) c = static_cast<uint8_t>(rng());
  return b;
}

void LocalWrite(const std::string& path, const Bytes& data, uint64_t total) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) Die("open " + path + ": " + std::strerror(errno));
  for (uint64_t off = 0; off < total;) {
    std::size_t n = std::min<uint64_t>(data.size(), total - off);
    ssize_t w = ::pwrite(fd, data.data(), n, static_cast<off_t>(off));
    if (w <= 0) Die("write " + path + ": " + std::strerror(errno));
    off += static_cast<uint64_t>(w);
  }
  if (::fsync(fd) != 0) Die("fsync " + path + ": " + std::strerror(errno));
  if (::close(fd) != 0) Die("close " + path + ": " + std::strerror(errno));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr,
                 "usage: write_client create TARGET PREFIX COUNT SIZE | seq TARGET FILE MIB\n");
    return 2;
  }
  const std::string mode = argv[1];
  Target t = ParseTarget(argv[2]);
  if (mode == "create" && argc == 6) {
    const std::string prefix = argv[3];
    const long count = std::strtol(argv[4], nullptr, 10);
    const std::size_t size = std::strtoul(argv[5], nullptr, 10);
    if (count <= 0 || count > 100000 || size > (64u << 20)) Die("bad COUNT or SIZE");
    Bytes data = RandomBytes(size);
    auto start = Clock::now();
    if (t.nfs) {
      NfsSession s(t.host, t.port, 1);
      Bytes root = s.RootFh(t.export_name);
      start = Clock::now();
      for (long i = 0; i < count; ++i) {
        auto [sid, fh] = s.Create(root, prefix + "-f" + std::to_string(i));
        s.WriteAll(fh, sid, size, static_cast<uint32_t>(size), data);
        s.CommitClose(fh, sid);
      }
    } else {
      for (long i = 0; i < count; ++i) {
        LocalWrite(t.dir + "/" + prefix + "-f" + std::to_string(i), data, size);
      }
    }
    double secs = Seconds(start);
    std::printf("files=%ld size=%zu seconds=%.2f files_s=%.1f\n", count, size, secs,
                count / secs);
    return 0;
  }
  if (mode == "seq" && argc == 5) {
    const std::string file = argv[3];
    const long mib = std::strtol(argv[4], nullptr, 10);
    if (mib <= 0 || mib > 16384) Die("bad MIB");
    const uint64_t total = static_cast<uint64_t>(mib) << 20;
    Bytes data = RandomBytes(1 << 20);
    auto start = Clock::now();
    if (t.nfs) {
      NfsSession s(t.host, t.port, 16);
      Bytes root = s.RootFh(t.export_name);
      start = Clock::now();
      auto [sid, fh] = s.Create(root, file);
      s.WriteAll(fh, sid, total, 1 << 20, data);
      s.CommitClose(fh, sid);
    } else {
      LocalWrite(t.dir + "/" + file, data, total);
    }
    double secs = Seconds(start);
    std::printf("mib=%ld seconds=%.2f mib_s=%.1f\n", mib, secs, mib / secs);
    return 0;
  }
  std::fprintf(stderr, "unknown mode or arguments\n");
  return 2;
}
