#include "nfs/ops.h"

#include <array>

#include "nfs/ops_handlers.h"

namespace bucketfs::nfs {
namespace {

constexpr uint32_t kTableSize = static_cast<uint32_t>(Op::kRemoveXattr) + 1;

using Table = std::array<OpInfo, kTableSize>;

constexpr void Put(Table& t, Op op, OpHandler h, const char* name, uint8_t first,
                   uint8_t last = 2) {
  t[static_cast<uint32_t>(op)] = OpInfo{h, name, first, last};
}

Table BuildTable() {
  Table t{};
  // RFC 7530 (4.0) ops; ops 3..39.
  Put(t, Op::kAccess, OpAccess, "ACCESS", 0);
  Put(t, Op::kClose, OpClose, "CLOSE", 0);
  Put(t, Op::kCommit, OpCommit, "COMMIT", 0);
  Put(t, Op::kCreate, OpCreate, "CREATE", 0);
  Put(t, Op::kDelegPurge, OpDelegPurge, "DELEGPURGE", 0);
  Put(t, Op::kDelegReturn, OpDelegReturn, "DELEGRETURN", 0);
  Put(t, Op::kGetAttr, OpGetAttr, "GETATTR", 0);
  Put(t, Op::kGetFh, OpGetFh, "GETFH", 0);
  Put(t, Op::kLink, OpLink, "LINK", 0);
  Put(t, Op::kLock, OpLock, "LOCK", 0);
  Put(t, Op::kLockT, OpLockT, "LOCKT", 0);
  Put(t, Op::kLockU, OpLockU, "LOCKU", 0);
  Put(t, Op::kLookup, OpLookup, "LOOKUP", 0);
  Put(t, Op::kLookupP, OpLookupP, "LOOKUPP", 0);
  Put(t, Op::kNVerify, OpNVerify, "NVERIFY", 0);
  Put(t, Op::kOpen, OpOpen, "OPEN", 0);
  Put(t, Op::kOpenAttr, OpOpenAttr, "OPENATTR", 0);
  Put(t, Op::kOpenConfirm, OpOpenConfirm, "OPEN_CONFIRM", 0, 0);
  Put(t, Op::kOpenDowngrade, OpOpenDowngrade, "OPEN_DOWNGRADE", 0);
  Put(t, Op::kPutFh, OpPutFh, "PUTFH", 0);
  Put(t, Op::kPutPubFh, OpPutPubFh, "PUTPUBFH", 0);
  Put(t, Op::kPutRootFh, OpPutRootFh, "PUTROOTFH", 0);
  Put(t, Op::kRead, OpRead, "READ", 0);
  Put(t, Op::kReadDir, OpReadDir, "READDIR", 0);
  Put(t, Op::kReadLink, OpReadLink, "READLINK", 0);
  Put(t, Op::kRemove, OpRemove, "REMOVE", 0);
  Put(t, Op::kRename, OpRename, "RENAME", 0);
  Put(t, Op::kRenew, OpRenew, "RENEW", 0, 0);
  Put(t, Op::kRestoreFh, OpRestoreFh, "RESTOREFH", 0);
  Put(t, Op::kSaveFh, OpSaveFh, "SAVEFH", 0);
  Put(t, Op::kSecInfo, OpSecInfo, "SECINFO", 0);
  Put(t, Op::kSetAttr, OpSetAttr, "SETATTR", 0);
  Put(t, Op::kSetClientId, OpSetClientId, "SETCLIENTID", 0, 0);
  Put(t, Op::kSetClientIdConfirm, OpSetClientIdConfirm, "SETCLIENTID_CONFIRM", 0, 0);
  Put(t, Op::kVerify, OpVerify, "VERIFY", 0);
  Put(t, Op::kWrite, OpWrite, "WRITE", 0);
  Put(t, Op::kReleaseLockOwner, OpReleaseLockOwner, "RELEASE_LOCKOWNER", 0, 0);
  // RFC 8881 (4.1) ops 40..58.
  Put(t, Op::kBackchannelCtl, OpBackchannelCtl, "BACKCHANNEL_CTL", 1);
  Put(t, Op::kBindConnToSession, OpBindConnToSession, "BIND_CONN_TO_SESSION", 1);
  Put(t, Op::kExchangeId, OpExchangeId, "EXCHANGE_ID", 1);
  Put(t, Op::kCreateSession, OpCreateSession, "CREATE_SESSION", 1);
  Put(t, Op::kDestroySession, OpDestroySession, "DESTROY_SESSION", 1);
  Put(t, Op::kFreeStateId, OpFreeStateId, "FREE_STATEID", 1);
  Put(t, Op::kGetDirDelegation, OpNotSupp, "GET_DIR_DELEGATION", 1);
  Put(t, Op::kGetDeviceInfo, OpNotSupp, "GETDEVICEINFO", 1);
  Put(t, Op::kGetDeviceList, OpNotSupp, "GETDEVICELIST", 1);
  Put(t, Op::kLayoutCommit, OpNotSupp, "LAYOUTCOMMIT", 1);
  Put(t, Op::kLayoutGet, OpNotSupp, "LAYOUTGET", 1);
  Put(t, Op::kLayoutReturn, OpNotSupp, "LAYOUTRETURN", 1);
  Put(t, Op::kSecInfoNoName, OpSecInfoNoName, "SECINFO_NO_NAME", 1);
  Put(t, Op::kSequence, OpSequence, "SEQUENCE", 1);
  Put(t, Op::kSetSsv, OpNotSupp, "SET_SSV", 1);
  Put(t, Op::kTestStateId, OpTestStateId, "TEST_STATEID", 1);
  Put(t, Op::kWantDelegation, OpNotSupp, "WANT_DELEGATION", 1);
  Put(t, Op::kDestroyClientId, OpDestroyClientId, "DESTROY_CLIENTID", 1);
  Put(t, Op::kReclaimComplete, OpReclaimComplete, "RECLAIM_COMPLETE", 1);
  // RFC 7862 (4.2) ops 59..71 and RFC 8276 xattr ops 72..75: ops of minor version 2 only
  // (ILLEGAL in 4.0 and 4.1). COPY, SEEK, ALLOCATE and DEALLOCATE are implemented; the rest
  // answer NOTSUPP.
  for (uint32_t op = static_cast<uint32_t>(Op::kAllocate); op < kTableSize; ++op) {
    t[op] = OpInfo{OpNotSupp, "4.2 op", 2, 2};
  }
  Put(t, Op::kAllocate, OpAllocate, "ALLOCATE", 2);
  Put(t, Op::kCopy, OpCopy, "COPY", 2);
  Put(t, Op::kDeallocate, OpDeallocate, "DEALLOCATE", 2);
  Put(t, Op::kSeek, OpSeek, "SEEK", 2);
  return t;
}

const Table& GetTable() {
  static const Table table = BuildTable();
  return table;
}

}  // namespace

const OpInfo* FindOp(uint32_t opcode, uint32_t minor_version, OpAvailability* availability) {
  *availability = OpAvailability::kIllegal;
  if (opcode >= kTableSize) return nullptr;
  const OpInfo& info = GetTable()[opcode];
  if (info.handler == nullptr) return nullptr;
  if (minor_version < info.first_minor) return &info;  // not an op of this version: ILLEGAL
  *availability = minor_version > info.last_minor ? OpAvailability::kNotSupp : OpAvailability::kOk;
  return &info;
}

}  // namespace bucketfs::nfs
