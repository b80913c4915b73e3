// ObjectFileSystem's write path: the vfs mutations (namespace changes committed to the metadata
// store first, durably), staged writes, and the S3 side applied from the journal (uploads, moves,
// deletes) in the background. See docs/architecture.md "Write path".
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>

#include "base/log.h"
#include "gateway/object_fs.h"

namespace bucketfs::gateway {
namespace {

// Journal payloads: netstring-like fields "LEN:BYTES", binary-safe.
std::string Field(std::string_view v) { return std::to_string(v.size()) + ":" + std::string(v); }

std::vector<std::string> Fields(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    auto colon = s.find(':');
    if (colon == std::string_view::npos) return {};
    std::size_t len = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + colon, len);
    if (ec != std::errc() || p != s.data() + colon || s.size() - colon - 1 < len) return {};
    out.emplace_back(s.substr(colon + 1, len));
    s.remove_prefix(colon + 1 + len);
  }
  return out;
}

const char* KindName(Mutation::Kind k) {
  switch (k) {
    case Mutation::Kind::kUpload:
      return "upload";
    case Mutation::Kind::kMove:
      return "move";
    case Mutation::Kind::kDelete:
      return "delete";
  }
  return "?";
}

std::optional<Mutation> ParseJournal(const meta::JournalEntry& e) {
  auto f = Fields(e.payload);
  Mutation m;
  m.id = e.id;
  if (e.op == "upload" && f.size() == 1) {
    m.kind = Mutation::Kind::kUpload;
    if (!std::from_chars(f[0].data(), f[0].data() + f[0].size(), m.ino).ptr) return std::nullopt;
  } else if (e.op == "move" && f.size() == 4) {
    m.kind = Mutation::Kind::kMove;
    m.src = f[0];
    m.dst = f[1];
    m.is_dir = f[2] == "1";
    m.copied = f[3] == "1";
  } else if (e.op == "delete" && f.size() == 2) {
    m.kind = Mutation::Kind::kDelete;
    m.src = f[0];
    m.is_dir = f[1] == "1";
  } else {
    return std::nullopt;
  }
  return m;
}

std::string Payload(const Mutation& m) {
  switch (m.kind) {
    case Mutation::Kind::kUpload:
      return Field(std::to_string(m.ino));
    case Mutation::Kind::kMove:
      return Field(m.src) + Field(m.dst) + Field(m.is_dir ? "1" : "0") +
             Field(m.copied ? "1" : "0");
    case Mutation::Kind::kDelete:
      return Field(m.src) + Field(m.is_dir ? "1" : "0");
  }
  return {};
}

vfs::Timespec WallNow() { return ToTimespec(std::chrono::system_clock::now()); }

uint32_t TypeBits(vfs::FileType t) {
  switch (t) {
    case vfs::FileType::kDirectory:
      return kModeDirectory;
    case vfs::FileType::kSymlink:
      return kModeSymlink;
    case vfs::FileType::kRegular:
      return kModeRegular;
  }
  return kModeRegular;
}

// Applies the POSIX parts of `req` to `meta` (mode keeps its type bits).
void ApplyAttrs(const vfs::SetAttrRequest& req, PosixMeta& meta, uint32_t type_bits) {
  if (req.mode) meta.mode = type_bits | (*req.mode & kModePermMask);
  if (req.uid) meta.uid = *req.uid;
  if (req.gid) meta.gid = *req.gid;
  if (req.mtime) meta.mtime = *req.mtime;
  if (req.mtime_now) meta.mtime = WallNow();
}

}  // namespace

// ---- helpers ----

asio::any_io_executor ObjectFileSystem::BackgroundExecutor() const {
  if (options_.background) return options_.background;
  return first_executor_;
}

int64_t ObjectFileSystem::NextJournalId() {
  if (options_.meta) return options_.meta->NextJournalId();
  return ++local_journal_id_;
}

meta::Batch::JournalAppend ObjectFileSystem::Journal(const Mutation& m) const {
  return {m.id, KindName(m.kind), Payload(m)};
}

Awaitable<Status> ObjectFileSystem::FlushMeta() {
  if (!options_.meta) co_return Status::Ok();
  co_return co_await options_.meta->Flush();
}

std::shared_ptr<StagedFile> ObjectFileSystem::FindStaged(vfs::InodeId ino) const {
  std::lock_guard lock(staged_mu_);
  auto it = staged_.find(ino);
  return it == staged_.end() ? nullptr : it->second.file;
}

bool ObjectFileSystem::UploadRunning(vfs::InodeId ino) const {
  int64_t id = 0;
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(ino); it != staged_.end()) id = it->second.upload_id;
  }
  if (id == 0) return false;
  auto m = mutations_.Get(id);  // (not under staged_mu_)
  return m && m->running;
}

uint64_t ObjectFileSystem::staged_bytes() const {
  std::vector<std::shared_ptr<StagedFile>> files;
  {
    std::lock_guard lock(staged_mu_);
    for (const auto& [ino, s] : staged_) files.push_back(s.file);
  }
  uint64_t n = 0;
  for (const auto& f : files) n += f->dirty_bytes();
  return n;
}

ObjectFileSystem::WriteStats ObjectFileSystem::write_stats() const {
  WriteStats w;
  w.staged_bytes = staged_bytes();
  {
    std::lock_guard lock(staged_mu_);
    w.staged_files = staged_.size();
  }
  w.pending_mutations = mutations_.size();
  w.running_mutations = mutations_.running();
  w.uploaded_bytes = uploaded_bytes_.load();
  w.failures = write_failures_.load();
  w.server_side_copies = server_side_copies_.load();
  w.kept_staged_files = kept_staged_files_.load();
  return w;
}

Status ObjectFileSystem::CheckBackpressure(uint64_t more) const {
  if (staged_bytes() + more <= options_.staging_limit) return Status::Ok();
  return UnavailableError("staging area full (" + std::to_string(options_.staging_limit) +
                          " bytes not yet uploaded); retry");
}

Mutation ObjectFileSystem::UploadMutation(vfs::InodeId ino, std::optional<SteadyTime> ready_at) {
  Mutation m;
  m.id = NextJournalId();
  m.kind = Mutation::Kind::kUpload;
  m.ino = ino;
  m.ready_at = ready_at;
  return m;
}

// ---- staging ----

Awaitable<Result<std::shared_ptr<StagedFile>>> ObjectFileSystem::Stage(const InodeRecord& rec) {
  if (auto f = FindStaged(rec.ino)) co_return f;
  auto work = [this, &rec] { return StageNew(rec); };
  co_return co_await stagings_.Run(rec.ino, work);
}

