#include "gateway/key_mapping.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace bucketfs::gateway {
namespace {

objstore::ObjectInfo Obj(std::string key, uint64_t size = 1) {
  objstore::ObjectInfo info;
  info.key = std::move(key);
  info.size = size;
  info.etag = "e";
  return info;
}

DirListing Classify(const std::string& prefix, std::vector<std::string> objects,
                    std::vector<std::string> prefixes) {
  objstore::ListPage page;
  for (auto& k : objects) page.objects.push_back(Obj(k));
  page.common_prefixes = std::move(prefixes);
  ListingClassifier c(prefix);
  c.AddPage(page);
  return std::move(c).Finish();
}

std::vector<std::string> Names(const DirListing& l) {
  std::vector<std::string> out;
  for (const auto& e : l.entries) out.push_back(e.name + (e.is_directory ? "/" : ""));
  return out;
}

TEST(CheckNameTest, Rules) {
  EXPECT_EQ(CheckName("a"), NameCheck::kOk);
  EXPECT_EQ(CheckName("..."), NameCheck::kOk);
  EXPECT_EQ(CheckName(".hidden"), NameCheck::kOk);
  EXPECT_EQ(CheckName(""), NameCheck::kEmpty);
  EXPECT_EQ(CheckName("."), NameCheck::kDotOrDotDot);
  EXPECT_EQ(CheckName(".."), NameCheck::kDotOrDotDot);
  EXPECT_EQ(CheckName(std::string(255, 'x')), NameCheck::kOk);
  EXPECT_EQ(CheckName(std::string(256, 'x')), NameCheck::kTooLong);
  EXPECT_EQ(CheckName(std::string("a\0b", 3)), NameCheck::kHasNul);
  EXPECT_EQ(CheckName("a/b"), NameCheck::kHasSlash);
}

TEST(ListingClassifierTest, FilesAndDirectories) {
  DirListing l = Classify("a/b/", {"a/b/c.bin", "a/b/d.txt"}, {"a/b/sub/"});
  EXPECT_EQ(Names(l), (std::vector<std::string>{"c.bin", "d.txt", "sub/"}));
  EXPECT_EQ(l.entries[0].info.key, "a/b/c.bin");
  EXPECT_FALSE(l.marker);
  EXPECT_TRUE(l.hidden.empty());
}

TEST(ListingClassifierTest, RootWithEmptyPrefix) {
  DirListing l = Classify("", {"top.txt"}, {"a/"});
  EXPECT_EQ(Names(l), (std::vector<std::string>{"a/", "top.txt"}));
}

TEST(ListingClassifierTest, MarkerIsNotAnEntry) {
  DirListing l = Classify("dir/", {"dir/", "dir/f"}, {});
  ASSERT_TRUE(l.marker);
  EXPECT_EQ(l.marker->key, "dir/");
  EXPECT_EQ(Names(l), (std::vector<std::string>{"f"}));
}

TEST(ListingClassifierTest, InvalidNamesAreHidden) {
  std::string long_name(256, 'x');
  std::string nul_name("a\0b", 3);
  DirListing l = Classify("p/", {"p/ok", "p/" + long_name, "p/" + nul_name},
                          {"p//", "p/./", "p/../", "p/" + long_name + "/", "p/fine/"});
  EXPECT_EQ(Names(l), (std::vector<std::string>{"fine/", "ok"}));
  ASSERT_EQ(l.hidden.size(), 6u);
  for (const auto& h : l.hidden) EXPECT_EQ(h.reason, HideReason::kInvalidName) << h.key;
}

TEST(ListingClassifierTest, LeadingSlashKeyIsHiddenAtRoot) {
  DirListing l = Classify("", {}, {"/"});
  EXPECT_TRUE(l.entries.empty());
  ASSERT_EQ(l.hidden.size(), 1u);
  EXPECT_EQ(l.hidden[0].name_check, NameCheck::kEmpty);
}

TEST(ListingClassifierTest, DirectoryWinsOverObjectOfSameName) {
  DirListing l = Classify("", {"a", "b"}, {"a/"});
  EXPECT_EQ(Names(l), (std::vector<std::string>{"a/", "b"}));
  ASSERT_EQ(l.hidden.size(), 1u);
  EXPECT_EQ(l.hidden[0].key, "a");
  EXPECT_EQ(l.hidden[0].reason, HideReason::kShadowedByDirectory);
}

TEST(ListingClassifierTest, KeysOutsidePrefixAreHidden) {
  DirListing l = Classify("p/", {"q/x", "p/a/b"}, {"q/"});
  EXPECT_TRUE(l.entries.empty());
  // "p/a/b" has no name without '/', so it is an invalid name, the others are outside.
  EXPECT_EQ(l.hidden.size(), 3u);
}

TEST(ListingClassifierTest, SortedAcrossPagesAndUnique) {
  ListingClassifier c("");
  objstore::ListPage p1, p2;
  p1.objects = {Obj("b"), Obj("d")};
  p1.common_prefixes = {"c/"};
  p2.objects = {Obj("a"), Obj("d")};
  p2.common_prefixes = {"c/", "e/"};
  c.AddPage(p1);
  c.AddPage(p2);
  DirListing l = std::move(c).Finish();
  EXPECT_EQ(Names(l), (std::vector<std::string>{"a", "b", "c/", "d", "e/"}));
}

TEST(KeyHelpersTest, Prefixes) {
  EXPECT_EQ(ChildDirPrefix("a/", "b"), "a/b/");
  EXPECT_EQ(ChildFileKey("", "f"), "f");
  EXPECT_EQ(NormalizeExportPrefix(""), "");
  EXPECT_EQ(NormalizeExportPrefix("x"), "x/");
  EXPECT_EQ(NormalizeExportPrefix("x/"), "x/");
  EXPECT_EQ(NormalizeExportPrefix("/x/y//"), "x/y/");
}

TEST(ParseModeTest, DecimalAndOctal) {
  EXPECT_EQ(ParseMode("33188"), 0100644u);   // s3fs: regular 0644
  EXPECT_EQ(ParseMode("16877"), 040755u);    // s3fs: directory 0755
  EXPECT_EQ(ParseMode("41471"), 0120777u);   // s3fs: symlink 0777
  EXPECT_EQ(ParseMode("420"), 0644u);        // decimal permission bits only
  EXPECT_EQ(ParseMode("100644"), 0100644u);  // octal (rclone), not a valid decimal st_mode
  EXPECT_EQ(ParseMode("0644"), 0644u);       // leading zero: octal
  EXPECT_FALSE(ParseMode(""));
  EXPECT_FALSE(ParseMode("abc"));
  EXPECT_FALSE(ParseMode("-1"));
  EXPECT_FALSE(ParseMode("999999"));  // neither decimal st_mode nor octal
  EXPECT_FALSE(ParseMode("99999999999999999999999"));
}

TEST(ParseIdTest, Values) {
  EXPECT_EQ(ParseId("1000"), 1000u);
  EXPECT_EQ(ParseId(" 0 "), 0u);
  EXPECT_FALSE(ParseId("x"));
  EXPECT_FALSE(ParseId("4294967296"));
  EXPECT_FALSE(ParseId("-5"));
}

TEST(ParseMtimeTest, DecimalSeconds) {
  auto t = ParseMtime("1700000000");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, 1700000000);
  EXPECT_EQ(t->nsec, 0u);
  t = ParseMtime("1700000000.25");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, 1700000000);
  EXPECT_EQ(t->nsec, 250000000u);
  t = ParseMtime("1.1234567899");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->nsec, 123456789u);
  EXPECT_FALSE(ParseMtime("1.2.3"));
  EXPECT_FALSE(ParseMtime("12a"));
  EXPECT_FALSE(ParseMtime(""));
}

