// NFSv4 file attributes: bitmap4 and fattr4 (RFC 7530 §5, RFC 8881 §5).
//
// EncodeFattr writes the attributes a client asked for, in bit order, for one object; attributes
// we do not support are omitted and the returned bitmap says which were written. DecodeFattr
// reads a client's fattr4 (VERIFY/NVERIFY, SETATTR, CREATE, OPEN createattrs) without
// interpreting the values; DecodeSetAttrs interprets the settable ones. Pure functions over value
// types; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/bytes.h"
#include "nfs/filehandle.h"
#include "nfs/nfs4_const.h"
#include "rpc/xdr.h"
#include "vfs/vfs.h"

namespace bucketfs::nfs {

// Attribute numbers (RFC 7530 §5.8, RFC 8881 §5.8).
namespace fattr {
inline constexpr uint32_t kSupportedAttrs = 0;
inline constexpr uint32_t kType = 1;
inline constexpr uint32_t kFhExpireType = 2;
inline constexpr uint32_t kChange = 3;
inline constexpr uint32_t kSize = 4;
inline constexpr uint32_t kLinkSupport = 5;
inline constexpr uint32_t kSymlinkSupport = 6;
inline constexpr uint32_t kNamedAttr = 7;
inline constexpr uint32_t kFsid = 8;
inline constexpr uint32_t kUniqueHandles = 9;
inline constexpr uint32_t kLeaseTime = 10;
inline constexpr uint32_t kRdattrError = 11;
inline constexpr uint32_t kAcl = 12;
inline constexpr uint32_t kAclSupport = 13;
inline constexpr uint32_t kArchive = 14;
inline constexpr uint32_t kCanSetTime = 15;
inline constexpr uint32_t kCaseInsensitive = 16;
inline constexpr uint32_t kCasePreserving = 17;
inline constexpr uint32_t kChownRestricted = 18;
inline constexpr uint32_t kFilehandle = 19;
inline constexpr uint32_t kFileId = 20;
inline constexpr uint32_t kFilesAvail = 21;
inline constexpr uint32_t kFilesFree = 22;
inline constexpr uint32_t kFilesTotal = 23;
inline constexpr uint32_t kFsLocations = 24;
inline constexpr uint32_t kHidden = 25;
inline constexpr uint32_t kHomogeneous = 26;
inline constexpr uint32_t kMaxFileSize = 27;
inline constexpr uint32_t kMaxLink = 28;
inline constexpr uint32_t kMaxName = 29;
inline constexpr uint32_t kMaxRead = 30;
inline constexpr uint32_t kMaxWrite = 31;
inline constexpr uint32_t kMimeType = 32;
inline constexpr uint32_t kMode = 33;
inline constexpr uint32_t kNoTrunc = 34;
inline constexpr uint32_t kNumLinks = 35;
inline constexpr uint32_t kOwner = 36;
inline constexpr uint32_t kOwnerGroup = 37;
inline constexpr uint32_t kRawDev = 41;
inline constexpr uint32_t kSpaceAvail = 42;
inline constexpr uint32_t kSpaceFree = 43;
inline constexpr uint32_t kSpaceTotal = 44;
inline constexpr uint32_t kSpaceUsed = 45;
inline constexpr uint32_t kTimeAccess = 47;
inline constexpr uint32_t kTimeAccessSet = 48;
inline constexpr uint32_t kTimeDelta = 51;
inline constexpr uint32_t kTimeMetadata = 52;
inline constexpr uint32_t kTimeModify = 53;
inline constexpr uint32_t kTimeModifySet = 54;
inline constexpr uint32_t kMountedOnFileId = 55;
inline constexpr uint32_t kFsLayoutTypes = 62;      // 4.1
inline constexpr uint32_t kLayoutBlksize = 65;      // 4.1
inline constexpr uint32_t kSuppattrExclcreat = 75;  // 4.1
}  // namespace fattr

// bitmap4: a variable-length array of 32-bit words; bit n is word n/32, bit n%32.
class Bitmap {
 public:
  // Longest bitmap accepted from the wire: attribute numbers below 1024 (pynfs GATT4 asks for
  // 1000). Bits beyond what we know are simply unsupported (GETATTR leaves them out).
  static constexpr uint32_t kMaxWords = 32;

  Bitmap() = default;
  Bitmap(std::initializer_list<uint32_t> bits) {
    for (uint32_t b : bits) Set(b);
  }

