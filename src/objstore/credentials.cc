#include "objstore/credentials.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <ctime>
#include <pugixml.hpp>

namespace bucketfs::objstore {
namespace {

std::string_view TrimView(std::string_view s) {
  const char* ws = " \t\r\n";
  const auto begin = s.find_first_not_of(ws);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(ws) - begin + 1);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool ParseDigits(std::string_view s, std::size_t pos, std::size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Copies the settings of `section` over `out`, key by key.
void Merge(const IniFile& file, const std::string& section, std::map<std::string, std::string>* out,
           bool* found) {
  auto it = file.find(section);
  if (it == file.end()) return;
  *found = true;
  for (const auto& [k, v] : it->second) (*out)[k] = v;
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? std::string() : it->second;
}

}  // namespace

Result<std::chrono::system_clock::time_point> ParseCredentialsTime(std::string_view text) {
  const std::string_view s = TrimView(text);
  auto bad = [&] {
    return InvalidArgumentError("'" + std::string(s) + "' is not an ISO 8601 time");
  };
  std::tm tm{};
  int year, month, day, hour, minute, second;
  if (!ParseDigits(s, 0, 4, &year) || s.size() < 19 || s[4] != '-' ||
      !ParseDigits(s, 5, 2, &month) || s[7] != '-' || !ParseDigits(s, 8, 2, &day) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !ParseDigits(s, 11, 2, &hour) ||
      s[13] != ':' || !ParseDigits(s, 14, 2, &minute) || s[16] != ':' ||
      !ParseDigits(s, 17, 2, &second)) {
    return bad();
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return bad();
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  auto t = std::chrono::system_clock::from_time_t(timegm(&tm));
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t micros = 0, scale = 1000000;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      scale /= 10;
      micros += (s[pos] - '0') * scale;
      ++pos;
    }
    t += std::chrono::microseconds(micros);
  }
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return t;
  int oh, om;
  if (pos + 6 == s.size() && (s[pos] == '+' || s[pos] == '-') && ParseDigits(s, pos + 1, 2, &oh) &&
      s[pos + 3] == ':' && ParseDigits(s, pos + 4, 2, &om)) {
    const auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
    return s[pos] == '+' ? t - offset : t + offset;
  }
  if (pos == s.size()) return bad();  // a time without a zone is ambiguous
  return bad();
}

IniFile ParseIni(std::string_view text) {
  IniFile file;
  std::map<std::string, std::string>* section = nullptr;
  bool in_nested = false;  // indented lines under a "key =" with an empty value
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    const std::string_view line = TrimView(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const bool indented = raw[0] == ' ' || raw[0] == '\t';
    if (indented && in_nested) continue;
    in_nested = false;
    if (line.front() == '[' && line.back() == ']') {
      // "[profile  dev]" and "[ profile dev ]" name the same section.
      std::string name(TrimView(line.substr(1, line.size() - 2)));
      if (name.rfind("profile", 0) == 0 && name.size() > 7 && std::isspace(name[7])) {
        name = "profile " + std::string(TrimView(std::string_view(name).substr(7)));
      }
      section = &file[name];
      continue;
    }
    const auto eq = line.find('=');
    if (!section || eq == std::string_view::npos) continue;
    const std::string key = Lower(TrimView(line.substr(0, eq)));
    const std::string_view value = TrimView(line.substr(eq + 1));
    if (value.empty()) {
      in_nested = true;  // "s3 =" followed by indented settings, or simply an empty value
    }
    (*section)[key] = std::string(value);
  }
  return file;
}

Result<SharedProfile> FindSharedProfile(const IniFile& credentials_file, const IniFile& config_file,
                                        const std::string& profile) {
  std::map<std::string, std::string> settings;
  bool found = false;
  if (profile == "default") Merge(config_file, "default", &settings, &found);
  Merge(config_file, "profile " + profile, &settings, &found);
  Merge(credentials_file, profile, &settings, &found);
  if (!found) return NotFoundError("no profile '" + profile + "'");
  SharedProfile p;
  p.credentials.access_key_id = Get(settings, "aws_access_key_id");
  p.credentials.secret_access_key = Get(settings, "aws_secret_access_key");
  p.credentials.session_token = Get(settings, "aws_session_token");
  p.role_arn = Get(settings, "role_arn");
  p.web_identity_token_file = Get(settings, "web_identity_token_file");
  p.role_session_name = Get(settings, "role_session_name");
  p.source_profile = Get(settings, "source_profile");
  p.credential_source = Get(settings, "credential_source");
  p.credential_process = Get(settings, "credential_process");
  return p;
}

Result<Credentials> ParseStsCredentials(std::string_view xml) {
  pugi::xml_document doc;
  if (!doc.load_buffer(xml.data(), xml.size())) return ProtocolError("STS reply is not XML");
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) == "ErrorResponse" ||
      std::string_view(root.name()) == "Error") {
    pugi::xml_node err = root.child("Error") ? root.child("Error") : root;
    const std::string code = err.child_value("Code"), message = err.child_value("Message");
    return Status(ErrorCode::kAuth,
                  (code.empty() ? "error" : code) + (message.empty() ? "" : ": " + message));
  }
  // <AssumeRoleWithWebIdentityResponse><AssumeRoleWithWebIdentityResult><Credentials>, and the
  // same shape for AssumeRole.
  pugi::xml_node creds;
  for (pugi::xml_node result : root.children()) {
    if (result.child("Credentials")) creds = result.child("Credentials");
  }
  if (!creds) return ProtocolError("STS reply has no Credentials");
  Credentials c;
  c.access_key_id = TrimView(creds.child_value("AccessKeyId"));
  c.secret_access_key = TrimView(creds.child_value("SecretAccessKey"));
  c.session_token = TrimView(creds.child_value("SessionToken"));
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return ProtocolError("STS reply has no AccessKeyId/SecretAccessKey");
  }
  if (const std::string exp = creds.child_value("Expiration"); !exp.empty()) {
    auto t = ParseCredentialsTime(exp);
    if (!t.ok()) return ProtocolError("STS reply Expiration: " + t.status().message());
    c.expiration = *t;
  }
  return c;
}

Result<Credentials> ParseCredentialsJson(std::string_view json) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(json.data(), json.size()), ec);
  if (ec || !v.is_object()) return ProtocolError("credentials reply is not a JSON object");
  const boost::json::object& o = v.as_object();
  auto str = [&o](const char* key) -> std::string {
    const boost::json::value* f = o.if_contains(key);
    return f && f->is_string() ? std::string(f->as_string()) : std::string();
  };
  if (const std::string code = str("Code"); !code.empty() && code != "Success") {
    const std::string message = str("Message");
    return Status(ErrorCode::kAuth, "Code " + code + (message.empty() ? "" : ": " + message));
  }
  Credentials c;
  c.access_key_id = str("AccessKeyId");
  c.secret_access_key = str("SecretAccessKey");
  c.session_token = str("Token");
  if (c.session_token.empty()) c.session_token = str("SessionToken");
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    const std::string message = str("message").empty() ? str("Message") : str("message");
    return ProtocolError("credentials reply has no AccessKeyId/SecretAccessKey" +
                         (message.empty() ? std::string() : " (" + message + ")"));
  }
  if (const std::string exp = str("Expiration"); !exp.empty()) {
    auto t = ParseCredentialsTime(exp);
    if (!t.ok()) return ProtocolError("credentials reply Expiration: " + t.status().message());
    c.expiration = *t;
  }
  return c;
}

}  // namespace bucketfs::objstore
