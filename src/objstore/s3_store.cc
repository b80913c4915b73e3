#include "objstore/s3_store.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstring>
#include <ctime>
#include <pugixml.hpp>
#include <random>

#include "base/log.h"
#include "objstore/sigv4.h"

namespace bucketfs::objstore {
namespace {

std::string AmzDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm;
  gmtime_r(&tt, &tm);
  char buf[20];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

std::string StripQuotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool IsIpOrLocal(const std::string& host) {
  if (host == "localhost") return true;
  return host.find_first_not_of("0123456789.") == std::string::npos ||
         host.find(':') != std::string::npos;
}

bool Retryable(const HttpResponse& r, const std::string& code) {
  return r.status == 500 || r.status == 502 || r.status == 503 || r.status == 504 ||
         code == "SlowDown" || code == "RequestTimeout" || code == "InternalError";
}

uint64_t ParseU64(const std::string& s) { return std::strtoull(s.c_str(), nullptr, 10); }

}  // namespace

std::chrono::system_clock::time_point ParseHttpDate(const std::string& s) {
  std::tm tm{};
  if (!strptime(s.c_str(), "%a, %d %b %Y %H:%M:%S", &tm)) return {};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::chrono::system_clock::time_point ParseIso8601(const std::string& s) {
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return {};
  auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (*rest == '.') {
    int ms = std::atoi(rest + 1);
    t += std::chrono::milliseconds(ms);
  }
  return t;
}

void ParseS3Error(const std::string& xml, std::string* code, std::string* message) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) return;
  pugi::xml_node err = doc.child("Error");
  *code = err.child_value("Code");
  *message = err.child_value("Message");
}

Result<ListPage> ParseListObjectsV2(const std::string& xml) {
  pugi::xml_document doc;
  if (!doc.load_string(xml.c_str())) return ProtocolError("ListObjectsV2 reply is not XML");
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return ProtocolError("ListObjectsV2 reply has no ListBucketResult");
  ListPage page;
  for (pugi::xml_node c : root.children("Contents")) {
    ObjectInfo o;
    o.key = c.child_value("Key");
    o.size = ParseU64(c.child_value("Size"));
    o.etag = StripQuotes(c.child_value("ETag"));
    o.last_modified = ParseIso8601(c.child_value("LastModified"));
    page.objects.push_back(std::move(o));
  }
  for (pugi::xml_node p : root.children("CommonPrefixes")) {
    page.common_prefixes.push_back(p.child_value("Prefix"));
  }
  if (std::string(root.child_value("IsTruncated")) == "true") {
    page.next_continuation_token = root.child_value("NextContinuationToken");
    if (page.next_continuation_token.empty()) {
      return ProtocolError("truncated ListObjectsV2 reply without NextContinuationToken");
    }
  }
  return page;
}

ObjectInfo InfoFromHeaders(const std::string& key, const HttpResponse& r) {
  ObjectInfo o;
  o.key = key;
  o.size = ParseU64(r.Header("content-length"));
  const std::string range = r.Header("content-range");  // "bytes 0-9/1234"
  if (auto slash = range.rfind('/'); slash != std::string::npos && range[slash + 1] != '*') {
    o.size = ParseU64(range.substr(slash + 1));
  }
  o.etag = StripQuotes(r.Header("etag"));
  o.version_id = r.Header("x-amz-version-id");
  o.last_modified = ParseHttpDate(r.Header("last-modified"));
  o.has_metadata = true;
  for (const auto& [name, value] : r.headers) {
    if (name.rfind("x-amz-meta-", 0) == 0) o.user_metadata[name.substr(11)] = value;
  }
  return o;
}

Result<std::unique_ptr<S3Store>> S3Store::Create(asio::any_io_executor executor, S3Config config) {
  if (config.bucket.empty()) return InvalidArgumentError("no bucket name");
  std::string url =
      config.endpoint.empty() ? "https://s3." + config.region + ".amazonaws.com" : config.endpoint;
  BFS_ASSIGN_OR_RETURN(HttpEndpoint ep, ParseEndpoint(url));
  bool path_style = true;
  switch (config.addressing) {
    case S3Config::Addressing::kPathStyle:
      break;
    case S3Config::Addressing::kVirtualHosted:
      path_style = false;
      break;
    case S3Config::Addressing::kAuto:
      // AWS itself: virtual-hosted (unless a dotted bucket would break the TLS certificate);
      // custom endpoints (MinIO, moto, IPs): path-style.
      path_style = !config.endpoint.empty() || IsIpOrLocal(ep.host) ||
                   (ep.tls && config.bucket.find('.') != std::string::npos);
      break;
  }
  if (!path_style) ep.host = config.bucket + "." + ep.host;
  return std::unique_ptr<S3Store>(
      new S3Store(std::move(executor), std::move(config), std::move(ep), path_style));
}

