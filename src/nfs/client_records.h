// ClientRecords: where the NFSv4 server keeps the identities (client owners) of the clients that
// hold state, so that a restarted gateway lets exactly those reclaim their opens and locks during
// its grace period (RFC 7530 §9.6.2, RFC 8881 §8.4.2.1). The nfs layer knows nothing of how they
// are stored: the composition root implements this over the metadata store.
//
// Thread-safety: implementations are called from I/O threads, concurrently, and must not block
// them (the returned awaitables complete off the I/O thread and resume on the caller's executor).
#pragma once

#include "base/async.h"
#include "base/bytes.h"
#include "base/status.h"

namespace bucketfs::nfs {

class ClientRecords {
 public:
  virtual ~ClientRecords() = default;
  // Durably records `owner` (idempotent).
  virtual Awaitable<Status> Add(Bytes owner) = 0;
  // Forgets `owner` (idempotent).
  virtual Awaitable<Status> Remove(Bytes owner) = 0;
};

}  // namespace bucketfs::nfs