Awaitable<Result<std::shared_ptr<StagedFile>>> ObjectFileSystem::StageNew(InodeRecord rec) {
  if (auto f = FindStaged(rec.ino)) co_return f;
  StagedBase base;
  if (!rec.etag.empty() && !rec.local) base = StagedBase{rec.etag, rec.size, rec.size};
  PosixMeta meta = rec.meta;
  if (!meta.mode) meta.mode = kModeRegular | options_.default_file_mode;
  std::string dir = options_.staging_dir;
  const uint64_t size = rec.size;
  const vfs::InodeId ino = rec.ino;
  // Named lambdas: GCC 12 mishandles lambda temporaries with captures inside co_await.
  auto create = [=] { return StagedFile::Create(dir, ino, size, base, meta); };
  BFS_CO_ASSIGN_OR_RETURN(auto file, co_await RunBlocking(*options_.pool, create));
  Mutation m = UploadMutation(ino, std::nullopt);
  meta::Batch extra;
  extra.journal_appends.push_back(Journal(m));
  // Durable (fsync'd by the writer thread, nobody waits here): COMMIT makes the staged file
  // durable and then only waits for this entry to be committed. Committed with
  // synchronous=NORMAL it could be lost at a power loss, and the next start would remove the
  // committed data as an orphan.
  table_.PersistJournal(std::move(extra), true);
  mutations_.Add(m);
  std::lock_guard lock(staged_mu_);
  staged_[ino] = Staged{file, m.id, Now()};
  co_return file;
}

// ---- vfs mutations ----

Awaitable<Result<vfs::Attr>> ObjectFileSystem::Create(vfs::InodeId dir, std::string name,
                                                      vfs::CreateRequest request) {
  if (!Writable()) co_return ReadOnlyError();
  NameCheck check = CheckName(name);
  if (check == NameCheck::kTooLong) co_return Status(ErrorCode::kNameTooLong, "name too long");
  if (check != NameCheck::kOk) {
    co_return InvalidArgumentError(std::string("invalid name: ") +
                                   std::string(NameCheckText(check)));
  }
  BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await LoadDir(dir));
  if (auto slot = snap->Find(name)) {
    const vfs::InodeId existing = snap->children[*slot].ino;
    if (request.verifier) {
      std::lock_guard lock(staged_mu_);
      auto it = create_verifiers_.find(existing);
      if (it == create_verifiers_.end() || it->second != *request.verifier) {
        co_return Status(ErrorCode::kExists, "exists: " + name);
      }
    }
    if (request.verifier) co_return co_await GetAttr(existing);  // a retransmitted create
  }
  co_return co_await CreateNode(dir, name, request);
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::CreateNode(vfs::InodeId dir, const std::string& name,
                                                          const vfs::CreateRequest& request) {
  NewInode spec;
  spec.is_dir = request.type == vfs::FileType::kDirectory;
  const uint32_t default_perm = spec.is_dir ? options_.default_dir_mode
                                : request.type == vfs::FileType::kSymlink
                                    ? 0777
                                    : options_.default_file_mode;
  spec.meta.mode = TypeBits(request.type) | default_perm;
  spec.meta.uid = options_.default_uid;
  spec.meta.gid = options_.default_gid;
  spec.meta.mtime = WallNow();
  ApplyAttrs(request.attrs, spec.meta, TypeBits(request.type));
  if (request.type == vfs::FileType::kSymlink) {
    if (request.symlink_target.empty() ||
        request.symlink_target.size() > options_.max_symlink_bytes) {
      co_return InvalidArgumentError("bad symlink target length");
    }
    spec.size = request.symlink_target.size();
  }
  spec.ino = table_.ReserveIno();
  Mutation m = UploadMutation(spec.ino, spec.is_dir || request.type == vfs::FileType::kSymlink
                                            ? std::optional<SteadyTime>(Now())
                                            : std::optional<SteadyTime>());
  // Regular files and symlinks get their (durable) staged content before their name exists.
  std::shared_ptr<StagedFile> file;
  if (!spec.is_dir) {
    const std::string dir_path = options_.staging_dir;
    const std::string target = request.symlink_target;
    const PosixMeta meta = spec.meta;
    const vfs::InodeId ino = spec.ino;
    auto create = [=]() -> Result<std::shared_ptr<StagedFile>> {
      BFS_ASSIGN_OR_RETURN(auto f, StagedFile::Create(dir_path, ino, 0, {}, meta));
      if (!target.empty()) BFS_RETURN_IF_ERROR(f->Write(0, AsBytes(target), *meta.mtime));
      BFS_RETURN_IF_ERROR(f->Sync());
      return f;
    };
    BFS_CO_ASSIGN_OR_RETURN(file, co_await RunBlocking(*options_.pool, create));
  }
  auto created = table_.CreateChild(
      dir, name, spec, Now(),
      [&](const InodeRecord&, meta::Batch& batch) { batch.journal_appends.push_back(Journal(m)); });
  if (!created.ok()) {
    if (file) file->Discard();
    co_return created.status();
  }
  InodeRecord rec = std::move(created).value();
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  {
    std::lock_guard lock(staged_mu_);
    if (file) staged_[rec.ino] = Staged{file, m.id, Now()};
    if (request.verifier) create_verifiers_[rec.ino] = *request.verifier;
  }
  mutations_.Add(m);
  Kick(co_await asio::this_coro::executor);
  if (request.type == vfs::FileType::kSymlink) {
    table_.SetSymlinkTarget(rec.ino, "", request.symlink_target);
  }
  co_return co_await GetAttr(rec.ino);
}

Awaitable<Result<vfs::WriteResult>> ObjectFileSystem::Write(vfs::InodeId ino, uint64_t offset,
                                                            Bytes data, vfs::StableHow stable) {
  if (!Writable()) co_return ReadOnlyError();
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(ino));
  if (rec.is_dir) co_return Status(ErrorCode::kIsDir, rec.key);
  if (IsSymlink(rec)) co_return InvalidArgumentError("write to a symlink");
  if (offset > (uint64_t{1} << 53) || data.size() > (uint64_t{1} << 53) - offset) {
    co_return Status(ErrorCode::kTooBig, "offset beyond the largest file size");
  }
  BFS_CO_RETURN_IF_ERROR(CheckBackpressure(data.size()));
  vfs::WriteResult result;
  result.count = static_cast<uint32_t>(data.size());
  for (int attempt = 0;; ++attempt) {
    BFS_CO_ASSIGN_OR_RETURN(auto file, co_await Stage(rec));
    const vfs::Timespec now = WallNow();
    auto write = [file, offset, &data, now] { return file->Write(offset, data, now); };
    Status s = co_await RunBlocking(*options_.pool, write);
    if (s.ok()) break;
    if (s.code() != ErrorCode::kStale || attempt > 0) co_return s;
    // The staged file was just uploaded and retired: stage again on the new object.
    {
      std::lock_guard lock(staged_mu_);
      if (auto it = staged_.find(ino); it != staged_.end() && it->second.file == file) {
        staged_.erase(it);
      }
    }
    BFS_CO_ASSIGN_OR_RETURN(rec, GetRecord(ino));
  }
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(ino); it != staged_.end()) it->second.last_write = Now();
  }
  if (stable != vfs::StableHow::kUnstable) {
    BFS_CO_RETURN_IF_ERROR(co_await Commit(ino, offset, data.size()));
    result.committed = vfs::StableHow::kFileSync;
  }
  co_return result;
}

