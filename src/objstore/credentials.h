// AWS credentials as values, and the parsers for every place bucketfs finds them: the shared
// credentials and config files (INI with profiles), STS replies (XML), the container and instance
// metadata endpoints and credential_process (JSON), and the ISO 8601 times they expire at.
//
// Where they are looked for, in which order, and how they are refreshed is
// credentials_provider.h. Everything here is value types and pure functions: thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace bucketfs::objstore {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty unless temporary credentials
  // When temporary credentials stop working; none for long-term keys.
  std::optional<std::chrono::system_clock::time_point> expiration;
};

// "2024-05-01T12:00:00Z", with optional fractional seconds and a "Z" or "+hh:mm"/"-hh:mm" offset.
// kInvalidArgument for anything else.
Result<std::chrono::system_clock::time_point> ParseCredentialsTime(std::string_view text);

// An INI file as AWS tools read it: "[section]" headers, "key = value" lines, comments starting
// with '#' or ';', and indented lines under a "key =" (nested settings such as `s3 =`) skipped.
// Sections keep their names as written ("profile dev"); keys are lower-cased; the last of
// repeated sections or keys wins.
using IniFile = std::map<std::string, std::map<std::string, std::string>>;
IniFile ParseIni(std::string_view text);

// What one profile of the shared files says about credentials.
struct SharedProfile {
  Credentials credentials;  // static keys (access_key_id is empty when the profile has none)
  std::string role_arn;
  std::string web_identity_token_file;
  std::string role_session_name;
  std::string source_profile;     // role_arn + source_profile: assume a role with other keys
  std::string credential_source;  // role_arn + credential_source (Environment, Ec2InstanceMetadata)
  std::string credential_process;  // a command that prints credentials as JSON
};

// Finds `profile` in the shared credentials file (section "[NAME]") and the config file
// ("[profile NAME]", or "[default]"/"[profile default]" for the default profile). Settings in the
// credentials file win over the config file's, key by key. kNotFound when neither file has the
// profile.
Result<SharedProfile> FindSharedProfile(const IniFile& credentials_file, const IniFile& config_file,
                                        const std::string& profile);

// The <Credentials> of an STS AssumeRole* reply. An <ErrorResponse> comes back as kAuth with its
// Code and Message; a document that is neither, as kProtocol.
Result<Credentials> ParseStsCredentials(std::string_view xml);

// Credentials in the JSON the container endpoint, the EC2 instance metadata service and
// credential_process print: AccessKeyId, SecretAccessKey, Token or SessionToken, Expiration
// (optional). A "Code" other than "Success" (IMDS) is an error.
Result<Credentials> ParseCredentialsJson(std::string_view json);

}  // namespace bucketfs::objstore
