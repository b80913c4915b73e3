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

TEST(XdrTest, SignedAndWideTypesAndOpaqueCopies) {
  Encoder e;
  e.WriteI64(-5);
  e.WriteU64(~0ull);
  e.WriteBool(false);
  const uint8_t data[5] = {1, 2, 3, 4, 5};
  e.WriteOpaque(ByteView(data, 5));
  e.WriteString("");
  Decoder d(e.buffer());
  int64_t i64;
  uint64_t u64;
  bool b = true;
  Bytes copy;
  std::string empty = "x";
  ASSERT_TRUE(d.ReadI64(&i64) && d.ReadU64(&u64) && d.ReadBool(&b) && d.ReadOpaque(5, &copy) &&
              d.ReadString(0, &empty));
  EXPECT_EQ(i64, -5);
  EXPECT_EQ(u64, ~0ull);
  EXPECT_FALSE(b);
  EXPECT_EQ(copy, Bytes(data, data + 5));
  EXPECT_EQ(empty, "");
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(XdrTest, PaddingIsZeroAndAlignsToFour) {
  for (std::size_t n = 0; n < 8; ++n) {
    Encoder e;
    e.WriteOpaque(Bytes(n, 0xff));
    EXPECT_EQ(e.size(), 4 + (n + 3) / 4 * 4) << n;
    for (std::size_t i = 4 + n; i < e.size(); ++i) EXPECT_EQ(e.buffer()[i], 0) << n;
  }
}

TEST(XdrTest, ReserveAndPatch) {
  Encoder e;
  const std::size_t slot = e.ReserveU32();
  e.WriteU32(7);
  e.PatchU32(slot, 0x01020304);
  EXPECT_EQ(e.buffer(), (Bytes{1, 2, 3, 4, 0, 0, 0, 7}));
  e.Truncate(4);
  EXPECT_EQ(e.size(), 4u);
}

TEST(XdrTest, SkipAndRestRespectBounds) {
  Encoder e;
  e.WriteU32(1);
  e.WriteU32(2);
  Decoder d(e.buffer());
  EXPECT_TRUE(d.Skip(4));
  EXPECT_EQ(d.position(), 4u);
  EXPECT_EQ(d.Rest().size(), 4u);
  EXPECT_FALSE(d.Skip(5));
  EXPECT_TRUE(d.Rest().empty());
}

TEST(XdrTest, HugeLengthsAreRejectedWithoutAllocating) {
  Encoder e;
  e.WriteU32(0xffffffff);
  e.WriteU32(0);
  Bytes out;
  Decoder d(e.buffer());
  EXPECT_FALSE(d.ReadOpaque(~std::size_t{0}, &out));
  EXPECT_EQ(out.capacity(), 0u);
  std::string s;
  Decoder d2(e.buffer());
  EXPECT_FALSE(d2.ReadString(~std::size_t{0}, &s));
  EXPECT_TRUE(s.empty());
  uint32_t n;
  Decoder d3(e.buffer());
  EXPECT_FALSE(d3.ReadArrayLength(~0u, &n));  // under the max, but 4 bytes cannot hold it
}

}  // namespace
}  // namespace bucketfs::xdr
