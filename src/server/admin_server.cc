#include "server/admin_server.h"

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "base/log.h"
#include "server/json.h"

namespace bucketfs::server {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using asio::local::stream_protocol;
using Stream = beast::basic_stream<stream_protocol>;
using Request = http::request<http::string_body>;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr auto kAcceptRetryDelay = std::chrono::milliseconds(100);

// co_spawn completion: a coroutine that throws is a bug; log it instead of letting the exception
// escape io_context::run().
struct LogExceptions {
  void operator()(std::exception_ptr e) const {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      BFS_LOG_ERROR("admin: coroutine failed: {}", ex.what());
    } catch (...) {
      BFS_LOG_ERROR("admin: coroutine failed with a non-standard exception");
    }
  }
};

struct Reply {
  http::status status = http::status::ok;
  std::string body;        // JSON
  std::string_view allow;  // the Allow header of a 405
};

Reply ErrorReply(http::status status, std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return Reply{status, w.str(), {}};
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes `text` (RFC 3986; '+' stays a plus). nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// The first value of `name` in the query string `query` ("a=1&b=2"), decoded. nullopt when
// absent; an error when malformed.
Result<std::optional<std::string>> QueryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    auto key = PercentDecode(pair.substr(0, eq));
    if (!key) return InvalidArgumentError("malformed percent-encoding in the query string");
    if (*key != name) continue;
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value) return InvalidArgumentError("malformed percent-encoding in the query string");
    return std::optional<std::string>(std::move(*value));
  }
  return std::optional<std::string>();
}

// Whether something accepts connections on the unix socket `path` right now.
bool SomeoneListens(const std::string& path) {
  asio::io_context io;
  stream_protocol::socket probe(io);
  boost::system::error_code ec;
  probe.open(stream_protocol(), ec);
  if (ec) return false;
  // Non-blocking, so a listener whose backlog is full counts as listening instead of hanging.
  probe.non_blocking(true, ec);
  probe.connect(stream_protocol::endpoint(path), ec);
  return !ec || ec == asio::error::would_block || ec == asio::error::try_again ||
         ec == asio::error::in_progress;
}

std::string Errno() { return std::strerror(errno); }

// One accepted connection; its coroutine runs on the stream's strand. Stop() reaches it only
// through Close(), which posts there.
class AdminConnection : public std::enable_shared_from_this<AdminConnection> {
 public:
  explicit AdminConnection(stream_protocol::socket socket) : stream_(std::move(socket)) {}

  Stream& stream() { return stream_; }

  // Closes the socket, ending any pending read or write; from any thread.
  void Close() {
    asio::post(stream_.get_executor(), [self = shared_from_this()] { self->stream_.close(); });
  }

 private:
  Stream stream_;
};

}  // namespace

unsigned HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotDir:
    case ErrorCode::kNameTooLong:
      return 400;  // a path that cannot name anything
    case ErrorCode::kAuth:
    case ErrorCode::kAccessDenied:
      return 403;  // credentials rejected, or not allowed
    case ErrorCode::kExists:
    case ErrorCode::kNotEmpty:
      return 409;  // a duplicate export, or one with uploads pending
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return 503;  // transient: try again later
    default:
      return 500;
  }
}

Result<ExportConfig> ParseExportRequest(std::string_view body) {
  auto doc = ParseJson(body);
  if (!doc.ok()) {
    return InvalidArgumentError("the request body is not JSON: " + doc.status().message());
  }
  if (!doc->is_object()) return InvalidArgumentError("the request body must be a JSON object");
  ExportConfig e;
  bool has_bucket = false;
  for (const auto& [key, value] : doc->members()) {
    std::string* text = key == "name"       ? &e.name
                        : key == "bucket"   ? &e.bucket
                        : key == "prefix"   ? &e.prefix
                        : key == "endpoint" ? &e.endpoint
                        : key == "region"   ? &e.region
                                            : nullptr;
    if (text != nullptr || key == "protocol") {
      if (!value.is_string()) return InvalidArgumentError("'" + key + "' must be a string");
      if (value.string().find('\0') != std::string::npos) {
        return InvalidArgumentError("'" + key + "' contains a NUL byte");
      }
      if (text != nullptr) {
        *text = value.string();
      } else if (value.string() != "nfs") {
        return InvalidArgumentError("protocol '" + value.string() +
                                    "' is not supported (bucketfs serves nfs only)");
      }
      has_bucket |= key == "bucket";
    } else if (key == "read_only") {
      if (value.type() != JsonValue::Type::kBool) {
        return InvalidArgumentError("'read_only' must be true or false");
      }
      e.read_only = value.boolean();
    } else if (key == "metadata_ttl_seconds") {
      if (!value.is_number()) {
        return InvalidArgumentError("'metadata_ttl_seconds' must be a number");
      }
      e.metadata_ttl_seconds = value.number();
    } else {
      return InvalidArgumentError("unknown field '" + key + "' in the request body");
    }
  }
  if (!has_bucket) return InvalidArgumentError("the request body names no bucket");
  BFS_RETURN_IF_ERROR(NormalizeExport(&e));
  return e;
}

