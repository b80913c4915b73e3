#include "rpc/xdr.h"

#include <gtest/gtest.h>

#include <string>

namespace bucketfs::xdr {
namespace {

TEST(XdrTest, RoundTripsEveryType) {
  Encoder e;
  e.WriteU32(0xdeadbeef);
  e.WriteI32(-2);
  e.WriteU64(0x0102030405060708ull);
  e.WriteBool(true);
  e.WriteString("abcde");  // 5 bytes + 3 padding
  const uint8_t fixed[3] = {1, 2, 3};
  e.WriteFixedOpaque(ByteView(fixed, 3));
  EXPECT_EQ(e.size() % 4, 0u);

  Decoder d(e.buffer());
  uint32_t u;
  int32_t i;
  uint64_t u64;
  bool b;
  std::string s;
  ByteView f;
  ASSERT_TRUE(d.ReadU32(&u) && d.ReadI32(&i) && d.ReadU64(&u64) && d.ReadBool(&b) &&
              d.ReadString(16, &s) && d.ReadFixedOpaque(3, &f));
  EXPECT_EQ(u, 0xdeadbeef);
  EXPECT_EQ(i, -2);
  EXPECT_EQ(u64, 0x0102030405060708ull);
  EXPECT_TRUE(b);
  EXPECT_EQ(s, "abcde");
  EXPECT_EQ(f[2], 3);
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(XdrTest, RejectsLengthsOverTheBoundOrTheData) {
  Encoder e;
  e.WriteU32(0xfffffff0);  // a huge opaque length with nothing behind it
  Decoder d(e.buffer());
  ByteView v;
  EXPECT_FALSE(d.ReadOpaque(1u << 30, &v));
  EXPECT_FALSE(d.ok());

  Encoder e2;
  e2.WriteString("toolong");
  Decoder d2(e2.buffer());
  std::string s;
  EXPECT_FALSE(d2.ReadString(3, &s));

  Encoder e3;
  e3.WriteU32(1000);  // array of 1000 elements, 0 bytes behind it
  Decoder d3(e3.buffer());
  uint32_t n;
  EXPECT_FALSE(d3.ReadArrayLength(1u << 20, &n));
}

TEST(XdrTest, FailureIsSticky) {
  const uint8_t two[2] = {0, 1};
  Decoder d(ByteView(two, 2));
  uint32_t u = 7;
  EXPECT_FALSE(d.ReadU32(&u));
  EXPECT_FALSE(d.ReadU32(&u));
  EXPECT_EQ(d.remaining(), 0u);
  EXPECT_FALSE(d.ok());
}

TEST(XdrTest, BoolOtherThanZeroOrOneIsInvalid) {
  Encoder e;
  e.WriteU32(2);
  Decoder d(e.buffer());
  bool b;
  EXPECT_FALSE(d.ReadBool(&b));
}

TEST(XdrTest, MissingPaddingIsAnError) {
  Encoder e;
  e.WriteU32(1);
  e.WriteRaw(AsBytes("x"));  // one byte, no padding
  Decoder d(e.buffer());
  ByteView v;
  EXPECT_FALSE(d.ReadOpaque(10, &v));
}

}  // namespace
}  // namespace bucketfs::xdr
