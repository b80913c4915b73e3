#include "gateway/key_mapping.h"

#include <charconv>
#include <chrono>
#include <utility>

namespace bucketfs::gateway {

NameCheck CheckName(std::string_view name) {
  if (name.empty()) return NameCheck::kEmpty;
  if (name == "." || name == "..") return NameCheck::kDotOrDotDot;
  if (name.size() > kMaxNameBytes) return NameCheck::kTooLong;
  if (name.find('\0') != std::string_view::npos) return NameCheck::kHasNul;
  if (name.find('/') != std::string_view::npos) return NameCheck::kHasSlash;
  return NameCheck::kOk;
}

std::string_view NameCheckText(NameCheck check) {
  switch (check) {
    case NameCheck::kOk:
      return "ok";
    case NameCheck::kEmpty:
      return "empty path component";
    case NameCheck::kDotOrDotDot:
      return "'.' or '..' component";
    case NameCheck::kTooLong:
      return "component longer than 255 bytes";
    case NameCheck::kHasNul:
      return "component contains NUL";
    case NameCheck::kHasSlash:
      return "component contains '/'";
  }
  return "unknown";
}

void ListingClassifier::AddPage(const objstore::ListPage& page) {
  for (const auto& info : page.objects) {
    AddObject(info);
    NoteKey(info.key);
  }
  for (const auto& cp : page.common_prefixes) {
    AddPrefix(cp);
    NoteKey(cp);
  }
}

void ListingClassifier::NoteKey(const std::string& key) {
  if (key > max_key_) max_key_ = key;
}

bool ListingClassifier::DirCannotArrive(std::string_view name) const {
  std::string key = prefix_;
  key.append(name);
  key.push_back('/');
  return key <= max_key_;
}

bool ListingClassifier::IsFinal(std::string_view name, bool is_file) const {
  if (is_file && !DirCannotArrive(name)) return false;
  for (std::size_t i = 1; i < name.size(); ++i) {
    if (static_cast<unsigned char>(name[i]) < '/' && !DirCannotArrive(name.substr(0, i))) {
      return false;
    }
  }
  return true;
}

std::vector<ListedEntry> ListingClassifier::TakeFinal() {
  std::vector<ListedEntry> out;
  auto f = any_released_ ? files_.upper_bound(released_) : files_.begin();
  auto d = any_released_ ? dirs_.upper_bound(released_) : dirs_.begin();
  while (f != files_.end() || d != dirs_.end()) {
    bool take_file = d == dirs_.end() || (f != files_.end() && f->first < d->first);
    const std::string& name = take_file ? f->first : d->first;
    if (!IsFinal(name, take_file)) break;
    if (take_file) {
      out.push_back({name, false, f->second});
      ++f;
    } else {
      if (f != files_.end() && f->first == d->first) ++f;  // hidden by the directory
      out.push_back({name, true, {}});
      ++d;
    }
    released_ = name;
    any_released_ = true;
  }
  return out;
}

void ListingClassifier::AddObject(const objstore::ObjectInfo& info) {
  std::string_view key = info.key;
  if (key.size() < prefix_.size() || key.substr(0, prefix_.size()) != prefix_) {
    hidden_.push_back({info.key, HideReason::kOutsidePrefix, NameCheck::kOk});
    return;
  }
  std::string_view name = key.substr(prefix_.size());
  if (name.empty()) {
    marker_ = info;
    return;
  }
  NameCheck check = CheckName(name);
  if (check != NameCheck::kOk) {
    hidden_.push_back({info.key, HideReason::kInvalidName, check});
    return;
  }
  files_.insert_or_assign(std::string(name), info);
}

void ListingClassifier::AddPrefix(const std::string& common_prefix) {
  std::string_view cp = common_prefix;
  if (cp.size() <= prefix_.size() || cp.substr(0, prefix_.size()) != prefix_ || cp.back() != '/') {
    hidden_.push_back({common_prefix, HideReason::kOutsidePrefix, NameCheck::kOk});
    return;
  }
  std::string_view name = cp.substr(prefix_.size(), cp.size() - prefix_.size() - 1);
  NameCheck check = CheckName(name);
  if (check != NameCheck::kOk) {
    hidden_.push_back({common_prefix, HideReason::kInvalidName, check});
    return;
  }
  dirs_[std::string(name)] = true;
}

DirListing ListingClassifier::Finish() && {
  DirListing out;
  out.marker = std::move(marker_);
  out.hidden = std::move(hidden_);
  out.entries.reserve(files_.size() + dirs_.size());
  // Merge two sorted maps; on a tie the directory wins and the object is hidden.
  auto f = files_.begin();
  auto d = dirs_.begin();
  while (f != files_.end() || d != dirs_.end()) {
    if (d == dirs_.end() || (f != files_.end() && f->first < d->first)) {
      out.entries.push_back({f->first, false, std::move(f->second)});
      ++f;
      continue;
    }
    if (f != files_.end() && f->first == d->first) {
      out.hidden.push_back(
          {std::move(f->second.key), HideReason::kShadowedByDirectory, NameCheck::kOk});
      ++f;
    }
    out.entries.push_back({d->first, true, {}});
    ++d;
  }
  return out;
}

std::string NormalizeExportPrefix(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty() && out.front() == '/') out.erase(out.begin());
  while (out.size() >= 2 && out[out.size() - 1] == '/' && out[out.size() - 2] == '/') {
    out.pop_back();
  }
  if (!out.empty() && out.back() != '/') out.push_back('/');
  return out;
}

namespace {

bool AllDigits(std::string_view s, char max_digit) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > max_digit) return false;
  }
  return true;
}

