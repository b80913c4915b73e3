// NFSv4 protocol constants: RFC 7530 (4.0), RFC 8881 (4.1), RFC 7862 (4.2).
#pragma once

#include <cstdint>

namespace bucketfs::nfs {

inline constexpr uint32_t kNfsProgram = 100003;
inline constexpr uint32_t kNfsVersion4 = 4;
inline constexpr uint32_t kMaxMinorVersion = 2;
inline constexpr uint32_t kNfs4FhSize = 128;       // NFS4_FHSIZE
inline constexpr uint32_t kNfs4VerifierSize = 8;   // NFS4_VERIFIER_SIZE
inline constexpr uint32_t kNfs4OtherSize = 12;     // NFS4_OTHER_SIZE
inline constexpr uint32_t kNfs4SessionIdSize = 16; // NFS4_SESSIONID_SIZE
inline constexpr uint32_t kNfs4OpaqueLimit = 1024; // NFS4_OPAQUE_LIMIT

enum class Stat : uint32_t {
  kOk = 0, kPerm = 1, kNoEnt = 2, kIo = 5, kNxio = 6, kAccess = 13, kExist = 17, kXdev = 18,
  kNotDir = 20, kIsDir = 21, kInval = 22, kFBig = 27, kNoSpc = 28, kRofs = 30, kMLink = 31,
  kNameTooLong = 63, kNotEmpty = 66, kDQuot = 69, kStale = 70,
  kBadHandle = 10001, kBadCookie = 10003, kNotSupp = 10004, kTooSmall = 10005,
  kServerFault = 10006, kBadType = 10007, kDelay = 10008, kSame = 10009, kDenied = 10010,
  kExpired = 10011, kLocked = 10012, kGrace = 10013, kFhExpired = 10014, kShareDenied = 10015,
  kWrongSec = 10016, kClidInUse = 10017, kResource = 10018, kMoved = 10019,
  kNoFileHandle = 10020, kMinorVersMismatch = 10021, kStaleClientId = 10022,
  kStaleStateId = 10023, kOldStateId = 10024, kBadStateId = 10025, kBadSeqId = 10026,
  kNotSame = 10027, kLockRange = 10028, kSymlink = 10029, kRestoreFh = 10030,
  kLeaseMoved = 10031, kAttrNotSupp = 10032, kNoGrace = 10033, kReclaimBad = 10034,
  kReclaimConflict = 10035, kBadXdr = 10036, kLocksHeld = 10037, kOpenMode = 10038,
  kBadOwner = 10039, kBadChar = 10040, kBadName = 10041, kBadRange = 10042,
  kLockNotSupp = 10043, kOpIllegal = 10044, kDeadlock = 10045, kFileOpen = 10046,
  kAdminRevoked = 10047, kCbPathDown = 10048,
  // 4.1
  kBadIoMode = 10049, kBadLayout = 10050, kBadSessionDigest = 10051, kBadSession = 10052,
  kBadSlot = 10053, kCompleteAlready = 10054, kConnNotBoundToSession = 10055,
  kDelegAlreadyWanted = 10056, kBackChanBusy = 10057, kLayoutTryLater = 10058,
  kLayoutUnavailable = 10059, kNoMatchingLayout = 10060, kRecallConflict = 10061,
  kUnknownLayoutType = 10062, kSeqMisordered = 10063, kSequencePos = 10064,
  kReqTooBig = 10065, kRepTooBig = 10066, kRepTooBigToCache = 10067,
  kRetryUncachedRep = 10068, kUnsafeCompound = 10069, kTooManyOps = 10070,
  kOpNotInSession = 10071, kHashAlgUnsupp = 10072, kClientIdBusy = 10074,
  kPnfsIoHole = 10075, kSeqFalseRetry = 10076, kBadHighSlot = 10077, kDeadSession = 10078,
  kEncrAlgUnsupp = 10079, kPnfsNoLayout = 10080, kNotOnlyOp = 10081, kWrongCred = 10082,
  kWrongType = 10083, kDirDelegUnavail = 10084, kRejectDeleg = 10085,
  kReturnConflict = 10086, kDelegRevoked = 10087,
};

enum class Op : uint32_t {
  kAccess = 3, kClose = 4, kCommit = 5, kCreate = 6, kDelegPurge = 7, kDelegReturn = 8,
  kGetAttr = 9, kGetFh = 10, kLink = 11, kLock = 12, kLockT = 13, kLockU = 14, kLookup = 15,
  kLookupP = 16, kNVerify = 17, kOpen = 18, kOpenAttr = 19, kOpenConfirm = 20,
  kOpenDowngrade = 21, kPutFh = 22, kPutPubFh = 23, kPutRootFh = 24, kRead = 25,
  kReadDir = 26, kReadLink = 27, kRemove = 28, kRename = 29, kRenew = 30, kRestoreFh = 31,
  kSaveFh = 32, kSecInfo = 33, kSetAttr = 34, kSetClientId = 35, kSetClientIdConfirm = 36,
  kVerify = 37, kWrite = 38, kReleaseLockOwner = 39,
  // 4.1
  kBackchannelCtl = 40, kBindConnToSession = 41, kExchangeId = 42, kCreateSession = 43,
  kDestroySession = 44, kFreeStateId = 45, kGetDirDelegation = 46, kGetDeviceInfo = 47,
  kGetDeviceList = 48, kLayoutCommit = 49, kLayoutGet = 50, kLayoutReturn = 51,
  kSecInfoNoName = 52, kSequence = 53, kSetSsv = 54, kTestStateId = 55, kWantDelegation = 56,
  kDestroyClientId = 57, kReclaimComplete = 58,
  // 4.2
  kAllocate = 59, kCopy = 60, kCopyNotify = 61, kDeallocate = 62, kIoAdvise = 63,
  kLayoutError = 64, kLayoutStats = 65, kOffloadCancel = 66, kOffloadStatus = 67,
  kReadPlus = 68, kSeek = 69, kWriteSame = 70, kClone = 71, kGetXattr = 72, kSetXattr = 73,
  kListXattrs = 74, kRemoveXattr = 75,
  kIllegal = 10044,
};

}  // namespace bucketfs::nfs
