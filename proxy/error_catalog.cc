#include "proxy/error_catalog.h"

#include <algorithm>
#include <ctime>

namespace gatehouse {
namespace {

struct Row {
  Cause cause;
  CauseInfo info;
};

// The catalogue. Order follows the Cause enum (checked below at compile time). The hints are
// written for two readers: the person whose request failed, and the operator of the proxy,
// who is named by the config keys they can change.
constexpr Row kRows[] = {
    {Cause::kBadRequest,
     {.status = 400,
      .proxy_status = "http_request_error",
      .title = "The request could not be parsed",
      .name = "bad_request",
      .user_hint = "The program that sent this request produced something that is not valid "
                   "HTTP/1.1. Sending it again unchanged will fail the same way; update or fix "
                   "that program.",
      .admin_hint = "The details say which rule of the message syntax was broken. If a "
                    "legitimate client keeps hitting this, capture one raw request (tcpdump, "
                    "or curl -v on the client) and compare it with RFC 9112."}},
    {Cause::kMissingHost,
     {.status = 400,
      .proxy_status = "http_request_error",
      .title = "The request has no Host",
      .name = "missing_host",
      .user_hint = "Every HTTP/1.1 request must carry a Host header field. Browsers and common "
                   "tools add it on their own, so a hand-written or broken client is the usual "
                   "cause.",
      .admin_hint = "Nothing to change on the proxy: a request without Host is malformed by "
                    "definition (RFC 9112, section 3.2)."}},
    {Cause::kNotProxyRequest,
     {.status = 400,
      .proxy_status = "",
      .title = "This is a proxy, not a web server",
      .name = "not_a_proxy_request",
      .user_hint = "This address belongs to a proxy, which forwards requests rather than "
                   "serving pages. Enter it in your browser's or system's proxy settings (or "
                   "pass it to curl with -x), then open the site you actually want.",
      .admin_hint = "Requests for the proxy's own address only reach its local endpoints, such "
                    "as /healthz. Distributing the proxy setting centrally (a PAC file, system "
                    "policy) keeps users from landing here."}},
    {Cause::kUnsupportedScheme,
     {.status = 400,
      .proxy_status = "http_request_error",
      .title = "Unsupported URI scheme",
      .name = "unsupported_scheme",
      .user_hint = "Only http:// addresses can be sent to this proxy as a full URL. For "
                   "https:// sites, set this proxy as your HTTPS proxy as well, so that the "
                   "client opens a CONNECT tunnel; other schemes such as ftp:// cannot use it.",
      .admin_hint = "Gatehouse forwards absolute-form http:// requests and carries everything "
                    "else through CONNECT tunnels. Make sure clients have https_proxy (or the "
                    "HTTPS proxy field) set, not only http_proxy."}},
    {Cause::kClientDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "Your address may not use this proxy",
      .name = "client_denied",
      .user_hint = "Your network address is not on the list of clients this proxy serves. If "
                   "you should have access, ask the administrator and quote the request ID.",
      .admin_hint = "Add the client's network to access.allow_clients if it should be served. "
                    "The address shown is the one the proxy saw, which behind NAT or another "
                    "proxy may differ from the user's own."}},
    {Cause::kDestinationDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "The destination is not allowed",
      .name = "destination_denied",
      .user_hint = "The site you asked for is blocked by this proxy's policy, so retrying will "
                   "not help. Ask the administrator if you need it.",
      .admin_hint = "A rule in access.deny_destinations matched this host, or "
                    "access.allow_destinations is set and does not include it. Adjust those "
                    "lists if the destination should be reachable."}},
    {Cause::kConnectPortDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "Tunnels to this port are not allowed",
      .name = "connect_port_denied",
      .user_hint = "The proxy opens tunnels only to a few ports (normally 443 for HTTPS). Use "
                   "the service's standard port, or ask the administrator to allow this one.",
      .admin_hint = "Add the port to access.connect_ports if tunnels to it are legitimate. Keep "
                    "the list short: every open port lets the proxy reach arbitrary services "
                    "on it."}},
    {Cause::kProxyAuthRequired,
     {.status = 407,
      .proxy_status = "",
      .title = "The proxy needs you to sign in",
      .name = "proxy_auth_required",
      .user_hint = "Give your browser or tool the proxy's user name and password (for example "
                   "curl --proxy-user NAME:PASSWORD). If you already did, they were not "
                   "accepted: check them for typing mistakes.",
      .admin_hint = "Credentials are checked against the file named in auth.htpasswd. Check "
                    "that the user is listed there with a supported hash ($2y$, $6$ or $y$) "
                    "and that the proxy can read the file."}},
    {Cause::kMethodDisabled,
     {.status = 405,
      .proxy_status = "http_request_denied",
      .title = "This method is disabled on the proxy",
      .name = "method_disabled",
      .user_hint = "The proxy does not forward requests with this method. Use one of the "
                   "methods listed as allowed.",
      .admin_hint = "The method is in access.disabled_methods; remove it there to forward it. "
                    "TRACE is off by default because it echoes request headers, credentials "
                    "included, back to the caller."}},
    {Cause::kRequestTimeout,
     {.status = 408,
      .proxy_status = "",
      .title = "The request did not arrive in time",
      .name = "request_timeout",
      .user_hint = "The request came in too slowly or stopped half way, so the proxy gave up "
                   "and closed the connection. Check your network connection and try again.",
      .admin_hint = "timeouts.client_header bounds how long a request head may take. A short "
                    "value protects the proxy from clients that hold connections open on "
                    "purpose; raise it only for very slow links.",
      .limit_setting = "timeouts.client_header",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kBodyTooLarge,
     {.status = 413,
      .proxy_status = "http_request_error",
      .title = "The request body is too large",
      .name = "request_body_too_large",
      .user_hint = "What you are sending (an upload, a form) is bigger than this proxy lets "
                   "through. Send less at a time, or ask the administrator to raise the limit.",
      .admin_hint = "The limit is limits.max_request_body_bytes (0 means no limit). Raise it if "
                    "uploads of this size are expected.",
      .limit_setting = "limits.max_request_body_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kUriTooLong,
     {.status = 414,
      .proxy_status = "http_request_error",
      .title = "The request URL is too long",
      .name = "uri_too_long",
      .user_hint = "The address is unusually long: often a lot of data was packed into its "
                   "query string, or a site redirects in a way that keeps growing it. Shorten "
                   "it, or send the data in a request body instead.",
      .admin_hint = "The limit is limits.max_uri_bytes. Raise it only if a real application "
                    "needs longer URLs.",
      .limit_setting = "limits.max_uri_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kHeadersTooLarge,
     {.status = 431,
      .proxy_status = "http_request_error",
      .title = "The request header section is too large",
      .name = "request_headers_too_large",
      .user_hint = "The request carries more header data than the proxy accepts, most often "
                   "because a site has stored many or very large cookies. Deleting that site's "
                   "cookies usually fixes it.",
      .admin_hint = "The limit is limits.max_header_bytes and covers the whole request head. "
                    "Raise it if legitimate clients send headers this large.",
      .limit_setting = "limits.max_header_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kRequestTypeBlocked,
     {.status = 415,
      .proxy_status = "http_request_denied",
      .title = "The request body type is blocked",
      .name = "request_type_blocked",
      .user_hint = "The kind of content you tried to send (its media type) may not pass "
                   "through this proxy. Ask the administrator if you need to send it.",
      .admin_hint = "The request's Content-Type matched an entry of mime.deny_requests. Remove "
                    "the entry if this type should be allowed."}},
    {Cause::kExpectationFailed,
     {.status = 417,
      .proxy_status = "http_request_error",
      .title = "The expectation cannot be met",
      .name = "expectation_failed",
      .user_hint = "Drop the Expect header field from the request, or use Expect: "
                   "100-continue, the only expectation HTTP defines.",
      .admin_hint = "Nothing to change: HTTP defines no expectation other than 100-continue, "
                    "so the proxy must refuse any other value."}},
    {Cause::kNotImplemented,
     {.status = 501,
      .proxy_status = "http_request_error",
      .title = "The proxy does not implement this",
      .name = "not_implemented",
      .user_hint = "The request relies on a method or transfer coding that this proxy does not "
                   "support. Use a standard method and send the body with a Content-Length or "
                   "chunked.",
      .admin_hint = "Gatehouse forwards the registered HTTP methods and understands only the "
                    "chunked transfer coding (it never decodes bodies). The details name what "
                    "was refused."}},
    {Cause::kVersionNotSupported,
     {.status = 505,
      .proxy_status = "http_request_error",
      .title = "HTTP version not supported",
      .name = "version_not_supported",
      .user_hint = "Talk to this proxy with HTTP/1.1 (or 1.0): drop any option that forces "
                   "HTTP/2 or HTTP/3 towards the proxy.",
      .admin_hint = "Clients speak HTTP/1.x to the proxy. HTTPS sites still use HTTP/2 end to "
                    "end, because that runs inside the CONNECT tunnel."}},
    {Cause::kDnsError,
     {.status = 502,
      .proxy_status = "dns_error",
      .title = "The destination name could not be resolved",
      .name = "dns_error",
      .user_hint = "Check the spelling of the host name. If it is right, the name may not "
                   "exist (any more) or its DNS servers may be failing; try again later.",
      .admin_hint = "The rcode tells why: NXDOMAIN means the name does not exist, SERVFAIL that "
                    "the resolver got no usable answer. Query the name with dig against the "
                    "servers in resolver.servers (or /etc/resolv.conf). Failures are cached for "
                    "resolver.negative_ttl."}},
    {Cause::kDnsTimeout,
     {.status = 504,
      .proxy_status = "dns_timeout",
      .title = "DNS did not answer in time",
      .name = "dns_timeout",
      .user_hint = "Looking up the site's address took too long. Wait a moment and try again.",
      .admin_hint = "No DNS server answered within timeouts.dns. Check that the servers in "
                    "resolver.servers (or /etc/resolv.conf) are reachable from the proxy host; "
                    "an unreachable server looks exactly like this.",
      .limit_setting = "timeouts.dns",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kConnectionRefused,
     {.status = 502,
      .proxy_status = "connection_refused",
      .title = "The destination refused the connection",
      .name = "connection_refused",
      .user_hint = "The site's server is not accepting connections on this port right now. It "
                   "may be down or restarting; check the port in the address and try again "
                   "later.",
      .admin_hint = "Every address of the destination answered the connection attempt with a "
                    "reset. Nothing listens on that port, or a firewall rejects the proxy's "
                    "address."}},
    {Cause::kDestinationUnroutable,
     {.status = 502,
      .proxy_status = "destination_ip_unroutable",
      .title = "The destination cannot be reached",
      .name = "destination_unroutable",
      .user_hint = "There is no network path from the proxy to the site's server. This is often "
                   "temporary; try again later.",
      .admin_hint = "Connecting failed as network or host unreachable for every address. Check "
                    "the proxy host's routes and firewall, and whether the destination needs "
                    "IPv4 or IPv6 connectivity that this host lacks."}},
    {Cause::kConnectTimeout,
     {.status = 504,
      .proxy_status = "connection_timeout",
      .title = "Connecting to the destination timed out",
      .name = "connect_timeout",
      .user_hint = "The site's server did not answer the connection attempt in time. It may be "
                   "overloaded or offline; try again later.",
      .admin_hint = "No address accepted a TCP connection within timeouts.connect. A firewall "
                    "that silently drops packets, or a host that is down, looks like this.",
      .limit_setting = "timeouts.connect",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kDestinationProhibited,
     {.status = 502,
      .proxy_status = "destination_ip_prohibited",
      .title = "The destination address is off limits",
      .name = "destination_prohibited",
      .user_hint = "The site's name points to an address the proxy will not connect to, such "
                   "as an internal or loopback network. Ask the administrator if you need to "
                   "reach it.",
      .admin_hint = "The resolved address is in access.deny_destination_ips (by default "
                    "loopback, link-local including the 169.254.169.254 metadata service, and "
                    "0.0.0.0/8). The list keeps internal services out of reach through the "
                    "proxy; shrink it only on purpose."}},
    {Cause::kConnectionTerminated,
     {.status = 502,
      .proxy_status = "connection_terminated",
      .title = "The destination closed the connection",
      .name = "connection_terminated",
      .user_hint = "The site's server hung up before it answered. Try again; if it keeps "
                   "happening, the problem is on the site's side.",
      .admin_hint = "The destination took the connection and the request, then closed without a "
                    "complete response head. Check its logs: a crash, or an idle timeout "
                    "shorter than the proxy's, are common causes."}},
    {Cause::kResponseTimeout,
     {.status = 504,
      .proxy_status = "http_response_timeout",
      .title = "The destination did not answer in time",
      .name = "response_timeout",
      .user_hint = "The site's server got the request but did not start its answer in time. It "
                   "may be busy; try again later.",
      .admin_hint = "No response head arrived within timeouts.response_header after the request "
                    "was sent. Raise it if this destination legitimately takes longer (long "
                    "polling, slow reports).",
      .limit_setting = "timeouts.response_header",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kResponseProtocolError,
     {.status = 502,
      .proxy_status = "http_protocol_error",
      .title = "The destination sent an invalid response",
      .name = "response_protocol_error",
      .user_hint = "The site's server answered with something that is not valid HTTP, so the "
                   "proxy could not pass it on. The problem is on the site's side.",
      .admin_hint = "The response failed to parse; the details quote the parser. Fetch the URL "
                    "from the proxy host with curl -v to see the raw answer."}},
    {Cause::kResponseHeadersTooLarge,
     {.status = 502,
      .proxy_status = "http_response_header_section_size",
      .title = "The destination's response head is too large",
      .name = "response_headers_too_large",
      .user_hint = "The site's server sent far more header data than the proxy accepts. The "
                   "problem is on the site's side.",
      .admin_hint = "Response heads are bounded by limits.max_header_bytes, like request heads. "
                    "Raise it if a trusted destination needs more.",
      .limit_setting = "limits.max_header_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kLoopDetected,
     {.status = 502,
      .proxy_status = "proxy_loop_detected",
      .title = "The request would loop through this proxy",
      .name = "proxy_loop",
      .user_hint = "The request would have come straight back into this proxy, so it was "
                   "stopped. Check that the address is not the proxy itself.",
      .admin_hint = "Either the request already carried this proxy's name in Via, or the "
                    "destination resolved to one of its listening addresses. Look for proxy "
                    "chains that lead back here, and give every proxy its own server.name."}},
    {Cause::kResponseTypeBlocked,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "The response type is blocked",
      .name = "response_type_blocked",
      .user_hint = "The site answered with a kind of content that this proxy does not let "
                   "through (an executable download, for example). Ask the administrator if you "
                   "need it.",
      .admin_hint = "The response's Content-Type matched mime.deny_responses, or is missing "
                    "from a non-empty mime.allow_responses. The received status is what the "
                    "destination answered."}},
    {Cause::kRedirectLoop,
     {.status = 508,
      .proxy_status = "",
      .title = "Too many redirects",
      .name = "redirect_loop",
      .user_hint = "The site keeps sending you on to other addresses, apparently in a circle, "
                   "so the proxy stopped following. Deleting the site's cookies often helps; "
                   "otherwise the site itself needs fixing.",
      .admin_hint = "This client's redirect chain grew past redirects.max_chain; the chain is "
                    "listed. Two URLs that bounce back and forth usually mean a cookie or "
                    "sign-in problem at the destination.",
      .limit_setting = "redirects.max_chain",
      .limit_unit = LimitUnit::kRedirects}},
    {Cause::kConnectionLimit,
     {.status = 503,
      .proxy_status = "connection_limit_reached",
      .title = "The proxy is at its connection limit",
      .name = "connection_limit",
      .user_hint = "The proxy is already handling as many connections as it may. Wait a few "
                   "seconds and try again.",
      .admin_hint = "limits.max_connections was reached. Raise it if the host has room (check "
                    "the open-file limit too, LimitNOFILE in the systemd unit), or run more "
                    "proxy instances.",
      .limit_setting = "limits.max_connections",
      .limit_unit = LimitUnit::kConnections}},
    {Cause::kMaintenance,
     {.status = 503,
      .proxy_status = "connection_limit_reached",
      .title = "The proxy is in maintenance mode",
      .name = "maintenance",
      .user_hint = "The proxy is paused for maintenance and forwards nothing for now. Try again "
                   "later.",
      .admin_hint = "server.maintenance is true. Set it to false and reload (SIGHUP) to resume "
                    "service."}},
    {Cause::kInternal,
     {.status = 500,
      .proxy_status = "proxy_internal_error",
      .title = "The proxy hit an internal error",
      .name = "internal_error",
      .user_hint = "This is a fault in the proxy, not in your request. Try again, and if it "
                   "happens again, tell the administrator the request ID.",
      .admin_hint = "Look for the request ID in the proxy's log and report the bug with that "
                    "log line and the Gatehouse version (gatehouse --version)."}},
};

constexpr bool rows_in_order() {
  for (size_t i = 0; i < std::size(kRows); ++i) {
    if (static_cast<size_t>(kRows[i].cause) != i) return false;
  }
  return true;
}
static_assert(rows_in_order(), "kRows must list every Cause in enum order");
static_assert(std::size(kRows) == static_cast<size_t>(Cause::kInternal) + 1);

}  // namespace

const CauseInfo& cause_info(Cause cause) {
  return kRows[static_cast<size_t>(cause)].info;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 102:
      return "Processing";
    case 103:
      return "Early Hints";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 305:
      return "Use Proxy";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 508:
      return "Loop Detected";
    case 511:
      return "Network Authentication Required";
    default:
      break;
  }
  switch (status / 100) {
    case 1:
      return "Informational";
    case 2:
      return "Success";
    case 3:
      return "Redirection";
    case 4:
      return "Client Error";
    default:
      return "Server Error";
  }
}

std::string_view status_meaning(int status) {
  // Written for this project from the definitions in RFC 9110 section 15 (431: RFC 6585;
  // 508: RFC 5842). One or two sentences each: what the code tells the reader.
  switch (status) {
    case 400:
      return "The proxy could not make sense of the request: its syntax or framing breaks the "
             "rules of HTTP, so it was not passed on. Repeating it unchanged will fail again.";
    case 403:
      return "The proxy understood the request but its policy does not allow it. Signing in "
             "or retrying will not change the answer.";
    case 405:
      return "The proxy knows the request method but does not accept it here. The Allow "
             "header field lists the methods it does accept.";
    case 407:
      return "The proxy needs to know who you are before it forwards anything. Repeat the "
             "request with proxy credentials (a Proxy-Authorization header field) using a "
             "scheme offered in Proxy-Authenticate.";
    case 408:
      return "The proxy stopped waiting for the rest of the request and closed the "
             "connection. The same request may be sent again on a new connection.";
    case 413:
      return "The request body is larger than the proxy is willing to pass on.";
    case 414:
      return "The request-target (the URL) is longer than the proxy is willing to handle.";
    case 415:
      return "The request carries content in a format (media type) that is not accepted "
             "here.";
    case 417:
      return "The request's Expect header field asks for a behaviour that the proxy, or the "
             "server behind it, cannot provide.";
    case 431:
      return "The request's header fields, one of them or all of them together, are larger "
             "than the proxy accepts. Smaller headers may succeed.";
    case 500:
      return "Something unexpected went wrong inside the proxy itself while it handled the "
             "request. The request is not to blame.";
    case 501:
      return "The request needs a feature that the proxy does not support, such as an "
             "unknown method or transfer coding.";
    case 502:
      return "The proxy, working as a gateway, could not get a usable answer from the "
             "destination server: it could not find it, reach it, or make sense of what it "
             "sent back.";
    case 503:
      return "The proxy cannot take the request at the moment, because it is overloaded or "
             "down for maintenance. This is expected to pass; Retry-After, when present, says "
             "how long to wait.";
    case 504:
      return "The proxy, working as a gateway, gave up waiting for something it needed to "
             "complete the request: a DNS answer, a connection, or the destination's response.";
    case 505:
      return "The request uses a major version of HTTP that the proxy does not speak.";
    case 508:
      return "The proxy found that handling the request would go round in an endless loop, "
             "and stopped it.";
    default:
      break;
  }
  switch (status / 100) {
    case 1:
      return "An interim answer: the request is still being processed.";
    case 2:
      return "The request was received, understood and accepted.";
    case 3:
      return "Further action, usually following another URL, is needed to complete the "
             "request.";
    case 4:
      return "The request appears to be in error and was not carried out.";
    default:
      return "The request appears valid, but the server could not carry it out.";
  }
}

std::string_view rcode_meaning(std::string_view rcode) {
  struct Entry {
    std::string_view rcode;
    std::string_view meaning;
  };
  static constexpr Entry kEntries[] = {
      {"NXDOMAIN", "the name does not exist"},
      {"SERVFAIL", "the DNS server could not produce an answer"},
      {"REFUSED", "the DNS server refused to answer"},
      {"FORMERR", "the DNS server could not understand the query"},
      {"NOTIMP", "the DNS server does not support this kind of query"},
      {"NODATA", "the name exists but has no address"},
      {"NOERROR", "the name exists but has no address"},
  };
  for (const auto& entry : kEntries) {
    if (iequals(entry.rcode, rcode)) return entry.meaning;
  }
  return {};
}

const std::vector<int>& generated_statuses() {
  static const std::vector<int> statuses = [] {
    std::vector<int> v;
    for (const auto& row : kRows) v.push_back(row.info.status);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  }();
  return statuses;
}

std::string sf_string(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c >= 0x20 && c < 0x7f) {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string proxy_status_value(std::string_view proxy_name, const ErrorDetails& e) {
  const CauseInfo& info = cause_info(e.cause);
  std::string v;
  for (char c : proxy_name) {
    // The name comes from configuration; a control byte must never reach a header line.
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) v += c;
  }
  if (!info.proxy_status.empty()) {
    v += "; error=";
    v += info.proxy_status;
  }
  if (!e.rcode.empty()) v += "; rcode=" + sf_string(e.rcode);
  if (!e.next_hop.empty()) v += "; next-hop=" + sf_string(e.next_hop);
  if (e.received_status != 0) v += "; received-status=" + std::to_string(e.received_status);
  if (!e.details.empty()) v += "; details=" + sf_string(e.details);
  return v;
}

std::string http_date(long t) {
  time_t tt = static_cast<time_t>(t);
  struct tm tm;
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return std::string(buf, n);
}

}  // namespace gatehouse
