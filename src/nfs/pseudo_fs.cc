#include "nfs/pseudo_fs.h"

#include <chrono>

namespace bucketfs::nfs {

PseudoFs::PseudoFs(const vfs::ExportTable& exports) : exports_(exports) {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  created_.sec = std::chrono::duration_cast<std::chrono::seconds>(now).count();
}

uint64_t PseudoFs::NamesHash() const {
  // FNV-1a over "id:name/" of every export.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&h](uint8_t c) {
    h ^= c;
    h *= 1099511628211ull;
  };
  for (const auto& e : exports_.List()) {
    for (int i = 0; i < 4; ++i) mix(static_cast<uint8_t>(e->id >> (8 * i)));
    for (char c : e->name) mix(static_cast<uint8_t>(c));
    mix('/');
  }
  return h;
}

vfs::Attr PseudoFs::RootAttr() const {
  vfs::Attr a;
  a.ino = kPseudoRootIno;
  a.type = vfs::FileType::kDirectory;
  a.mode = 0555;
  a.nlink = 2;
  a.size = 4096;
  a.atime = a.mtime = a.ctime = created_;
  a.change = NamesHash();
  return a;
}

std::shared_ptr<const vfs::Export> PseudoFs::Lookup(std::string_view name) const {
  return exports_.FindByName(name);
}

std::vector<PseudoFs::Entry> PseudoFs::List(uint64_t cookie) const {
  std::vector<Entry> out;
  uint64_t c = 3;
  for (auto& e : exports_.List()) {
    if (cookie == 0 || c > cookie) out.push_back({std::move(e), c});
    ++c;
  }
  return out;
}

uint64_t PseudoFs::Verifier() const { return NamesHash(); }

}  // namespace bucketfs::nfs