Awaitable<Status> ObjectFileSystem::Commit(vfs::InodeId ino, uint64_t, uint64_t) {
  if (!Writable()) co_return ReadOnlyError();
  auto file = FindStaged(ino);
  if (!file) co_return Status::Ok();  // nothing staged: everything is in S3 already
  auto sync = [file] { return file->Sync(); };
  BFS_CO_RETURN_IF_ERROR(co_await RunBlocking(*options_.pool, sync));
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  if (!options_.sync_upload) co_return Status::Ok();
  // --sync-upload: durable means in S3.
  int64_t id = 0;
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(ino); it != staged_.end()) id = it->second.upload_id;
  }
  if (id == 0) co_return Status::Ok();
  mutations_.SetReady(id, Now());
  Kick(co_await asio::this_coro::executor);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (int i = 0; i < 60'000 && mutations_.Get(id); ++i) {
    timer.expires_after(std::chrono::milliseconds(5));
    co_await timer.async_wait(asio::use_awaitable);
  }
  if (mutations_.Get(id)) co_return UnavailableError("upload still pending; retry COMMIT");
  co_return Status::Ok();
}

Awaitable<void> ObjectFileSystem::Closed(vfs::InodeId ino) {
  if (!Writable()) co_return;
  int64_t id = 0;
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(ino); it != staged_.end()) id = it->second.upload_id;
  }
  if (id == 0) co_return;
  mutations_.SetReady(id, Now() + options_.upload_delay);
  Kick(co_await asio::this_coro::executor);
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::SetAttr(vfs::InodeId ino,
                                                       vfs::SetAttrRequest request) {
  if (!Writable()) co_return ReadOnlyError();
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await Current(ino, false));
  const uint32_t type_bits = rec.is_dir       ? kModeDirectory
                             : IsSymlink(rec) ? kModeSymlink
                                              : kModeRegular;
  if (request.size) {
    if (rec.is_dir) co_return Status(ErrorCode::kIsDir, rec.key);
    if (type_bits == kModeSymlink) co_return InvalidArgumentError("truncate of a symlink");
  }
  PosixMeta meta = rec.meta;
  if (!meta.mode) {
    meta.mode = type_bits | (rec.is_dir ? options_.default_dir_mode : options_.default_file_mode);
  }
  ApplyAttrs(request, meta, type_bits);
  if (request.size && !request.mtime && !request.mtime_now) meta.mtime = WallNow();
  if (rec.is_dir) {
    // A directory's attributes live on its marker object: (re)write it.
    Mutation m = UploadMutation(ino, Now());
    meta::Batch extra;
    extra.journal_appends.push_back(Journal(m));
    BFS_CO_ASSIGN_OR_RETURN(
        rec, table_.Update(
                 ino, [&](InodeRecord& r) { r.meta = meta; }, Now(), true, std::move(extra)));
    BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
    mutations_.Add(m);
    Kick(co_await asio::this_coro::executor);
    co_return ToAttr(rec);
  }
  // Files: the change goes through the staged file (a truncate to 0 needs no base bytes).
  if (request.size && *request.size == 0 && !FindStaged(ino)) rec.etag.clear();
  BFS_CO_ASSIGN_OR_RETURN(auto file, co_await Stage(rec));
  auto size = request.size;
  auto change = [file, size, meta]() -> Status {
    if (size) BFS_RETURN_IF_ERROR(file->Truncate(*size));
    file->SetMeta(meta);
    return file->Sync();
  };
  BFS_CO_RETURN_IF_ERROR(co_await RunBlocking(*options_.pool, change));
  BFS_CO_ASSIGN_OR_RETURN(rec, table_.Update(
                                   ino, [&](InodeRecord& r) { r.meta = meta; }, Now(), true));
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  int64_t id = 0;
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(ino); it != staged_.end()) id = it->second.upload_id;
  }
  // A metadata-only change of a closed file is uploaded soon; an open file's waits for CLOSE.
  if (id != 0 && !request.size) mutations_.SetReady(id, Now() + options_.upload_delay);
  Kick(co_await asio::this_coro::executor);
  co_return co_await GetAttr(ino);
}

Awaitable<Status> ObjectFileSystem::Remove(vfs::InodeId dir, std::string name) {
  if (!Writable()) co_return ReadOnlyError();
  BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await LoadDir(dir));
  auto slot = snap->Find(name);
  if (!slot) co_return NotFoundError("no such entry: " + name);
  const vfs::InodeId ino = snap->children[*slot].ino;
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord child, co_await LoadRecord(ino));
  if (child.is_dir) BFS_CO_RETURN_IF_ERROR((co_await LoadDir(ino)).status());
  if (!child.links.empty()) co_return co_await RemoveLinkName(dir, name, child);
  Staged staged;
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(ino); it != staged_.end()) staged = it->second;
  }
  meta::Batch extra;
  bool cancelled = staged.upload_id != 0 && mutations_.Cancel(staged.upload_id);
  if (cancelled) extra.journal_completes.push_back(staged.upload_id);
  // Whatever the bucket may hold under the name goes: the object, or the directory's marker.
  // A directory's marker PUT may be queued or in flight (mkdir, chmod just before): then the
  // delete is queued too and runs after it (the queue orders mutations of one key). Asked in this
  // order, with no suspension between, so that an upload finishing in between is seen: it
  // records has_marker before it leaves the queue.
  std::optional<Mutation> del;
  bool in_bucket = !child.etag.empty() || !cancelled;
  if (child.is_dir) {
    const bool marker_pending = mutations_.HasUpload(ino);
    auto now = table_.Get(ino);
    const InodeRecord& dir_rec = now ? *now : child;
    in_bucket = marker_pending || dir_rec.has_marker || !dir_rec.local;
  }
  if (in_bucket) {
    Mutation m;
    m.id = NextJournalId();
    m.kind = Mutation::Kind::kDelete;
    m.src = child.key;
    m.is_dir = child.is_dir;
    extra.journal_appends.push_back(Journal(m));
    del = m;
  }
  auto removed = table_.RemoveChild(dir, name, Now(), std::move(extra));
  if (!removed.ok()) {
    if (cancelled) mutations_.Add(UploadMutation(ino, std::nullopt));  // keep it uploadable
    co_return removed.status();
  }
  if (!removed->inode_gone) {
    // A hard link was added meanwhile: the file lives on under its other name.
    if (cancelled) mutations_.Add(UploadMutation(ino, Now()));
    if (del) mutations_.Add(*del);
    Kick(co_await asio::this_coro::executor);
    co_return Status::Ok();
  }
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  if (del) mutations_.Add(*del);
  if (staged.file) {
    {
      std::lock_guard lock(staged_mu_);
      staged_.erase(ino);
    }
    auto file = staged.file;
    auto discard = [file] {
      file->Discard();
      return 0;
    };
    co_await RunBlocking(*options_.pool, discard);
  }
  Kick(co_await asio::this_coro::executor);
  co_return Status::Ok();
}

