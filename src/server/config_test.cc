#include "server/config.h"

#include <gtest/gtest.h>

namespace bucketfs::server {
namespace {

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

}  // namespace
}  // namespace bucketfs::server
