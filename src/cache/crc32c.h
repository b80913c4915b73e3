// CRC-32C (Castagnoli): the checksum of the cache's disk block files.
//
// Why CRC-32C: the disk tier must detect torn writes, truncation and flipped bits in files it
// wrote itself, at the speed blocks are read (GB/s). CRC-32C detects every burst error up to 32
// bits and all odd-bit errors, has a dedicated x86 instruction (SSE4.2, ~10 GB/s per core; a
// table fallback elsewhere) and is what ext4, iSCSI and RocksDB use for the same job. It is not
// a defence against an attacker who can write the cache directory (nothing is: such a user can
// write any bytes with a valid checksum); the full block key stored in each file is what rules
// out serving another block's bytes, whatever the file name hash does.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bucketfs::cache {

// CRC-32C of `data`, continuing from `crc` (0 to start): Crc32c(ab) == Crc32c(b, Crc32c(a)).
uint32_t Crc32c(const void* data, std::size_t size, uint32_t crc = 0);
// The portable table-driven version Crc32c() falls back to (exposed so tests compare the two).
uint32_t Crc32cPortable(const void* data, std::size_t size, uint32_t crc = 0);

}  // namespace bucketfs::cache