// State shared by the AdminServer and its coroutines; outlives the AdminServer while they run.
class AdminServer::Impl : public std::enable_shared_from_this<AdminServer::Impl> {
 public:
  Impl(asio::any_io_executor executor, std::string path, AdminHandlers handlers,
       AdminServerOptions options)
      : executor_(std::move(executor)),
        path_(std::move(path)),
        handlers_(std::move(handlers)),
        options_(options),
        strand_(asio::make_strand(executor_)),
        acceptor_(strand_) {}

  const std::string& path() const { return path_; }
  Status Start();
  void Stop();

 private:
  // Binds and listens on path_, replacing a stale socket file.
  Status Bind();
  static Awaitable<void> AcceptLoop(std::shared_ptr<Impl> self);
  static Awaitable<void> Serve(std::shared_ptr<Impl> self, std::shared_ptr<AdminConnection> conn);
  Awaitable<Reply> Handle(const Request& req);
  Awaitable<Reply> HandleRefresh(std::string_view query);
  Awaitable<Reply> HandleCreateExport(const std::string& body);
  Awaitable<Reply> HandleDeleteExport(std::string_view encoded_name, std::string_view query);

  bool stopped() {
    std::lock_guard lock(mu_);
    return stopped_;
  }
  // Registers an accepted connection; false once stopped.
  bool Register(const std::shared_ptr<AdminConnection>& conn);

  const asio::any_io_executor executor_;
  const std::string path_;
  const AdminHandlers handlers_;
  const AdminServerOptions options_;
  asio::strand<asio::any_io_executor> strand_;  // the acceptor's
  stream_protocol::acceptor acceptor_;

  std::mutex mu_;  // guards everything below
  std::vector<std::weak_ptr<AdminConnection>> connections_;
  bool stopped_ = false;
  // The socket file this server created (compared before unlinking it at Stop()).
  std::optional<std::pair<dev_t, ino_t>> socket_file_;
};

Status AdminServer::Impl::Bind() {
  if (path_.empty()) return InvalidArgumentError("no admin socket path");
  if (path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return InvalidArgumentError("admin socket path " + path_ + " is too long (over " +
                                std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes)");
  }
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code fec;
    std::filesystem::create_directories(parent, fec);
    if (fec) {
      return IoError("cannot create directory " + parent.string() +
                     " for the admin socket: " + fec.message());
    }
  }
  const std::string busy = "another gateway is already serving admin socket " + path_;
  struct stat st;
  if (::lstat(path_.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return Status(ErrorCode::kExists,
                    "admin socket path " + path_ + " exists and is not a socket; remove it");
    }
    if (SomeoneListens(path_)) return Status(ErrorCode::kExists, busy);
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return IoError("cannot remove the stale admin socket " + path_ + ": " + Errno());
    }
    BFS_LOG_DEBUG("admin: removed the stale socket {}", path_);
  }

  boost::system::error_code ec;
  acceptor_.open(stream_protocol(), ec);
  // Owner-only from the moment the file appears (Linux derives its mode from the socket's).
  if (!ec) ::fchmod(acceptor_.native_handle(), 0600);
  if (!ec) acceptor_.bind(stream_protocol::endpoint(path_), ec);
  if (ec == asio::error::address_in_use) {
    acceptor_.close(ec);
    return Status(ErrorCode::kExists, busy);
  }
  if (ec) {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return IoError("cannot bind the admin socket " + path_ + ": " + ec.message());
  }
  if (::chmod(path_.c_str(), 0600) != 0 || ::stat(path_.c_str(), &st) != 0) {
    Status s = IoError("cannot set the mode of the admin socket " + path_ + ": " + Errno());
    acceptor_.close(ec);
    ::unlink(path_.c_str());
    return s;
  }
  {
    std::lock_guard lock(mu_);
    socket_file_.emplace(st.st_dev, st.st_ino);
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    Status s = IoError("cannot listen on the admin socket " + path_ + ": " + ec.message());
    Stop();
    return s;
  }
  return Status::Ok();
}

Status AdminServer::Impl::Start() {
  BFS_RETURN_IF_ERROR(Bind());
  asio::co_spawn(strand_, AcceptLoop(shared_from_this()), LogExceptions{});
  BFS_LOG_INFO("admin endpoint on unix socket {}", path_);
  return Status::Ok();
}