TEST(ParseMtimeTest, Rfc3339) {
  auto t = ParseMtime("2023-11-14T22:13:20Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, 1700000000);
  t = ParseMtime("2023-11-14T22:13:20.5+01:00");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, 1700000000 - 3600);
  EXPECT_EQ(t->nsec, 500000000u);
  t = ParseMtime("1970-01-01T00:00:00.000000001Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->sec, 0);
  EXPECT_EQ(t->nsec, 1u);
  EXPECT_FALSE(ParseMtime("2023-13-14T22:13:20Z"));
  EXPECT_FALSE(ParseMtime("2023-11-14T22:13:20"));
  EXPECT_FALSE(ParseMtime("2023-11-14"));
  EXPECT_FALSE(ParseMtime("2023-11-14T22:13:20Zjunk"));
}

TEST(ParsePosixMetaTest, S3fsHeaders) {
  PosixMeta m =
      ParsePosixMeta({{"mode", "33261"}, {"uid", "1000"}, {"gid", "100"}, {"mtime", "1600000000"}});
  EXPECT_EQ(m.mode, 0100755u);
  EXPECT_EQ(m.uid, 1000u);
  EXPECT_EQ(m.gid, 100u);
  ASSERT_TRUE(m.mtime);
  EXPECT_EQ(m.mtime->sec, 1600000000);
}

TEST(ParsePosixMetaTest, MissingAndBadValuesAreAbsent) {
  PosixMeta m = ParsePosixMeta({{"mode", "bogus"}, {"other", "1"}});
  EXPECT_FALSE(m.mode);
  EXPECT_FALSE(m.uid);
  EXPECT_FALSE(m.gid);
  EXPECT_FALSE(m.mtime);
}

TEST(ToTimespecTest, Conversion) {
  auto tp = std::chrono::system_clock::time_point(std::chrono::milliseconds(1500));
  vfs::Timespec t = ToTimespec(tp);
  EXPECT_EQ(t.sec, 1);
  EXPECT_EQ(t.nsec, 500000000u);
}

}  // namespace
}  // namespace bucketfs::gateway

