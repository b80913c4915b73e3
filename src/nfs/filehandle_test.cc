#include "nfs/filehandle.h"

#include <gtest/gtest.h>

namespace bucketfs::nfs {
namespace {

HandleKey KeyOf(uint8_t fill) {
  std::array<uint8_t, HandleKey::kSize> k;
  k.fill(fill);
  return HandleKey(k);
}

TEST(FileHandleTest, RoundTrips) {
  HandleKey key = KeyOf(7);
  for (FileHandle fh :
       {FileHandle{0, kPseudoRootIno, 0}, FileHandle{1, 1, 1}, FileHandle{7, 42, 99},
        FileHandle{0xffffffff, 0xffffffffffffffffull, 0xffffffff}}) {
    Bytes wire = key.Encode(fh);
    EXPECT_LE(wire.size(), 128u);
    auto back = key.Decode(wire);
    ASSERT_TRUE(back.fh.has_value());
    EXPECT_EQ(*back.fh, fh);
  }
}

TEST(FileHandleTest, RejectsMalformed) {
  HandleKey key = KeyOf(1);
  Bytes good = key.Encode(FileHandle{3, 9, 2});
  auto malformed = [&](ByteView w) {
    auto d = key.Decode(w);
    return !d.fh && d.error == HandleKey::DecodeError::kMalformed;
  };
  EXPECT_TRUE(malformed({}));
  EXPECT_TRUE(malformed(ByteView(good).first(35)));
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_TRUE(malformed(longer));
  for (std::size_t i : {0u, 1u, 2u, 3u}) {
    Bytes bad = good;
    bad[i] ^= 0x40;
    EXPECT_TRUE(malformed(bad)) << i;
  }
  EXPECT_TRUE(malformed(key.Encode(FileHandle{3, 0, 1})));               // ino 0
  EXPECT_TRUE(malformed(key.Encode(FileHandle{0, 5, 0})));               // pseudo ino != 1
  EXPECT_TRUE(malformed(key.Encode(FileHandle{0, kPseudoRootIno, 3})));  // pseudo generation
  Bytes kind_mismatch = key.Encode(FileHandle{0, kPseudoRootIno, 0});
  kind_mismatch[1] = 1;  // export kind with export id 0
  EXPECT_TRUE(malformed(kind_mismatch));
}

TEST(FileHandleTest, ForgedOrForeignHandlesAreRecognised) {
  HandleKey key = KeyOf(1);
  Bytes good = key.Encode(FileHandle{3, 9, 2});
  // Guessing another inode number without the key: the tag no longer matches.
  for (std::size_t i : {4u, 8u, 15u, 16u, 19u, 20u, 35u}) {
    Bytes forged = good;
    forged[i] ^= 0x01;
    auto d = key.Decode(forged);
    EXPECT_FALSE(d.fh.has_value()) << i;
    EXPECT_EQ(d.error, HandleKey::DecodeError::kForged) << i;
  }
  // A handle minted under another gateway's key.
  auto foreign = KeyOf(2).Decode(good);
  EXPECT_FALSE(foreign.fh.has_value());
  EXPECT_EQ(foreign.error, HandleKey::DecodeError::kForged);
}

}  // namespace
}  // namespace bucketfs::nfs
