// SigV4 against the examples AWS publishes in the S3 documentation ("Signature Calculations for
// the Authorization Header: Transferring Payload in a Single Chunk"): example credentials
// AKIAIOSFODNN7EXAMPLE, bucket examplebucket, us-east-1, 20130524T000000Z.
#include "objstore/sigv4.h"

#include <gtest/gtest.h>

namespace bucketfs::objstore {
namespace {

constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

Credentials Example() {
  return {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
}

SigningInput Base(std::string uri) {
  SigningInput in;
  in.method = "GET";
  in.canonical_uri = std::move(uri);
  in.amz_date = "20130524T000000Z";
  in.region = "us-east-1";
  in.payload_hash = kEmptySha;
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"x-amz-date", "20130524T000000Z"},
                {"x-amz-content-sha256", kEmptySha}};
  return in;
}

TEST(SigV4Test, GetObjectWithRange) {
  SigningInput in = Base("/test.txt");
  in.headers.emplace_back("Range", "bytes=0-9");
  Signature s = SignV4(in, Example());
  EXPECT_EQ(s.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            "\nx-amz-date:20130524T000000Z\n\nhost;range;x-amz-content-sha256;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n"
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(s.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
            "aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4Test, GetBucketLifecycle) {
  SigningInput in = Base("/");
  in.query = {{"lifecycle", ""}};
  EXPECT_EQ(SignV4(in, Example()).signature,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
}

TEST(SigV4Test, ListObjects) {
  SigningInput in = Base("/");
  in.query = {{"prefix", "J"}, {"max-keys", "2"}};  // sorted by the signer
  Signature s = SignV4(in, Example());
  EXPECT_NE(s.canonical_request.find("\nmax-keys=2&prefix=J\n"), std::string::npos);
  EXPECT_EQ(s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4Test, PutObject) {
  SigningInput in;
  in.method = "PUT";
  in.canonical_uri = "/test%24file.text";
  in.amz_date = "20130524T000000Z";
  in.region = "us-east-1";
  in.payload_hash = Sha256Hex(AsBytes("Welcome to Amazon S3."));
  in.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
                {"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                {"x-amz-date", "20130524T000000Z"},
                {"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                {"x-amz-content-sha256", in.payload_hash}};
  EXPECT_EQ(in.payload_hash, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
  EXPECT_EQ(SignV4(in, Example()).signature,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

TEST(SigV4Test, UriEncoding) {
  EXPECT_EQ(UriEncode("a b/c+d~e", true), "a%20b/c%2Bd~e");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(UriDecode("a%20b%2Fc"), "a b/c");
  EXPECT_EQ(UriEncode("test$file.text", true), "test%24file.text");
}

}  // namespace
}  // namespace bucketfs::objstore