namespace bucketfs::gateway {
namespace {

objstore::ListPage Page(std::vector<std::string> keys, std::vector<std::string> prefixes) {
  objstore::ListPage p;
  for (auto& k : keys) {
    objstore::ObjectInfo i;
    i.key = std::move(k);
    p.objects.push_back(std::move(i));
  }
  p.common_prefixes = std::move(prefixes);
  return p;
}

std::vector<std::string> Names(const std::vector<ListedEntry>& v) {
  std::vector<std::string> out;
  for (const auto& e : v) out.push_back(e.name + (e.is_directory ? "/" : ""));
  return out;
}

TEST(ListingClassifierTest, TakeFinalReleasesOnlyWhatLaterPagesCannotChange) {
  ListingClassifier c("p/");
  // S3 order: "p/a" < "p/a-b" < "p/a/" (a prefix) < "p/b". File "a" is hidden by directory "a",
  // and directory "a" sorts (by name) before "a-b" although its key comes later.
  c.AddPage(Page({"p/a", "p/a-b"}, {}));
  EXPECT_TRUE(c.TakeFinal().empty());
  c.AddPage(Page({"p/b"}, {"p/a/"}));
  EXPECT_EQ(Names(c.TakeFinal()), (std::vector<std::string>{"a/", "a-b"}));
  EXPECT_TRUE(c.TakeFinal().empty());  // "b" could still become a directory
  c.AddPage(Page({"p/c"}, {}));
  EXPECT_EQ(Names(c.TakeFinal()), (std::vector<std::string>{"b"}));
  DirListing all = std::move(c).Finish();
  EXPECT_EQ(Names(all.entries), (std::vector<std::string>{"a/", "a-b", "b", "c"}));
}

TEST(ListingClassifierTest, StreamedEntriesAreAlwaysAPrefixOfTheFinalListing) {
  // Random names over a small alphabet that mixes bytes below and above '/', split into pages in
  // S3 key order: whatever TakeFinal releases must be a prefix of Finish()'s entries.
  std::mt19937 rng(42);
  const std::string alphabet = "a-./0b";
  for (int round = 0; round < 200; ++round) {
    std::set<std::string> keys;
    for (int i = 0; i < 30; ++i) {
      std::string name;
      int len = 1 + static_cast<int>(rng() % 4);
      for (int j = 0; j < len; ++j) name.push_back(alphabet[rng() % alphabet.size()]);
      keys.insert("d/" + name);
    }
    // What ListObjectsV2(prefix "d/", delimiter "/") returns, in key order.
    std::vector<std::pair<std::string, bool>> items;  // key, is_prefix
    std::set<std::string> seen_prefixes;
    for (const auto& k : keys) {
      auto slash = k.find('/', 2);
      if (slash == std::string::npos) {
        items.push_back({k, false});
      } else if (seen_prefixes.insert(k.substr(0, slash + 1)).second) {
        items.push_back({k.substr(0, slash + 1), true});
      }
    }
    std::sort(items.begin(), items.end());
    ListingClassifier c("d/");
    std::vector<std::string> streamed;
    for (std::size_t i = 0; i < items.size(); i += 3) {
      objstore::ListPage p;
      for (std::size_t j = i; j < std::min(items.size(), i + 3); ++j) {
        if (items[j].second) {
          p.common_prefixes.push_back(items[j].first);
        } else {
          objstore::ObjectInfo o;
          o.key = items[j].first;
          p.objects.push_back(o);
        }
      }
      c.AddPage(p);
      for (auto& n : Names(c.TakeFinal())) streamed.push_back(n);
    }
    auto final_names = Names(std::move(c).Finish().entries);
    ASSERT_LE(streamed.size(), final_names.size());
    EXPECT_TRUE(std::equal(streamed.begin(), streamed.end(), final_names.begin())) << round;
  }
}

}  // namespace
}  // namespace bucketfs::gateway
