#include "proxy/media_type.h"

#include <cstring>

namespace gatehouse {
namespace {

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is_tchar(c)) return false;
  }
  return true;
}

bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// A field value made safe for a log line or a message: printable ASCII, at most 100
// characters (the error body escapes it again for its own format).
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 100)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > 100) out += "...";
  return out;
}

const std::string* first_match(const std::vector<std::string>& patterns, std::string_view type) {
  for (const auto& p : patterns) {
    if (media_type_matches(p, type)) return &p;
  }
  return nullptr;
}

}  // namespace

std::optional<std::string> parse_media_type(std::string_view value) {
  value = trim(value);
  size_t slash = value.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  std::string_view type = value.substr(0, slash);
  std::string_view rest = value.substr(slash + 1);
  std::string_view subtype = rest.substr(0, rest.find(';'));
  while (!subtype.empty() && is_ows(subtype.back())) subtype.remove_suffix(1);
  if (!is_token(type) || !is_token(subtype)) return std::nullopt;
  if (type == "*" || subtype == "*") return std::nullopt;  // a range, not a type
  return to_lower(type) + "/" + to_lower(subtype);
}

std::optional<std::string> effective_media_type(std::string_view content_type) {
  if (trim(content_type).empty()) return std::string(kDefaultMediaType);
  return parse_media_type(content_type);
}

bool media_type_matches(std::string_view pattern, std::string_view type) {
  if (pattern == "*/*") return true;
  if (pattern.ends_with("/*")) {
    std::string_view prefix = pattern.substr(0, pattern.size() - 1);  // "video/"
    return type.starts_with(prefix);
  }
  return pattern == type;
}

MimeFilter MimeFilter::build(const Config::Mime& mime) {
  MimeFilter f;
  auto normalise = [](const std::vector<std::string>& in) {
    std::vector<std::string> out;
    for (const auto& e : in) {
      std::string_view t = trim(e);
      if (!t.empty()) out.push_back(to_lower(t));
    }
    return out;
  };
  f.deny_responses_ = normalise(mime.deny_responses);
  f.allow_responses_ = normalise(mime.allow_responses);
  f.deny_requests_ = normalise(mime.deny_requests);
  return f;
}

std::optional<std::string> MimeFilter::blocked_response(std::string_view content_type) const {
  if (!filters_responses()) return std::nullopt;
  auto type = effective_media_type(content_type);
  if (!type) return "unparsable Content-Type " + quoted(printable(trim(content_type)));
  if (const std::string* p = first_match(deny_responses_, *type)) {
    return "deny_responses entry " + quoted(*p) + " matches " + quoted(*type);
  }
  if (!allow_responses_.empty() && first_match(allow_responses_, *type) == nullptr) {
    return quoted(*type) + " is not in allow_responses";
  }
  return std::nullopt;
}

std::optional<std::string> MimeFilter::blocked_request(std::string_view content_type) const {
  if (!filters_requests()) return std::nullopt;
  auto type = effective_media_type(content_type);
  if (!type) return "unparsable Content-Type " + quoted(printable(trim(content_type)));
  if (const std::string* p = first_match(deny_requests_, *type)) {
    return "deny_requests entry " + quoted(*p) + " matches " + quoted(*type);
  }
  return std::nullopt;
}

}  // namespace gatehouse
