// Mapping of internal Status codes (base/status.h) to NFSv4 status codes. The one place where the
// error model of the lower layers meets the wire. Pure functions, thread-safe.
#pragma once

#include "base/status.h"
#include "nfs/nfs4_const.h"

namespace bucketfs::nfs {

// Maps an internal error code to nfsstat4. Exhaustive over ErrorCode (no default label), so a new
// code breaks the build (-Wswitch) until it is mapped here.
Stat ToNfsStat(ErrorCode code);
inline Stat ToNfsStat(const Status& status) { return ToNfsStat(status.code()); }

// "NFS4ERR_NOENT" etc., for logs and test failure messages.
const char* StatName(Stat stat);

}  // namespace bucketfs::nfs
