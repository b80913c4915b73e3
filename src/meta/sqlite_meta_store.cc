#include "meta/sqlite_meta_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>

#include "base/log.h"

namespace bucketfs::meta {
namespace {

namespace fs = std::filesystem;

// Migration i (0-based) takes the schema from user_version i to i + 1.
constexpr const char* kMigrations[] = {
    // 0 → 1: the first schema.
    R"sql(
    CREATE TABLE gateway (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      boot_generation INTEGER NOT NULL
    );
    CREATE TABLE exports (
      export_id INTEGER PRIMARY KEY,
      name TEXT NOT NULL,
      bucket TEXT NOT NULL,
      prefix BLOB NOT NULL,
      next_ino INTEGER NOT NULL
    );
    CREATE TABLE inodes (
      export_id INTEGER NOT NULL,
      ino INTEGER NOT NULL,
      generation INTEGER NOT NULL,
      parent INTEGER NOT NULL,
      name BLOB NOT NULL,
      key BLOB NOT NULL,
      is_dir INTEGER NOT NULL,
      stale INTEGER NOT NULL,
      has_marker INTEGER NOT NULL,
      size INTEGER NOT NULL,
      etag TEXT NOT NULL,
      version_id TEXT NOT NULL,
      last_modified_ns INTEGER NOT NULL,
      meta_known INTEGER NOT NULL,
      mode INTEGER,
      uid INTEGER,
      gid INTEGER,
      mtime_sec INTEGER,
      mtime_nsec INTEGER NOT NULL,
      validated_at_ms INTEGER NOT NULL,
      listing_verifier INTEGER NOT NULL,
      PRIMARY KEY (export_id, ino)
    ) WITHOUT ROWID;
    CREATE TABLE listings (
      export_id INTEGER NOT NULL,
      dir INTEGER NOT NULL,
      verifier INTEGER NOT NULL,
      loaded_at_ms INTEGER NOT NULL,
      PRIMARY KEY (export_id, dir)
    ) WITHOUT ROWID;
    CREATE TABLE dirents (
      export_id INTEGER NOT NULL,
      dir INTEGER NOT NULL,
      pos INTEGER NOT NULL,
      name BLOB NOT NULL,
      ino INTEGER NOT NULL,
      PRIMARY KEY (export_id, dir, pos)
    ) WITHOUT ROWID;
    CREATE TABLE journal (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      export_id INTEGER NOT NULL,
      op TEXT NOT NULL,
      payload BLOB NOT NULL,
      created_at_ms INTEGER NOT NULL
    );
    )sql",
    // 1 → 2: when each export's namespace began (the mtime of directories without a marker, so
    // that it does not change when the gateway restarts). Existing exports start now.
    R"sql(
    ALTER TABLE exports ADD COLUMN created_at_ms INTEGER NOT NULL DEFAULT 0;
    )sql",
    // 2 → 3: the write path. Inodes the gateway created or moved whose S3 side is pending.
    R"sql(
    ALTER TABLE inodes ADD COLUMN local INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE inodes ADD COLUMN links BLOB NOT NULL DEFAULT '';
    )sql",
    // 3 → 4: NFSv4 client records (who may reclaim state after a restart).
    R"sql(
    CREATE TABLE nfs_clients (
      owner BLOB PRIMARY KEY,
      recorded_at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    )sql",
};
constexpr int kMigrationCount = static_cast<int>(std::size(kMigrations));
static_assert(kMigrationCount == kSchemaVersion);

