// Media types ([mime]): parsing a Content-Type value and matching it against the
// configured allow/deny lists.
//
// MimeFilter is immutable after build() and its methods are const, so one instance may
// be shared by every worker thread (build it with the Config, swap it on reload).
//
// Parsing follows RFC 9110 section 8.3.1 and the WHATWG "parse a MIME type" algorithm
// that browsers use: surrounding spaces/tabs are ignored; the type is a token up to '/';
// the subtype is a token up to ';' (trailing spaces/tabs allowed before the ';');
// parameters are ignored (even malformed ones, as browsers do). Type and subtype are
// compared case-insensitively and returned in lower case. Anything else — no '/', an
// empty or non-token type or subtype, spaces inside, a list "a/b, c/d", a wildcard
// "*" as type or subtype — is unparsable.
//
// Policy decisions:
//  - An absent (or empty/blank) Content-Type means "application/octet-stream"
//    (RFC 9110 section 8.3).
//  - An unparsable Content-Type is blocked whenever the list being applied is not
//    empty: the proxy cannot tell what the client will make of it (a browser would
//    sniff the body), so it cannot vouch for it either way. With empty lists nothing is
//    ever blocked.
//  - Responses: deny_responses first; then, if allow_responses is non-empty, the type
//    must match one of its entries.
//  - Request bodies: deny_requests only. Call blocked_request() only for requests that
//    carry a body (Content-Length > 0 or chunked); a GET without a body has no media type.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace gatehouse {

inline constexpr std::string_view kDefaultMediaType = "application/octet-stream";

// "Text/HTML; charset=utf-8" -> "text/html"; nullopt when unparsable (see above).
// Does NOT apply the absent-field default: "" is unparsable here.
std::optional<std::string> parse_media_type(std::string_view content_type);

// The media type used for policy: kDefaultMediaType when `content_type` is empty or
// blank (field absent), the parsed type, or nullopt when present but unparsable.
std::optional<std::string> effective_media_type(std::string_view content_type);

// `pattern` is "type/subtype", "type/*" or "*/*" (lower case); `type` a parsed type.
bool media_type_matches(std::string_view pattern, std::string_view type);

class MimeFilter {
 public:
  static MimeFilter build(const Config::Mime& mime);

  // nullopt = pass. Otherwise the reason, for the log and the error body, e.g.
  //   deny_responses entry "video/*" matches "video/mp4"
  //   "text/html" is not in allow_responses
  //   unparsable Content-Type "text"
  // `content_type` is the raw field value; empty = field absent.
  std::optional<std::string> blocked_response(std::string_view content_type) const;
  std::optional<std::string> blocked_request(std::string_view content_type) const;

  bool filters_responses() const { return !deny_responses_.empty() || !allow_responses_.empty(); }
  bool filters_requests() const { return !deny_requests_.empty(); }

 private:
  std::vector<std::string> deny_responses_;
  std::vector<std::string> allow_responses_;
  std::vector<std::string> deny_requests_;
};

}  // namespace gatehouse