bool AdminServer::Impl::Register(const std::shared_ptr<AdminConnection>& conn) {
  std::lock_guard lock(mu_);
  if (stopped_) return false;
  std::erase_if(connections_, [](const std::weak_ptr<AdminConnection>& w) { return w.expired(); });
  connections_.push_back(conn);
  return true;
}

Awaitable<void> AdminServer::Impl::AcceptLoop(std::shared_ptr<Impl> self) {
  asio::steady_timer backoff(self->strand_);
  while (!self->stopped()) {
    auto [ec, socket] =
        co_await self->acceptor_.async_accept(asio::make_strand(self->executor_), kNoThrow);
    if (self->stopped() || !self->acceptor_.is_open()) break;
    if (ec) {
      // E.g. out of file descriptors: do not spin.
      BFS_LOG_WARN("admin: accept failed: {}", ec.message());
      backoff.expires_after(kAcceptRetryDelay);
      co_await backoff.async_wait(kNoThrow);
      continue;
    }
    auto conn = std::make_shared<AdminConnection>(std::move(socket));
    if (!self->Register(conn)) break;
    asio::co_spawn(conn->stream().get_executor(), Serve(self, conn), LogExceptions{});
  }
  BFS_LOG_DEBUG("admin: accept loop on {} stopped", self->path_);
}

Awaitable<void> AdminServer::Impl::Serve(std::shared_ptr<Impl> self,
                                         std::shared_ptr<AdminConnection> conn) {
  Stream& stream = conn->stream();
  const std::size_t limit = self->options_.max_request_size;
  beast::flat_buffer buffer(2 * limit);
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(limit));
  parser.body_limit(limit);
  stream.expires_after(self->options_.idle_timeout);
  auto [rec, request_size] = co_await http::async_read(stream, buffer, parser, kNoThrow);
  stream.expires_never();

  Reply reply;
  if (rec == http::error::header_limit || rec == http::error::body_limit ||
      rec == http::error::buffer_overflow || (!rec && request_size > limit)) {
    reply = ErrorReply(http::status::payload_too_large,
                       "request larger than " + std::to_string(limit) + " bytes");
  } else if (rec == beast::error::timeout || rec == http::error::end_of_stream ||
             rec == asio::error::eof || rec == asio::error::operation_aborted ||
             rec == asio::error::connection_reset || rec == asio::error::bad_descriptor) {
    stream.close();  // idle, gone, or closed by Stop(): nobody to answer
    co_return;
  } else if (rec) {
    reply = ErrorReply(http::status::bad_request, "malformed HTTP request: " + rec.message());
  } else {
    try {
      reply = co_await self->Handle(parser.get());
    } catch (const std::exception& e) {
      BFS_LOG_ERROR("admin: {} {} failed: {}", std::string(parser.get().method_string()),
                    std::string(parser.get().target()), e.what());
      reply = ErrorReply(http::status::internal_server_error, "internal error");
    }
  }

  http::response<http::string_body> res(reply.status, 11);
  res.set(http::field::server, "bucketfs");
  res.set(http::field::content_type, "application/json");
  if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
  res.keep_alive(false);
  res.body() = std::move(reply.body);
  res.prepare_payload();
  stream.expires_after(self->options_.idle_timeout);
  auto [wec, written] = co_await http::async_write(stream, res, kNoThrow);
  if (wec) BFS_LOG_DEBUG("admin: cannot send a reply: {}", wec.message());
  boost::system::error_code ignored;
  stream.socket().shutdown(stream_protocol::socket::shutdown_send, ignored);
  stream.close();
}

Awaitable<Reply> AdminServer::Impl::Handle(const Request& req) {
  const std::string_view target = req.target();
  const std::size_t question = target.find('?');
  const std::string_view path = target.substr(0, question);
  const std::string_view query =
      question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  if (path == "/v1/status") {
    if (req.method() != http::verb::get) {
      Reply r = ErrorReply(http::status::method_not_allowed, "use GET for /v1/status");
      r.allow = "GET";
      co_return r;
    }
    co_return Reply{http::status::ok, handlers_.status_json(), {}};
  }
  if (path == "/v1/refresh") {
    if (req.method() != http::verb::post) {
      Reply r = ErrorReply(http::status::method_not_allowed, "use POST for /v1/refresh");
      r.allow = "POST";
      co_return r;
    }
    co_return co_await HandleRefresh(query);
  }
  if (path == "/v1/exports" && handlers_.list_exports && handlers_.create_export) {
    if (req.method() == http::verb::get)
      co_return Reply{http::status::ok, handlers_.list_exports(), {}};
    if (req.method() == http::verb::post) co_return co_await HandleCreateExport(req.body());
    Reply r = ErrorReply(http::status::method_not_allowed, "use GET or POST for /v1/exports");
    r.allow = "GET, POST";
    co_return r;
  }
  constexpr std::string_view kExportPrefix = "/v1/exports/";
  if (path.starts_with(kExportPrefix) && path.size() > kExportPrefix.size() &&
      handlers_.delete_export) {
    if (req.method() != http::verb::delete_) {
      Reply r = ErrorReply(http::status::method_not_allowed, "use DELETE for /v1/exports/NAME");
      r.allow = "DELETE";
      co_return r;
    }
    co_return co_await HandleDeleteExport(path.substr(kExportPrefix.size()), query);
  }
  co_return ErrorReply(http::status::not_found, "no such endpoint: " + std::string(path));
}

