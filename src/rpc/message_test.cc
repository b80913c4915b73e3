// Call-header decoding and reply encoding (RFC 5531 §9, §8.2, appendix A).
#include "rpc/message.h"

#include <gtest/gtest.h>

#include <string>

namespace bucketfs::rpc {
namespace {

CallContext BaseCall() {
  CallContext ctx;
  ctx.xid = 0x11223344;
  ctx.program = 100003;
  ctx.version = 4;
  ctx.procedure = 1;
  return ctx;
}

// A call with the given credential (flavor + raw body), an AUTH_NONE verifier and 4 arg bytes.
Bytes CallWithCred(uint32_t flavor, ByteView body) {
  xdr::Encoder e;
  for (uint32_t v : {0x11223344u, 0u, 2u, 100003u, 4u, 1u, flavor}) e.WriteU32(v);
  e.WriteOpaque(body);
  e.WriteU32(0);
  e.WriteU32(0);
  e.WriteU32(0xabcdef01);
  return e.Release();
}

TEST(MessageTest, DecodesAuthNoneCall) {
  xdr::Encoder e;
  EncodeCallHeader(e, BaseCall());
  e.WriteU32(0xabcdef01);
  CallContext ctx;
  ByteView args;
  ASSERT_EQ(DecodeCall(e.buffer(), &ctx, &args), CallDecode::kOk);
  EXPECT_EQ(ctx.xid, 0x11223344u);
  EXPECT_EQ(ctx.program, 100003u);
  EXPECT_EQ(ctx.version, 4u);
  EXPECT_EQ(ctx.procedure, 1u);
  EXPECT_EQ(ctx.flavor, AuthFlavor::kNone);
  ASSERT_EQ(args.size(), 4u);
  EXPECT_EQ(args[0], 0xab);
}

TEST(MessageTest, DecodesAuthSysCall) {
  CallContext in = BaseCall();
  in.flavor = AuthFlavor::kSys;
  in.sys.stamp = 42;
  in.sys.machine_name = "host.example";
  in.sys.uid = 1000;
  in.sys.gid = 100;
  in.sys.gids = {4, 24, 27};
  xdr::Encoder e;
  EncodeCallHeader(e, in);
  CallContext ctx;
  ByteView args;
  ASSERT_EQ(DecodeCall(e.buffer(), &ctx, &args), CallDecode::kOk);
  EXPECT_EQ(ctx.flavor, AuthFlavor::kSys);
  EXPECT_EQ(ctx.sys.stamp, 42u);
  EXPECT_EQ(ctx.sys.machine_name, "host.example");
  EXPECT_EQ(ctx.sys.uid, 1000u);
  EXPECT_EQ(ctx.sys.gid, 100u);
  EXPECT_EQ(ctx.sys.gids, (std::vector<uint32_t>{4, 24, 27}));
  EXPECT_TRUE(args.empty());
}

TEST(MessageTest, MalformedAuthSysIsBadCred) {
  auto sys_body = [](std::string_view name, uint32_t ngids, uint32_t trailing) {
    xdr::Encoder b;
    b.WriteU32(1);
    b.WriteString(name);
    b.WriteU32(0);
    b.WriteU32(0);
    b.WriteU32(ngids);
    for (uint32_t i = 0; i < ngids; ++i) b.WriteU32(i);
    for (uint32_t i = 0; i < trailing; ++i) b.WriteU32(0);
    return b.Release();
  };
  CallContext ctx;
  ByteView args;
  Bytes ok = CallWithCred(1, sys_body(std::string(255, 'm'), 16, 0));
  EXPECT_EQ(DecodeCall(ok, &ctx, &args), CallDecode::kOk);
  EXPECT_EQ(DecodeCall(CallWithCred(1, sys_body(std::string(256, 'm'), 0, 0)), &ctx, &args),
            CallDecode::kBadCred);  // machine name too long
  EXPECT_EQ(DecodeCall(CallWithCred(1, sys_body("m", 17, 0)), &ctx, &args),
            CallDecode::kBadCred);  // too many gids
  EXPECT_EQ(DecodeCall(CallWithCred(1, sys_body("m", 2, 1)), &ctx, &args),
            CallDecode::kBadCred);  // trailing bytes in the body
  Bytes truncated = sys_body("m", 2, 0);
  truncated.resize(truncated.size() - 4);
  EXPECT_EQ(DecodeCall(CallWithCred(1, truncated), &ctx, &args), CallDecode::kBadCred);
  Bytes big(401, 0);  // opaque_auth body over 400 bytes
  EXPECT_EQ(DecodeCall(CallWithCred(0, big), &ctx, &args), CallDecode::kBadCred);
}

TEST(MessageTest, UnsupportedFlavorsAreTooWeak) {
  CallContext ctx;
  ByteView args;
  const uint8_t body[8] = {};
  EXPECT_EQ(DecodeCall(CallWithCred(6, ByteView(body, 8)), &ctx, &args), CallDecode::kTooWeak);
  EXPECT_EQ(ctx.xid, 0x11223344u);
  EXPECT_EQ(DecodeCall(CallWithCred(3, {}), &ctx, &args), CallDecode::kTooWeak);
  EXPECT_EQ(DecodeCall(CallWithCred(99, {}), &ctx, &args), CallDecode::kTooWeak);
}

TEST(MessageTest, BadRpcVersionIsRpcMismatch) {
  xdr::Encoder e;
  EncodeCallHeader(e, BaseCall());
  Bytes call = e.Release();
  call[11] = 3;
  CallContext ctx;
  ByteView args;
  EXPECT_EQ(DecodeCall(call, &ctx, &args), CallDecode::kRpcMismatch);
  EXPECT_EQ(ctx.xid, 0x11223344u);
}

TEST(MessageTest, TruncatedCallsAtEveryLength) {
  xdr::Encoder e;
  CallContext in = BaseCall();
  in.flavor = AuthFlavor::kSys;
  in.sys.machine_name = "m";
  EncodeCallHeader(e, in);
  const Bytes call = e.Release();
  for (std::size_t n = 0; n < call.size(); ++n) {
    CallContext ctx;
    ByteView args;
    const CallDecode got = DecodeCall(ByteView(call).first(n), &ctx, &args);
    if (n < 8) {
      EXPECT_EQ(got, CallDecode::kDrop) << n;
    } else if (n < 24) {
      EXPECT_EQ(got, CallDecode::kGarbage) << n;
    } else if (n < call.size() - 8) {
      EXPECT_EQ(got, CallDecode::kBadCred) << n;
    } else {
      EXPECT_EQ(got, CallDecode::kBadVerf) << n;
    }
  }
}

TEST(MessageTest, NonCallMessages) {
  CallContext ctx;
  ByteView args;
  xdr::Encoder reply;
  EncodeAcceptedReply(reply, 5, AcceptStat::kSuccess);
  EXPECT_EQ(DecodeCall(reply.buffer(), &ctx, &args), CallDecode::kReply);
  EXPECT_EQ(ctx.xid, 5u);
  xdr::Encoder junk;
  junk.WriteU32(1);
  junk.WriteU32(7);  // msg_type 7
  EXPECT_EQ(DecodeCall(junk.buffer(), &ctx, &args), CallDecode::kDrop);
}

TEST(MessageTest, AcceptedRepliesRoundTrip) {
  xdr::Encoder e;
  const std::size_t stat = BeginAcceptedReply(e, 9);
  e.WriteU32(77);
  FinishAcceptedReply(e, stat, AcceptStat::kSuccess);
  ReplyHeader r;
  ASSERT_TRUE(DecodeReply(e.buffer(), &r));
  EXPECT_EQ(r.xid, 9u);
  EXPECT_EQ(r.reply_stat, ReplyStat::kAccepted);
  EXPECT_EQ(r.accept_stat, AcceptStat::kSuccess);
  ASSERT_EQ(r.results.size(), 4u);
  EXPECT_EQ(r.results[3], 77);
  // Exact wire bytes: xid, REPLY, MSG_ACCEPTED, AUTH_NONE verifier, SUCCESS, results.
  const Bytes expected = {0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
                          0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 77};
  EXPECT_EQ(e.buffer(), expected);

  for (AcceptStat s : {AcceptStat::kProgUnavail, AcceptStat::kProcUnavail, AcceptStat::kGarbageArgs,
                       AcceptStat::kSystemErr}) {
    xdr::Encoder f;
    const std::size_t at = BeginAcceptedReply(f, 1);
    f.WriteU32(123);  // partial results are dropped
    FinishAcceptedReply(f, at, s);
    EXPECT_EQ(f.size(), 24u);
    ASSERT_TRUE(DecodeReply(f.buffer(), &r));
    EXPECT_EQ(r.accept_stat, s);
  }

  xdr::Encoder m;
  EncodeProgMismatch(m, 2, 3, 4);
  ASSERT_TRUE(DecodeReply(m.buffer(), &r));
  EXPECT_EQ(r.accept_stat, AcceptStat::kProgMismatch);
  EXPECT_EQ(r.mismatch_low, 3u);
  EXPECT_EQ(r.mismatch_high, 4u);
}

TEST(MessageTest, DeniedRepliesRoundTrip) {
  xdr::Encoder e;
  EncodeDeniedRpcMismatch(e, 3);
  ReplyHeader r;
  ASSERT_TRUE(DecodeReply(e.buffer(), &r));
  EXPECT_EQ(r.reply_stat, ReplyStat::kDenied);
  EXPECT_EQ(r.reject_stat, RejectStat::kRpcMismatch);
  EXPECT_EQ(r.mismatch_low, 2u);
  EXPECT_EQ(r.mismatch_high, 2u);

  for (AuthStat why : {AuthStat::kBadCred, AuthStat::kBadVerf, AuthStat::kTooWeak}) {
    xdr::Encoder a;
    EncodeDeniedAuth(a, 4, why);
    EXPECT_EQ(a.size(), 20u);
    ASSERT_TRUE(DecodeReply(a.buffer(), &r));
    EXPECT_EQ(r.xid, 4u);
    EXPECT_EQ(r.reject_stat, RejectStat::kAuthError);
    EXPECT_EQ(r.auth_stat, why);
  }
}

}  // namespace
}  // namespace bucketfs::rpc
