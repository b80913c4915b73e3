// AWS Signature Version 4 for S3 requests (header-based signing). Pure functions over strings;
// thread-safe. The canonical request, string to sign and signature are exposed so tests can
// check each step against AWS's published examples.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/bytes.h"
#include "objstore/credentials.h"

namespace bucketfs::objstore {

inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct SigningInput {
  std::string method;         // "GET"
  std::string canonical_uri;  // already URI-encoded path, e.g. "/bucket/a%20b.txt"
  std::vector<std::pair<std::string, std::string>> query;    // raw (unencoded) name/value
  std::vector<std::pair<std::string, std::string>> headers;  // must include host, x-amz-date
  std::string payload_hash;  // hex SHA-256 of the body, or kUnsignedPayload
  std::string amz_date;      // "20130524T000000Z"
  std::string region;
  std::string service = "s3";
};

struct Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      // hex
  std::string authorization;  // the Authorization header value
};

Signature SignV4(const SigningInput& in, const Credentials& creds);

// RFC 3986 unreserved characters pass; everything else is %XX (upper case). '/' is kept when
// `keep_slash` (object key paths).
std::string UriEncode(std::string_view s, bool keep_slash);
std::string UriDecode(std::string_view s);
std::string Sha256Hex(ByteView data);
std::string CanonicalQuery(std::vector<std::pair<std::string, std::string>> query);

}  // namespace bucketfs::objstore