Awaitable<Reply> AdminServer::Impl::HandleCreateExport(const std::string& body) {
  auto request = ParseExportRequest(body);
  if (!request.ok()) co_return ErrorReply(http::status::bad_request, request.status().message());
  const std::string name = request->name;
  auto created = co_await handlers_.create_export(std::move(*request));
  if (!created.ok()) {
    BFS_LOG_INFO("admin: POST /v1/exports for /{}: {}", name, created.status().message());
    co_return ErrorReply(static_cast<http::status>(HttpStatusFor(created.status().code())),
                         created.status().message());
  }
  co_return Reply{http::status::created, std::move(*created), {}};
}

Awaitable<Reply> AdminServer::Impl::HandleDeleteExport(std::string_view encoded_name,
                                                       std::string_view query) {
  auto name = PercentDecode(encoded_name);
  if (!name)
    co_return ErrorReply(http::status::bad_request, "malformed percent-encoding in the path");
  auto force = QueryParam(query, "force");
  if (!force.ok()) co_return ErrorReply(http::status::bad_request, force.status().message());
  bool forced = false;
  if (force->has_value()) {
    const std::string& v = **force;
    if (v.empty() || v == "1" || v == "true") {
      forced = true;
    } else if (v != "0" && v != "false") {
      co_return ErrorReply(http::status::bad_request, "force must be 1, true, 0 or false");
    }
  }
  auto deleted = co_await handlers_.delete_export(*name, forced);
  if (!deleted.ok()) {
    BFS_LOG_INFO("admin: DELETE /v1/exports/{}: {}", *name, deleted.status().message());
    co_return ErrorReply(static_cast<http::status>(HttpStatusFor(deleted.status().code())),
                         deleted.status().message());
  }
  co_return Reply{http::status::ok, std::move(*deleted), {}};
}

Awaitable<Reply> AdminServer::Impl::HandleRefresh(std::string_view query) {
  auto param = QueryParam(query, "path");
  if (!param.ok()) co_return ErrorReply(http::status::bad_request, param.status().message());
  if (!param->has_value()) {
    co_return ErrorReply(http::status::bad_request, "missing the parameter path=/EXPORT/PATH");
  }
  std::string path = std::move(**param);
  if (path.find('\0') != std::string::npos) {
    co_return ErrorReply(http::status::bad_request, "the path contains a NUL byte");
  }
  Status s = co_await handlers_.refresh(path);
  if (!s.ok()) {
    BFS_LOG_DEBUG("admin: refresh {} failed: {}", path, s.ToString());
    co_return ErrorReply(static_cast<http::status>(HttpStatusFor(s.code())), s.message());
  }
  BFS_LOG_INFO("admin: refreshed {}", path);
  JsonWriter w;
  w.BeginObject().Key("refreshed").String(path).EndObject();
  co_return Reply{http::status::ok, w.str(), {}};
}

void AdminServer::Impl::Stop() {
  std::vector<std::weak_ptr<AdminConnection>> conns;
  std::optional<std::pair<dev_t, ino_t>> socket_file;
  {
    std::lock_guard lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    conns.swap(connections_);
    socket_file.swap(socket_file_);
  }
  // Remove the socket file only if it is still the one this server bound (a stale-socket cleanup
  // by a later gateway may have replaced it).
  struct stat st;
  if (socket_file && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == socket_file->first &&
      st.st_ino == socket_file->second) {
    ::unlink(path_.c_str());
  }
  auto close_acceptor = [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  };
  asio::post(strand_, std::move(close_acceptor));
  for (auto& w : conns) {
    if (auto c = w.lock()) c->Close();
  }
}

AdminServer::AdminServer(asio::any_io_executor executor, std::string socket_path,
                         AdminHandlers handlers, AdminServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(socket_path), std::move(handlers),
                                   options)) {}

AdminServer::~AdminServer() { impl_->Stop(); }

Status AdminServer::Start() { return impl_->Start(); }
void AdminServer::Stop() { impl_->Stop(); }
const std::string& AdminServer::socket_path() const { return impl_->path(); }

}  // namespace bucketfs::server