template <typename T>
std::optional<T> ParseUnsigned(std::string_view s, int base) {
  T value{};
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return value;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "123" or "123.456" → (123, 456000000). Up to 9 fraction digits are used, more are truncated.
std::optional<vfs::Timespec> ParseDecimalSeconds(std::string_view s) {
  std::size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (!AllDigits(whole, '9') || (dot != std::string_view::npos && !AllDigits(frac, '9'))) {
    return std::nullopt;
  }
  auto sec = ParseUnsigned<int64_t>(whole, 10);
  if (!sec) return std::nullopt;
  uint32_t nsec = 0;
  for (std::size_t i = 0; i < 9; ++i) {
    nsec = nsec * 10 + (i < frac.size() ? static_cast<uint32_t>(frac[i] - '0') : 0);
  }
  return vfs::Timespec{*sec, nsec};
}

std::optional<int> Fixed(std::string_view s, std::size_t pos, std::size_t len) {
  if (pos + len > s.size() || !AllDigits(s.substr(pos, len), '9')) return std::nullopt;
  return ParseUnsigned<int>(s.substr(pos, len), 10);
}

// RFC 3339: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM); 't'/' ' accepted for 'T'.
std::optional<vfs::Timespec> ParseRfc3339(std::string_view s) {
  auto y = Fixed(s, 0, 4), mo = Fixed(s, 5, 2), d = Fixed(s, 8, 2);
  auto h = Fixed(s, 11, 2), mi = Fixed(s, 14, 2), se = Fixed(s, 17, 2);
  if (!y || !mo || !d || !h || !mi || !se || s[4] != '-' || s[7] != '-' || s[13] != ':' ||
      s[16] != ':' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  uint32_t nsec = 0;
  if (pos < s.size() && s[pos] == '.') {
    std::size_t start = ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
    if (pos == start) return std::nullopt;
    for (std::size_t i = 0; i < 9; ++i) {
      nsec = nsec * 10 + (start + i < pos ? static_cast<uint32_t>(s[start + i] - '0') : 0);
    }
  }
  int64_t offset_sec = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    auto oh = Fixed(s, pos + 1, 2), om = Fixed(s, pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':') return std::nullopt;
    offset_sec = (*oh * 3600 + *om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  using namespace std::chrono;
  year_month_day ymd{year{*y}, month{static_cast<unsigned>(*mo)}, day{static_cast<unsigned>(*d)}};
  if (!ymd.ok() || *h > 23 || *mi > 59 || *se > 60) return std::nullopt;
  int64_t days = sys_days(ymd).time_since_epoch().count();
  int64_t sec = days * 86400 + *h * 3600 + *mi * 60 + *se - offset_sec;
  return vfs::Timespec{sec, nsec};
}

}  // namespace

std::optional<uint32_t> ParseMode(std::string_view text) {
  text = Trim(text);
  if (!AllDigits(text, '9')) return std::nullopt;
  bool leading_zero_octal = text.size() > 1 && text.front() == '0';
  if (!leading_zero_octal) {
    auto dec = ParseUnsigned<uint64_t>(text, 10);
    if (dec && *dec <= 0177777) return static_cast<uint32_t>(*dec);
  }
  // Not a decimal st_mode: an octal string (rclone) if it only has octal digits.
  if (!AllDigits(text, '7')) return std::nullopt;
  auto oct = ParseUnsigned<uint64_t>(text, 8);
  if (oct && *oct <= 0177777) return static_cast<uint32_t>(*oct);
  return std::nullopt;
}

std::optional<uint32_t> ParseId(std::string_view text) {
  text = Trim(text);
  if (!AllDigits(text, '9')) return std::nullopt;
  return ParseUnsigned<uint32_t>(text, 10);
}

std::optional<vfs::Timespec> ParseMtime(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  if (auto t = ParseDecimalSeconds(text)) return t;
  return ParseRfc3339(text);
}

PosixMeta ParsePosixMeta(const std::map<std::string, std::string>& user_metadata) {
  PosixMeta meta;
  auto get = [&](const char* name) -> const std::string* {
    auto it = user_metadata.find(name);
    return it == user_metadata.end() ? nullptr : &it->second;
  };
  if (const auto* v = get("mode")) meta.mode = ParseMode(*v);
  if (const auto* v = get("uid")) meta.uid = ParseId(*v);
  if (const auto* v = get("gid")) meta.gid = ParseId(*v);
  if (const auto* v = get("mtime")) meta.mtime = ParseMtime(*v);
  return meta;
}

std::map<std::string, std::string> FormatPosixMeta(const PosixMeta& meta) {
  std::map<std::string, std::string> out;
  if (meta.mode) out["mode"] = std::to_string(*meta.mode);
  if (meta.uid) out["uid"] = std::to_string(*meta.uid);
  if (meta.gid) out["gid"] = std::to_string(*meta.gid);
  if (meta.mtime) {
    std::string t = std::to_string(meta.mtime->sec);
    if (meta.mtime->nsec != 0) {
      std::string frac = std::to_string(meta.mtime->nsec);
      t += "." + std::string(9 - frac.size(), '0') + frac;
    }
    out["mtime"] = t;
  }
  return out;
}

vfs::Timespec ToTimespec(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  auto ns = duration_cast<nanoseconds>(tp.time_since_epoch()).count();
  int64_t sec = ns / 1'000'000'000;
  int64_t rem = ns % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --sec;
  }
  return vfs::Timespec{sec, static_cast<uint32_t>(rem)};
}

}  // namespace bucketfs::gateway
