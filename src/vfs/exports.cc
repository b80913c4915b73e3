#include "vfs/exports.h"

#include <algorithm>
#include <mutex>

namespace bucketfs::vfs {

Status ExportTable::Add(Export e) {
  if (e.id == 0) return InvalidArgumentError("export id 0 is reserved for the pseudo-root");
  if (e.name.empty() || e.name.size() > 255 || e.name.find('/') != std::string::npos ||
      e.name == "." || e.name == "..") {
    return InvalidArgumentError("bad export name '" + e.name + "'");
  }
  if (!e.fs) return InvalidArgumentError("export '" + e.name + "' has no file system");
  std::unique_lock lock(mu_);
  for (const auto& x : exports_) {
    if (x->id == e.id || x->name == e.name) {
      return Status(ErrorCode::kExists, "export '" + e.name + "' already exists");
    }
  }
  exports_.push_back(std::make_shared<const Export>(std::move(e)));
  std::sort(exports_.begin(), exports_.end(),
            [](const auto& a, const auto& b) { return a->name < b->name; });
  return Status::Ok();
}

Status ExportTable::Remove(std::string_view name) {
  std::unique_lock lock(mu_);
  auto it = std::find_if(exports_.begin(), exports_.end(),
                         [&](const auto& x) { return x->name == name; });
  if (it == exports_.end()) return NotFoundError("no export '" + std::string(name) + "'");
  exports_.erase(it);
  return Status::Ok();
}

std::shared_ptr<const Export> ExportTable::FindById(uint32_t id) const {
  std::shared_lock lock(mu_);
  for (const auto& x : exports_) {
    if (x->id == id) return x;
  }
  return nullptr;
}

std::shared_ptr<const Export> ExportTable::FindByName(std::string_view name) const {
  std::shared_lock lock(mu_);
  for (const auto& x : exports_) {
    if (x->name == name) return x;
  }
  return nullptr;
}

std::vector<std::shared_ptr<const Export>> ExportTable::List() const {
  std::shared_lock lock(mu_);
  return exports_;
}

}  // namespace bucketfs::vfs
