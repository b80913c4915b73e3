// sqlite_writer: concurrent SQLite writers on an NFS mount, from inside a kernel-client guest.
// Built static against Debian's libsqlite3.a by the lock integration test.
//
//   sqlite_writer insert DB WRITER ROWS   ROWS transactions, each inserting one row (WRITER, i)
//                                         and bumping a shared counter; SQLITE_BUSY is retried
//                                         (SQLite's own busy handling), any other error fails
//   sqlite_writer check DB ROWS_TOTAL     integrity_check is "ok", ROWS_TOTAL rows, counter equal
// Prints one line of results; exit 0 on success.
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static sqlite3* OpenDb(const char* path) {
  sqlite3* db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK) {
    printf("ERROR open: %s\n", sqlite3_errmsg(db));
    exit(1);
  }
  sqlite3_busy_timeout(db, 60000);
  return db;
}

static int Exec(sqlite3* db, const char* sql) {
  char* err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  if (rc != SQLITE_OK && rc != SQLITE_BUSY) printf("ERROR %s: %s\n", sql, err ? err : "?");
  sqlite3_free(err);
  return rc;
}

static long long QueryInt(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = NULL;
  long long v = -1;
  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    v = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  return v;
}

int main(int argc, char** argv) {
  if (argc == 5 && strcmp(argv[1], "insert") == 0) {
    sqlite3* db = OpenDb(argv[2]);
    const int rows = atoi(argv[4]);
    int busy = 0;
    for (int tries = 0; Exec(db, "CREATE TABLE IF NOT EXISTS t(writer TEXT, i INTEGER);"
                                 "CREATE TABLE IF NOT EXISTS c(id INTEGER PRIMARY KEY, n INTEGER);"
                                 "INSERT OR IGNORE INTO c VALUES(1, 0);") != SQLITE_OK;
         ++tries) {
      if (tries > 100) return 1;
      ++busy;
      usleep(100000);
    }
    for (int i = 0; i < rows; ++i) {
      char sql[256];
      snprintf(sql, sizeof sql,
               "BEGIN IMMEDIATE; INSERT INTO t VALUES('%s', %d); UPDATE c SET n = n + 1 WHERE id = 1;"
               " COMMIT;",
               argv[3], i);
      int rc;
      while ((rc = Exec(db, sql)) == SQLITE_BUSY) {
        ++busy;
        sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
        usleep(50000);
      }
      if (rc != SQLITE_OK) return 1;
    }
    printf("INSERTED %d rows as %s (%d busy retries)\n", rows, argv[3], busy);
    sqlite3_close(db);
    return 0;
  }
  if (argc == 4 && strcmp(argv[1], "check") == 0) {
    sqlite3* db = OpenDb(argv[2]);
    sqlite3_stmt* st = NULL;
    const char* integrity = "?";
    char buf[128] = "?";
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check;", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      snprintf(buf, sizeof buf, "%s", (const char*)sqlite3_column_text(st, 0));
      integrity = buf;
    }
    sqlite3_finalize(st);
    long long rows = QueryInt(db, "SELECT count(*) FROM t;");
    long long counter = QueryInt(db, "SELECT n FROM c WHERE id = 1;");
    long long distinct = QueryInt(db, "SELECT count(*) FROM (SELECT DISTINCT writer, i FROM t);");
    const long long want = atoll(argv[3]);
    printf("CHECK integrity=%s rows=%lld counter=%lld distinct=%lld want=%lld\n", integrity, rows,
           counter, distinct, want);
    sqlite3_close(db);
    return strcmp(integrity, "ok") == 0 && rows == want && counter == want && distinct == want ? 0
                                                                                               : 1;
  }
  return 2;
}
