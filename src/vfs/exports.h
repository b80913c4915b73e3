// ExportTable: the set of exported file systems, each visible as /NAME in the NFSv4 pseudo-root.
// Owned by the composition root (server); read by nfs on every PUTROOTFH/LOOKUP/PUTFH.
// Thread-safe: lookups take a shared lock and return shared_ptr snapshots, so an export removed
// while a request uses it stays alive until that request finishes.
#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "base/status.h"
#include "vfs/vfs.h"

namespace bucketfs::vfs {

struct Export {
  uint32_t id = 0;   // stable, encoded in file handles; never 0 (0 is the pseudo-root)
  std::string name;  // one path component: the export is /name
  std::shared_ptr<FileSystem> fs;
};

class ExportTable {
 public:
  // Fails with kExists for a duplicate id or name, kInvalidArgument for a bad name or id 0.
  Status Add(Export e);
  Status Remove(std::string_view name);
  std::shared_ptr<const Export> FindById(uint32_t id) const;
  std::shared_ptr<const Export> FindByName(std::string_view name) const;
  // Snapshot sorted by name.
  std::vector<std::shared_ptr<const Export>> List() const;

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::shared_ptr<const Export>> exports_;
};

}  // namespace bucketfs::vfs