Awaitable<Status> ObjectFileSystem::RemoveLinkName(vfs::InodeId dir, const std::string& name,
                                                   const InodeRecord& child) {
  const bool first_name = child.parent == dir && child.name == name;
  if (first_name && FindStaged(child.ino)) {
    // Its other name takes over as the file's key; the staged data is layered on the object at
    // the first name, so that must be uploaded first. Ask the client to come back.
    int64_t id = 0;
    {
      std::lock_guard lock(staged_mu_);
      if (auto it = staged_.find(child.ino); it != staged_.end()) id = it->second.upload_id;
    }
    if (id != 0) mutations_.SetReady(id, Now());
    Kick(co_await asio::this_coro::executor);
    co_return UnavailableError("hard-linked file is being uploaded; retry");
  }
  std::string key = child.key;
  for (const auto& l : child.links) {
    if (l.parent == dir && l.name == name) key = l.key;
  }
  Mutation del;
  del.id = NextJournalId();
  del.kind = Mutation::Kind::kDelete;
  del.src = key;
  meta::Batch extra;
  extra.journal_appends.push_back(Journal(del));
  BFS_CO_ASSIGN_OR_RETURN(auto removed, table_.RemoveChild(dir, name, Now(), std::move(extra)));
  (void)removed;
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  mutations_.Add(del);
  Kick(co_await asio::this_coro::executor);
  co_return Status::Ok();
}

Awaitable<Status> ObjectFileSystem::Rename(vfs::InodeId src_dir, std::string src_name,
                                           vfs::InodeId dst_dir, std::string dst_name) {
  if (!Writable()) co_return ReadOnlyError();
  NameCheck check = CheckName(dst_name);
  if (check == NameCheck::kTooLong) co_return Status(ErrorCode::kNameTooLong, "name too long");
  if (check != NameCheck::kOk) co_return InvalidArgumentError("invalid name");
  BFS_CO_ASSIGN_OR_RETURN(auto src_snap, co_await LoadDir(src_dir));
  BFS_CO_ASSIGN_OR_RETURN(auto dst_snap, co_await LoadDir(dst_dir));
  if (auto t = dst_snap->Find(dst_name)) {
    BFS_CO_ASSIGN_OR_RETURN(InodeRecord target, co_await LoadRecord(dst_snap->children[*t].ino));
    if (target.is_dir) BFS_CO_RETURN_IF_ERROR((co_await LoadDir(target.ino)).status());
  }
  BFS_CO_ASSIGN_OR_RETURN(RenameCheck verdict,
                          table_.CheckRename(src_dir, src_name, dst_dir, dst_name));
  switch (verdict) {
    case RenameCheck::kOk:
      break;
    case RenameCheck::kExists:
      co_return Status(ErrorCode::kExists, "target exists");
    case RenameCheck::kIsDir:
      co_return Status(ErrorCode::kIsDir, "target is a directory");
    case RenameCheck::kNotDir:
      co_return Status(ErrorCode::kNotDir, "target is not a directory");
    case RenameCheck::kNotEmpty:
      co_return Status(ErrorCode::kNotEmpty, "target directory is not empty");
    case RenameCheck::kInvalid:
      co_return InvalidArgumentError("cannot move a directory into itself");
  }
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord moving,
                          co_await LoadRecord(src_snap->children[*src_snap->Find(src_name)].ino));
  // Uploads pending under the moving name must run after the move (they write the new keys, the
  // move must not copy old bytes over them): take them out of the queue now, re-journal them
  // after the move in the rename's own transaction.
  struct Requeue {
    vfs::InodeId ino;
    int64_t old_id;
    std::optional<SteadyTime> ready_at;
    int64_t new_id = 0;
  };
  std::vector<Requeue> requeue;
  std::vector<std::pair<vfs::InodeId, int64_t>> candidates;
  {
    std::lock_guard lock(staged_mu_);
    for (const auto& [ino, st] : staged_) candidates.emplace_back(ino, st.upload_id);
  }
  // The key of the name that moves (a hard link's own key when it is not the first name).
  std::string moving_key = moving.key;
  for (const auto& l : moving.links) {
    if (l.parent == src_dir && l.name == src_name) moving_key = l.key;
  }
  for (auto [ino, id] : candidates) {
    auto rec = table_.Get(ino);
    if (!rec || id == 0) continue;
    bool overlaps = MutationQueue::Overlap(moving_key, rec->key);
    for (const auto& l : rec->links)
      overlaps = overlaps || MutationQueue::Overlap(moving_key, l.key);
    if (!overlaps) continue;
    auto q = mutations_.Get(id);
    if (q && mutations_.Cancel(id)) requeue.push_back({ino, id, q->ready_at});
  }
  const bool upload_running = [&] {
    std::lock_guard lock(staged_mu_);
    auto it = staged_.find(moving.ino);
    if (it == staged_.end()) return false;
    auto q = mutations_.Get(it->second.upload_id);
    return q && q->running;
  }();
  // Is there anything in the bucket under the old name to move?
  // (A directory always: listing an empty prefix to find nothing costs one request.)
  const bool in_bucket = moving.is_dir || !moving.etag.empty() || upload_running || !moving.local;
  std::vector<Mutation> added;
  std::vector<vfs::InodeId> discard;
  auto plan = [&](const InodeTable::RenameResult& r, meta::Batch& batch) {
    if (r.old_key == r.new_key) return;
    if (r.replaced) {
      const InodeRecord& t = r.replaced->rec;
      if (r.replaced->inode_gone) {
        std::lock_guard lock(staged_mu_);
        if (auto it = staged_.find(t.ino); it != staged_.end()) {
          if (mutations_.Cancel(it->second.upload_id)) {
            batch.journal_completes.push_back(it->second.upload_id);
          }
          discard.push_back(t.ino);
        }
      }
      if (t.is_dir && t.has_marker) {
        Mutation d;
        d.id = NextJournalId();
        d.kind = Mutation::Kind::kDelete;
        d.src = r.replaced->key;
        d.is_dir = true;
        batch.journal_appends.push_back(Journal(d));
        added.push_back(d);
      }
      // A replaced file's object is overwritten by what moves there (copy or upload).
    }
    if (in_bucket) {
      Mutation mv;
      mv.id = NextJournalId();
      mv.kind = Mutation::Kind::kMove;
      mv.src = r.old_key;
      mv.dst = r.new_key;
      mv.is_dir = r.moved.is_dir;
      batch.journal_appends.push_back(Journal(mv));
      added.push_back(mv);
    }
    for (Requeue& q : requeue) {
      Mutation u;
      u.id = q.new_id = NextJournalId();
      u.kind = Mutation::Kind::kUpload;
      u.ino = q.ino;
      u.ready_at = q.ready_at;
      batch.journal_completes.push_back(q.old_id);
      batch.journal_appends.push_back(Journal(u));
      added.push_back(u);
    }
  };
  auto renamed = table_.Rename(src_dir, src_name, dst_dir, dst_name, Now(), plan);
  if (!renamed.ok()) {
    for (const Requeue& q : requeue) {
      Mutation u;
      u.id = q.old_id;
      u.kind = Mutation::Kind::kUpload;
      u.ino = q.ino;
      u.ready_at = q.ready_at;
      mutations_.Add(u);
    }
    co_return renamed.status();
  }
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  {
    std::lock_guard lock(staged_mu_);
    for (const Requeue& q : requeue) {
      if (auto it = staged_.find(q.ino); it != staged_.end() && q.new_id != 0) {
        it->second.upload_id = q.new_id;
      }
    }
    for (vfs::InodeId ino : discard) {
      if (auto it = staged_.find(ino); it != staged_.end()) {
        auto file = it->second.file;
        staged_.erase(it);
        file->Discard();  // unlinks two small files
      }
    }
  }
  for (Mutation& m : added) mutations_.Add(std::move(m));
  Kick(co_await asio::this_coro::executor);
  co_return Status::Ok();
}