S3Store::S3Store(asio::any_io_executor executor, S3Config config, HttpEndpoint endpoint,
                 bool path_style)
    : config_(std::move(config)), endpoint_(std::move(endpoint)), path_style_(path_style) {
  endpoint_url_ = (endpoint_.tls ? "https://" : "http://") + endpoint_.host + ":" +
                  std::to_string(endpoint_.port);
  http_ =
      std::make_unique<HttpClient>(std::move(executor), endpoint_,
                                   HttpTimeouts{config_.connect_timeout, config_.request_timeout},
                                   HttpLimits{config_.max_response_body});
  credentials_ = config_.credentials_provider
                     ? config_.credentials_provider
                     : std::make_shared<StaticCredentialsProvider>(config_.credentials);
}

HttpRequest S3Store::Sign(const Call& call, const Credentials& credentials) const {
  std::string path = path_style_ ? "/" + UriEncode(config_.bucket, false) + "/" : "/";
  path += UriEncode(call.key, true);
  const bool default_port = endpoint_.port == (endpoint_.tls ? 443 : 80);
  const std::string host =
      default_port ? endpoint_.host : endpoint_.host + ":" + std::to_string(endpoint_.port);
  SigningInput in;
  in.method = call.method;
  in.canonical_uri = path;
  in.query = call.query;
  in.amz_date = AmzDate(std::chrono::system_clock::now());
  in.region = config_.region;
  in.payload_hash = call.body.empty() && call.method != "PUT" ? std::string(kUnsignedPayload)
                                                              : Sha256Hex(AsBytes(call.body));
  in.headers = call.headers;
  in.headers.emplace_back("host", host);
  in.headers.emplace_back("x-amz-date", in.amz_date);
  in.headers.emplace_back("x-amz-content-sha256", in.payload_hash);
  if (!credentials.session_token.empty()) {
    in.headers.emplace_back("x-amz-security-token", credentials.session_token);
  }
  Signature sig = SignV4(in, credentials);
  HttpRequest req;
  req.method = call.method;
  req.target = path;
  if (!call.query.empty()) req.target += "?" + CanonicalQuery(call.query);
  req.headers = std::move(in.headers);
  req.headers.emplace_back("authorization", sig.authorization);
  req.body = call.body;
  req.max_response_body = call.max_response_body;
  req.binary_response = call.binary_response;
  return req;
}

Awaitable<Result<HttpResponse>> S3Store::Send(Call call) {
  std::mt19937_64 rng(std::random_device{}());
  Status last;
  for (int attempt = 0; attempt < config_.max_attempts; ++attempt) {
    if (attempt > 0) {
      // Exponential backoff with full jitter.
      auto cap = std::min<int64_t>(config_.backoff_cap.count(), config_.backoff_base.count()
                                                                    << std::min(attempt, 20));
      std::uniform_int_distribution<int64_t> jitter(0, std::max<int64_t>(cap, 1));
      asio::steady_timer timer(co_await asio::this_coro::executor);
      timer.expires_after(std::chrono::milliseconds(jitter(rng)));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    // Cached by the provider; fetched again only when they are about to expire.
    auto credentials = co_await credentials_->Get();
    if (!credentials.ok()) co_return credentials.status();
    auto r = co_await http_->Send(Sign(call, *credentials));
    if (!r.ok()) {
      last = r.status();
      if (r.status().code() == ErrorCode::kUnavailable ||
          r.status().code() == ErrorCode::kTimeout) {
        continue;
      }
      co_return r.status();
    }
    std::string code, message;
    if (r->status >= 400 && !r->body.empty()) ParseS3Error(r->body, &code, &message);
    if (Retryable(*r, code)) {
      last = UnavailableError("S3 " + std::to_string(r->status) + " " + code + " " + message);
      BFS_LOG_DEBUG("s3: {} {} → {} {}, retrying", call.method, call.key, r->status, code);
      continue;
    }
    co_return std::move(r);
  }
  co_return UnavailableError("S3 at " + endpoint_url_ + " unavailable after " +
                             std::to_string(config_.max_attempts) + " attempts: " + last.message());
}

Status S3Store::ErrorFor(const Call& call, const HttpResponse& r) const {
  std::string code, message;
  ParseS3Error(r.body, &code, &message);
  const std::string what = call.method + " " + (call.key.empty() ? "bucket" : call.key);
  const std::string detail = code.empty() ? "HTTP " + std::to_string(r.status)
                                          : code + (message.empty() ? "" : ": " + message);
  if (code == "NoSuchBucket" || (call.key.empty() && r.status == 404)) {
    return NotFoundError("bucket '" + config_.bucket + "' does not exist at " + endpoint_url_);
  }
  if (r.status == 404) return NotFoundError(what + ": no such key");
  if (code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" || code == "ExpiredToken" ||
      code == "InvalidToken" || (r.status == 403 && code.empty())) {
    return Status(ErrorCode::kAuth,
                  "credentials rejected by " + endpoint_url_ + " (" + detail + ")");
  }
  if (r.status == 403) return Status(ErrorCode::kAccessDenied, what + ": " + detail);
  if (r.status == 412) return Status(ErrorCode::kStale, what + ": object changed");
  if (r.status == 416) return InvalidArgumentError(what + ": range not satisfiable");
  if (r.status == 301 || r.status == 307 || code == "PermanentRedirect" ||
      code == "AuthorizationHeaderMalformed") {
    std::string region = r.Header("x-amz-bucket-region");
    return InvalidArgumentError("bucket '" + config_.bucket + "' is not in region " +
                                config_.region +
                                (region.empty() ? "" : " (it is in " + region + ")"));
  }
  return IoError(what + ": " + detail);
}

Awaitable<Status> S3Store::CheckBucket() {
  Call call{"HEAD", "", {}, {}, {}};
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status == 200) co_return Status::Ok();
  co_return ErrorFor(call, *r);
}

