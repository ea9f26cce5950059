// The error catalogue: the one table that maps each failure cause to its status code,
// reason phrase and RFC 9209 Proxy-Status error type. Call sites name a Cause; nobody
// writes a status number for a locally generated answer anywhere else.
#pragma once

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
  kInternal,                 // a bug
};

struct CauseInfo {
  int status;
  std::string_view proxy_status;  // RFC 9209 error type; empty = no error parameter
  std::string_view title;         // short human title of this cause
};

const CauseInfo& cause_info(Cause cause);
// The RFC 9110 reason phrase for a status code (class default for unknown codes).
std::string_view reason_phrase(int status);

struct ErrorDetails {
  Cause cause = Cause::kInternal;
  std::string details;      // what happened here, for Proxy-Status details and the body
  std::string rcode;        // DNS rcode, when it applies
  std::string next_hop;     // upstream "host:port", when it applies
  int received_status = 0;  // upstream status that triggered this, when it applies
  bool close = false;       // add "Connection: close"
  bool head = false;        // a HEAD request: headers only
  HeaderList extra;         // Allow, Retry-After, Proxy-Authenticate, ...
};

// RFC 8941 sf-string: quotes and backslashes escaped, non-printable bytes dropped.
std::string sf_string(std::string_view s);
// The Proxy-Status field value for this error.
std::string proxy_status_value(std::string_view proxy_name, const ErrorDetails& e);
// IMF-fixdate for `t` (seconds since the epoch).
std::string http_date(long t);

// Appends a complete response (head and body) for this error.
void build_error_response(const ErrorDetails& e, std::string_view proxy_name, std::string& out);

}  // namespace gatehouse
