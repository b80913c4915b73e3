// SqliteMetaStore: the embedded MetaStore, one SQLite database file in WAL mode under the
// gateway's state directory.
//
// Schema: versioned with PRAGMA user_version; Open() applies the migrations from the file's
// version up to kSchemaVersion in one transaction each, and refuses a file written by a newer
// bucketfs. A file that SQLite cannot open as a database, or that fails PRAGMA quick_check, is
// moved aside (FILE.corrupt-UNIXTIME) and a fresh database is created: the namespace is rebuilt
// from the bucket on demand, old handles (other than export roots) answer STALE, and a warning
// says what happened. A missing file is simply created.
//
// Durability: synchronous=NORMAL in WAL mode: a committed transaction survives a crash of the
// process; a power loss may roll back the last transactions but never corrupts the file. Batches
// marked `durable` are committed with synchronous=FULL (fsync before Commit returns).
//
// Thread-safety: every method locks one mutex (one connection, serialised). All methods block on
// disk: never call them from an I/O thread (use AsyncMetaStore).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "meta/meta_store.h"

struct sqlite3;

namespace bucketfs::meta {

inline constexpr int kSchemaVersion = 4;

class SqliteMetaStore : public MetaStore {
 public:
  // Opens (creating, migrating or rebuilding as described above) the database at `path`. Fails
  // with the cause when the file cannot be created or was written by a newer schema.
  static Result<std::unique_ptr<SqliteMetaStore>> Open(const std::string& path);
  ~SqliteMetaStore() override;

  uint32_t BootGeneration() const override { return boot_generation_; }
  Result<ExportState> OpenExport(uint32_t export_id, const std::string& name,
                                 const std::string& bucket, const std::string& prefix) override;
  Result<std::optional<InodeRow>> GetInode(uint32_t export_id, InodeId ino) override;
  Result<std::optional<DirContents>> GetDir(uint32_t export_id, InodeId dir) override;
  Status Commit(const Batch& batch) override;
  Result<int64_t> AppendJournal(uint32_t export_id, const std::string& op,
                                const std::string& payload) override;
  Result<std::vector<JournalEntry>> PendingJournal(std::size_t limit) override;
  Status CompleteJournal(int64_t id) override;
  Result<int64_t> MaxJournalId() override;
  Result<std::vector<std::string>> ClientRecords() override;
  Status PutClientRecord(const std::string& owner) override;
  Status DeleteClientRecord(const std::string& owner) override;

  // True when Open() found a damaged file and started over.
  bool rebuilt() const { return rebuilt_; }
  const std::string& path() const { return path_; }

 private:
  SqliteMetaStore(sqlite3* db, std::string path);
  Status Exec(const char* sql);
  Status Initialize();
  Status Migrate();
  Status BumpBootGeneration();
  Result<std::optional<InodeRow>> GetInodeLocked(uint32_t export_id, InodeId ino);
  Status CommitLocked(const Batch& batch);
  Status CommitDirentsAndJournalLocked(const Batch& batch);

  std::mutex mu_;
  sqlite3* db_;
  std::string path_;
  uint32_t boot_generation_ = 0;
  bool rebuilt_ = false;
};

}  // namespace bucketfs::meta
