#include "nfs/attrs.h"

#include <string>

namespace bucketfs::nfs {
namespace {

constexpr uint32_t kFh4Persistent = 0;  // RFC 7530 §4.2.3
constexpr uint32_t kMaxLink = 255;
constexpr uint32_t kMaxName = 255;

// nfs_ftype4 (RFC 7530 §3.2).
uint32_t Ftype(vfs::FileType t) {
  switch (t) {
    case vfs::FileType::kRegular:
      return 1;  // NF4REG
    case vfs::FileType::kDirectory:
      return 2;  // NF4DIR
    case vfs::FileType::kSymlink:
      return 5;  // NF4LNK
  }
  return 1;
}

void WriteTime(xdr::Encoder& e, const vfs::Timespec& t) {
  e.WriteI64(t.sec);
  e.WriteU32(t.nsec);
}

// Encodes attribute `bit`; returns false if it is not one we support.
bool EncodeOne(uint32_t bit, const AttrTarget& t, const AttrLimits& l, xdr::Encoder& e) {
  const vfs::Attr& a = t.attr;
  const vfs::FsStats zero_stats;
  const vfs::FsStats& st = t.stats ? *t.stats : zero_stats;
  switch (bit) {
    case fattr::kSupportedAttrs:
      SupportedAttrs(l.minor_version).Encode(e);
      return true;
    case fattr::kType:
      e.WriteU32(Ftype(a.type));
      return true;
    case fattr::kFhExpireType:
      e.WriteU32(kFh4Persistent);
      return true;
    case fattr::kChange:
      e.WriteU64(a.change);
      return true;
    case fattr::kSize:
      e.WriteU64(a.size);
      return true;
    case fattr::kLinkSupport:
    case fattr::kSymlinkSupport:
    case fattr::kUniqueHandles:
    case fattr::kCanSetTime:
    case fattr::kCasePreserving:
    case fattr::kChownRestricted:
    case fattr::kHomogeneous:
    case fattr::kNoTrunc:
      e.WriteBool(true);
      return true;
    case fattr::kNamedAttr:
    case fattr::kCaseInsensitive:
      e.WriteBool(false);
      return true;
    case fattr::kFsid:
      e.WriteU64(t.fsid.major);
      e.WriteU64(t.fsid.minor);
      return true;
    case fattr::kLeaseTime:
      e.WriteU32(l.lease_seconds);
      return true;
    case fattr::kRdattrError:
      e.WriteU32(static_cast<uint32_t>(Stat::kOk));
      return true;
    case fattr::kAclSupport:
      e.WriteU32(0);
      return true;
    case fattr::kFilehandle:
      e.WriteOpaque(l.handle_key.Encode(t.fh));
      return true;
    case fattr::kFileId:
      e.WriteU64(a.ino);
      return true;
    case fattr::kFilesAvail:
      e.WriteU64(st.free_files);
      return true;
    case fattr::kFilesFree:
      e.WriteU64(st.free_files);
      return true;
    case fattr::kFilesTotal:
      e.WriteU64(st.total_files);
      return true;
    case fattr::kMaxFileSize:
      e.WriteU64(kMaxFileBytes);
      return true;
    case fattr::kMaxLink:
      e.WriteU32(kMaxLink);
      return true;
    case fattr::kMaxName:
      e.WriteU32(kMaxName);
      return true;
    case fattr::kMaxRead:
      e.WriteU64(l.max_read);
      return true;
    case fattr::kMaxWrite:
      e.WriteU64(l.max_write);
      return true;
    case fattr::kMode:
      e.WriteU32(a.mode & 07777);
      return true;
    case fattr::kNumLinks:
      e.WriteU32(a.nlink);
      return true;
    case fattr::kOwner:
      e.WriteString(std::to_string(a.uid));
      return true;
    case fattr::kOwnerGroup:
      e.WriteString(std::to_string(a.gid));
      return true;
    case fattr::kRawDev:
      e.WriteU32(0);
      e.WriteU32(0);
      return true;
    case fattr::kSpaceAvail:
      e.WriteU64(st.avail_bytes);
      return true;
    case fattr::kSpaceFree:
      e.WriteU64(st.free_bytes);
      return true;
    case fattr::kSpaceTotal:
      e.WriteU64(st.total_bytes);
      return true;
    case fattr::kSpaceUsed:
      e.WriteU64(a.space_used);
      return true;
    case fattr::kTimeAccess:
      WriteTime(e, a.atime);
      return true;
    case fattr::kTimeDelta:
      WriteTime(e, vfs::Timespec{0, 1});
      return true;
    case fattr::kTimeMetadata:
      WriteTime(e, a.ctime);
      return true;
    case fattr::kTimeModify:
      WriteTime(e, a.mtime);
      return true;
    case fattr::kMountedOnFileId:
      e.WriteU64(t.mounted_on_fileid != 0 ? t.mounted_on_fileid : a.ino);
      return true;
    case fattr::kFsLayoutTypes:
      if (l.minor_version < 1) return false;
      e.WriteU32(0);  // no pNFS layouts
      return true;
    case fattr::kSuppattrExclcreat:
      if (l.minor_version < 1) return false;
      SettableAttrs().Encode(e);
      return true;
    default:
      return false;
  }
}

// Writes the values of the supported subset of `requested` and returns the returned mask.
Bitmap EncodeValues(const Bitmap& requested, const AttrTarget& t, const AttrLimits& l,
                    xdr::Encoder& values) {
  Bitmap returned;
  const Bitmap supported = SupportedAttrs(l.minor_version);
  const uint32_t limit = std::min(requested.BitLimit(), supported.BitLimit());
  for (uint32_t bit = 0; bit < limit; ++bit) {
    if (!requested.Test(bit) || !supported.Test(bit)) continue;
    if (EncodeOne(bit, t, l, values)) returned.Set(bit);
  }
  return returned;
}

}  // namespace

void Bitmap::Set(uint32_t bit) {
  if (bit / 32 >= words_.size()) words_.resize(bit / 32 + 1, 0);
  words_[bit / 32] |= 1u << (bit % 32);
}

bool Bitmap::Empty() const {
  for (uint32_t w : words_) {
    if (w != 0) return false;
  }
  return true;
}

Bitmap Bitmap::Intersect(const Bitmap& other) const {
  Bitmap r;
  r.words_.resize(std::min(words_.size(), other.words_.size()));
  for (std::size_t i = 0; i < r.words_.size(); ++i) r.words_[i] = words_[i] & other.words_[i];
  return r;
}

bool Bitmap::IsSubsetOf(const Bitmap& other) const {
  for (std::size_t i = 0; i < words_.size(); ++i) {
    uint32_t o = i < other.words_.size() ? other.words_[i] : 0;
    if (words_[i] & ~o) return false;
  }
  return true;
}

void Bitmap::Encode(xdr::Encoder& out) const {
  std::size_t n = words_.size();
  while (n > 0 && words_[n - 1] == 0) --n;
  out.WriteU32(static_cast<uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) out.WriteU32(words_[i]);
}

bool Bitmap::Decode(xdr::Decoder& in) {
  uint32_t n = 0;
  if (!in.ReadArrayLength(kMaxWords, &n)) return false;
  words_.assign(n, 0);
  for (uint32_t i = 0; i < n; ++i) {
    if (!in.ReadU32(&words_[i])) return false;
  }
  return true;
}

Bitmap SupportedAttrs(uint32_t minor_version) {
  Bitmap b{fattr::kSupportedAttrs,
           fattr::kType,
           fattr::kFhExpireType,
           fattr::kChange,
           fattr::kSize,
           fattr::kLinkSupport,
           fattr::kSymlinkSupport,
           fattr::kNamedAttr,
           fattr::kFsid,
           fattr::kUniqueHandles,
           fattr::kLeaseTime,
           fattr::kRdattrError,
           fattr::kAclSupport,
           fattr::kCanSetTime,
           fattr::kCaseInsensitive,
           fattr::kCasePreserving,
           fattr::kChownRestricted,
           fattr::kFilehandle,
           fattr::kFileId,
           fattr::kFilesAvail,
           fattr::kFilesFree,
           fattr::kFilesTotal,
           fattr::kHomogeneous,
           fattr::kMaxFileSize,
           fattr::kMaxLink,
           fattr::kMaxName,
           fattr::kMaxRead,
           fattr::kMaxWrite,
           fattr::kMode,
           fattr::kNoTrunc,
           fattr::kNumLinks,
           fattr::kOwner,
           fattr::kOwnerGroup,
           fattr::kRawDev,
           fattr::kSpaceAvail,
           fattr::kSpaceFree,
           fattr::kSpaceTotal,
           fattr::kSpaceUsed,
           fattr::kTimeAccess,
           fattr::kTimeAccessSet,
           fattr::kTimeDelta,
           fattr::kTimeMetadata,
           fattr::kTimeModify,
           fattr::kTimeModifySet,
           fattr::kMountedOnFileId};
  if (minor_version >= 1) {
    b.Set(fattr::kFsLayoutTypes);
    b.Set(fattr::kSuppattrExclcreat);
  }
  return b;
}

bool HasWriteOnlyAttrs(const Bitmap& requested) {
  return requested.Test(fattr::kTimeAccessSet) || requested.Test(fattr::kTimeModifySet);
}

bool NeedsFsStats(const Bitmap& r) {
  return r.Test(fattr::kFilesAvail) || r.Test(fattr::kFilesFree) || r.Test(fattr::kFilesTotal) ||
         r.Test(fattr::kSpaceAvail) || r.Test(fattr::kSpaceFree) || r.Test(fattr::kSpaceTotal);
}

void EncodeFattr(const Bitmap& requested, const AttrTarget& target, const AttrLimits& limits,
                 xdr::Encoder& out) {
  xdr::Encoder values;
  Bitmap returned = EncodeValues(requested, target, limits, values);
  returned.Encode(out);
  out.WriteOpaque(values.buffer());
}

void EncodeFattrError(Stat error, xdr::Encoder& out) {
  Bitmap{fattr::kRdattrError}.Encode(out);
  xdr::Encoder values;
  values.WriteU32(static_cast<uint32_t>(error));
  out.WriteOpaque(values.buffer());
}

Bytes EncodeAttrValues(const Bitmap& requested, const AttrTarget& target,
                       const AttrLimits& limits) {
  xdr::Encoder values;
  EncodeValues(requested, target, limits, values);
  return values.Release();
}

bool DecodeFattr(xdr::Decoder& in, Fattr* out) {
  // attrlist4 is opaque<>; bound it by what is left in the request.
  return out->mask.Decode(in) && in.ReadOpaque(in.remaining(), &out->values);
}

Bitmap SettableAttrs() {
  return Bitmap{fattr::kSize,       fattr::kMode,          fattr::kOwner,
                fattr::kOwnerGroup, fattr::kTimeAccessSet, fattr::kTimeModifySet};
}

std::optional<uint32_t> ParseOwner(std::string_view s) {
  const std::size_t at = s.find('@');
  if (at != std::string_view::npos) s = s.substr(0, at);
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > UINT32_MAX) return std::nullopt;
  return static_cast<uint32_t>(v);
}

