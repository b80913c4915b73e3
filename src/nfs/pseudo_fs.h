// The NFSv4 pseudo filesystem (RFC 7530 §7, RFC 8881 §7.3): a read-only root directory (export
// id 0, inode kPseudoRootIno) whose entries are the exports, each a junction into its own
// FileSystem. The export root's fsid differs from the pseudo root's, so clients see a mount
// point; the junction has its own fileid (mounted_on_fileid of the export root).
//
// PseudoFs is a view over the ExportTable (borrowed); it holds no copy of the table, so export
// changes are visible at once. Thread-safe (the table is).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "nfs/attrs.h"
#include "vfs/exports.h"
#include "vfs/vfs.h"

namespace bucketfs::nfs {

class PseudoFs {
 public:
  explicit PseudoFs(const vfs::ExportTable& exports);

  // Attributes of the pseudo root: a 0555 directory owned by root whose change attribute
  // follows the set of export names.
  vfs::Attr RootAttr() const;

  static Fsid RootFsid() { return {0, 0}; }
  static Fsid ExportFsid(uint32_t export_id) { return {export_id, 1}; }
  // The fileid of the directory /NAME in the pseudo fs that an export is mounted on.
  static uint64_t JunctionFileId(uint32_t export_id) { return (uint64_t{1} << 32) | export_id; }

  // The export named `name`, or null.
  std::shared_ptr<const vfs::Export> Lookup(std::string_view name) const;

  struct Entry {
    std::shared_ptr<const vfs::Export> exp;
    uint64_t cookie = 0;  // 3 + index in name order (0, 1, 2 are reserved by NFSv4)
  };
  // Exports listed after `cookie` (0 = from the start).
  std::vector<Entry> List(uint64_t cookie) const;
  // The READDIR cookie verifier of the root: changes when the export list changes.
  uint64_t Verifier() const;

 private:
  uint64_t NamesHash() const;

  const vfs::ExportTable& exports_;
  vfs::Timespec created_;
};

}  // namespace bucketfs::nfs
