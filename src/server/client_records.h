// MetaClientRecords: the NFSv4 client records (nfs/client_records.h) kept in the metadata store,
// so that a restarted gateway knows which clients may reclaim their opens and locks. Writes run
// on the BlockingPool, never on an I/O thread.
//
// Ownership: shares the MetaStore; borrows the BlockingPool, which must outlive it.
// Thread-safety: as MetaStore (every method may be called from any thread).
#pragma once

#include <memory>
#include <vector>

#include "base/async.h"
#include "meta/meta_store.h"
#include "nfs/client_records.h"

namespace bucketfs::server {

class MetaClientRecords : public nfs::ClientRecords {
 public:
  MetaClientRecords(std::shared_ptr<meta::MetaStore> store, BlockingPool& pool)
      : store_(std::move(store)), pool_(pool) {}

  // The records of the previous instance (blocking: call at start, before serving).
  Result<std::vector<Bytes>> Load();

  Awaitable<Status> Add(Bytes owner) override;
  Awaitable<Status> Remove(Bytes owner) override;

 private:
  std::shared_ptr<meta::MetaStore> store_;
  BlockingPool& pool_;
};

}  // namespace bucketfs::server