Awaitable<Result<ObjectInfo>> S3Store::Head(std::string key) {
  Call call{"HEAD", std::move(key), {}, {}, {}};
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 200) co_return ErrorFor(call, *r);
  co_return InfoFromHeaders(call.key, *r);
}

Awaitable<Result<GetResult>> S3Store::Get(std::string key, GetOptions options) {
  Call call{"GET", std::move(key), {}, {}, {}};
  if (options.range) {
    std::string range = "bytes=" + std::to_string(options.range->offset) + "-";
    if (options.range->length) {
      if (*options.range->length == 0) {
        // A zero-length range cannot be expressed; HEAD gives the same answer.
        auto info = co_await Head(call.key);
        if (!info.ok()) co_return info.status();
        co_return GetResult{std::move(*info), {}};
      }
      range += std::to_string(options.range->offset + *options.range->length - 1);
    }
    call.headers.emplace_back("range", range);
  }
  if (!options.if_match.empty())
    call.headers.emplace_back("if-match", "\"" + options.if_match + "\"");
  // The body lands in the result as received: no copy, and no more than the range asked for.
  const bool bounded = options.range && options.range->length;
  if (bounded) call.max_response_body = *options.range->length;
  call.binary_response = true;
  auto r = co_await Send(call);
  if (!r.ok()) {
    if (bounded && r.status().code() == ErrorCode::kTooBig) {
      co_return ProtocolError("GET " + call.key + " (bytes " +
                              std::to_string(options.range->offset) + "+" +
                              std::to_string(*options.range->length) + ") at " + endpoint_url_ +
                              ": the response body is longer than the range");
    }
    co_return r.status();
  }
  if (r->status != 200 && r->status != 206) co_return ErrorFor(call, *r);
  if (r->status == 200 && options.range && options.range->offset > 0) {
    // The whole object instead of the range: its bytes would be taken for the range's.
    co_return ProtocolError("GET " + call.key + " from offset " +
                            std::to_string(options.range->offset) + " at " + endpoint_url_ +
                            ": answered 200 with the whole object, not 206 with the range");
  }
  GetResult out;
  out.info = InfoFromHeaders(call.key, *r);
  out.data = std::move(r->data);
  co_return out;
}

Awaitable<Result<ListPage>> S3Store::List(ListRequest request) {
  Call call{"GET", "", {{"list-type", "2"}}, {}, {}};
  call.query.emplace_back("prefix", request.prefix);
  if (!request.delimiter.empty()) call.query.emplace_back("delimiter", request.delimiter);
  if (!request.continuation_token.empty()) {
    call.query.emplace_back("continuation-token", request.continuation_token);
  }
  if (!request.start_after.empty()) call.query.emplace_back("start-after", request.start_after);
  call.query.emplace_back("max-keys", std::to_string(request.max_keys));
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 200) co_return ErrorFor(call, *r);
  co_return ParseListObjectsV2(r->body);
}

