// AWS credentials and how bucketfs finds them, in the order AWS tools use: the environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then the shared credentials file
// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) with profile AWS_PROFILE or "default".
// Value types and free functions; thread-safe.
#pragma once

#include <string>

#include "base/status.h"

namespace bucketfs::objstore {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
};

Result<Credentials> ResolveCredentials();

// Parses the INI text of a shared credentials file and returns `profile`'s keys.
Result<Credentials> ParseCredentialsFile(const std::string& text, const std::string& profile);

}  // namespace bucketfs::objstore
