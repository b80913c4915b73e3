#include "server/client_records.h"

namespace bucketfs::server {
namespace {

std::string ToString(const Bytes& b) { return std::string(b.begin(), b.end()); }

}  // namespace

Result<std::vector<Bytes>> MetaClientRecords::Load() {
  BFS_ASSIGN_OR_RETURN(std::vector<std::string> owners, store_->ClientRecords());
  std::vector<Bytes> out;
  out.reserve(owners.size());
  for (const std::string& o : owners) out.emplace_back(o.begin(), o.end());
  return out;
}

// The blocking calls are named locals, not temporaries of the co_await expression: GCC 12
// destroys such temporaries with non-trivial captures twice.
Awaitable<Status> MetaClientRecords::Add(Bytes owner) {
  auto put = [store = store_, o = ToString(owner)] { return store->PutClientRecord(o); };
  Status st = co_await RunBlocking(pool_, std::move(put));
  co_return st;
}

Awaitable<Status> MetaClientRecords::Remove(Bytes owner) {
  auto del = [store = store_, o = ToString(owner)] { return store->DeleteClientRecord(o); };
  Status st = co_await RunBlocking(pool_, std::move(del));
  co_return st;
}

}  // namespace bucketfs::server