Awaitable<Result<vfs::Attr>> ObjectFileSystem::Link(vfs::InodeId ino, vfs::InodeId dir,
                                                    std::string name) {
  if (!Writable()) co_return ReadOnlyError();
  NameCheck check = CheckName(name);
  if (check == NameCheck::kTooLong) co_return Status(ErrorCode::kNameTooLong, "name too long");
  if (check != NameCheck::kOk) co_return InvalidArgumentError("invalid name");
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(ino));
  if (rec.is_dir) co_return Status(ErrorCode::kIsDir, "hard link to a directory");
  BFS_CO_ASSIGN_OR_RETURN(auto snap, co_await LoadDir(dir));
  (void)snap;
  // The new name gets its object from the file's next upload, which copies the file to every
  // name; a file with nothing staged gets an upload of its own (copies only).
  std::optional<Mutation> upload;
  {
    std::lock_guard lock(staged_mu_);
    auto it = staged_.find(ino);
    auto q = it == staged_.end() ? std::nullopt : mutations_.Get(it->second.upload_id);
    if (!q || q->running) upload = UploadMutation(ino, Now() + options_.upload_delay);
  }
  BFS_CO_ASSIGN_OR_RETURN(
      InodeRecord linked,
      table_.AddLink(ino, dir, name, Now(), [&](const InodeRecord&, meta::Batch& batch) {
        if (upload) batch.journal_appends.push_back(Journal(*upload));
      }));
  (void)linked;
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
  if (upload) mutations_.Add(*upload);
  Kick(co_await asio::this_coro::executor);
  co_return co_await GetAttr(ino);
}

Awaitable<Result<uint64_t>> ObjectFileSystem::CopyRange(vfs::InodeId src, uint64_t src_offset,
                                                        vfs::InodeId dst, uint64_t dst_offset,
                                                        uint64_t count) {
  if (!Writable()) co_return ReadOnlyError();
  BFS_CO_ASSIGN_OR_RETURN(vfs::Attr sa, co_await GetAttr(src));
  if (sa.type != vfs::FileType::kRegular) co_return InvalidArgumentError("copy from a non-file");
  if (src_offset >= sa.size) co_return uint64_t{0};
  uint64_t end = count == 0 ? sa.size : std::min(sa.size, src_offset + count);
  if (src_offset == 0 && dst_offset == 0 && end == sa.size && src != dst) {
    auto copied = co_await CopyWholeObject(src, dst);
    if (!copied.ok()) co_return copied.status();
    if (*copied) co_return sa.size;
  }
  // Through the gateway in 4 MiB pieces: the destination is a staged file like any other.
  constexpr uint64_t kChunk = uint64_t{4} << 20;
  uint64_t done = 0;
  for (uint64_t off = src_offset; off < end; off += kChunk) {
    uint32_t n = static_cast<uint32_t>(std::min(kChunk, end - off));
    BFS_CO_ASSIGN_OR_RETURN(vfs::ReadResult r, co_await Read(src, off, n));
    if (r.data.empty()) break;
    const uint64_t got = r.data.size();
    BFS_CO_ASSIGN_OR_RETURN(
        vfs::WriteResult w,
        co_await Write(dst, dst_offset + done, std::move(r.data), vfs::StableHow::kUnstable));
    (void)w;
    done += got;
  }
  co_return done;
}

Awaitable<Result<bool>> ObjectFileSystem::CopyWholeObject(vfs::InodeId src, vfs::InodeId dst) {
  // Server-side (CopyObject) when the source is an object with nothing staged and the
  // destination an empty file with nothing written: no data passes through the gateway.
  if (FindStaged(src)) co_return false;
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord s, co_await LoadRecord(src));
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord d, co_await LoadRecord(dst));
  if (s.etag.empty() || s.local || d.is_dir || IsSymlink(d)) co_return false;
  Staged staged;
  {
    std::lock_guard lock(staged_mu_);
    if (auto it = staged_.find(dst); it != staged_.end()) staged = it->second;
  }
  if (staged.file) {
    StagedState st = staged.file->State();
    if (st.size != 0 || !st.dirty.empty()) co_return false;
  } else if (d.size != 0) {
    co_return false;
  }
  // The destination's upload (of an empty file) is superseded by the copy; if it cannot be
  // taken back (it is running), copy through the gateway instead.
  if (staged.upload_id != 0 && !mutations_.Cancel(staged.upload_id)) co_return false;
  PosixMeta meta = staged.file ? staged.file->State().meta : d.meta;
  if (!meta.mode) meta.mode = kModeRegular | options_.default_file_mode;
  meta.mtime = WallNow();
  auto info = co_await store_->Copy(DataKey(s.key), d.key, FormatPosixMeta(meta), s.etag);
  if (!info.ok()) {
    if (staged.upload_id != 0) mutations_.Add(UploadMutation(dst, std::nullopt));
    co_return info.status().WithContext("copy s3://" + store_->bucket() + "/" + s.key + " → " +
                                        d.key);
  }
  meta::Batch done;
  if (staged.upload_id != 0) done.journal_completes.push_back(staged.upload_id);
  auto now_wall = std::chrono::system_clock::now();
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord updated,
                          table_.Update(
                              dst,
                              [&](InodeRecord& r) {
                                r.etag = info->etag;
                                r.version_id = info->version_id;
                                r.size = s.size;
                                r.last_modified =
                                    info->last_modified.time_since_epoch().count() != 0
                                        ? info->last_modified
                                        : now_wall;
                                r.meta = meta;
                                r.meta_known = true;
                                r.local = false;
                                r.validated_at = Now();
                              },
                              Now(), true, std::move(done)));
  (void)updated;
  BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());  // recorded durably before the staging goes
  if (staged.file) {
    {
      std::lock_guard lock(staged_mu_);
      if (auto it = staged_.find(dst); it != staged_.end() && it->second.file == staged.file) {
        staged_.erase(it);
      }
    }
    auto file = staged.file;
    auto discard = [file] {
      file->Discard();
      return 0;
    };
    co_await RunBlocking(*options_.pool, discard);
  }
  ++server_side_copies_;
  co_return true;
}

Awaitable<Status> ObjectFileSystem::Deallocate(vfs::InodeId ino, uint64_t offset, uint64_t length) {
  if (!Writable()) co_return ReadOnlyError();
  BFS_CO_ASSIGN_OR_RETURN(InodeRecord rec, co_await LoadRecord(ino));
  if (rec.is_dir) co_return Status(ErrorCode::kIsDir, rec.key);
  BFS_CO_ASSIGN_OR_RETURN(auto file, co_await Stage(rec));
  auto zero = [file, offset, length] { return file->Zero(offset, length); };
  co_return co_await RunBlocking(*options_.pool, zero);
}

// ---- reads of staged files ----

