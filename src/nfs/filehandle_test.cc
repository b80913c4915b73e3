#include "nfs/filehandle.h"

#include <gtest/gtest.h>

namespace bucketfs::nfs {
namespace {

TEST(FileHandleTest, RoundTrips) {
  for (FileHandle fh : {FileHandle{0, kPseudoRootIno}, FileHandle{1, 1}, FileHandle{7, 42},
                        FileHandle{0xffffffff, 0xffffffffffffffffull}}) {
    Bytes wire = fh.Encode();
    EXPECT_LE(wire.size(), 128u);
    auto back = FileHandle::Decode(wire);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, fh);
  }
}

TEST(FileHandleTest, RejectsMalformed) {
  Bytes good = FileHandle{3, 9}.Encode();
  EXPECT_FALSE(FileHandle::Decode({}).has_value());
  EXPECT_FALSE(FileHandle::Decode(ByteView(good).first(15)).has_value());
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_FALSE(FileHandle::Decode(longer).has_value());
  for (std::size_t i : {0u, 1u, 2u, 3u}) {
    Bytes bad = good;
    bad[i] ^= 0x40;
    EXPECT_FALSE(FileHandle::Decode(bad).has_value()) << i;
  }
  EXPECT_FALSE(FileHandle::Decode(FileHandle{3, 0}.Encode()).has_value());  // ino 0
  EXPECT_FALSE(FileHandle::Decode(FileHandle{0, 5}.Encode()).has_value());  // pseudo ino != 1
  Bytes kind_mismatch = FileHandle{0, kPseudoRootIno}.Encode();
  kind_mismatch[1] = 1;  // export kind with export id 0
  EXPECT_FALSE(FileHandle::Decode(kind_mismatch).has_value());
}

}  // namespace
}  // namespace bucketfs::nfs
