#include "objstore/credentials.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace bucketfs::objstore {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace

Result<Credentials> ParseCredentialsFile(const std::string& text, const std::string& profile) {
  std::istringstream in(text);
  std::string line, section;
  Credentials c;
  bool found = false;
  while (std::getline(in, line)) {
    line = Trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      section = Trim(line.substr(1, line.size() - 2));
      if (section.rfind("profile ", 0) == 0) section = Trim(section.substr(8));
      continue;
    }
    if (section != profile) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string key = Trim(line.substr(0, eq)), value = Trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") {
      c.access_key_id = value;
      found = true;
    } else if (key == "aws_secret_access_key") {
      c.secret_access_key = value;
    } else if (key == "aws_session_token") {
      c.session_token = value;
    }
  }
  if (!found || c.secret_access_key.empty()) {
    return NotFoundError("no aws_access_key_id/aws_secret_access_key in profile '" + profile + "'");
  }
  return c;
}

Result<Credentials> ResolveCredentials() {
  Credentials env{Env("AWS_ACCESS_KEY_ID"), Env("AWS_SECRET_ACCESS_KEY"), Env("AWS_SESSION_TOKEN")};
  if (!env.access_key_id.empty() && !env.secret_access_key.empty()) return env;
  std::string path = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (path.empty() && !Env("HOME").empty()) path = Env("HOME") + "/.aws/credentials";
  std::string profile = Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  std::ifstream f(path);
  if (!f) {
    return Status(ErrorCode::kAuth,
                  "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                  "write them to " +
                      (path.empty() ? "~/.aws/credentials" : path));
  }
  std::stringstream text;
  text << f.rdbuf();
  auto c = ParseCredentialsFile(text.str(), profile);
  if (!c.ok())
    return Status(ErrorCode::kAuth, "no S3 credentials: " + path + ": " + c.status().message());
  return c;
}

}  // namespace bucketfs::objstore