  bool Test(uint32_t bit) const {
    return bit / 32 < words_.size() && (words_[bit / 32] >> (bit % 32)) & 1;
  }
  void Set(uint32_t bit);
  void Clear(uint32_t bit) {
    if (bit / 32 < words_.size()) words_[bit / 32] &= ~(1u << (bit % 32));
  }
  bool Empty() const;
  // Highest bit number + 1 that could be set.
  uint32_t BitLimit() const { return static_cast<uint32_t>(words_.size() * 32); }
  Bitmap Intersect(const Bitmap& other) const;
  // True if every bit set here is also set in `other`.
  bool IsSubsetOf(const Bitmap& other) const;

  // Encodes without trailing zero words.
  void Encode(xdr::Encoder& out) const;
  // Fails (and fails the decoder) for more than kMaxWords words.
  bool Decode(xdr::Decoder& in);

  friend bool operator==(const Bitmap& a, const Bitmap& b) {
    return a.IsSubsetOf(b) && b.IsSubsetOf(a);
  }

 private:
  std::vector<uint32_t> words_;
};

// The largest file size the server accepts (maxfilesize): S3's largest object, 5 TiB.
inline constexpr uint64_t kMaxFileBytes = 5ull << 40;

struct Fsid {
  uint64_t major = 0;
  uint64_t minor = 0;
};

// Everything the encoder needs to know about one object.
struct AttrTarget {
  FileHandle fh;
  vfs::Attr attr;
  Fsid fsid;
  // For an export root seen from the pseudo-fs: the junction's fileid. 0 = attr.ino.
  uint64_t mounted_on_fileid = 0;
  // File-system totals; null encodes zeros (fetch them only when NeedsFsStats()).
  const vfs::FsStats* stats = nullptr;
};

// Server-wide values that appear as attributes.
struct AttrLimits {
  uint32_t minor_version = 0;
  uint32_t lease_seconds = 90;
  uint64_t max_read = 1 << 20;
  uint64_t max_write = 1 << 20;
  HandleKey handle_key;  // encodes the filehandle attribute
};

// Attributes this server can return for `minor_version`.
Bitmap SupportedAttrs(uint32_t minor_version);
// Attributes that are write-only (time_access_set, time_modify_set): GETATTR of them is INVAL.
bool HasWriteOnlyAttrs(const Bitmap& requested);
// True if encoding `requested` needs vfs::FsStats (files_*, space_avail/free/total).
bool NeedsFsStats(const Bitmap& requested);

// Writes fattr4 {bitmap4 attrmask; attrlist4 attr_vals} for the supported subset of `requested`.
void EncodeFattr(const Bitmap& requested, const AttrTarget& target, const AttrLimits& limits,
                 xdr::Encoder& out);
// Writes the fattr4 of an object whose attributes could not be read: only rdattr_error (when
// requested; callers fail the whole operation otherwise).
void EncodeFattrError(Stat error, xdr::Encoder& out);
// The attrlist4 bytes alone for the supported subset of `requested` (used by VERIFY).
Bytes EncodeAttrValues(const Bitmap& requested, const AttrTarget& target, const AttrLimits& limits);

// fattr4 as sent by a client; `values` borrows from the request.
struct Fattr {
  Bitmap mask;
  ByteView values;
};
bool DecodeFattr(xdr::Decoder& in, Fattr* out);

// The attributes a client may set (SETATTR, CREATE/OPEN createattrs): size, mode, owner,
// owner_group, time_access_set, time_modify_set. Also what suppattr_exclcreat (RFC 8881 §5.8.1.14)
// lists for EXCLUSIVE4_1: the exclusive-create verifier is kept by the file system, not in an
// attribute, so every settable attribute may accompany it.
Bitmap SettableAttrs();

// Interprets a client's fattr4 for SETATTR (RFC 7530 §16.32, RFC 8881 §18.30) and createattrs.
// Checks the mask first: an attribute this server does not support → NFS4ERR_ATTRNOTSUPP, a
// supported one that cannot be set (type, change, time_modify, ...) → NFS4ERR_INVAL. Then the
// values, in bit order: a malformed or short value, an unknown time_how4, or bytes left over →
// NFS4ERR_BADXDR; an owner or group that is not a numeric id → NFS4ERR_BADOWNER; nseconds ≥ 10^9
// → NFS4ERR_INVAL. Mode bits above 07777 are ignored. On success *out holds the request.
Stat DecodeSetAttrs(const Fattr& fattr, uint32_t minor_version, vfs::SetAttrRequest* out);

// owner / owner_group (RFC 7530 §5.9): this server speaks numeric ids, "1000" or "1000@domain"
// (any domain). Anything else (a name, an empty string, a value over 2^32-1) is nullopt.
std::optional<uint32_t> ParseOwner(std::string_view s);

}  // namespace bucketfs::nfs
