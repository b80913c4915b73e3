#include "nfs/attrs.h"

#include <gtest/gtest.h>

namespace bucketfs::nfs {
namespace {

std::vector<uint32_t> Words(const Bytes& b, std::size_t off, std::size_t n) {
  xdr::Decoder d(ByteView(b).subspan(off));
  std::vector<uint32_t> out(n);
  for (auto& w : out) EXPECT_TRUE(d.ReadU32(&w));
  return out;
}

AttrTarget SampleTarget() {
  AttrTarget t;
  t.fh = FileHandle{2, 77};
  t.attr.ino = 77;
  t.attr.type = vfs::FileType::kRegular;
  t.attr.mode = 0640;
  t.attr.uid = 1000;
  t.attr.gid = 100;
  t.attr.size = 12345;
  t.attr.change = 9;
  t.attr.mtime = {1700000000, 5};
  t.fsid = {2, 1};
  return t;
}

TEST(BitmapTest, SetTestEncodeDecode) {
  Bitmap b{0, 31, 33, 75};
  EXPECT_TRUE(b.Test(0));
  EXPECT_TRUE(b.Test(75));
  EXPECT_FALSE(b.Test(1));
  EXPECT_FALSE(b.Test(500));
  xdr::Encoder e;
  b.Encode(e);
  xdr::Decoder d(e.buffer());
  Bitmap back;
  ASSERT_TRUE(back.Decode(d));
  EXPECT_EQ(back, b);
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(BitmapTest, TrailingZeroWordsAreDropped) {
  Bitmap b{1};
  b.Set(64);
  b.Clear(64);
  xdr::Encoder e;
  b.Encode(e);
  EXPECT_EQ(e.size(), 8u);  // count 1 + one word
}

TEST(BitmapTest, RejectsTooManyWords) {
  xdr::Encoder e;
  e.WriteU32(Bitmap::kMaxWords + 1);
  for (uint32_t i = 0; i <= Bitmap::kMaxWords; ++i) e.WriteU32(0);
  xdr::Decoder d(e.buffer());
  Bitmap b;
  EXPECT_FALSE(b.Decode(d));
}

TEST(BitmapTest, DecodeTruncatedFails) {
  const uint8_t wire[] = {0, 0, 0, 2, 0, 0, 0, 1};
  xdr::Decoder d(wire);
  Bitmap b;
  EXPECT_FALSE(b.Decode(d));
}

TEST(AttrsTest, EncodesRequestedInBitOrderAndOmitsUnsupported) {
  Bitmap req{fattr::kType, fattr::kSize, fattr::kAcl, fattr::kMode, fattr::kOwner, 200};
  xdr::Encoder e;
  EncodeFattr(req, SampleTarget(), AttrLimits{}, e);
  const Bytes& b = e.buffer();
  // bitmap: 2 words; acl (12) and bit 200 omitted.
  auto w = Words(b, 0, 3);
  EXPECT_EQ(w[0], 2u);
  EXPECT_EQ(w[1], (1u << fattr::kType) | (1u << fattr::kSize));
  EXPECT_EQ(w[2], (1u << (fattr::kMode - 32)) | (1u << (fattr::kOwner - 32)));
  xdr::Decoder d(ByteView(b).subspan(12));
  uint32_t len = 0, type = 0, mode = 0;
  uint64_t size = 0;
  std::string owner;
  ASSERT_TRUE(d.ReadU32(&len));
  EXPECT_EQ(len, d.remaining());
  ASSERT_TRUE(d.ReadU32(&type));
  ASSERT_TRUE(d.ReadU64(&size));
  ASSERT_TRUE(d.ReadU32(&mode));
  ASSERT_TRUE(d.ReadString(100, &owner));
  EXPECT_EQ(type, 1u);
  EXPECT_EQ(size, 12345u);
  EXPECT_EQ(mode, 0640u);
  EXPECT_EQ(owner, "1000");
  EXPECT_EQ(d.remaining(), 0u);
}

TEST(AttrsTest, MinorVersionGatesAttributes) {
  EXPECT_FALSE(SupportedAttrs(0).Test(fattr::kSuppattrExclcreat));
  EXPECT_TRUE(SupportedAttrs(1).Test(fattr::kSuppattrExclcreat));
  EXPECT_TRUE(SupportedAttrs(1).Test(fattr::kFsLayoutTypes));
  for (uint32_t bit :
       {fattr::kSupportedAttrs, fattr::kType, fattr::kFhExpireType, fattr::kChange, fattr::kSize,
        fattr::kLinkSupport, fattr::kSymlinkSupport, fattr::kNamedAttr, fattr::kFsid,
        fattr::kUniqueHandles, fattr::kLeaseTime, fattr::kRdattrError, fattr::kFilehandle}) {
    EXPECT_TRUE(SupportedAttrs(0).Test(bit)) << "REQUIRED attribute " << bit;
  }
  Bitmap req{fattr::kSuppattrExclcreat};
  AttrLimits l;
  l.minor_version = 0;
  EXPECT_TRUE(EncodeAttrValues(req, SampleTarget(), l).empty());
  l.minor_version = 1;
  // suppattr_exclcreat: every settable attribute (EXCLUSIVE4_1 keeps the verifier elsewhere).
  Bytes v = EncodeAttrValues(req, SampleTarget(), l);
  xdr::Decoder d(v);
  Bitmap excl;
  ASSERT_TRUE(excl.Decode(d));
  EXPECT_EQ(excl, SettableAttrs());
}

TEST(AttrsTest, WriteOnlyTimesAreSupportedButNeverEncoded) {
  EXPECT_TRUE(SupportedAttrs(0).Test(fattr::kTimeAccessSet));
  EXPECT_TRUE(SupportedAttrs(0).Test(fattr::kTimeModifySet));
  EXPECT_TRUE(
      EncodeAttrValues(Bitmap{fattr::kTimeModifySet}, SampleTarget(), AttrLimits{}).empty());
}

TEST(AttrsTest, FilehandleFsidAndMountedOn) {
  AttrTarget t = SampleTarget();
  Bitmap req{fattr::kFsid, fattr::kFilehandle, fattr::kMountedOnFileId};
  Bytes v = EncodeAttrValues(req, t, AttrLimits{});
  xdr::Decoder d(v);
  uint64_t major = 0, minor = 0, mounted = 0;
  ByteView fh;
  ASSERT_TRUE(d.ReadU64(&major) && d.ReadU64(&minor) && d.ReadOpaque(128, &fh) &&
              d.ReadU64(&mounted));
  EXPECT_EQ(major, 2u);
  EXPECT_EQ(minor, 1u);
  EXPECT_EQ(HandleKey().Decode(fh).fh, t.fh);
  EXPECT_EQ(mounted, 77u);
  t.mounted_on_fileid = 5;
  v = EncodeAttrValues(Bitmap{fattr::kMountedOnFileId}, t, AttrLimits{});
  xdr::Decoder d2(v);
  ASSERT_TRUE(d2.ReadU64(&mounted));
  EXPECT_EQ(mounted, 5u);
}

TEST(AttrsTest, RdattrErrorOnly) {
  xdr::Encoder e;
  EncodeFattrError(Stat::kAccess, e);
  auto w = Words(e.buffer(), 0, 4);
  EXPECT_EQ(w[0], 1u);
  EXPECT_EQ(w[1], 1u << fattr::kRdattrError);
  EXPECT_EQ(w[2], 4u);
  EXPECT_EQ(w[3], static_cast<uint32_t>(Stat::kAccess));
}

TEST(AttrsTest, WriteOnlyAndStatsDetection) {
  EXPECT_TRUE(HasWriteOnlyAttrs(Bitmap{fattr::kTimeModifySet}));
  EXPECT_FALSE(HasWriteOnlyAttrs(Bitmap{fattr::kTimeModify}));
  EXPECT_TRUE(NeedsFsStats(Bitmap{fattr::kSpaceAvail}));
  EXPECT_FALSE(NeedsFsStats(Bitmap{fattr::kSpaceUsed}));
}

TEST(AttrsTest, DecodeFattr) {
  xdr::Encoder e;
  Bitmap{fattr::kSize}.Encode(e);
  e.WriteOpaque(Bytes{0, 0, 0, 0, 0, 0, 0, 9});
  xdr::Decoder d(e.buffer());
  Fattr f;
  ASSERT_TRUE(DecodeFattr(d, &f));
  EXPECT_TRUE(f.mask.Test(fattr::kSize));
  EXPECT_EQ(f.values.size(), 8u);
  // Truncated values fail.
  Bytes cut = e.buffer();
  cut.resize(cut.size() - 4);
  xdr::Decoder d2(cut);
  EXPECT_FALSE(DecodeFattr(d2, &f));
}

// A client's fattr4 for SETATTR: values in bit order.
struct SetAttrWire {
  Bitmap mask;
  xdr::Encoder values;
  Stat Decode(vfs::SetAttrRequest* out, uint32_t minor = 1) const {
    return DecodeSetAttrs(Fattr{mask, values.buffer()}, minor, out);
  }
};

TEST(SetAttrsTest, DecodesEverySettableAttribute) {
  SetAttrWire w;
  w.mask = SettableAttrs();
  w.values.WriteU64(4096);         // size
  w.values.WriteU32(0104755);      // mode: bits above 07777 are dropped
  w.values.WriteString("1001");    // owner
  w.values.WriteString("50@dom");  // owner_group
  w.values.WriteU32(0);            // time_access_set: SET_TO_SERVER_TIME4
  w.values.WriteU32(1);            // time_modify_set: SET_TO_CLIENT_TIME4
  w.values.WriteI64(-5);
  w.values.WriteU32(999999999);
  vfs::SetAttrRequest r;
  ASSERT_EQ(w.Decode(&r), Stat::kOk);
  EXPECT_EQ(r.size, 4096u);
  EXPECT_EQ(r.mode, 04755u);
  EXPECT_EQ(r.uid, 1001u);
  EXPECT_EQ(r.gid, 50u);
  EXPECT_TRUE(r.atime_now);
  EXPECT_FALSE(r.atime.has_value());
  EXPECT_FALSE(r.mtime_now);
  EXPECT_EQ(r.mtime, (vfs::Timespec{-5, 999999999}));
}

TEST(SetAttrsTest, EmptyMaskIsAnEmptyRequest) {
  SetAttrWire w;
  vfs::SetAttrRequest r;
  r.mode = 1;
  ASSERT_EQ(w.Decode(&r), Stat::kOk);
  EXPECT_TRUE(r.empty());
}

TEST(SetAttrsTest, MaskErrors) {
  vfs::SetAttrRequest r;
  SetAttrWire acl;  // supported by nobody here
  acl.mask = Bitmap{fattr::kAcl};
  EXPECT_EQ(acl.Decode(&r), Stat::kAttrNotSupp);
  SetAttrWire unknown;
  unknown.mask = Bitmap{200};
  EXPECT_EQ(unknown.Decode(&r), Stat::kAttrNotSupp);
  for (uint32_t bit : {fattr::kType, fattr::kChange, fattr::kFileId, fattr::kTimeModify,
                       fattr::kNumLinks, fattr::kSupportedAttrs}) {
    SetAttrWire ro;
    ro.mask = Bitmap{bit};
    ro.values.WriteU64(0);
    EXPECT_EQ(ro.Decode(&r), Stat::kInval) << bit;
  }
  // suppattr_exclcreat is a 4.1 attribute: read-only in 4.1, unknown in 4.0.
  SetAttrWire excl;
  excl.mask = Bitmap{fattr::kSuppattrExclcreat};
  EXPECT_EQ(excl.Decode(&r, 1), Stat::kInval);
  EXPECT_EQ(excl.Decode(&r, 0), Stat::kAttrNotSupp);
  // Unsupported wins over read-only.
  SetAttrWire both;
  both.mask = Bitmap{fattr::kType, fattr::kAcl};
  EXPECT_EQ(both.Decode(&r), Stat::kAttrNotSupp);
}

TEST(SetAttrsTest, ValueErrors) {
  vfs::SetAttrRequest r;
  SetAttrWire short_size;
  short_size.mask = Bitmap{fattr::kSize};
  short_size.values.WriteU32(1);
  EXPECT_EQ(short_size.Decode(&r), Stat::kBadXdr);
  SetAttrWire trailing;
  trailing.mask = Bitmap{fattr::kMode};
  trailing.values.WriteU32(0644);
  trailing.values.WriteU32(0);
  EXPECT_EQ(trailing.Decode(&r), Stat::kBadXdr);
  SetAttrWire name;
  name.mask = Bitmap{fattr::kOwner};
  name.values.WriteString("alice@example.com");
  EXPECT_EQ(name.Decode(&r), Stat::kBadOwner);
  SetAttrWire nsec;
  nsec.mask = Bitmap{fattr::kTimeAccessSet};
  nsec.values.WriteU32(1);
  nsec.values.WriteI64(0);
  nsec.values.WriteU32(1000000000);
  EXPECT_EQ(nsec.Decode(&r), Stat::kInval);
  SetAttrWire how;
  how.mask = Bitmap{fattr::kTimeModifySet};
  how.values.WriteU32(2);
  EXPECT_EQ(how.Decode(&r), Stat::kBadXdr);
}

TEST(SetAttrsTest, ParseOwner) {
  EXPECT_EQ(ParseOwner("0"), 0u);
  EXPECT_EQ(ParseOwner("1000"), 1000u);
  EXPECT_EQ(ParseOwner("1000@example.com"), 1000u);
  EXPECT_EQ(ParseOwner("4294967295"), 4294967295u);
  EXPECT_FALSE(ParseOwner("4294967296").has_value());
  EXPECT_FALSE(ParseOwner("99999999999").has_value());
  EXPECT_FALSE(ParseOwner("").has_value());
  EXPECT_FALSE(ParseOwner("@example.com").has_value());
  EXPECT_FALSE(ParseOwner("root").has_value());
  EXPECT_FALSE(ParseOwner("-1").has_value());
  EXPECT_FALSE(ParseOwner("1 ").has_value());
}

}  // namespace
}  // namespace bucketfs::nfs
