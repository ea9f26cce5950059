// The error catalogue: the one table that maps each failure cause to its status code,
// reason phrase, RFC 9209 Proxy-Status error type, title and the hints shown to the user
// and to the administrator. Call sites name a Cause; nobody writes a status number for a
// locally generated answer anywhere else.
//
// Everything here is pure and thread-safe: the table is constant, and the functions only
// read their arguments. The bodies themselves are rendered by proxy/error_page.{h,cc}.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http_head.h"

namespace gatehouse {

enum class Cause {
  kBadRequest,               // unparsable request, bad framing
  kMissingHost,              // HTTP/1.1 request without Host
  kNotProxyRequest,          // origin-form request for an unknown local path
  kUnsupportedScheme,        // absolute-form with a scheme other than http
  kClientDenied,             // client address not in access.allow_clients
  kDestinationDenied,        // destination host/IP denied by a rule
  kConnectPortDenied,        // CONNECT port not in access.connect_ports
  kProxyAuthRequired,        // missing or wrong proxy credentials
  kMethodDisabled,           // access.disabled_methods
  kRequestTimeout,           // request head not complete within timeouts.client_header
  kBodyTooLarge,             // limits.max_request_body_bytes
  kUriTooLong,               // limits.max_uri_bytes
  kHeadersTooLarge,          // limits.max_header_bytes
  kRequestTypeBlocked,       // mime.deny_requests
  kExpectationFailed,        // Expect other than 100-continue
  kNotImplemented,           // unknown transfer coding, unrecognised method
  kVersionNotSupported,      // HTTP major version other than 1
  kDnsError,                 // NXDOMAIN, SERVFAIL, ...
  kDnsTimeout,               // no DNS answer in time
  kConnectionRefused,        // every address refused
  kDestinationUnroutable,    // every address unreachable
  kConnectTimeout,           // connect did not complete in time
  kDestinationProhibited,    // resolved address in access.deny_destination_ips
  kConnectionTerminated,     // upstream closed before a complete response head
  kResponseTimeout,          // no response head within timeouts.response_header
  kResponseProtocolError,    // unparsable response
  kResponseHeadersTooLarge,  // response head over the limit
  kLoopDetected,             // our own Via seen, or the target is our listener
  kResponseTypeBlocked,      // mime.deny_responses / allow_responses
  kRedirectLoop,             // redirect chain over redirects.max_chain
  kConnectionLimit,          // limits.max_connections
  kMaintenance,              // server.maintenance
  kRequestBodyTimeout,       // request body stalled for timeouts.idle after the head went on
  kEndpointDenied,           // a local operator endpoint (/metrics) outside access.allow_metrics
  kInternal,                 // a bug
};

// What ErrorDetails::limit counts, for the causes that report a configured limit.
enum class LimitUnit {
  kNone,
  kBytes,
  kMilliseconds,  // durations are passed in milliseconds and shown as "30s", "250ms"
  kRedirects,
  kConnections,
};

struct CauseInfo {
  int status;
  std::string_view proxy_status;  // RFC 9209 error type; empty = no error parameter
  std::string_view title;         // short human title of this cause
  // What this cause means, in a sentence or two: the lead paragraph of every page for it.
  // It must be true of every occurrence of the cause, so it says what happened and what
  // did not (was anything sent to the destination?), but nothing about this one case: that
  // is ErrorDetails::details.
  std::string_view summary;
  std::string_view name;                // stable machine name ("dns_error"): problem type URI, logs
  std::string_view user_hint;           // what the person who sent the request can do
  std::string_view admin_hint;          // what the operator of the proxy can do
  std::string_view limit_setting = {};  // config key reported with ErrorDetails::limit; "" = none
  LimitUnit limit_unit = LimitUnit::kNone;
};

const CauseInfo& cause_info(Cause cause);
// The RFC 9110 reason phrase for a status code (class default for unknown codes).
std::string_view reason_phrase(int status);
// What a status code means, in a sentence or two (class default for unknown codes). Generic
// on purpose: it is shown on the problem type pages of every cause with that status, so it
// must hold for each of them; what a cause adds is in its summary.
std::string_view status_meaning(int status);
// A short explanation of a DNS rcode ("NXDOMAIN" -> "the name does not exist"); "" if unknown.
std::string_view rcode_meaning(std::string_view rcode);
// Every status code the catalogue can produce, ascending, each once.
const std::vector<int>& generated_statuses();
// Every cause's name (the last segment of its problem type URI), in Cause order, each once.
const std::vector<std::string_view>& error_type_names();
// The cause with this name, or nullopt. Exact, case-sensitive match.
std::optional<Cause> cause_by_name(std::string_view name);

class ErrorPages;  // proxy/error_page.h

struct ErrorDetails {
  Cause cause = Cause::kInternal;
  std::string details;      // what happened here, for Proxy-Status details and the body
  std::string rcode;        // DNS rcode, when it applies
  std::string next_hop;     // upstream "host:port", when it applies
  int received_status = 0;  // upstream status that triggered this, when it applies
  bool close = false;       // add "Connection: close"
  bool head = false;        // a HEAD request: headers only
  HeaderList extra;         // Allow, Retry-After, Proxy-Authenticate, ...

  // Request facts for the body. All optional; an empty value is simply not shown.
  std::string accept;              // the request's Accept field value, "" if none
  std::string method;              // request method as received
  std::string url;                 // request-target as received (userinfo is stripped for display)
  std::string request_id;          // also sent as X-Request-Id
  std::string client_address;      // the peer address as the proxy saw it
  std::vector<std::string> chain;  // redirect chain for kRedirectLoop, oldest first
  uint64_t limit = 0;  // the configured limit that fired (unit: cause_info().limit_unit)
  const ErrorPages* pages = nullptr;  // operator templates; nullptr = built-in pages only
  std::string contact;                // errors.contact
  // Scheme and authority of the proxy as the client reached it ("http://127.0.0.1:3128"):
  // the problem type URI becomes type_base + "/gatehouse/errors/<name>", a page the proxy
  // serves itself. Empty, or not an http(s) URL with a plain authority: "about:blank".
  std::string type_base;
};

// RFC 8941 sf-string: quotes and backslashes escaped, non-printable bytes dropped.
std::string sf_string(std::string_view s);
// The Proxy-Status field value for this error.
std::string proxy_status_value(std::string_view proxy_name, const ErrorDetails& e);
// IMF-fixdate for `t` (seconds since the epoch).
std::string http_date(long t);

// Appends a complete response (head and, unless e.head, body) for this error: status line,
// Date, Content-Type, Content-Length, Cache-Control: no-store, Vary: Accept, Proxy-Status,
// X-Request-Id, e.extra, Connection: close. The body format follows e.accept; an operator
// template from e.pages replaces the built-in body when one exists for the status and format.
// Defined in error_page.cc.
void build_error_response(const ErrorDetails& e, std::string_view proxy_name, std::string& out);

}  // namespace gatehouse