Awaitable<Result<ObjectInfo>> S3Store::Put(std::string key, Bytes data,
                                           std::map<std::string, std::string> user_metadata) {
  Call call{"PUT", std::move(key), {}, {}, std::string(data.begin(), data.end())};
  call.headers.emplace_back("content-type", "application/octet-stream");
  for (const auto& [k, v] : user_metadata) call.headers.emplace_back("x-amz-meta-" + k, v);
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 200) co_return ErrorFor(call, *r);
  ObjectInfo info = InfoFromHeaders(call.key, *r);
  info.size = call.body.size();
  info.user_metadata = std::move(user_metadata);
  co_return info;
}

Awaitable<Status> S3Store::Delete(std::string key) {
  Call call{"DELETE", std::move(key), {}, {}, {}};
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 204 && r->status != 200 && r->status != 404) co_return ErrorFor(call, *r);
  co_return Status::Ok();
}

// ---- Copy and multipart ----

std::string CompleteMultipartXml(const std::vector<CompletedPart>& parts) {
  std::string xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const CompletedPart& p : parts) {
    xml += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" + p.etag +
           "\"</ETag></Part>";
  }
  xml += "</CompleteMultipartUpload>";
  return xml;
}

std::string ParseUploadId(const std::string& xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return "";
  return doc.child("InitiateMultipartUploadResult").child_value("UploadId");
}

bool ParseCopyResult(const std::string& xml, std::string* etag,
                     std::chrono::system_clock::time_point* last_modified) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return false;
  pugi::xml_node root = doc.child("CopyObjectResult");
  if (!root) root = doc.child("CopyPartResult");
  if (!root) return false;
  std::string e = root.child_value("ETag");
  if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
  *etag = e;
  *last_modified = ParseIso8601(root.child_value("LastModified"));
  return !etag->empty();
}

std::string S3Store::CopySource(const std::string& key) const {
  return "/" + UriEncode(config_.bucket, false) + "/" + UriEncode(key, true);
}

Awaitable<Result<ObjectInfo>> S3Store::Copy(
    std::string src_key, std::string dst_key,
    std::optional<std::map<std::string, std::string>> metadata, std::string src_if_match) {
  Call call{"PUT", std::move(dst_key), {}, {}, {}};
  call.headers.emplace_back("x-amz-copy-source", CopySource(src_key));
  if (!src_if_match.empty()) {
    call.headers.emplace_back("x-amz-copy-source-if-match", "\"" + src_if_match + "\"");
  }
  if (metadata) {
    call.headers.emplace_back("x-amz-metadata-directive", "REPLACE");
    for (const auto& [k, v] : *metadata) call.headers.emplace_back("x-amz-meta-" + k, v);
  }
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status == 404) co_return NotFoundError("COPY " + src_key + ": no such key");
  if (r->status == 400) {
    std::string code, message;
    ParseS3Error(r->body, &code, &message);
    if (code == "InvalidRequest" && message.find("5368709120") != std::string::npos) {
      // Over 5 GiB: a multipart copy.
      BFS_CO_ASSIGN_OR_RETURN(ObjectInfo src, co_await Head(src_key));
      if (!src_if_match.empty() && src.etag != src_if_match) {
        co_return Status(ErrorCode::kStale, "COPY " + src_key + ": source changed");
      }
      co_return co_await CopyLarge(src, call.key, metadata.value_or(src.user_metadata));
    }
  }
  if (r->status != 200) co_return ErrorFor(call, *r);
  ObjectInfo info;
  info.key = call.key;
  // CopyObject may answer 200 with an <Error> body when it fails late.
  if (!ParseCopyResult(r->body, &info.etag, &info.last_modified)) {
    co_return ErrorFor(call, HttpResponse{500, r->headers, r->body});
  }
  info.version_id = r->Header("x-amz-version-id");
  co_return info;
}

Awaitable<Result<ObjectInfo>> S3Store::CopyLarge(const ObjectInfo& src, const std::string& dst_key,
                                                 std::map<std::string, std::string> metadata) {
  BFS_CO_ASSIGN_OR_RETURN(std::string id, co_await CreateMultipart(dst_key, std::move(metadata)));
  const uint64_t part = std::max<uint64_t>(uint64_t{512} << 20, src.size / kMaxParts + 1);
  std::vector<CompletedPart> parts;
  for (uint64_t off = 0; off < src.size; off += part) {
    const int n = static_cast<int>(parts.size()) + 1;
    auto etag = co_await UploadPartCopy(dst_key, id, n, src.key,
                                        ByteRange{off, std::min(part, src.size - off)}, src.etag);
    if (!etag.ok()) {
      (void)co_await AbortMultipart(dst_key, id);
      co_return etag.status();
    }
    parts.push_back({n, std::move(etag).value()});
  }
  co_return co_await CompleteMultipart(dst_key, id, std::move(parts));
}

