// Fuzzes the pure parsers on the request path: request-targets (proxy/uri.h), the URL as
// shown on error pages (display_url, proxy/error_page.h) and media types
// (proxy/media_type.h).
//
// Input, NUL-separated: 0 a request-target / Host value / Content-Type, tried as each;
// 1 a MIME pattern list, one per line, for a MimeFilter.
//
// Invariants:
//  - an Authority from any parser is canonical: lower-case host, valid reg-name or IPv6
//    literal, port 1..65535; to_string() parses back to the same Authority, and is a fixed
//    point (parse(to_string(a)).to_string() == to_string(a));
//  - parse_absolute_uri: scheme "http", path_and_query starts with "/" and has no '#';
//    rebuilding "http://" + authority + path_and_query parses back to the same URI without
//    userinfo;
//  - display_url removes exactly the userinfo parse_absolute_uri found (a password never
//    reaches an error page) and leaves the rest alone;
//  - parse_media_type gives "type/subtype" in lower case, both tokens, no wildcard, and is
//    idempotent; the type matches itself, "type/*" and "*/*";
//  - MimeFilter: with a non-empty list an unparsable type is always blocked; a type on a
//    deny list is always blocked; empty lists block nothing.
#include <cstddef>
#include <cstdint>
#include <string>

#include "proxy/error_page.h"
#include "proxy/media_type.h"
#include "proxy/uri.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

namespace fz = gatehouse::fuzz;
using gatehouse::Authority;

bool same(const Authority& a, const Authority& b) {
  return a.host == b.host && a.port == b.port && a.ipv6_literal == b.ipv6_literal;
}

void check_authority(const Authority& a, uint16_t default_port) {
  FUZZ_CHECK(!a.host.empty() && fz::is_lower(a.host), a.host);
  FUZZ_CHECK(a.port != 0, a.host);
  if (!a.ipv6_literal) FUZZ_CHECK(gatehouse::is_valid_host(a.host), a.host);
  std::string text = a.to_string(default_port);
  // Known finding 2 (docs/fuzzing.md): is_valid_host() accepts an empty last
  // label, so "example.com.." parses to the host "example.com." (one dot removed), whose
  // text parses back to "example.com". Everything else must round-trip exactly.
  if (!fz::strict() && !a.ipv6_literal && a.host.back() == '.') return;
  auto again = gatehouse::parse_authority(text, default_port == 0 ? 1 : default_port);
  FUZZ_CHECK(again && same(*again, a), text);
  FUZZ_CHECK(again->to_string(default_port) == text, text);
  if (default_port == 0) {
    auto form = gatehouse::parse_authority_form(text);
    FUZZ_CHECK(form && same(*form, a), text);
  }
}

void check_uri(std::string_view target) {
  gatehouse::UriParse u = gatehouse::parse_absolute_uri(target);
  if (u.error != gatehouse::UriError::kNone) return;
  const auto& uri = u.uri;
  FUZZ_CHECK(uri.scheme == "http", uri.scheme);
  check_authority(uri.authority, 80);
  FUZZ_CHECK(!uri.path_and_query.empty() && uri.path_and_query.front() == '/', uri.path_and_query);
  FUZZ_CHECK(uri.path_and_query.find('#') == std::string::npos, uri.path_and_query);

  if (!fz::strict() && uri.authority.host.back() == '.') return;  // known finding 2, as above
  std::string rebuilt = "http://" + uri.authority.to_string(80) + uri.path_and_query;
  gatehouse::UriParse r = gatehouse::parse_absolute_uri(rebuilt);
  FUZZ_CHECK(r.error == gatehouse::UriError::kNone, rebuilt);
  FUZZ_CHECK(same(r.uri.authority, uri.authority), rebuilt);
  FUZZ_CHECK(r.uri.path_and_query == uri.path_and_query && r.uri.userinfo.empty(), rebuilt);

  // Error pages show the target without its userinfo.
  std::string shown = gatehouse::display_url(target);
  std::string expected(target);
  if (!uri.userinfo.empty() || target.find('@') != std::string_view::npos) {
    size_t start = target.find("://") + 3;
    std::string_view rest = target.substr(start);
    std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      FUZZ_CHECK(authority.substr(0, at) == uri.userinfo, target);
      expected = std::string(target.substr(0, start)) + std::string(rest.substr(at + 1));
    }
  }
  if (expected.size() <= 2048) {
    FUZZ_CHECK(shown == expected, shown);
  } else {
    FUZZ_CHECK(
        shown.size() <= 2048 + 3 && expected.rfind(shown.substr(0, shown.size() - 3), 0) == 0,
        shown);
  }
}

void check_media(std::string_view value, std::string_view patterns) {
  auto t = gatehouse::parse_media_type(value);
  if (t) {
    size_t slash = t->find('/');
    FUZZ_CHECK(slash != std::string::npos && fz::is_lower(*t), *t);
    std::string type = t->substr(0, slash);
    std::string sub = t->substr(slash + 1);
    FUZZ_CHECK(fz::is_token(type) && fz::is_token(sub) && type != "*" && sub != "*", *t);
    auto again = gatehouse::parse_media_type(*t);
    FUZZ_CHECK(again && *again == *t, *t);
    FUZZ_CHECK(gatehouse::media_type_matches(*t, *t), *t);
    FUZZ_CHECK(gatehouse::media_type_matches(type + "/*", *t), *t);
    FUZZ_CHECK(gatehouse::media_type_matches("*/*", *t), *t);
  }
  auto eff = gatehouse::effective_media_type(value);
  bool blank = value.find_first_not_of(" \t") == std::string_view::npos;
  if (blank) {
    FUZZ_CHECK(eff && *eff == gatehouse::kDefaultMediaType, value);
  } else {
    FUZZ_CHECK(eff.has_value() == t.has_value() && (!eff || *eff == *t), value);
  }

  gatehouse::Config::Mime mime;
  std::vector<std::string> list;
  while (!patterns.empty()) {
    size_t nl = patterns.find('\n');
    list.emplace_back(patterns.substr(0, nl));
    if (nl == std::string_view::npos) break;
    patterns.remove_prefix(nl + 1);
  }
  auto empty = gatehouse::MimeFilter::build(mime);
  FUZZ_CHECK(!empty.blocked_response(value) && !empty.blocked_request(value), value);
  mime.deny_responses = list;
  mime.deny_requests = list;
  auto f = gatehouse::MimeFilter::build(mime);
  auto why_resp = f.blocked_response(value);
  auto why_req = f.blocked_request(value);
  if (why_resp) FUZZ_CHECK(!fz::has_control(*why_resp), *why_resp);
  if (why_req) FUZZ_CHECK(!fz::has_control(*why_req), *why_req);
  if (f.filters_responses() && !eff) FUZZ_CHECK(why_resp && why_req, value);
  if (eff) {
    for (const auto& p : list) {
      if (p == *eff) FUZZ_CHECK(why_resp && why_req, p);
    }
  }
  gatehouse::Config::Mime allow;
  allow.allow_responses = list;
  auto a = gatehouse::MimeFilter::build(allow);
  if (eff && a.filters_responses()) {
    bool listed = false;
    for (const auto& p : list) listed = listed || p == *eff;
    if (listed) FUZZ_CHECK(!a.blocked_response(value), value);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fz::Parts in(data, size);
  std::string_view s = in.part(0);
  check_uri(s);
  if (auto a = gatehouse::parse_authority_form(s)) check_authority(*a, 0);
  if (auto a = gatehouse::parse_authority(s, 80)) check_authority(*a, 80);
  check_media(s, in.part(1));
  return 0;
}
