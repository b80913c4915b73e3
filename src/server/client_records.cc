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

Awaitable<Status> MetaClientRecords::Add(Bytes owner) {
  co_return co_await RunBlocking(
      pool_, [store = store_, o = ToString(owner)] { return store->PutClientRecord(o); });
}

Awaitable<Status> MetaClientRecords::Remove(Bytes owner) {
  co_return co_await RunBlocking(
      pool_, [store = store_, o = ToString(owner)] { return store->DeleteClientRecord(o); });
}

}  // namespace bucketfs::server
