// Status and Result<T>: the error model of every request path in bucketfs.
//
// No exceptions cross a request path. A failing operation returns a Status whose ErrorCode is one
// of a closed set; the nfs layer maps each code to an NFS status in one exhaustive switch
// (nfs/errors.cc), the CLI prints the message. Status and Result are value types, not thread-safe
// for concurrent mutation (like any value), cheap to move.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace bucketfs {

// Internal error codes. Adding a code forces every exhaustive switch over it to be revisited
// (-Wswitch), which is the point: nfs/errors.cc must map each one.
enum class ErrorCode : uint8_t {
  kOk = 0,
  kNotFound,         // no such file, object, bucket or export
  kExists,           // target already exists
  kNotDir,           // a path component is not a directory
  kIsDir,            // operation needs a non-directory
  kNotEmpty,         // directory not empty
  kAccessDenied,     // permission check failed (also S3 403)
  kInvalidArgument,  // a malformed request from a peer or a bad option
  kNameTooLong,      // a name over 255 bytes
  kReadOnly,         // mutation on a read-only export
  kStale,            // the object behind a handle is gone
  kBadHandle,        // a handle that does not decode
  kNotSupported,     // operation or feature not implemented
  kUnavailable,      // transient: S3 throttling/outage after retries, try again later
  kTimeout,          // a deadline passed
  kIo,               // local I/O or unexpected remote failure
  kNoSpace,          // staging or cache disk full
  kTooBig,           // request or object beyond a configured bound
  kAuth,             // credentials rejected (S3 InvalidAccessKeyId, SignatureDoesNotMatch)
  kProtocol,         // a peer spoke a malformed protocol (bad XDR, bad HTTP, bad XML)
  kInternal,         // a bug: invariant violated
};

std::string_view ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "NotFound: no such key a/b" — for logs and CLI output.
  std::string ToString() const;

  // Returns a copy with `context` prepended to the message ("context: message").
  Status WithContext(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status NotFoundError(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
inline Status InvalidArgumentError(std::string msg) {
  return {ErrorCode::kInvalidArgument, std::move(msg)};
}
inline Status IoError(std::string msg) { return {ErrorCode::kIo, std::move(msg)}; }
inline Status InternalError(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }
inline Status UnavailableError(std::string msg) {
  return {ErrorCode::kUnavailable, std::move(msg)};
}
inline Status ProtocolError(std::string msg) { return {ErrorCode::kProtocol, std::move(msg)}; }
inline Status NotSupportedError(std::string msg) {
  return {ErrorCode::kNotSupported, std::move(msg)};
}

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) v_ = Status(ErrorCode::kInternal, "Result built from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace bucketfs

// Propagation helpers. BFS_RETURN_IF_ERROR(expr) returns a non-OK Status from the enclosing
// function; BFS_ASSIGN_OR_RETURN(lhs, expr) unwraps a Result. The CO_ variants co_return from a
// coroutine.
#define BFS_CONCAT_INNER(a, b) a##b
#define BFS_CONCAT(a, b) BFS_CONCAT_INNER(a, b)

#define BFS_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::bucketfs::Status bfs_status_ = (expr);   \
    if (!bfs_status_.ok()) return bfs_status_; \
  } while (0)

#define BFS_CO_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::bucketfs::Status bfs_status_ = (expr);      \
    if (!bfs_status_.ok()) co_return bfs_status_; \
  } while (0)

#define BFS_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#define BFS_ASSIGN_OR_RETURN(lhs, expr) \
  BFS_ASSIGN_OR_RETURN_IMPL(BFS_CONCAT(bfs_result_, __LINE__), lhs, expr)

#define BFS_CO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) co_return tmp.status();             \
  lhs = std::move(tmp).value()

#define BFS_CO_ASSIGN_OR_RETURN(lhs, expr) \
  BFS_CO_ASSIGN_OR_RETURN_IMPL(BFS_CONCAT(bfs_result_, __LINE__), lhs, expr)