Awaitable<Result<vfs::ReadResult>> ObjectFileSystem::ReadStaged(
    const InodeRecord& rec, const std::shared_ptr<StagedFile>& file, uint64_t offset,
    uint32_t count) {
  // The bytes not written here come from the base object, read with If-Match. An upload of this
  // file that completes meanwhile replaces that object (the If-Match fails: kStale) and moves the
  // base; the read then starts over from the new state, or from the object once the file is no
  // longer staged. Between the moment S3 has the new object and the moment the upload records it
  // (moves the base, or marks the file uploaded and drops it after the metadata store has it)
  // the failure looks like a replacement behind the gateway's back: the read waits for that to
  // settle. Never STALE for a file that is still there.
  constexpr int kAttempts = 4;
  constexpr int kSettleWaits = 300;  // of 10 ms
  std::shared_ptr<StagedFile> current = file;
  std::optional<asio::steady_timer> timer;
  for (int attempt = 1, waits = 0;;) {
    StagedState st = current->State();
    vfs::ReadResult out;
    if (offset >= st.size) {
      out.eof = true;
      co_return out;
    }
    uint64_t len = std::min<uint64_t>(count, st.size - offset);
    auto data = co_await uploader_->ReadMerged(current, st.base, DataKey(rec.key), offset, len);
    if (data.ok()) {
      out.data = std::move(data).value();
      out.eof = offset + out.data.size() >= st.size;
      co_return out;
    }
    const ErrorCode code = data.status().code();
    if (code != ErrorCode::kStale && code != ErrorCode::kNotFound) co_return data.status();
    std::shared_ptr<StagedFile> now = FindStaged(rec.ino);
    if (!now) co_return co_await Read(rec.ino, offset, count);  // uploaded: the object now
    const bool same_base = now == current && now->State().base.etag == st.base.etag;
    if ((same_base && UploadRunning(rec.ino)) || now->discarded()) {
      // Our own upload in its last step.
      if (waits++ == kSettleWaits) {
        co_return UnavailableError("s3://" + store_->bucket() + "/" + rec.key +
                                   " is still being uploaded; retry");
      }
      if (!timer) timer.emplace(co_await asio::this_coro::executor);
      timer->expires_after(std::chrono::milliseconds(10));
      co_await timer->async_wait(asio::use_awaitable);
      current = std::move(now);
      continue;
    }
    if (same_base) co_return data.status();  // replaced or removed behind the gateway
    if (++attempt > kAttempts) {
      co_return UnavailableError("s3://" + store_->bucket() + "/" + rec.key +
                                 " keeps changing during reads; retry");
    }
    current = std::move(now);
  }
}

// ---- applying the journal ----

void ObjectFileSystem::Kick(asio::any_io_executor ex) {
  {
    std::lock_guard lock(timer_mu_);
    if (!first_executor_) first_executor_ = ex;
  }
  if (stopping_ || !options_.apply_s3_changes || pump_scheduled_.exchange(true)) return;
  asio::co_spawn(BackgroundExecutor(), Pump(), asio::detached);
}

Awaitable<void> ObjectFileSystem::Pump() {
  pump_scheduled_ = false;
  const std::size_t running = mutations_.running();
  if (running >= options_.max_mutations) co_return;
  std::optional<SteadyTime> wake;
  auto key_of = [this](uint64_t ino) -> std::vector<std::string> {
    auto rec = table_.Get(ino);
    if (!rec || rec->stale) return {};
    std::vector<std::string> keys{rec->key};
    for (const auto& l : rec->links) keys.push_back(l.key);
    return keys;
  };
  // Files still open are uploaded after idle_upload without writes.
  {
    std::lock_guard lock(staged_mu_);
    for (const auto& [ino, st] : staged_) {
      if (st.upload_id != 0 && Now() - st.last_write >= options_.idle_upload) {
        mutations_.SetReadyIfUnset(st.upload_id, Now());
      } else if (st.upload_id != 0) {
        SteadyTime at = st.last_write + options_.idle_upload;
        if (!wake || at < *wake) wake = at;
      }
    }
  }
  auto ready = mutations_.TakeRunnable(options_.max_mutations - running, Now(), key_of, &wake);
  for (Mutation& m : ready)
    asio::co_spawn(BackgroundExecutor(), RunMutation(std::move(m)), asio::detached);
  if (!wake || stopping_) co_return;
  std::shared_ptr<asio::steady_timer> timer;
  {
    std::lock_guard lock(timer_mu_);
    if (timer_at_ && *timer_at_ <= *wake && *timer_at_ > Now()) co_return;  // armed earlier
    timer_at_ = *wake;
    if (!timer_) timer_ = std::make_shared<asio::steady_timer>(BackgroundExecutor());
    timer = timer_;
  }
  timer->expires_after(std::max<SteadyTime::duration>(*wake - Now(), std::chrono::milliseconds(1)));
  timer->async_wait([this, timer](const boost::system::error_code& ec) {
    if (ec) return;
    {
      std::lock_guard lock(timer_mu_);
      timer_at_.reset();
    }
    Kick(BackgroundExecutor());
  });
}

Awaitable<void> ObjectFileSystem::RunMutation(Mutation m) {
  Status s;
  switch (m.kind) {
    case Mutation::Kind::kUpload:
      s = co_await ApplyUpload(m);
      break;
    case Mutation::Kind::kMove:
      s = co_await ApplyMove(m);
      break;
    case Mutation::Kind::kDelete:
      s = co_await ApplyDelete(m);
      break;
  }
  if (s.ok()) {
    mutations_.Finish(m.id);
    meta::Batch done;
    done.journal_completes.push_back(m.id);
    table_.PersistJournal(std::move(done), false);
  } else if (s.code() == ErrorCode::kUnavailable && s.message() == "requeued") {
    // ApplyUpload found newer writes: it stays queued (ready again) under the same id.
  } else {
    ++write_failures_;
    BFS_LOG_WARN("s3://{}: {} (journal {}) failed, retrying in {} ms: {}", store_->bucket(),
                 KindName(m.kind), m.id, options_.retry_delay.count(), s.ToString());
    mutations_.Retry(m.id, Now() + options_.retry_delay);
  }
  Kick(BackgroundExecutor());
}

