#include "objstore/local_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>

namespace bucketfs::objstore {
namespace {

namespace fs = std::filesystem;

class LocalStoreTest : public ::testing::Test {
 protected:
  LocalStoreTest() {
    root_ = fs::temp_directory_path() /
            ("bfs-local-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::create_directories(root_ / "b");
    store_ = std::make_unique<LocalStore>(root_.string(), "b", pool_);
  }
  ~LocalStoreTest() override { fs::remove_all(root_); }

  void PutOk(const std::string& key, const std::string& body = "x") {
    auto r = store_->PutSync(key, Bytes(body.begin(), body.end()), {});
    ASSERT_TRUE(r.ok()) << key << ": " << r.status().ToString();
  }

  static inline int counter_ = 0;
  BlockingPool pool_{1};
  fs::path root_;
  std::unique_ptr<LocalStore> store_;
};

TEST_F(LocalStoreTest, PutHeadGetRangeMetadata) {
  auto put = store_->PutSync("a/b.txt", Bytes{'h', 'e', 'l', 'l', 'o'}, {{"mode", "33188"}});
  ASSERT_TRUE(put.ok());
  EXPECT_EQ(put->etag, "5d41402abc4b2a76b9719d911017c592");  // md5("hello")
  auto head = store_->HeadSync("a/b.txt");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 5u);
  EXPECT_EQ(head->user_metadata.at("mode"), "33188");
  GetOptions ranged;
  ranged.range = ByteRange{1, 3};
  auto get = store_->GetSync("a/b.txt", ranged);
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(AsString(get->data), "ell");
  ranged.range = ByteRange{3, 100};
  EXPECT_EQ(AsString(store_->GetSync("a/b.txt", ranged)->data), "lo");
  ranged.range = ByteRange{5, 1};
  EXPECT_EQ(store_->GetSync("a/b.txt", ranged).status().code(), ErrorCode::kInvalidArgument);
  GetOptions stale;
  stale.if_match = "0000";
  EXPECT_EQ(store_->GetSync("a/b.txt", stale).status().code(), ErrorCode::kStale);
  EXPECT_EQ(store_->HeadSync("a/missing").status().code(), ErrorCode::kNotFound);
  EXPECT_EQ(store_->HeadSync("a/").status().code(), ErrorCode::kNotFound);  // implicit dir
}

TEST_F(LocalStoreTest, HandPlacedFilesAndMarkers) {
  fs::create_directories(root_ / "b" / "dropped");
  std::ofstream(root_ / "b" / "dropped" / "f.bin") << "data";
  auto head = store_->HeadSync("dropped/f.bin");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 4u);
  EXPECT_FALSE(head->etag.empty());
  PutOk("m/", "");
  EXPECT_TRUE(store_->HeadSync("m/").ok());
  auto page = store_->ListSync(ListRequest{.prefix = "m/"});
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "m/");
}

TEST_F(LocalStoreTest, KeysThatCannotBePathsAreRefused) {
  PutOk("f");
  EXPECT_FALSE(store_->PutSync("f/x", Bytes{1}, {}).ok());  // "f" is an object
  PutOk("d/x");
  EXPECT_FALSE(store_->PutSync("d", Bytes{1}, {}).ok());  // "d/" is a prefix
  EXPECT_FALSE(store_->PutSync("a//b", Bytes{1}, {}).ok());
  EXPECT_FALSE(store_->PutSync("a/../b", Bytes{1}, {}).ok());
  EXPECT_EQ(store_->PutSync(std::string(300, 'n'), Bytes{1}, {}).status().code(),
            ErrorCode::kNameTooLong);
}

TEST_F(LocalStoreTest, DeleteRemovesEmptyImplicitParents) {
  PutOk("p/q/r");
  ASSERT_TRUE(store_->DeleteSync("p/q/r").ok());
  EXPECT_FALSE(fs::exists(root_ / "b" / "p"));
  EXPECT_TRUE(store_->DeleteSync("never/was").ok());
}

// Reference ListObjectsV2 over a sorted key set.
ListPage Reference(const std::set<std::string>& keys, const ListRequest& req) {
  ListPage page;
  std::string after = std::max(req.start_after, req.continuation_token);
  std::string last;
  int taken = 0;
  for (const std::string& k : keys) {
    if (k.compare(0, req.prefix.size(), req.prefix) != 0) continue;
    std::string entry = k;
    bool is_prefix = false;
    if (!req.delimiter.empty()) {
      auto pos = k.find(req.delimiter, req.prefix.size());
      if (pos != std::string::npos) {
        entry = k.substr(0, pos + 1);
        is_prefix = true;
      }
    }
    if (!after.empty() && entry <= after) continue;
    if (entry == last) continue;  // grouped into the same common prefix
    if (taken == req.max_keys) {
      page.next_continuation_token = last;
      break;
    }
    ++taken;
    last = entry;
    if (is_prefix) {
      page.common_prefixes.push_back(entry);
    } else {
      page.objects.push_back(ObjectInfo{.key = entry});
    }
  }
  return page;
}

TEST_F(LocalStoreTest, ListMatchesS3Semantics) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab.-";
  std::set<std::string> keys;
  for (int i = 0; i < 120; ++i) {
    std::string k;
    int parts = 1 + static_cast<int>(rng() % 3);
    for (int p = 0; p < parts; ++p) {
      if (p) k += '/';
      int len = 1 + static_cast<int>(rng() % 3);
      for (int c = 0; c < len; ++c) k += alphabet[rng() % alphabet.size()];
    }
    if (!ValidateLocalKey(k).ok()) continue;
    if (store_->PutSync(k, Bytes{1}, {}).ok()) keys.insert(k);  // file/prefix clashes refused
  }
  ASSERT_GT(keys.size(), 50u);
  for (std::string prefix : {"", "a", "a/", "b.", "ab/a", "-"}) {
    for (std::string delim : {"/", ""}) {
      for (int max_keys : {1, 3, 7, 1000}) {
        ListRequest req{.prefix = prefix, .delimiter = delim, .max_keys = max_keys};
        for (int page_no = 0; page_no < 500; ++page_no) {
          auto got = store_->ListSync(req);
          ASSERT_TRUE(got.ok());
          ListPage want = Reference(keys, req);
          std::vector<std::string> got_keys, want_keys;
          for (auto& o : got->objects) got_keys.push_back(o.key);
          for (auto& o : want.objects) want_keys.push_back(o.key);
          ASSERT_EQ(got_keys, want_keys) << "prefix=" << prefix << " delim=" << delim;
          ASSERT_EQ(got->common_prefixes, want.common_prefixes);
          ASSERT_EQ(got->next_continuation_token, want.next_continuation_token);
          if (got->next_continuation_token.empty()) break;
          req.continuation_token = got->next_continuation_token;
        }
      }
    }
  }
}

}  // namespace
}  // namespace bucketfs::objstore
