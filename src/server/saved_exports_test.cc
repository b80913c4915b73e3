#include "server/saved_exports.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace bucketfs::server {
namespace {

class SavedExportsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bfs-saved-exports-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = SavedExportsPath(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& text) { std::ofstream(path_) << text; }

  std::string dir_;
  std::string path_;
};

SavedExport Make(std::string name, std::string bucket) {
  SavedExport x;
  x.config.name = std::move(name);
  x.config.bucket = std::move(bucket);
  return x;
}

TEST_F(SavedExportsTest, MissingFileIsNoExports) {
  auto loaded = LoadSavedExports(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->empty());
}

TEST_F(SavedExportsTest, RoundTripsEverySetting) {
  SavedExport a = Make("data", "my-data");
  a.config.prefix = "runs/2026/";
  a.config.endpoint = "http://127.0.0.1:9000";
  a.config.region = "eu-west-1";
  a.config.read_only = true;
  a.config.metadata_ttl_seconds = 0.5;
  SavedExport b = Make("scratch \"q\"", "other-bucket");
  b.draining = true;
  SavedExport c = Make("plain", "plain-bucket");
  c.config.read_only = false;
  ASSERT_TRUE(SaveExports(path_, {a, b, c}).ok());
  auto loaded = LoadSavedExports(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 3u);
  EXPECT_EQ((*loaded)[0], a);
  EXPECT_EQ((*loaded)[1], b);
  EXPECT_EQ((*loaded)[2], c);
  EXPECT_FALSE((*loaded)[1].config.read_only.has_value());
  EXPECT_FALSE((*loaded)[1].config.metadata_ttl_seconds.has_value());

  struct stat st;
  ASSERT_EQ(::stat(path_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
}

TEST_F(SavedExportsTest, SaveReplacesTheList) {
  ASSERT_TRUE(SaveExports(path_, {Make("one", "bucket-one"), Make("two", "bucket-two")}).ok());
  ASSERT_TRUE(SaveExports(path_, {Make("two", "bucket-two")}).ok());
  auto loaded = LoadSavedExports(path_);
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].config.name, "two");
  ASSERT_TRUE(SaveExports(path_, {}).ok());
  loaded = LoadSavedExports(path_);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->empty());
}

TEST_F(SavedExportsTest, AStaleTemporaryFileDoesNotMatter) {
  std::ofstream(path_ + ".tmp") << "half a document {";
  ASSERT_TRUE(SaveExports(path_, {Make("one", "bucket-one")}).ok());
  auto loaded = LoadSavedExports(path_);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->size(), 1u);
}

TEST_F(SavedExportsTest, NormalisesWhatItReads) {
  Write(R"({"version":1,"exports":[{"name":"","bucket":"my-data","prefix":"/a/b"}],"later":1})");
  auto loaded = LoadSavedExports(path_);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  ASSERT_EQ(loaded->size(), 1u);
  EXPECT_EQ((*loaded)[0].config.name, "my-data");
  EXPECT_EQ((*loaded)[0].config.prefix, "a/b/");
  EXPECT_FALSE((*loaded)[0].draining);
}

TEST_F(SavedExportsTest, RefusesWhatItCannotRead) {
  struct Case {
    const char* text;
    const char* why;
  };
  const Case cases[] = {
      {"{", "malformed"},
      {R"({"exports":[]})", "no version"},
      {R"({"version":2,"exports":[]})", "version 2, this bucketfs reads version 1"},
      {R"({"version":1})", "no \"exports\" array"},
      {R"({"version":1,"exports":[1]})", "an export that is not an object"},
      {R"({"version":1,"exports":[{"name":"x","bucket":7}]})", "\"bucket\" is not a string"},
      {R"({"version":1,"exports":[{"bucket":"my-data","read_only":"yes"}]})",
       "\"read_only\" is not a boolean"},
      {R"({"version":1,"exports":[{"bucket":"my-data","metadata_ttl_seconds":"5"}]})",
       "\"metadata_ttl_seconds\" is not a number"},
      {R"({"version":1,"exports":[{"name":"a/b","bucket":"my-data"}]})",
       "export 'a/b': bad export name"},
      {R"({"version":1,"exports":[{"bucket":"my-data"},{"bucket":"my-data"}]})",
       "export 'my-data' appears twice"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    Write(c.text);
    auto loaded = LoadSavedExports(path_);
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.status().code(), ErrorCode::kInvalidArgument);
    const std::string& m = loaded.status().message();
    EXPECT_TRUE(m.starts_with(path_ + " is not a list of exports bucketfs can read (")) << m;
    EXPECT_NE(m.find(c.why), std::string::npos) << m;
    EXPECT_TRUE(m.ends_with("repair or remove it (its exports are then not served)")) << m;
  }
}

TEST_F(SavedExportsTest, UnwritableDirectoryIsAnError) {
  Status s = SaveExports(dir_ + "/missing/exports.json", {Make("one", "bucket-one")});
  EXPECT_EQ(s.code(), ErrorCode::kIo);
  EXPECT_NE(s.message().find("cannot create " + dir_ + "/missing/exports.json.tmp"),
            std::string::npos)
      << s.message();
}

}  // namespace
}  // namespace bucketfs::server