int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A prepared statement, finalized on destruction. Binds are 1-based as in SQLite.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Status Prepared() const {
    if (rc_ == SQLITE_OK) return Status::Ok();
    return IoError(std::string("metadata database: ") + sqlite3_errmsg(db_));
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Stmt& BindBlob(int i, const std::string& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& BindText(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  template <typename T>
  Stmt& BindOpt(int i, const std::optional<T>& v) {
    if (v) return Bind(i, static_cast<int64_t>(*v));
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  // SQLITE_ROW → true, SQLITE_DONE → false, anything else → error.
  Result<bool> Step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return IoError(std::string("metadata database: ") + sqlite3_errmsg(db_));
  }
  Status Run() {
    BFS_RETURN_IF_ERROR(Prepared());
    auto r = Step();
    if (!r.ok()) return r.status();
    return Reset();
  }
  Status Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return Status::Ok();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::string Str(int col) const {
    const void* p = sqlite3_column_blob(stmt_, col);
    int n = sqlite3_column_bytes(stmt_, col);
    return p == nullptr ? std::string() : std::string(static_cast<const char*>(p), n);
  }
  template <typename T>
  std::optional<T> Opt(int col) const {
    if (IsNull(col)) return std::nullopt;
    return static_cast<T>(Int(col));
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_OK;
};

constexpr const char* kInodeColumns =
    "ino, generation, parent, name, key, is_dir, stale, has_marker, size, etag, version_id, "
    "last_modified_ns, meta_known, mode, uid, gid, mtime_sec, mtime_nsec, validated_at_ms, "
    "listing_verifier, local, links";

// Hard links as "PARENT LEN:NAME LEN:KEY" records: binary-safe, no second table to join.
std::string EncodeLinks(const std::vector<InodeRow::Link>& links) {
  std::string out;
  for (const auto& l : links) {
    out += std::to_string(l.parent) + " " + std::to_string(l.name.size()) + ":" + l.name +
           std::to_string(l.key.size()) + ":" + l.key;
  }
  return out;
}

std::vector<InodeRow::Link> DecodeLinks(std::string_view s) {
  std::vector<InodeRow::Link> out;
  auto field = [&s](std::string* v) {
    auto colon = s.find(':');
    if (colon == std::string_view::npos) return false;
    std::size_t len = 0;
    for (char c : s.substr(0, colon)) {
      if (c < '0' || c > '9') return false;
      len = len * 10 + static_cast<std::size_t>(c - '0');
    }
    if (s.size() - colon - 1 < len) return false;
    *v = std::string(s.substr(colon + 1, len));
    s.remove_prefix(colon + 1 + len);
    return true;
  };
  while (!s.empty()) {
    auto space = s.find(' ');
    if (space == std::string_view::npos) break;
    InodeRow::Link l;
    l.parent = std::strtoull(std::string(s.substr(0, space)).c_str(), nullptr, 10);
    s.remove_prefix(space + 1);
    if (!field(&l.name) || !field(&l.key)) break;
    out.push_back(std::move(l));
  }
  return out;
}

InodeRow ReadInode(const Stmt& s) {
  InodeRow r;
  r.ino = static_cast<InodeId>(s.Int(0));
  r.generation = static_cast<uint32_t>(s.Int(1));
  r.parent = static_cast<InodeId>(s.Int(2));
  r.name = s.Str(3);
  r.key = s.Str(4);
  r.is_dir = s.Int(5) != 0;
  r.stale = s.Int(6) != 0;
  r.has_marker = s.Int(7) != 0;
  r.size = static_cast<uint64_t>(s.Int(8));
  r.etag = s.Str(9);
  r.version_id = s.Str(10);
  r.last_modified_ns = s.Int(11);
  r.meta_known = s.Int(12) != 0;
  r.mode = s.Opt<uint32_t>(13);
  r.uid = s.Opt<uint32_t>(14);
  r.gid = s.Opt<uint32_t>(15);
  r.mtime_sec = s.Opt<int64_t>(16);
  r.mtime_nsec = static_cast<uint32_t>(s.Int(17));
  r.validated_at_ms = s.Int(18);
  r.listing_verifier = static_cast<uint64_t>(s.Int(19));
  r.local = s.Int(20) != 0;
  r.links = DecodeLinks(s.Str(21));
  return r;
}

// Opens the file and checks that it is a healthy database. An error here means "damaged".
Result<sqlite3*> OpenChecked(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return IoError("cannot open metadata database " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  // journal_mode=WAL is the first statement that reads the file: a non-database fails here.
  std::string check;
  {
    Stmt wal(db, "PRAGMA journal_mode=WAL");
    auto r = wal.Prepared().ok() ? wal.Step() : Result<bool>(wal.Prepared());
    if (!r.ok()) {
      sqlite3_close(db);
      return Status(ErrorCode::kProtocol, r.status().message());
    }
  }
  {
    Stmt qc(db, "PRAGMA quick_check");
    auto r = qc.Prepared().ok() ? qc.Step() : Result<bool>(qc.Prepared());
    if (!r.ok() || !*r || (check = qc.Str(0)) != "ok") {
      std::string why = r.ok() ? check : r.status().message();
      sqlite3_close(db);
      return Status(ErrorCode::kProtocol, "integrity check failed: " + why);
    }
  }
  return db;
}

Status MoveAside(const std::string& path) {
  std::string aside = path + ".corrupt-" + std::to_string(WallMs() / 1000);
  std::error_code ec;
  fs::rename(path, aside, ec);
  if (ec) return IoError("cannot move damaged " + path + " aside: " + ec.message());
  for (const char* suffix : {"-wal", "-shm"}) {
    fs::rename(path + suffix, aside + suffix, ec);  // absent is fine
  }
  BFS_LOG_WARN(
      "metadata database {} is damaged; moved to {} and starting a new one (the "
      "namespace is reloaded from the bucket; clients' handles below export roots go "
      "stale)",
      path, aside);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<SqliteMetaStore>> SqliteMetaStore::Open(const std::string& path) {
  std::error_code ec;
  fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) {
    fs::create_directories(parent, ec);
    if (ec)
      return IoError("cannot create state directory " + parent.string() + ": " + ec.message());
  }
  bool rebuilt = false;
  auto db = OpenChecked(path);
  if (!db.ok() && db.status().code() == ErrorCode::kProtocol && fs::exists(path)) {
    BFS_LOG_WARN("metadata database {}: {}", path, db.status().message());
    BFS_RETURN_IF_ERROR(MoveAside(path));
    rebuilt = true;
    db = OpenChecked(path);
  }
  if (!db.ok()) return db.status();
  std::unique_ptr<SqliteMetaStore> store(new SqliteMetaStore(*db, path));
  store->rebuilt_ = rebuilt;
  BFS_RETURN_IF_ERROR(store->Initialize());
  return store;
}

SqliteMetaStore::SqliteMetaStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

SqliteMetaStore::~SqliteMetaStore() { sqlite3_close(db_); }

Status SqliteMetaStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
  std::string msg = err ? err : "unknown error";
  sqlite3_free(err);
  return IoError("metadata database " + path_ + ": " + msg);
}

Status SqliteMetaStore::Initialize() {
  BFS_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=OFF;"));
  BFS_RETURN_IF_ERROR(Migrate());
  return BumpBootGeneration();
}

Status SqliteMetaStore::Migrate() {
  Stmt v(db_, "PRAGMA user_version");
  BFS_RETURN_IF_ERROR(v.Prepared());
  BFS_ASSIGN_OR_RETURN(bool row, v.Step());
  int version = row ? static_cast<int>(v.Int(0)) : 0;
  if (version > kSchemaVersion) {
    return InvalidArgumentError("metadata database " + path_ + " has schema version " +
                                std::to_string(version) + ", newer than this bucketfs (" +
                                std::to_string(kSchemaVersion) + "); upgrade bucketfs");
  }
  for (; version < kSchemaVersion; ++version) {
    BFS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status s = Exec(kMigrations[version]);
    if (s.ok()) {
      std::string bump = "PRAGMA user_version=" + std::to_string(version + 1);
      s = Exec(bump.c_str());
    }
    if (!s.ok()) {
      (void)Exec("ROLLBACK");
      return s.WithContext("migrating to schema " + std::to_string(version + 1));
    }
    BFS_RETURN_IF_ERROR(Exec("COMMIT"));
  }
  return Status::Ok();
}

Status SqliteMetaStore::BumpBootGeneration() {
  Stmt get(db_, "SELECT boot_generation FROM gateway WHERE id = 1");
  BFS_RETURN_IF_ERROR(get.Prepared());
  BFS_ASSIGN_OR_RETURN(bool row, get.Step());
  uint32_t next;
  if (row) {
    next = static_cast<uint32_t>(get.Int(0)) + 1;
  } else {
    // A new database starts at a random point so that handles minted against an earlier
    // (damaged, deleted) database cannot match the generations of this one.
    std::random_device rd;
    next = (rd() & 0x3fffffffU) + 2;
  }
  if (next <= kRootGeneration) next = kRootGeneration + 1;  // wrapped: skip 0 and 1
  Stmt put(db_,
           "INSERT INTO gateway (id, boot_generation) VALUES (1, ?1) "
           "ON CONFLICT (id) DO UPDATE SET boot_generation = excluded.boot_generation");
  BFS_RETURN_IF_ERROR(put.Bind(1, next).Run());
  boot_generation_ = next;
  return Status::Ok();
}

Result<ExportState> SqliteMetaStore::OpenExport(uint32_t export_id, const std::string& name,
                                                const std::string& bucket,
                                                const std::string& prefix) {
  std::lock_guard lock(mu_);
  Stmt get(
      db_,
      "SELECT name, bucket, prefix, next_ino, created_at_ms FROM exports WHERE export_id = ?1");
  BFS_RETURN_IF_ERROR(get.Prepared());
  BFS_ASSIGN_OR_RETURN(bool row, get.Bind(1, export_id).Step());
  ExportState state;
  if (row && get.Str(1) == bucket && get.Str(2) == prefix && get.Int(4) != 0) {
    state.next_ino = static_cast<InodeId>(get.Int(3));
    state.created_at_ms = get.Int(4);
    return state;
  }
  state.created_at_ms = WallMs();
  if (row && get.Str(1) == bucket && get.Str(2) == prefix) {
    // Migrated from schema 1: keep the namespace, record its start.
    state.next_ino = static_cast<InodeId>(get.Int(3));
    Stmt set(db_, "UPDATE exports SET created_at_ms = ?2 WHERE export_id = ?1");
    BFS_RETURN_IF_ERROR(set.Bind(1, export_id).Bind(2, state.created_at_ms).Run());
    return state;
  }
  // New export, or the same name now pointing elsewhere: start its namespace afresh. Inode
  // numbers keep counting up so that no number is reused.
  if (row) {
    state.reset = true;
    state.next_ino = static_cast<InodeId>(get.Int(3));
  } else {
    state.created = true;
    state.rebuilt = rebuilt_;
  }
  BFS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s;
  for (const char* sql :
       {"DELETE FROM inodes WHERE export_id = ?1", "DELETE FROM listings WHERE export_id = ?1",
        "DELETE FROM dirents WHERE export_id = ?1"}) {
    Stmt del(db_, sql);
    s = del.Bind(1, export_id).Run();
    if (!s.ok()) break;
  }
  if (s.ok()) {
    Stmt put(db_,
             "INSERT INTO exports (export_id, name, bucket, prefix, next_ino, created_at_ms) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (export_id) DO UPDATE SET "
             "name = excluded.name, bucket = excluded.bucket, prefix = excluded.prefix, "
             "created_at_ms = excluded.created_at_ms");
    s = put.Bind(1, export_id)
            .BindText(2, name)
            .BindText(3, bucket)
            .BindBlob(4, prefix)
            .Bind(5, static_cast<int64_t>(state.next_ino))
            .Bind(6, state.created_at_ms)
            .Run();
  }
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  BFS_RETURN_IF_ERROR(Exec("COMMIT"));
  return state;
}

Result<std::optional<InodeRow>> SqliteMetaStore::GetInodeLocked(uint32_t export_id, InodeId ino) {
  std::string sql =
      std::string("SELECT ") + kInodeColumns + " FROM inodes WHERE export_id = ?1 AND ino = ?2";
  Stmt s(db_, sql.c_str());
  BFS_RETURN_IF_ERROR(s.Prepared());
  BFS_ASSIGN_OR_RETURN(bool row, s.Bind(1, export_id).Bind(2, static_cast<int64_t>(ino)).Step());
  if (!row) return std::optional<InodeRow>();
  return std::optional<InodeRow>(ReadInode(s));
}

Result<std::optional<InodeRow>> SqliteMetaStore::GetInode(uint32_t export_id, InodeId ino) {
  std::lock_guard lock(mu_);
  return GetInodeLocked(export_id, ino);
}

Result<std::optional<DirContents>> SqliteMetaStore::GetDir(uint32_t export_id, InodeId dir) {
  std::lock_guard lock(mu_);
  BFS_RETURN_IF_ERROR(Exec("BEGIN"));  // one consistent snapshot of listing and rows
  auto result = [&]() -> Result<std::optional<DirContents>> {
    Stmt head(db_, "SELECT verifier, loaded_at_ms FROM listings WHERE export_id = ?1 AND dir = ?2");
    BFS_RETURN_IF_ERROR(head.Prepared());
    BFS_ASSIGN_OR_RETURN(bool row,
                         head.Bind(1, export_id).Bind(2, static_cast<int64_t>(dir)).Step());
    if (!row) return std::optional<DirContents>();
    DirContents out;
    out.verifier = static_cast<uint64_t>(head.Int(0));
    out.loaded_at_ms = head.Int(1);
    Stmt ents(db_,
              "SELECT name, ino, pos FROM dirents WHERE export_id = ?1 AND dir = ?2 ORDER BY pos");
    BFS_RETURN_IF_ERROR(ents.Prepared());
    ents.Bind(1, export_id).Bind(2, static_cast<int64_t>(dir));
    for (;;) {
      BFS_ASSIGN_OR_RETURN(bool more, ents.Step());
      if (!more) break;
      out.entries.push_back(
          {ents.Str(0), static_cast<InodeId>(ents.Int(1)), static_cast<uint64_t>(ents.Int(2))});
    }
    std::string sql = std::string("SELECT ") + kInodeColumns +
                      " FROM inodes WHERE export_id = ?1 AND ino IN (SELECT ino FROM dirents "
                      "WHERE export_id = ?1 AND dir = ?2)";
    Stmt rows(db_, sql.c_str());
    BFS_RETURN_IF_ERROR(rows.Prepared());
    rows.Bind(1, export_id).Bind(2, static_cast<int64_t>(dir));
    for (;;) {
      BFS_ASSIGN_OR_RETURN(bool more, rows.Step());
      if (!more) break;
      out.children.push_back(ReadInode(rows));
    }
    return std::optional<DirContents>(std::move(out));
  }();
  (void)Exec("COMMIT");
  return result;
}

Status SqliteMetaStore::CommitLocked(const Batch& b) {
  std::string upsert_sql =
      std::string("INSERT OR REPLACE INTO inodes (export_id, ") + kInodeColumns +
      ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, "
      "?18, ?19, ?20, ?21, ?22, ?23)";
  Stmt up(db_, upsert_sql.c_str());
  BFS_RETURN_IF_ERROR(up.Prepared());
  for (const InodeRow& r : b.upserts) {
    up.Bind(1, b.export_id)
        .Bind(2, static_cast<int64_t>(r.ino))
        .Bind(3, r.generation)
        .Bind(4, static_cast<int64_t>(r.parent))
        .BindBlob(5, r.name)
        .BindBlob(6, r.key)
        .Bind(7, r.is_dir)
        .Bind(8, r.stale)
        .Bind(9, r.has_marker)
        .Bind(10, static_cast<int64_t>(r.size))
        .BindText(11, r.etag)
        .BindText(12, r.version_id)
        .Bind(13, r.last_modified_ns)
        .Bind(14, r.meta_known)
        .BindOpt(15, r.mode)
        .BindOpt(16, r.uid)
        .BindOpt(17, r.gid)
        .BindOpt(18, r.mtime_sec)
        .Bind(19, r.mtime_nsec)
        .Bind(20, r.validated_at_ms)
        .Bind(21, static_cast<int64_t>(r.listing_verifier))
        .Bind(22, r.local)
        .BindBlob(23, EncodeLinks(r.links));
    BFS_RETURN_IF_ERROR(up.Run());
  }
  Stmt del(db_, "DELETE FROM dirents WHERE export_id = ?1 AND dir = ?2");
  Stmt ins(db_, "INSERT INTO dirents (export_id, dir, pos, name, ino) VALUES (?1, ?2, ?3, ?4, ?5)");
  Stmt head(db_,
            "INSERT OR REPLACE INTO listings (export_id, dir, verifier, loaded_at_ms) "
            "VALUES (?1, ?2, ?3, ?4)");
  BFS_RETURN_IF_ERROR(del.Prepared());
  BFS_RETURN_IF_ERROR(ins.Prepared());
  BFS_RETURN_IF_ERROR(head.Prepared());
  for (const Batch::Listing& l : b.listings) {
    const auto dir = static_cast<int64_t>(l.dir);
    BFS_RETURN_IF_ERROR(del.Bind(1, b.export_id).Bind(2, dir).Run());
    for (const DirEntryRow& e : l.entries) {
      ins.Bind(1, b.export_id)
          .Bind(2, dir)
          .Bind(3, static_cast<int64_t>(e.pos))
          .BindBlob(4, e.name);
      BFS_RETURN_IF_ERROR(ins.Bind(5, static_cast<int64_t>(e.ino)).Run());
    }
    head.Bind(1, b.export_id).Bind(2, dir).Bind(3, static_cast<int64_t>(l.verifier));
    BFS_RETURN_IF_ERROR(head.Bind(4, l.loaded_at_ms).Run());
  }
  Stmt touch(db_, "UPDATE listings SET loaded_at_ms = ?3 WHERE export_id = ?1 AND dir = ?2");
  BFS_RETURN_IF_ERROR(touch.Prepared());
  for (const auto& [dir, at] : b.listing_touches) {
    BFS_RETURN_IF_ERROR(
        touch.Bind(1, b.export_id).Bind(2, static_cast<int64_t>(dir)).Bind(3, at).Run());
  }
  BFS_RETURN_IF_ERROR(CommitDirentsAndJournalLocked(b));
  if (b.next_ino != 0) {
    Stmt next(db_, "UPDATE exports SET next_ino = max(next_ino, ?2) WHERE export_id = ?1");
    BFS_RETURN_IF_ERROR(next.Bind(1, b.export_id).Bind(2, static_cast<int64_t>(b.next_ino)).Run());
  }
  return Status::Ok();
}

Status SqliteMetaStore::CommitDirentsAndJournalLocked(const Batch& b) {
  Stmt put(db_,
           "INSERT OR REPLACE INTO dirents (export_id, dir, pos, name, ino) "
           "VALUES (?1, ?2, ?3, ?4, ?5)");
  Stmt del(db_, "DELETE FROM dirents WHERE export_id = ?1 AND dir = ?2 AND pos = ?3");
  BFS_RETURN_IF_ERROR(put.Prepared());
  BFS_RETURN_IF_ERROR(del.Prepared());
  for (const Batch::DirentPut& p : b.dirent_puts) {
    put.Bind(1, b.export_id).Bind(2, static_cast<int64_t>(p.dir));
    put.Bind(3, static_cast<int64_t>(p.entry.pos)).BindBlob(4, p.entry.name);
    BFS_RETURN_IF_ERROR(put.Bind(5, static_cast<int64_t>(p.entry.ino)).Run());
  }
  for (const auto& [dir, pos] : b.dirent_deletes) {
    del.Bind(1, b.export_id).Bind(2, static_cast<int64_t>(dir));
    BFS_RETURN_IF_ERROR(del.Bind(3, static_cast<int64_t>(pos)).Run());
  }
  Stmt append(db_,
              "INSERT INTO journal (id, export_id, op, payload, created_at_ms) "
              "VALUES (?1, ?2, ?3, ?4, ?5)");
  Stmt update(db_, "UPDATE journal SET payload = ?2 WHERE id = ?1");
  Stmt complete(db_, "DELETE FROM journal WHERE id = ?1");
  BFS_RETURN_IF_ERROR(append.Prepared());
  BFS_RETURN_IF_ERROR(update.Prepared());
  BFS_RETURN_IF_ERROR(complete.Prepared());
  const int64_t now = WallMs();
  for (const Batch::JournalAppend& j : b.journal_appends) {
    append.Bind(1, j.id).Bind(2, b.export_id).BindText(3, j.op).BindBlob(4, j.payload);
    BFS_RETURN_IF_ERROR(append.Bind(5, now).Run());
  }
  for (const auto& [id, payload] : b.journal_updates) {
    BFS_RETURN_IF_ERROR(update.Bind(1, id).BindBlob(2, payload).Run());
  }
  for (int64_t id : b.journal_completes) BFS_RETURN_IF_ERROR(complete.Bind(1, id).Run());
  return Status::Ok();
}

Status SqliteMetaStore::Commit(const Batch& batch) {
  if (batch.empty()) return Status::Ok();
  std::lock_guard lock(mu_);
  // A durable batch is fsync'd at COMMIT (synchronous=FULL); the others ride on the next sync.
  if (batch.durable) BFS_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  BFS_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = CommitLocked(batch);
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
  } else {
    s = Exec("COMMIT");
  }
  if (batch.durable) {
    Status back = Exec("PRAGMA synchronous=NORMAL");
    if (s.ok()) s = back;
  }
  return s;
}

Result<int64_t> SqliteMetaStore::MaxJournalId() {
  std::lock_guard lock(mu_);
  // AUTOINCREMENT keeps the highest id ever used in sqlite_sequence, even after deletes.
  Stmt seq(db_, "SELECT seq FROM sqlite_sequence WHERE name = 'journal'");
  BFS_RETURN_IF_ERROR(seq.Prepared());
  BFS_ASSIGN_OR_RETURN(bool row, seq.Step());
  int64_t max_id = row ? seq.Int(0) : 0;
  Stmt live(db_, "SELECT coalesce(max(id), 0) FROM journal");
  BFS_RETURN_IF_ERROR(live.Prepared());
  BFS_ASSIGN_OR_RETURN(bool row2, live.Step());
  if (row2) max_id = std::max(max_id, live.Int(0));
  return max_id;
}

Result<int64_t> SqliteMetaStore::AppendJournal(uint32_t export_id, const std::string& op,
                                               const std::string& payload) {
  std::lock_guard lock(mu_);
  Stmt s(db_,
         "INSERT INTO journal (export_id, op, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4)");
  BFS_RETURN_IF_ERROR(
      s.Bind(1, export_id).BindText(2, op).BindBlob(3, payload).Bind(4, WallMs()).Run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<JournalEntry>> SqliteMetaStore::PendingJournal(std::size_t limit) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT id, export_id, op, payload, created_at_ms FROM journal ORDER BY id LIMIT ?1");
  BFS_RETURN_IF_ERROR(s.Prepared());
  s.Bind(1, static_cast<int64_t>(limit));
  std::vector<JournalEntry> out;
  for (;;) {
    BFS_ASSIGN_OR_RETURN(bool more, s.Step());
    if (!more) break;
    out.push_back({s.Int(0), static_cast<uint32_t>(s.Int(1)), s.Str(2), s.Str(3), s.Int(4)});
  }
  return out;
}

Status SqliteMetaStore::CompleteJournal(int64_t id) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM journal WHERE id = ?1");
  return s.Bind(1, id).Run();
}

Result<std::vector<std::string>> SqliteMetaStore::ClientRecords() {
  std::lock_guard lock(mu_);
  Stmt s(db_, "SELECT owner FROM nfs_clients ORDER BY owner");
  BFS_RETURN_IF_ERROR(s.Prepared());
  std::vector<std::string> owners;
  for (;;) {
    BFS_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    owners.push_back(s.Str(0));
  }
  return owners;
}

Status SqliteMetaStore::PutClientRecord(const std::string& owner) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "INSERT OR REPLACE INTO nfs_clients (owner, recorded_at_ms) VALUES (?1, ?2)");
  return s.BindBlob(1, owner).Bind(2, WallMs()).Run();
}

Status SqliteMetaStore::DeleteClientRecord(const std::string& owner) {
  std::lock_guard lock(mu_);
  Stmt s(db_, "DELETE FROM nfs_clients WHERE owner = ?1");
  return s.BindBlob(1, owner).Run();
}

}  // namespace bucketfs::meta
