// The NFSv4 operation table: opcode → handler and the minor versions in which the op exists and
// is implemented. Immutable after static initialization; thread-safe.
#pragma once

#include <cstdint>

#include "nfs/compound.h"

namespace bucketfs::nfs {

struct OpInfo {
  OpHandler handler = nullptr;
  const char* name = "";
  // The op is defined by the protocol from this minor version on (0, 1 or 2) ...
  uint8_t first_minor = 0;
  // ... and was removed after this one (4.0-only ops: 0).
  uint8_t last_minor = 2;
};

// How an opcode is treated in a COMPOUND of a given minor version.
enum class OpAvailability {
  kOk,       // call the handler
  kIllegal,  // not an operation of this minor version: resop OP_ILLEGAL, NFS4ERR_OP_ILLEGAL
  kNotSupp,  // defined but obsolete (4.0-only in 4.1+): NFS4ERR_NOTSUPP
};

// Returns the table entry for `opcode` (null for opcodes no version defines) and how it is
// treated under `minor_version`.
const OpInfo* FindOp(uint32_t opcode, uint32_t minor_version, OpAvailability* availability);

}  // namespace bucketfs::nfs