Awaitable<Result<std::string>> S3Store::CreateMultipart(
    std::string key, std::map<std::string, std::string> user_metadata) {
  Call call{"POST", std::move(key), {{"uploads", ""}}, {}, {}};
  call.headers.emplace_back("content-type", "application/octet-stream");
  for (const auto& [k, v] : user_metadata) call.headers.emplace_back("x-amz-meta-" + k, v);
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 200) co_return ErrorFor(call, *r);
  std::string id = ParseUploadId(r->body);
  if (id.empty()) co_return ProtocolError("CreateMultipartUpload " + call.key + ": no UploadId");
  co_return id;
}

Awaitable<Result<std::string>> S3Store::UploadPart(std::string key, std::string upload_id,
                                                   int part_number, Bytes data) {
  Call call{"PUT",
            std::move(key),
            {{"partNumber", std::to_string(part_number)}, {"uploadId", std::move(upload_id)}},
            {},
            std::string(data.begin(), data.end())};
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 200) co_return ErrorFor(call, *r);
  std::string etag = r->Header("etag");
  if (etag.size() >= 2 && etag.front() == '"') etag = etag.substr(1, etag.size() - 2);
  if (etag.empty()) co_return ProtocolError("UploadPart " + call.key + ": no ETag");
  co_return etag;
}

Awaitable<Result<std::string>> S3Store::UploadPartCopy(std::string key, std::string upload_id,
                                                       int part_number, std::string src_key,
                                                       ByteRange range, std::string src_if_match) {
  if (!range.length || *range.length == 0) {
    co_return InvalidArgumentError("UploadPartCopy needs a non-empty bounded range");
  }
  Call call{"PUT",
            std::move(key),
            {{"partNumber", std::to_string(part_number)}, {"uploadId", std::move(upload_id)}},
            {},
            {}};
  call.headers.emplace_back("x-amz-copy-source", CopySource(src_key));
  call.headers.emplace_back("x-amz-copy-source-range",
                            "bytes=" + std::to_string(range.offset) + "-" +
                                std::to_string(range.offset + *range.length - 1));
  if (!src_if_match.empty()) {
    call.headers.emplace_back("x-amz-copy-source-if-match", "\"" + src_if_match + "\"");
  }
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status == 404) co_return NotFoundError("UploadPartCopy from " + src_key + ": no such key");
  if (r->status != 200) co_return ErrorFor(call, *r);
  std::string etag;
  std::chrono::system_clock::time_point ignored;
  if (!ParseCopyResult(r->body, &etag, &ignored)) {
    co_return ErrorFor(call, HttpResponse{500, r->headers, r->body});
  }
  co_return etag;
}

Awaitable<Result<ObjectInfo>> S3Store::CompleteMultipart(std::string key, std::string upload_id,
                                                         std::vector<CompletedPart> parts) {
  Call call{"POST",
            std::move(key),
            {{"uploadId", std::move(upload_id)}},
            {},
            CompleteMultipartXml(parts)};
  call.headers.emplace_back("content-type", "application/xml");
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status != 200) co_return ErrorFor(call, *r);
  pugi::xml_document doc;
  // S3 may answer 200 and then an <Error> document: the upload failed after all. (The success
  // document is CompleteMultipartUploadResult; some servers name it ...Response.)
  if (!doc.load_buffer(r->body.data(), r->body.size()) || doc.child("Error") ||
      (!doc.child("CompleteMultipartUploadResult") &&
       !doc.child("CompleteMultipartUploadResponse"))) {
    co_return ErrorFor(call, HttpResponse{500, r->headers, r->body});
  }
  // The reply carries no size or LastModified: one HEAD gives the object as stored.
  co_return co_await Head(call.key);
}

Awaitable<Status> S3Store::AbortMultipart(std::string key, std::string upload_id) {
  Call call{"DELETE", std::move(key), {{"uploadId", std::move(upload_id)}}, {}, {}};
  auto r = co_await Send(call);
  if (!r.ok()) co_return r.status();
  if (r->status == 204 || r->status == 200 || r->status == 404) co_return Status::Ok();
  co_return ErrorFor(call, *r);
}

}  // namespace bucketfs::objstore
