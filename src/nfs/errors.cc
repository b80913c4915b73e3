#include "nfs/errors.h"

namespace bucketfs::nfs {

Stat ToNfsStat(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return Stat::kOk;
    case ErrorCode::kNotFound:
      return Stat::kNoEnt;
    case ErrorCode::kExists:
      return Stat::kExist;
    case ErrorCode::kNotDir:
      return Stat::kNotDir;
    case ErrorCode::kIsDir:
      return Stat::kIsDir;
    case ErrorCode::kNotEmpty:
      return Stat::kNotEmpty;
    case ErrorCode::kAccessDenied:
      return Stat::kAccess;
    case ErrorCode::kInvalidArgument:
      return Stat::kInval;
    case ErrorCode::kNameTooLong:
      return Stat::kNameTooLong;
    case ErrorCode::kReadOnly:
      return Stat::kRofs;
    case ErrorCode::kStale:
      return Stat::kStale;
    case ErrorCode::kBadHandle:
      return Stat::kBadHandle;
    case ErrorCode::kNotSupported:
      return Stat::kNotSupp;
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return Stat::kDelay;
    case ErrorCode::kIo:
      return Stat::kIo;
    case ErrorCode::kNoSpace:
      return Stat::kNoSpc;
    case ErrorCode::kTooBig:
      return Stat::kFBig;
    case ErrorCode::kAuth:
      return Stat::kAccess;
    case ErrorCode::kProtocol:
      return Stat::kIo;
    case ErrorCode::kInternal:
      return Stat::kServerFault;
  }
  return Stat::kServerFault;  // unreachable for valid enum values
}

const char* StatName(Stat stat) {
  switch (stat) {
    case Stat::kOk:
      return "NFS4_OK";
    case Stat::kNoEnt:
      return "NFS4ERR_NOENT";
    case Stat::kIo:
      return "NFS4ERR_IO";
    case Stat::kAccess:
      return "NFS4ERR_ACCESS";
    case Stat::kNotDir:
      return "NFS4ERR_NOTDIR";
    case Stat::kIsDir:
      return "NFS4ERR_ISDIR";
    case Stat::kInval:
      return "NFS4ERR_INVAL";
    case Stat::kRofs:
      return "NFS4ERR_ROFS";
    case Stat::kNameTooLong:
      return "NFS4ERR_NAMETOOLONG";
    case Stat::kStale:
      return "NFS4ERR_STALE";
    case Stat::kBadHandle:
      return "NFS4ERR_BADHANDLE";
    case Stat::kBadCookie:
      return "NFS4ERR_BAD_COOKIE";
    case Stat::kNotSupp:
      return "NFS4ERR_NOTSUPP";
    case Stat::kTooSmall:
      return "NFS4ERR_TOOSMALL";
    case Stat::kServerFault:
      return "NFS4ERR_SERVERFAULT";
    case Stat::kDelay:
      return "NFS4ERR_DELAY";
    case Stat::kSame:
      return "NFS4ERR_SAME";
    case Stat::kNotSame:
      return "NFS4ERR_NOT_SAME";
    case Stat::kNoFileHandle:
      return "NFS4ERR_NOFILEHANDLE";
    case Stat::kMinorVersMismatch:
      return "NFS4ERR_MINOR_VERS_MISMATCH";
    case Stat::kBadStateId:
      return "NFS4ERR_BAD_STATEID";
    case Stat::kBadXdr:
      return "NFS4ERR_BADXDR";
    case Stat::kOpIllegal:
      return "NFS4ERR_OP_ILLEGAL";
    case Stat::kBadName:
      return "NFS4ERR_BADNAME";
    case Stat::kSymlink:
      return "NFS4ERR_SYMLINK";
    case Stat::kRestoreFh:
      return "NFS4ERR_RESTOREFH";
    case Stat::kAttrNotSupp:
      return "NFS4ERR_ATTRNOTSUPP";
    case Stat::kTooManyOps:
      return "NFS4ERR_TOO_MANY_OPS";
    case Stat::kOpNotInSession:
      return "NFS4ERR_OP_NOT_IN_SESSION";
    case Stat::kSequencePos:
      return "NFS4ERR_SEQUENCE_POS";
    case Stat::kNotOnlyOp:
      return "NFS4ERR_NOT_ONLY_OP";
    case Stat::kBadSession:
      return "NFS4ERR_BADSESSION";
    case Stat::kResource:
      return "NFS4ERR_RESOURCE";
    case Stat::kPerm:
      return "NFS4ERR_PERM";
    case Stat::kNxio:
      return "NFS4ERR_NXIO";
    case Stat::kExist:
      return "NFS4ERR_EXIST";
    case Stat::kXdev:
      return "NFS4ERR_XDEV";
    case Stat::kFBig:
      return "NFS4ERR_FBIG";
    case Stat::kNoSpc:
      return "NFS4ERR_NOSPC";
    case Stat::kNotEmpty:
      return "NFS4ERR_NOTEMPTY";
    case Stat::kBadType:
      return "NFS4ERR_BADTYPE";
    case Stat::kOpenMode:
      return "NFS4ERR_OPENMODE";
    case Stat::kBadOwner:
      return "NFS4ERR_BADOWNER";
    case Stat::kShareDenied:
      return "NFS4ERR_SHARE_DENIED";
    case Stat::kBadSeqId:
      return "NFS4ERR_BAD_SEQID";
    case Stat::kStaleStateId:
      return "NFS4ERR_STALE_STATEID";
    case Stat::kStaleClientId:
      return "NFS4ERR_STALE_CLIENTID";
    case Stat::kWrongType:
      return "NFS4ERR_WRONG_TYPE";
    case Stat::kUnionNotSupp:
      return "NFS4ERR_UNION_NOTSUPP";
    case Stat::kNoGrace:
      return "NFS4ERR_NO_GRACE";
    case Stat::kSeqMisordered:
      return "NFS4ERR_SEQ_MISORDERED";
    default:
      return "NFS4ERR_(other)";
  }
}

}  // namespace bucketfs::nfs