Awaitable<Status> ObjectFileSystem::ApplyUpload(const Mutation& m) {
  auto rec = table_.Get(m.ino);
  if (!rec || rec->stale) co_return Status::Ok();  // removed meanwhile: nothing to upload
  auto file = FindStaged(m.ino);
  const std::string key = rec->key;
  if (rec->is_dir) {
    // mkdir / attributes of a directory: its marker object.
    PosixMeta meta = rec->meta;
    if (!meta.mode) meta.mode = kModeDirectory | options_.default_dir_mode;
    auto put = co_await store_->Put(key, Bytes(), FormatPosixMeta(meta));
    if (!put.ok()) co_return put.status().WithContext("PUT s3://" + store_->bucket() + "/" + key);
    objstore::ObjectInfo info = *put;
    (void)table_.Update(
        m.ino,
        [&](InodeRecord& r) {
          r.has_marker = true;
          r.etag = info.etag;
          r.last_modified = std::chrono::system_clock::now();
          r.local = false;
          r.validated_at = Now();
        },
        Now(), false);
    co_return Status::Ok();
  }
  if (!file) {
    // Nothing staged: metadata of a clean file, or copies to its hard links.
    co_return co_await CopyToLinks(*rec, DataKey(key), rec->etag);
  }
  StagedState st = file->SnapshotForUpload();
  UploadStats stats;
  auto info =
      co_await uploader_->Upload(key, file, st, DataKey(key), FormatPosixMeta(st.meta), &stats);
  if (!info.ok())
    co_return info.status().WithContext("upload of s3://" + store_->bucket() + "/" + key);
  uploaded_bytes_ += stats.bytes_sent;
  // Hard links get their copies before the upload counts as done.
  if (auto rec2 = table_.Get(m.ino); rec2 && !rec2->links.empty()) {
    BFS_CO_RETURN_IF_ERROR(co_await CopyToLinks(*rec2, key, info->etag));
  }
  const bool clean = file->MarkUploaded(st.version, info->etag);
  auto now_wall = std::chrono::system_clock::now();
  meta::Batch done;
  if (clean) done.journal_completes.push_back(m.id);
  auto updated = table_.Update(
      m.ino,
      [&](InodeRecord& r) {
        r.etag = info->etag;
        r.version_id = info->version_id;
        r.size = st.size;
        r.last_modified =
            info->last_modified.time_since_epoch().count() != 0 ? info->last_modified : now_wall;
        r.meta = st.meta;
        r.meta_known = true;
        r.validated_at = Now();
        if (clean) r.local = false;
        if (IsSymlink(r)) r.symlink_etag = r.etag;
      },
      Now(), clean, std::move(done));
  if (clean) {
    // Durably recorded first, then the staged copy goes.
    BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
    {
      std::lock_guard lock(staged_mu_);
      if (auto it = staged_.find(m.ino); it != staged_.end() && it->second.file == file) {
        staged_.erase(it);
      }
    }
    auto remove = [file] {
      file->RemoveFiles();
      return 0;
    };
    co_await RunBlocking(*options_.pool, remove);
    co_return Status::Ok();
  }
  // Written meanwhile: the new object is the base now; upload again (same journal entry).
  file->Rebase(st, info->etag);
  auto sync = [file] { return file->Sync(); };
  co_await RunBlocking(*options_.pool, sync);
  mutations_.Retry(m.id, Now() + options_.upload_delay);
  (void)updated;
  co_return UnavailableError("requeued");
}

Awaitable<Status> ObjectFileSystem::CopyToLinks(const InodeRecord& rec, std::string from,
                                                std::string etag) {
  for (const auto& l : rec.links) {
    auto copied = co_await store_->Copy(from, l.key, std::nullopt, etag);
    if (!copied.ok()) {
      co_return copied.status().WithContext("hard link s3://" + store_->bucket() + "/" + l.key);
    }
  }
  if (!rec.links.empty() && !FindStaged(rec.ino)) {
    (void)table_.Update(
        rec.ino,
        [this](InodeRecord& r) {
          r.local = false;
          r.validated_at = Now();
        },
        Now(), false);
  }
  co_return Status::Ok();
}

Awaitable<Status> ObjectFileSystem::ApplyMove(const Mutation& m) {
  const std::string where = "rename s3://" + store_->bucket() + "/" + m.src + " → " + m.dst;
  if (!m.copied) {
    if (m.is_dir) {
      objstore::ListRequest req;
      req.prefix = m.src;
      req.delimiter = "";
      for (;;) {
        ++lists_;
        BFS_CO_ASSIGN_OR_RETURN(objstore::ListPage page, co_await store_->List(req));
        for (const auto& obj : page.objects) {
          std::string dst = m.dst + obj.key.substr(m.src.size());
          auto copied = co_await store_->Copy(obj.key, dst, std::nullopt, "");
          if (!copied.ok() && copied.status().code() != ErrorCode::kNotFound) {
            co_return copied.status().WithContext(where);
          }
          if (copied.ok() && copied->etag != obj.etag) {
            if (auto f = table_.FindByKey(dst, false)) {
              if (auto file = FindStaged(*f)) file->SetBaseEtag(obj.etag, copied->etag);
              (void)table_.Update(
                  *f,
                  [&](InodeRecord& r) {
                    if (r.etag == obj.etag) r.etag = copied->etag;
                  },
                  Now(), false);
            }
          }
        }
        if (page.next_continuation_token.empty()) break;
        req.continuation_token = page.next_continuation_token;
      }
    } else {
      auto copied = co_await store_->Copy(m.src, m.dst, std::nullopt, "");
      if (!copied.ok() && copied.status().code() != ErrorCode::kNotFound) {
        co_return copied.status().WithContext(where);
      }
      auto moved = copied.ok() ? table_.FindByKey(m.dst, false) : std::nullopt;
      if (moved && table_.Get(*moved) && table_.Get(*moved)->key != m.dst) {
        // A hard link's name moved: the file's own object is unchanged.
        if (!FindStaged(*moved)) {
          (void)table_.Update(
              *moved,
              [this](InodeRecord& r) {
                r.local = false;
                r.validated_at = Now();
              },
              Now(), false);
        }
        moved.reset();
      }
      if (copied.ok()) {
        if (auto f = moved) {
          auto file = FindStaged(*f);
          std::string old_etag;
          (void)table_.Update(
              *f,
              [&](InodeRecord& r) {
                old_etag = r.etag;
                r.etag = copied->etag;
                r.validated_at = Now();
                if (copied->last_modified.time_since_epoch().count() != 0) {
                  r.last_modified = copied->last_modified;
                }
                if (!file) r.local = false;
              },
              Now(), false);
          if (file) file->SetBaseEtag(old_etag, copied->etag);
        }
      }
    }
    // Copy phase over: reads and listings use the new keys from now on, even after a crash.
    Mutation done = m;
    done.copied = true;
    meta::Batch b;
    b.journal_updates.emplace_back(m.id, Payload(done));
    table_.PersistJournal(std::move(b), true);
    BFS_CO_RETURN_IF_ERROR(co_await FlushMeta());
    mutations_.SetCopied(m.id);
  }
  if (m.is_dir) {
    if (auto d = table_.FindByKey(m.dst, true)) {
      (void)table_.Update(
          *d,
          [this](InodeRecord& r) {
            r.local = false;
            r.validated_at = Now();
          },
          Now(), false);
    }
    objstore::ListRequest req;
    req.prefix = m.src;
    req.delimiter = "";
    for (;;) {
      ++lists_;
      BFS_CO_ASSIGN_OR_RETURN(objstore::ListPage page, co_await store_->List(req));
      for (const auto& obj : page.objects) {
        BFS_CO_RETURN_IF_ERROR((co_await store_->Delete(obj.key)));
      }
      if (page.next_continuation_token.empty()) break;
      req.continuation_token = page.next_continuation_token;
    }
    co_return Status::Ok();
  }
  Status del = co_await store_->Delete(m.src);
  if (!del.ok() && del.code() != ErrorCode::kNotFound) co_return del.WithContext(where);
  co_return Status::Ok();
}

Awaitable<Status> ObjectFileSystem::ApplyDelete(const Mutation& m) {
  Status s = co_await store_->Delete(m.src);
  if (!s.ok() && s.code() != ErrorCode::kNotFound) {
    co_return s.WithContext("DELETE s3://" + store_->bucket() + "/" + m.src);
  }
  co_return Status::Ok();
}

