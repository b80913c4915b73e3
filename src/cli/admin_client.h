// The CLI's client of the gateway's admin endpoint (server/admin_server.h): one HTTP/1.1 request
// over the admin unix socket, answered in JSON. Blocking, with a deadline for the whole exchange;
// the CLI runs one request and exits, so nothing here is shared between threads.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "base/status.h"
#include "server/json.h"

namespace bucketfs::cli {

// The gateway's successful answer to one admin request.
struct AdminReply {
  server::JsonValue body;
  std::string text;  // the body as received
};

// Sends `method` `target` (e.g. "GET", "/v1/status") to the gateway listening on `socket_path`,
// with `json_body` as an application/json body when it is not empty. Fails with kUnavailable when
// nobody answers there ("cannot reach the gateway at ..."), kTimeout after `timeout`, kProtocol on
// a reply that is not JSON, and with the gateway's own error message (its HTTP status mapped back
// to an ErrorCode: 400 kInvalidArgument, 403 kAuth, 404 kNotFound, 409 kExists, 503 kUnavailable,
// else kIo) on a non-2xx reply.
Result<AdminReply> CallAdmin(const std::string& socket_path, std::string_view method,
                             const std::string& target,
                             std::chrono::seconds timeout = std::chrono::seconds(30),
                             const std::string& json_body = "");

// Percent-encodes `text` for a query-string value (RFC 3986 unreserved characters and '/' stay).
std::string QueryEscape(std::string_view text);

}  // namespace bucketfs::cli
