// Request-target parsing for a forward proxy (RFC 9112 section 3.2): absolute-form
// ("http://host:port/path?q") for ordinary requests and authority-form ("host:port")
// for CONNECT. Pure functions, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

struct Authority {
  std::string host;  // lower-cased; IPv6 literal without brackets
  uint16_t port = 0;
  bool ipv6_literal = false;
  // "host" or "host:port" (port omitted when equal to default_port), IPv6 re-bracketed.
  std::string to_string(uint16_t default_port = 0) const;
};

struct AbsoluteUri {
  std::string scheme;    // lower-cased, "http"
  std::string userinfo;  // present in the target but never forwarded
  Authority authority;
  std::string path_and_query;  // origin-form: "/" when the target had an empty path
  bool empty_path = false;     // the target had no path ("http://h", "http://h?q")
  bool has_fragment = false;   // the target had "#..." (never valid in a request-target)
  bool has_userinfo = false;   // the target had "user@" (even an empty one)
};

enum class UriError { kNone, kNotAbsolute, kUnsupportedScheme, kBadAuthority, kBadPort };

struct UriParse {
  UriError error = UriError::kNone;
  AbsoluteUri uri;
};

// Parses an absolute-form target. Only "http" is accepted (kUnsupportedScheme else).
UriParse parse_absolute_uri(std::string_view target);
// Parses "host:port" (port required) for CONNECT.
std::optional<Authority> parse_authority_form(std::string_view target);
// Parses "host[:port]" (e.g. a Host header); port defaults to default_port.
std::optional<Authority> parse_authority(std::string_view text, uint16_t default_port);

// True when `host` is a syntactically valid reg-name or IP literal we are willing to
// resolve (letters, digits, '-', '.', '_'; no empty labels).
bool is_valid_host(std::string_view host);

}  // namespace gatehouse
