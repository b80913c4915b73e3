#include "server/config.h"

#include <gtest/gtest.h>

namespace bucketfs::server {
namespace {

TEST(ConfigTest, ParseSize) {
  EXPECT_EQ(*ParseSize("0"), 0u);
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("512K"), 512u << 10);
  EXPECT_EQ(*ParseSize("4M"), 4u << 20);
  EXPECT_EQ(*ParseSize("4MiB"), 4u << 20);
  EXPECT_EQ(*ParseSize("4mb"), 4u << 20);
  EXPECT_EQ(*ParseSize("10G"), 10ull << 30);
  EXPECT_EQ(*ParseSize("2T"), 2ull << 40);
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_FALSE(ParseSize("M").ok());
  EXPECT_FALSE(ParseSize("4Q").ok());
  EXPECT_FALSE(ParseSize("-1G").ok());
  EXPECT_FALSE(ParseSize("99999999999T").ok());
}

TEST(ConfigTest, ParseListen) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(ParseListen("127.0.0.1:2049", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 2049);
  ASSERT_TRUE(ParseListen(":20490", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  ASSERT_TRUE(ParseListen("[::1]:1", &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_FALSE(ParseListen("127.0.0.1", &host, &port).ok());
  EXPECT_FALSE(ParseListen("h:99999", &host, &port).ok());
  EXPECT_FALSE(ParseListen("h:12x", &host, &port).ok());
}

TEST(ConfigTest, ParseExport) {
  auto e = ParseExport("my-data");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->name, "my-data");
  EXPECT_EQ(e->bucket, "my-data");
  EXPECT_EQ(e->prefix, "");
  e = ParseExport("ckpt=my-data:/runs/7");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->name, "ckpt");
  EXPECT_EQ(e->bucket, "my-data");
  EXPECT_EQ(e->prefix, "runs/7/");
  EXPECT_FALSE(ParseExport("a").ok());  // too short for a bucket
  EXPECT_FALSE(ParseExport("bad bucket").ok());
  EXPECT_FALSE(ParseExport("x/y=bucket").ok());
}

TEST(ConfigTest, NormalizeExport) {
  ExportConfig e;
  e.bucket = "my-data";
  e.prefix = "/runs/7";
  ASSERT_TRUE(NormalizeExport(&e).ok());
  EXPECT_EQ(e.name, "my-data");
  EXPECT_EQ(e.prefix, "runs/7/");
  e.name = "ckpt:2026 a=b";  // anything that is one path component
  e.endpoint = "https://s3.example";
  e.metadata_ttl_seconds = 0.5;
  EXPECT_TRUE(NormalizeExport(&e).ok());
  struct Case {
    const char* what;
    void (*edit)(ExportConfig&);
    const char* message;
  };
  const Case cases[] = {
      {"bucket", [](ExportConfig& x) { x.bucket = "a"; }, "'a' is not a valid bucket name"},
      {"slash", [](ExportConfig& x) { x.name = "a/b"; }, "bad export name 'a/b'"},
      {"dotdot", [](ExportConfig& x) { x.name = ".."; }, "bad export name '..'"},
      {"control", [](ExportConfig& x) { x.name = "a\nb"; }, "bad export name 'a\nb'"},
      {"long", [](ExportConfig& x) { x.name = std::string(256, 'n'); }, "bad export name"},
      {"endpoint", [](ExportConfig& x) { x.endpoint = "ftp://x"; },
       "endpoint 'ftp://x' must start with http:// or https://"},
      {"ttl", [](ExportConfig& x) { x.metadata_ttl_seconds = -1; },
       "the metadata TTL must be between 0 and 86400 seconds"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    ExportConfig x = e;
    c.edit(x);
    Status s = NormalizeExport(&x);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    EXPECT_TRUE(s.message().starts_with(c.message)) << s.message();
  }
}

}  // namespace
}  // namespace bucketfs::server