namespace {

// settime4 (RFC 7530 §3.3.1): SET_TO_SERVER_TIME4 = 0, SET_TO_CLIENT_TIME4 = 1.
Stat DecodeSetTime(xdr::Decoder& d, std::optional<vfs::Timespec>* time, bool* now) {
  uint32_t how = 0;
  if (!d.ReadU32(&how)) return Stat::kBadXdr;
  if (how == 0) {
    *now = true;
    return Stat::kOk;
  }
  if (how != 1) return Stat::kBadXdr;  // not a time_how4
  vfs::Timespec t;
  if (!d.ReadI64(&t.sec) || !d.ReadU32(&t.nsec)) return Stat::kBadXdr;
  if (t.nsec >= 1000000000u) return Stat::kInval;
  *time = t;
  return Stat::kOk;
}

Stat DecodeOwner(xdr::Decoder& d, std::optional<uint32_t>* id) {
  std::string s;
  if (!d.ReadString(d.remaining(), &s)) return Stat::kBadXdr;
  *id = ParseOwner(s);
  return *id ? Stat::kOk : Stat::kBadOwner;
}

}  // namespace

Stat DecodeSetAttrs(const Fattr& fattr, uint32_t minor_version, vfs::SetAttrRequest* out) {
  *out = vfs::SetAttrRequest{};
  const Bitmap supported = SupportedAttrs(minor_version);
  const Bitmap settable = SettableAttrs();
  const uint32_t limit = fattr.mask.BitLimit();
  for (uint32_t bit = 0; bit < limit; ++bit) {
    if (fattr.mask.Test(bit) && !supported.Test(bit)) return Stat::kAttrNotSupp;
  }
  if (!fattr.mask.IsSubsetOf(settable)) return Stat::kInval;  // a read-only attribute
  xdr::Decoder d(fattr.values);
  Stat s = Stat::kOk;
  for (uint32_t bit = 0; bit < limit && s == Stat::kOk; ++bit) {
    if (!fattr.mask.Test(bit)) continue;
    switch (bit) {
      case fattr::kSize: {
        uint64_t size = 0;
        if (!d.ReadU64(&size)) return Stat::kBadXdr;
        out->size = size;
        break;
      }
      case fattr::kMode: {
        uint32_t mode = 0;
        if (!d.ReadU32(&mode)) return Stat::kBadXdr;
        out->mode = mode & 07777;
        break;
      }
      case fattr::kOwner:
        s = DecodeOwner(d, &out->uid);
        break;
      case fattr::kOwnerGroup:
        s = DecodeOwner(d, &out->gid);
        break;
      case fattr::kTimeAccessSet:
        s = DecodeSetTime(d, &out->atime, &out->atime_now);
        break;
      case fattr::kTimeModifySet:
        s = DecodeSetTime(d, &out->mtime, &out->mtime_now);
        break;
      default:
        return Stat::kServerFault;  // SettableAttrs() and this switch disagree
    }
  }
  if (s != Stat::kOk) return s;
  return d.remaining() == 0 ? Stat::kOk : Stat::kBadXdr;
}

}  // namespace bucketfs::nfs
