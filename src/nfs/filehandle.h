// NFSv4 file handles: what a client holds to name a file.
//
// Wire layout (36 bytes, opaque to clients, well under NFS4_FHSIZE): version byte (2), kind
// (0 pseudo-root, 1 export object), two zero bytes, export id (u32), inode (u64), generation
// (u32), then a 16-byte tag: HMAC-SHA256 of the first 20 bytes under the gateway's handle key,
// truncated. The tag makes handles unforgeable: a client can only use handles the gateway gave
// out, so it cannot reach a file it never looked up by guessing inode numbers. Handles stay
// valid across restarts as long as the key (kept in the state directory) does.
//
// FileHandle and HandleKey are value types; HandleKey is immutable after construction and safe to
// share between threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "base/bytes.h"

namespace bucketfs::nfs {

struct FileHandle {
  // export_id 0 means the pseudo-filesystem; then `ino` is a pseudo-fs node (1 = the root).
  uint32_t export_id = 0;
  uint64_t ino = 0;
  // The inode's generation (vfs::Attr::generation); 0 for the pseudo-filesystem.
  uint32_t generation = 0;

  bool IsPseudo() const { return export_id == 0; }
  friend auto operator<=>(const FileHandle&, const FileHandle&) = default;
};

inline constexpr uint64_t kPseudoRootIno = 1;

// The secret that authenticates handles. Default-constructed: an all-zero key (tests only).
class HandleKey {
 public:
  static constexpr std::size_t kSize = 32;
  HandleKey() { key_.fill(0); }
  explicit HandleKey(const std::array<uint8_t, kSize>& key) : key_(key) {}

  Bytes Encode(const FileHandle& fh) const;

  enum class DecodeError { kMalformed, kForged };
  struct Decoded {
    std::optional<FileHandle> fh;
    DecodeError error = DecodeError::kMalformed;  // when !fh
  };
  // kMalformed: not a handle in our format (→ NFS4ERR_BADHANDLE). kForged: well-formed but the
  // tag does not match this key — forged, or minted under another key (→ NFS4ERR_STALE).
  Decoded Decode(ByteView wire) const;

 private:
  std::array<uint8_t, 16> Tag(const uint8_t* body) const;
  std::array<uint8_t, kSize> key_;
};

}  // namespace bucketfs::nfs
