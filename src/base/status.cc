#include "base/status.h"

namespace bucketfs {

std::string_view ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kNotFound:
      return "NotFound";
    case ErrorCode::kExists:
      return "Exists";
    case ErrorCode::kNotDir:
      return "NotDir";
    case ErrorCode::kIsDir:
      return "IsDir";
    case ErrorCode::kNotEmpty:
      return "NotEmpty";
    case ErrorCode::kAccessDenied:
      return "AccessDenied";
    case ErrorCode::kInvalidArgument:
      return "InvalidArgument";
    case ErrorCode::kNameTooLong:
      return "NameTooLong";
    case ErrorCode::kReadOnly:
      return "ReadOnly";
    case ErrorCode::kStale:
      return "Stale";
    case ErrorCode::kBadHandle:
      return "BadHandle";
    case ErrorCode::kNotSupported:
      return "NotSupported";
    case ErrorCode::kUnavailable:
      return "Unavailable";
    case ErrorCode::kTimeout:
      return "Timeout";
    case ErrorCode::kIo:
      return "Io";
    case ErrorCode::kNoSpace:
      return "NoSpace";
    case ErrorCode::kTooBig:
      return "TooBig";
    case ErrorCode::kAuth:
      return "Auth";
    case ErrorCode::kProtocol:
      return "Protocol";
    case ErrorCode::kInternal:
      return "Internal";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(ErrorCodeName(code_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  std::string msg(context);
  if (!message_.empty()) {
    msg += ": ";
    msg += message_;
  }
  return Status(code_, std::move(msg));
}

}  // namespace bucketfs
