// S3 reply parsing, without a network; addressing and signing for S3-compatible providers
// (MinIO-style custom endpoints, Cloudflare R2, GCS's XML API) against a loopback server or on
// the signed request. The client itself is exercised against moto_server by tests/integration.
#include "objstore/s3_store.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "objstore/sigv4.h"
#include "objstore/testing/http_server.h"

namespace bucketfs::objstore {

// Signs a bucket-level or object request the way S3Store::Send would, without sending it.
class S3StoreTestPeer {
 public:
  static HttpRequest Sign(const S3Store& store, const std::string& method, const std::string& key) {
    S3Store::Call call{method, key, {}, {}, {}};
    return store.Sign(call, store.config_.credentials);
  }
};

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

std::string HeaderOf(const HttpRequest& r, const std::string& name) {
  for (const auto& [n, v] : r.headers) {
    if (n == name) return v;
  }
  return "";
}

// The value of header `name` (lower case) in a raw request head; "" when absent.
std::string HeaderOf(const std::string& head, const std::string& name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    const size_t start = pos + 2;
    const size_t end = head.find("\r\n", start);
    if (end == std::string::npos) break;
    const std::string line = head.substr(start, end - start);
    const size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string n = line.substr(0, colon);
      for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (n == name) {
        size_t v = colon + 1;
        while (v < line.size() && line[v] == ' ') ++v;
        return line.substr(v);
      }
    }
    pos = end;
  }
  return "";
}

S3Config ProviderConfig(const std::string& endpoint, const std::string& region) {
  S3Config config;
  config.endpoint = endpoint;
  config.region = region;
  config.bucket = "my-bucket";
  config.credentials = {"AKID", "secret", ""};
  config.max_attempts = 1;
  return config;
}

// Region "auto" (R2, GCS): the credential scope names it, the signature is computed over it, and
// a custom endpoint is addressed path-style.
TEST(S3ProviderTest, RegionAutoSignsWithAutoScopeAndPathStyle) {
  std::mutex mu;
  std::vector<std::string> heads;
  testing::ScriptedHttpServer server([&](const std::string& head) {
    std::lock_guard lock(mu);
    heads.push_back(head);
    return testing::ScriptedHttpServer::Response("200 OK", "", "", true);
  });
  asio::io_context io;
  auto store = S3Store::Create(io.get_executor(), ProviderConfig(server.url(), "auto"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto f = asio::co_spawn(io, (*store)->CheckBucket(), asio::use_future);
  io.run();
  Status s = f.get();
  ASSERT_TRUE(s.ok()) << s.ToString();

  std::lock_guard lock(mu);
  ASSERT_EQ(heads.size(), 1u);
  const std::string& head = heads[0];
  EXPECT_EQ(head.rfind("HEAD /my-bucket/ HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_EQ(HeaderOf(head, "host"), "127.0.0.1:" + std::to_string(server.port()));
  const std::string amz_date = HeaderOf(head, "x-amz-date");
  ASSERT_EQ(amz_date.size(), 16u) << head;  // 20240102T030405Z
  const std::string authorization = HeaderOf(head, "authorization");
  EXPECT_NE(
      authorization.find("Credential=AKID/" + amz_date.substr(0, 8) + "/auto/s3/aws4_request"),
      std::string::npos)
      << authorization;

  // The signature itself is the one for region "auto" over what was sent.
  SigningInput in;
  in.method = "HEAD";
  in.canonical_uri = "/my-bucket/";
  in.amz_date = amz_date;
  in.region = "auto";
  in.payload_hash = HeaderOf(head, "x-amz-content-sha256");
  in.headers = {{"host", HeaderOf(head, "host")},
                {"x-amz-date", amz_date},
                {"x-amz-content-sha256", in.payload_hash}};
  EXPECT_EQ(authorization, SignV4(in, {"AKID", "secret", ""}).authorization);
  in.region = "us-east-1";
  EXPECT_NE(authorization, SignV4(in, {"AKID", "secret", ""}).authorization);
}

// Cloudflare R2 and GCS's XML API are custom https endpoints: accepted, path-style (the bucket in
// the path, the endpoint's own host in Host, no :443), signed for the region given.
TEST(S3ProviderTest, R2AndGcsEndpointsArePathStyle) {
  struct Case {
    std::string endpoint, region, host;
  };
  const std::vector<Case> cases = {
      {"https://0123456789abcdef.r2.cloudflarestorage.com", "auto",
       "0123456789abcdef.r2.cloudflarestorage.com"},
      {"https://storage.googleapis.com", "auto", "storage.googleapis.com"},
      {"https://storage.googleapis.com", "europe-west1", "storage.googleapis.com"},
      {"http://minio.internal:9000", "us-east-1", "minio.internal:9000"},
  };
  asio::io_context io;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.endpoint + " " + c.region);
    auto store = S3Store::Create(io.get_executor(), ProviderConfig(c.endpoint, c.region));
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    HttpRequest req = S3StoreTestPeer::Sign(**store, "GET", "dir/a b.txt");
    EXPECT_EQ(req.target, "/my-bucket/dir/a%20b.txt");
    EXPECT_EQ(HeaderOf(req, "host"), c.host);
    EXPECT_NE(HeaderOf(req, "authorization").find("/" + c.region + "/s3/aws4_request"),
              std::string::npos)
        << HeaderOf(req, "authorization");
    HttpRequest bucket_req = S3StoreTestPeer::Sign(**store, "HEAD", "");
    EXPECT_EQ(bucket_req.target, "/my-bucket/");
  }
  EXPECT_FALSE(
      S3Store::Create(io.get_executor(),
                      ProviderConfig("https://ACCOUNT.r2.cloudflarestorage.com/bucket", "auto"))
          .ok());
}

// Without an endpoint (AWS itself) the same request is virtual-hosted: the contrast that shows
// the cases above are path-style because of the custom endpoint.
TEST(S3ProviderTest, AwsDefaultEndpointIsVirtualHosted) {
  asio::io_context io;
  auto store = S3Store::Create(io.get_executor(), ProviderConfig("", "eu-west-1"));
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  HttpRequest req = S3StoreTestPeer::Sign(**store, "GET", "dir/a.txt");
  EXPECT_EQ(req.target, "/dir/a.txt");
  EXPECT_EQ(HeaderOf(req, "host"), "my-bucket.s3.eu-west-1.amazonaws.com");
  S3Config forced = ProviderConfig("", "eu-west-1");
  forced.addressing = S3Config::Addressing::kPathStyle;  // serve --path-style
  store = S3Store::Create(io.get_executor(), forced);
  ASSERT_TRUE(store.ok());
  req = S3StoreTestPeer::Sign(**store, "GET", "dir/a.txt");
  EXPECT_EQ(req.target, "/my-bucket/dir/a.txt");
  EXPECT_EQ(HeaderOf(req, "host"), "s3.eu-west-1.amazonaws.com");
}

}  // namespace
}  // namespace bucketfs::objstore