Awaitable<Status> ObjectFileSystem::StartWritePath() {
  if (!Writable()) co_return Status::Ok();
  if (options_.pool == nullptr) co_return InternalError("write path without a blocking pool");
  if (!options_.background) {
    std::lock_guard lock(timer_mu_);
    if (!first_executor_) first_executor_ = co_await asio::this_coro::executor;
  }
  if (!options_.meta) co_return Status::Ok();
  auto& store = options_.meta->store();
  auto pending = [&store] { return store.PendingJournal(10'000'000); };
  BFS_CO_ASSIGN_OR_RETURN(auto entries, co_await RunBlocking(*options_.pool, pending));
  std::size_t uploads = 0, moves = 0, deletes = 0;
  // Staged files of uploads that cannot be resumed but were not removed by a client either.
  std::vector<uint64_t> unresumable;
  for (const auto& e : entries) {
    if (e.export_id != options_.export_id) continue;
    auto m = ParseJournal(e);
    if (!m) {
      BFS_LOG_WARN("export {}: unreadable journal entry {} ({}) dropped", options_.export_id, e.id,
                   e.op);
      meta::Batch b;
      b.journal_completes.push_back(e.id);
      table_.PersistJournal(std::move(b), false);
      continue;
    }
    if (m->kind == Mutation::Kind::kUpload) {
      auto rec = co_await LoadRecord(m->ino);
      const std::string dir = options_.staging_dir;
      const uint64_t ino = m->ino;
      auto recover = [dir, ino] { return StagedFile::Recover(dir, ino); };
      auto file = co_await RunBlocking(*options_.pool, recover);
      if (!rec.ok() || (!rec->is_dir && !file.ok())) {
        if (!file.ok() && file.status().code() != ErrorCode::kNotFound) {
          BFS_LOG_ERROR("export {}: staged data of inode {} unreadable: {}", options_.export_id,
                        ino, file.status().ToString());
        }
        // A file a client removed has a stale row (its staged data may go); an inode the store
        // does not know, or a damaged state file, proves nothing: keep what is staged.
        const bool removed =
            !rec.ok() && rec.status().code() == ErrorCode::kStale && table_.Get(ino).has_value();
        const bool staged = file.ok() || file.status().code() != ErrorCode::kNotFound;
        if (!removed && staged) unresumable.push_back(ino);
        meta::Batch b;
        b.journal_completes.push_back(e.id);
        table_.PersistJournal(std::move(b), false);
        continue;
      }
      if (file.ok()) {
        std::lock_guard lock(staged_mu_);
        staged_[ino] = Staged{*file, m->id, Now()};
      }
      m->ready_at = Now();
      ++uploads;
    } else {
      ++(m->kind == Mutation::Kind::kMove ? moves : deletes);
    }
    mutations_.Add(*m);
  }
  // Staged files no pending upload refers to. With the journal of the last run at hand, they
  // are not needed: uploaded (the journal entry completes durably before the files go), removed
  // or replaced by a client, or never COMMITted (a crash between their first sync and the
  // journal entry's commit). Without it (a new, rebuilt or reset namespace) nothing proves that,
  // and they may hold acknowledged writes: they are kept, out of the way of this run's inode
  // numbers, with an error in the log.
  std::vector<uint64_t> keep;
  {
    std::lock_guard lock(staged_mu_);
    for (const auto& [ino, st] : staged_) keep.push_back(ino);
  }
  const std::string staging = options_.staging_dir;
  auto list_orphans = [staging, keep] { return OrphanStagingInodes(staging, keep); };
  std::vector<uint64_t> orphans = co_await RunBlocking(*options_.pool, list_orphans);
  const meta::ExportState& state = options_.export_state;
  std::string cause;
  std::vector<uint64_t> kept;
  if (state.created || state.reset) {
    cause = state.rebuilt ? "the metadata database was damaged and has been rebuilt"
            : state.reset ? "the export now serves another bucket or prefix"
                          : "the metadata database has no record of this export (a new or "
                            "deleted meta.db)";
    cause += ", so the journal of pending uploads is gone";
    kept = orphans;
  } else {
    cause =
        "their pending upload could not be resumed (inode unknown to the metadata store, "
        "or its staging state damaged)";
    for (uint64_t ino : orphans) {
      if (std::find(unresumable.begin(), unresumable.end(), ino) != unresumable.end()) {
        kept.push_back(ino);
      }
    }
  }
  if (!kept.empty()) {
    const std::string into =
        options_.lost_found_dir.empty() ? staging + "/lost+found" : options_.lost_found_dir;
    auto move = [staging, kept, into, cause] { return KeepStaging(staging, kept, into, cause); };
    auto moved = co_await RunBlocking(*options_.pool, move);
    if (!moved.ok()) {
      co_return moved.status().WithContext(
          "keeping " + std::to_string(kept.size()) + " staged files of an earlier run (" + cause +
          "); they are still in " + staging + ", nothing was removed");
    }
    if (moved->inodes > 0) {
      kept_staged_files_ = moved->inodes;
      BFS_LOG_ERROR(
          "export {}: kept {} staged files in {} instead of removing them: {}. They may hold "
          "writes acknowledged to clients that never reached the bucket; KEPT.txt there says "
          "what each holds (recovery: docs/architecture.md, \"Staged files kept at startup\")",
          options_.export_id, moved->inodes, moved->dir, cause);
    }
  }
  auto sweep = [staging, keep] { return RemoveOrphanStaging(staging, keep); };
  const std::size_t removed = co_await RunBlocking(*options_.pool, sweep);
  if (removed > 0) {
    BFS_LOG_INFO(
        "export {}: removed {} staged files the journal no longer needs (uploaded, removed, or "
        "never committed)",
        options_.export_id, removed);
  }
  if (uploads + moves + deletes > 0) {
    BFS_LOG_INFO("export {}: resuming {} uploads, {} renames, {} deletes from the journal",
                 options_.export_id, uploads, moves, deletes);
  }
  Kick(co_await asio::this_coro::executor);
  co_return Status::Ok();
}

Awaitable<Status> ObjectFileSystem::PersistStaged() {
  if (!Writable()) co_return Status::Ok();
  std::vector<std::shared_ptr<StagedFile>> files;
  {
    std::lock_guard lock(staged_mu_);
    for (const auto& [ino, st] : staged_) files.push_back(st.file);
  }
  Status first;
  for (auto& f : files) {
    auto sync = [f] { return f->Sync(); };
    Status s = co_await RunBlocking(*options_.pool, sync);
    if (!s.ok() && first.ok()) first = s;
  }
  Status flushed = co_await FlushMeta();
  co_return first.ok() ? flushed : first;
}

Awaitable<Status> ObjectFileSystem::Drain(std::chrono::milliseconds timeout) {
  if (!Writable()) co_return Status::Ok();
  {
    std::lock_guard lock(staged_mu_);
    for (const auto& [ino, st] : staged_) {
      if (st.upload_id != 0) mutations_.SetReady(st.upload_id, Now());
    }
  }
  Kick(co_await asio::this_coro::executor);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (mutations_.size() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      co_return Status(ErrorCode::kTimeout,
                       std::to_string(mutations_.size()) + " S3 changes still pending");
    }
    timer.expires_after(std::chrono::milliseconds(20));
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return Status::Ok();
}

}  // namespace bucketfs::gateway
