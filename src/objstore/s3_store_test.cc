// S3 reply parsing, without a network. The client itself is exercised against moto_server by
// tests/integration.
#include "objstore/s3_store.h"

#include <gtest/gtest.h>

namespace bucketfs::objstore {
namespace {

TEST(S3ParseTest, ListObjectsV2Page) {
  const std::string xml = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>a/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
  <Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>
  <Contents><Key>a/x &amp; y.txt</Key><LastModified>2024-01-02T03:04:05.250Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
  <CommonPrefixes><Prefix>a/sub/</Prefix></CommonPrefixes>
  <NextContinuationToken>tok==</NextContinuationToken>
</ListBucketResult>)";
  auto page = ParseListObjectsV2(xml);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->objects.size(), 1u);
  EXPECT_EQ(page->objects[0].key, "a/x & y.txt");
  EXPECT_EQ(page->objects[0].etag, "abc");
  EXPECT_EQ(page->objects[0].size, 42u);
  EXPECT_EQ(std::chrono::system_clock::to_time_t(page->objects[0].last_modified), 1704164645);
  EXPECT_EQ(page->common_prefixes, std::vector<std::string>{"a/sub/"});
  EXPECT_EQ(page->next_continuation_token, "tok==");
  EXPECT_FALSE(ParseListObjectsV2("not xml").ok());
}

TEST(S3ParseTest, ErrorAndHeaders) {
  std::string code, message;
  ParseS3Error("<Error><Code>NoSuchKey</Code><Message>gone</Message></Error>", &code, &message);
  EXPECT_EQ(code, "NoSuchKey");
  EXPECT_EQ(message, "gone");
  HttpResponse r;
  r.status = 206;
  r.headers = {{"content-length", "10"},
               {"content-range", "bytes 0-9/1234"},
               {"etag", "\"e1\""},
               {"last-modified", "Fri, 24 May 2013 00:00:00 GMT"},
               {"x-amz-meta-mode", "33188"}};
  ObjectInfo info = InfoFromHeaders("k", r);
  EXPECT_EQ(info.size, 1234u);
  EXPECT_EQ(info.etag, "e1");
  EXPECT_EQ(info.user_metadata.at("mode"), "33188");
  EXPECT_EQ(std::chrono::system_clock::to_time_t(info.last_modified), 1369353600);
}

TEST(S3ParseTest, Endpoints) {
  auto ep = ParseEndpoint("http://127.0.0.1:9000");
  ASSERT_TRUE(ep.ok());
  EXPECT_FALSE(ep->tls);
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->port, 9000);
  ep = ParseEndpoint("https://s3.eu-west-1.amazonaws.com");
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->port, 443);
  EXPECT_FALSE(ParseEndpoint("ftp://x").ok());
  EXPECT_FALSE(ParseEndpoint("http://host/path").ok());
  EXPECT_FALSE(ParseEndpoint("http://host:99999").ok());
}

}  // namespace
}  // namespace bucketfs::objstore
