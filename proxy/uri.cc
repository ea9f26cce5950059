#include "proxy/uri.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace gatehouse {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::optional<uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

}  // namespace

bool is_valid_host(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t label = 0;
  for (char c : host) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    if (!ok) return false;
    if (++label > 63) return false;
  }
  return label > 0;  // no empty last label (callers strip one FQDN dot first)
}

std::string Authority::to_string(uint16_t default_port) const {
  std::string out;
  if (ipv6_literal) {
    out += '[';
    out += host;
    out += ']';
  } else {
    out += host;
  }
  if (port != default_port) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

std::optional<Authority> parse_authority(std::string_view text, uint16_t default_port) {
  Authority a;
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
      has_port = true;
    }
    in6_addr tmp;
    std::string h(host);
    if (inet_pton(AF_INET6, h.c_str(), &tmp) != 1) return std::nullopt;
    a.ipv6_literal = true;
  } else {
    size_t colon = text.rfind(':');
    if (colon != std::string_view::npos) {
      if (text.find(':') != colon) return std::nullopt;  // bare IPv6 needs brackets
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      has_port = true;
    } else {
      host = text;
    }
    if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // FQDN trailing dot
    if (!is_valid_host(host)) return std::nullopt;
  }
  if (host.empty()) return std::nullopt;
  a.host = lower(host);
  if (has_port) {
    auto p = parse_port(port);
    if (!p) return std::nullopt;
    a.port = *p;
  } else {
    if (default_port == 0) return std::nullopt;
    a.port = default_port;
  }
  return a;
}

std::optional<Authority> parse_authority_form(std::string_view target) {
  return parse_authority(target, 0);
}

UriParse parse_absolute_uri(std::string_view target) {
  UriParse r;
  size_t colon = target.find(':');
  if (colon == std::string_view::npos || colon == 0 || target.substr(colon, 3) != "://") {
    r.error = UriError::kNotAbsolute;
    return r;
  }
  std::string_view scheme = target.substr(0, colon);
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.') {
      r.error = UriError::kNotAbsolute;
      return r;
    }
  }
  r.uri.scheme = lower(scheme);
  if (r.uri.scheme != "http") {
    r.error = UriError::kUnsupportedScheme;
    return r;
  }
  std::string_view rest = target.substr(colon + 3);
  size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view path = end == std::string_view::npos ? std::string_view() : rest.substr(end);
  if (size_t hash = path.find('#'); hash != std::string_view::npos) {
    path = path.substr(0, hash);
    r.uri.has_fragment = true;
  }

  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    r.uri.has_userinfo = true;
    r.uri.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  if (authority.empty()) {
    r.error = UriError::kBadAuthority;
    return r;
  }
  // An empty port after the colon ("http://host:/") means the default (RFC 3986 3.2.3).
  if (authority.back() == ':') authority.remove_suffix(1);
  auto a = parse_authority(authority, 80);
  if (!a) {
    // Distinguish a bad port from a bad host for a clearer answer: re-parse with the
    // port replaced by the default; if that works, the port was the problem.
    size_t c = authority.rfind(':');
    size_t close = authority.rfind(']');
    bool port_part = c != std::string_view::npos && (close == std::string_view::npos || c > close);
    r.error = port_part && parse_authority(authority.substr(0, c), 80) ? UriError::kBadPort
                                                                       : UriError::kBadAuthority;
    return r;
  }
  r.uri.authority = *a;
  r.uri.empty_path = path.empty() || path.front() == '?';
  if (path.empty()) {
    r.uri.path_and_query = "/";
  } else if (path.front() == '?') {
    r.uri.path_and_query = "/" + std::string(path);
  } else {
    r.uri.path_and_query = std::string(path);
  }
  return r;
}

}  // namespace gatehouse
