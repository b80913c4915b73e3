// NFSv4 file handles: what a client holds to name a file.
//
// Layout (opaque to clients, at most NFS4_FHSIZE): version byte, kind (pseudo-root or export
// object), export id (u32), inode (u64), then (from the metadata issue on) a generation and an
// authentication tag. Handles of the pseudo-root encode export id 0. Value type.
#pragma once

#include <cstdint>
#include <optional>

#include "base/bytes.h"

namespace bucketfs::nfs {

struct FileHandle {
  // export_id 0 means the pseudo-filesystem; then `ino` is a pseudo-fs node (1 = the root).
  uint32_t export_id = 0;
  uint64_t ino = 0;

  bool IsPseudo() const { return export_id == 0; }
  friend bool operator==(const FileHandle&, const FileHandle&) = default;

  Bytes Encode() const;
  // Returns nullopt for anything that is not a handle we issued in this format (→ BADHANDLE).
  static std::optional<FileHandle> Decode(ByteView wire);
};

inline constexpr uint64_t kPseudoRootIno = 1;

}  // namespace bucketfs::nfs
