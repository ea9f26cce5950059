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
      .title = "The request is malformed",
      .summary = "The request does not follow the HTTP/1.1 message rules: its syntax, its "
                 "framing or its request-target is broken, so the proxy cannot tell for sure "
                 "what was meant and refused it.",
      .name = "bad_request",
      .user_hint = "Sending it again unchanged will fail the same way: update or fix the "
                   "program that sent it.",
      .admin_hint = "The details say which rule of the message syntax was broken. If a "
                    "legitimate client keeps hitting this, capture one raw request (tcpdump, "
                    "or curl -v on the client) and compare it with RFC 9112."}},
    {Cause::kMissingHost,
     {.status = 400,
      .proxy_status = "http_request_error",
      .title = "The request has no Host",
      .summary = "The request says it is HTTP/1.1 but carries no Host header field, which every "
                 "HTTP/1.1 request must have. It was not forwarded.",
      .name = "missing_host",
      .user_hint = "Use a client that sends Host with every HTTP/1.1 request. "
                   "Browsers and common tools do so on their own, so a "
                   "hand-written or broken client is the usual cause.",
      .admin_hint = "Nothing to change on the proxy: a request without Host is malformed by "
                    "definition (RFC 9112, section 3.2)."}},
    {Cause::kNotProxyRequest,
     {.status = 400,
      .proxy_status = "",
      .title = "This is a proxy, not a web server",
      .summary = "The request was sent to the proxy as if it were a web "
                 "server, asking for one of its own pages. It serves only a "
                 "few status and help pages itself; every other page must be "
                 "requested through it, by a client set up to use it as a "
                 "proxy.",
      .name = "not_a_proxy_request",
      .user_hint = "Enter this address in your browser's or system's proxy "
                   "settings (or pass it to curl with -x), then open the site "
                   "you actually want.",
      .admin_hint = "Requests addressed to the proxy itself are answered only for its local "
                    "endpoints (/healthz, /readyz, /metrics, /proxy.pac and the error "
                    "descriptions under /gatehouse/errors/). Distributing the proxy setting "
                    "centrally (a PAC file, system settings) keeps users from landing here."}},
    {Cause::kUnsupportedScheme,
     {.status = 400,
      .proxy_status = "http_request_error",
      .title = "Unsupported URI scheme",
      .summary = "The request names a full URL whose scheme is not http://. The proxy forwards "
                 "plain http:// URLs itself, and carries https:// and everything else only "
                 "inside CONNECT tunnels. Nothing was forwarded.",
      .name = "unsupported_scheme",
      .user_hint = "For https:// sites, set this proxy as your HTTPS proxy "
                   "too, so that your client opens a CONNECT tunnel instead "
                   "of sending the full URL. Other schemes, such as ftp://, "
                   "cannot use this proxy.",
      .admin_hint = "Gatehouse forwards absolute-form http:// requests and carries everything "
                    "else through CONNECT tunnels. Make sure clients have https_proxy (or the "
                    "HTTPS proxy field) set, not only http_proxy."}},
    {Cause::kClientDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "Your address may not use this proxy",
      .summary = "The proxy serves only clients from the networks it is configured for, and this "
                 "request came from an address outside them. It was not forwarded.",
      .name = "client_denied",
      .user_hint = "If you should have access, ask the administrator, and "
                   "quote the request ID and the address shown.",
      .admin_hint = "Add the client's network to access.allow_clients if it should be served. "
                    "The address shown is the one the proxy saw, which behind NAT or another "
                    "proxy may differ from the user's own."}},
    {Cause::kDestinationDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "The destination is not allowed",
      .summary = "The proxy's policy does not allow requests to this destination, so it did not "
                 "contact it.",
      .name = "destination_denied",
      .user_hint = "Retrying will not help. Ask the administrator if you need "
                   "this site.",
      .admin_hint = "A rule in access.deny_destinations matched this host, or "
                    "access.allow_destinations is set and does not include it. Adjust those "
                    "lists if the destination should be reachable."}},
    {Cause::kConnectPortDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "Tunnels to this port are not allowed",
      .summary = "The proxy opens CONNECT tunnels only to a configured set of ports, and the "
                 "port asked for is not one of them. No tunnel was opened.",
      .name = "connect_port_denied",
      .user_hint = "Use the service's standard port (443 for HTTPS), or ask "
                   "the administrator to allow this one.",
      .admin_hint = "Add the port to access.connect_ports if tunnels to it are legitimate. Keep "
                    "the list short: every open port lets the proxy reach arbitrary services "
                    "on it."}},
    {Cause::kProxyAuthRequired,
     {.status = 407,
      .proxy_status = "",
      .title = "The proxy needs you to sign in",
      .summary = "The proxy forwards requests only for known users, and this request carried no "
                 "proxy credentials, or ones the proxy could not accept. Credentials go in a "
                 "Proxy-Authorization header field, using a scheme offered in "
                 "Proxy-Authenticate.",
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
      .summary = "The proxy is configured not to forward requests with this method. The Allow "
                 "header field lists the methods it does forward.",
      .name = "method_disabled",
      .user_hint = "Use one of the methods listed as allowed, or ask the "
                   "administrator to enable this one.",
      .admin_hint = "The method is in access.disabled_methods; remove it there to forward it. "
                    "TRACE is off by default because it echoes request headers, credentials "
                    "included, back to the caller."}},
    {Cause::kRequestTimeout,
     {.status = 408,
      .proxy_status = "",
      .title = "The request did not arrive in time",
      .summary = "The request head did not arrive in full within the time the proxy allows, so "
                 "it stopped waiting and closed the connection. Nothing was forwarded.",
      .name = "request_timeout",
      .user_hint = "Check your network connection and send the request again, "
                   "on a new connection.",
      .admin_hint = "timeouts.client_header bounds how long a request head may take. A short "
                    "value protects the proxy from clients that hold connections open on "
                    "purpose; raise it only for very slow links.",
      .limit_setting = "timeouts.client_header",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kBodyTooLarge,
     {.status = 413,
      .proxy_status = "http_request_error",
      .title = "The request body is too large",
      .summary = "The request body is larger than the proxy is configured to pass on, so the "
                 "proxy refused the request and closed the connection.",
      .name = "request_body_too_large",
      .user_hint = "Send less at a time (a smaller upload, a shorter form), "
                   "or ask the administrator to raise the limit.",
      .admin_hint = "The limit is limits.max_request_body_bytes (0 means no limit). Raise it if "
                    "uploads of this size are expected.",
      .limit_setting = "limits.max_request_body_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kUriTooLong,
     {.status = 414,
      .proxy_status = "http_request_error",
      .title = "The request URL is too long",
      .summary = "The request-target (the URL) is longer than the proxy is configured to accept, "
                 "so it refused the request before reading the rest of it.",
      .name = "uri_too_long",
      .user_hint = "Shorten the address, or send its data in a request body "
                   "instead. Very long URLs usually carry a lot of data in "
                   "the query string, or come from a site whose redirects "
                   "keep growing them.",
      .admin_hint = "The limit is limits.max_uri_bytes. Raise it only if a real application "
                    "needs longer URLs.",
      .limit_setting = "limits.max_uri_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kHeadersTooLarge,
     {.status = 431,
      .proxy_status = "http_request_error",
      .title = "The request header section is too large",
      .summary = "The request's header section is larger than the proxy is configured to accept, "
                 "so it refused the request. Large or numerous cookies are the usual reason.",
      .name = "request_headers_too_large",
      .user_hint = "Deleting the cookies of the site you were visiting "
                   "usually fixes this. If it does not, the program that sent "
                   "the request adds too many or too large header fields.",
      .admin_hint = "The limit is limits.max_header_bytes and covers the whole request head. "
                    "Raise it if legitimate clients send headers this large.",
      .limit_setting = "limits.max_header_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kRequestTypeBlocked,
     {.status = 415,
      .proxy_status = "http_request_denied",
      .title = "The request body type is blocked",
      .summary = "The request carries a body whose media type (its Content-Type) the proxy's "
                 "policy does not let through. It was not forwarded.",
      .name = "request_type_blocked",
      .user_hint = "Retrying will not help. Ask the administrator if you need "
                   "to send content of this type.",
      .admin_hint = "The request's Content-Type matched an entry of mime.deny_requests. Remove "
                    "the entry if this type should be allowed."}},
    {Cause::kExpectationFailed,
     {.status = 417,
      .proxy_status = "http_request_error",
      .title = "The expectation cannot be met",
      .summary = "The request's Expect header field asks for something other "
                 "than 100-continue, the only expectation HTTP defines. The "
                 "proxy cannot meet it, so it refused the request instead of "
                 "forwarding it.",
      .name = "expectation_failed",
      .user_hint = "Drop the Expect header field from the request, or use Expect: "
                   "100-continue, the only expectation HTTP defines.",
      .admin_hint = "Nothing to change: HTTP defines no expectation other than 100-continue. "
                    "RFC 9110 lets a proxy either ignore an unknown one or answer 417; Gatehouse "
                    "answers 417, so the client learns that its expectation was not met."}},
    {Cause::kNotImplemented,
     {.status = 501,
      .proxy_status = "http_request_error",
      .title = "The proxy does not implement this",
      .summary = "The request relies on a method or a transfer coding that the proxy does not "
                 "support, so it cannot forward it.",
      .name = "not_implemented",
      .user_hint = "Use a standard method, and send any body with a "
                   "Content-Length or with the chunked transfer coding.",
      .admin_hint = "Gatehouse forwards the registered HTTP methods and understands only the "
                    "chunked transfer coding (it never decodes bodies). The details name what "
                    "was refused."}},
    {Cause::kVersionNotSupported,
     {.status = 505,
      .proxy_status = "http_request_error",
      .title = "HTTP version not supported",
      .summary = "The request uses a major version of HTTP other than 1, and the proxy talks "
                 "only HTTP/1.x with its clients.",
      .name = "version_not_supported",
      .user_hint = "Talk to this proxy with HTTP/1.1 (or 1.0): drop any option that forces "
                   "HTTP/2 or HTTP/3 towards the proxy.",
      .admin_hint = "Clients speak HTTP/1.x to the proxy. HTTPS sites still use HTTP/2 end to "
                    "end, because that runs inside the CONNECT tunnel."}},
    {Cause::kDnsError,
     {.status = 502,
      .proxy_status = "dns_error",
      .title = "The destination name could not be resolved",
      .summary = "The proxy looked up the destination's host name in DNS and got no usable "
                 "address back, so there was nothing to connect to.",
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
      .summary = "The proxy looked up the destination's host name in DNS, but no answer came "
                 "within the time it allows, so it gave up before connecting.",
      .name = "dns_timeout",
      .user_hint = "Wait a moment and try again: a slow DNS answer is often a "
                   "passing problem.",
      .admin_hint = "No DNS server answered within timeouts.dns. Check that the servers in "
                    "resolver.servers (or /etc/resolv.conf) are reachable from the proxy host; "
                    "an unreachable server looks exactly like this.",
      .limit_setting = "timeouts.dns",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kConnectionRefused,
     {.status = 502,
      .proxy_status = "connection_refused",
      .title = "The destination refused the connection",
      .summary = "The proxy tried to connect to the destination, and each address it tried "
                 "turned the connection attempt down. The request was not sent.",
      .name = "connection_refused",
      .user_hint = "Check the port in the address. If it is right, the site's "
                   "server may be down or restarting; try again later.",
      .admin_hint = "Every address of the destination rejected the connection attempt with a "
                    "reset (TCP RST): nothing listens on that port there, or a firewall rejects "
                    "the proxy's address."}},
    {Cause::kDestinationUnroutable,
     {.status = 502,
      .proxy_status = "destination_ip_unroutable",
      .title = "The destination cannot be reached",
      .summary = "The proxy tried to connect to the destination, but the network reported each "
                 "address it tried as unreachable. The request was not sent.",
      .name = "destination_unroutable",
      .user_hint = "Try again later: a missing network path is often "
                   "temporary. If it persists, tell the administrator which "
                   "site it was.",
      .admin_hint = "Connecting failed as network or host unreachable for every address. Check "
                    "the proxy host's routes and firewall, and whether the destination needs "
                    "IPv4 or IPv6 connectivity that this host lacks."}},
    {Cause::kConnectTimeout,
     {.status = 504,
      .proxy_status = "connection_timeout",
      .title = "Connecting to the destination timed out",
      .summary = "The proxy tried to connect to the destination, but no connection was "
                 "established within the time it allows. The request was not sent.",
      .name = "connect_timeout",
      .user_hint = "The site's server may be overloaded or offline; try again "
                   "later.",
      .admin_hint = "No address accepted a TCP connection within timeouts.connect. A firewall "
                    "that silently drops packets, or a host that is down, looks like this.",
      .limit_setting = "timeouts.connect",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kDestinationProhibited,
     {.status = 502,
      .proxy_status = "destination_ip_prohibited",
      .title = "The destination address is off limits",
      .summary = "The destination's host name resolves only to addresses in ranges the proxy is "
                 "configured never to connect to, such as loopback or link-local networks. The "
                 "proxy made no connection attempt.",
      .name = "destination_prohibited",
      .user_hint = "Retrying will not help: the site's name leads to an "
                   "internal address that the proxy keeps out of bounds. Ask "
                   "the administrator if you need access to it.",
      .admin_hint = "The resolved address is in access.deny_destination_ips (by default "
                    "loopback, link-local including the 169.254.169.254 metadata service, the "
                    "other cloud metadata addresses and 0.0.0.0/8), or it is an address the "
                    "proxy always refuses: unspecified (0.0.0.0, ::) or an IPv6 form that "
                    "embeds a refused IPv4 address. The list keeps internal services out of "
                    "reach through the proxy; shrink it only on purpose."}},
    {Cause::kConnectionTerminated,
     {.status = 502,
      .proxy_status = "connection_terminated",
      .title = "The destination closed the connection",
      .summary = "The proxy sent the request, but the destination closed the connection before a "
                 "complete response head had arrived, so there was no answer to pass on.",
      .name = "connection_terminated",
      .user_hint = "Try again; if it keeps happening, the problem is on the "
                   "site's side.",
      .admin_hint = "The destination took the connection and the request, then closed without a "
                    "complete response head. Check its logs: a crash, or an idle timeout "
                    "shorter than the proxy's, are common causes."}},
    {Cause::kResponseTimeout,
     {.status = 504,
      .proxy_status = "http_response_timeout",
      .title = "The destination did not answer in time",
      .summary = "The proxy sent the request, but the destination's response head did not arrive "
                 "within the time the proxy allows.",
      .name = "response_timeout",
      .user_hint = "The site may be busy; try again later.",
      .admin_hint = "No response head arrived within timeouts.response_header after the request "
                    "was sent. Raise it if this destination legitimately takes longer (long "
                    "polling, slow reports).",
      .limit_setting = "timeouts.response_header",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kResponseProtocolError,
     {.status = 502,
      .proxy_status = "http_protocol_error",
      .title = "The destination sent an invalid response",
      .summary = "The destination answered, but what it sent is not a valid HTTP/1.1 response, "
                 "so the proxy could not pass it on.",
      .name = "response_protocol_error",
      .user_hint = "The problem is on the site's side. Try again later, or "
                   "tell the site's operators if it persists.",
      .admin_hint = "The response failed to parse; the details quote the parser. Fetch the URL "
                    "from the proxy host with curl -v to see the raw answer."}},
    {Cause::kResponseHeadersTooLarge,
     {.status = 502,
      .proxy_status = "http_response_header_section_size",
      .title = "The destination's response head is too large",
      .summary = "The destination answered with a response head larger than the proxy is "
                 "configured to accept, so the proxy did not pass it on.",
      .name = "response_headers_too_large",
      .user_hint = "The problem is on the site's side; tell the site's "
                   "operators if it persists.",
      .admin_hint = "Response heads are bounded by limits.max_header_bytes, like request heads. "
                    "Raise it if a trusted destination needs more.",
      .limit_setting = "limits.max_header_bytes",
      .limit_unit = LimitUnit::kBytes}},
    {Cause::kLoopDetected,
     {.status = 502,
      .proxy_status = "proxy_loop_detected",
      .title = "The request would loop through this proxy",
      .summary = "Forwarding the request would have brought it back into this proxy: it has "
                 "passed through here already, or its destination is one of the proxy's own "
                 "addresses. The proxy stopped it instead of forwarding it in a circle.",
      .name = "proxy_loop",
      .user_hint = "Check that the address you asked for is not the proxy "
                   "itself, and that your proxy settings do not send the "
                   "proxy's own traffic back to it.",
      .admin_hint = "Either the request already carried this proxy's name in Via, or the "
                    "destination resolved to one of its listening addresses. Look for proxy "
                    "chains that lead back here, and give every proxy its own server.name."}},
    {Cause::kResponseTypeBlocked,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "The response type is blocked",
      .summary = "The destination answered, but with a media type that the proxy's policy does "
                 "not let through, so the proxy withheld the response.",
      .name = "response_type_blocked",
      .user_hint = "Retrying will not help. Ask the administrator if you need "
                   "content of this type (executable downloads, for example, "
                   "are often blocked).",
      .admin_hint = "The response's Content-Type matched mime.deny_responses, or is missing "
                    "from a non-empty mime.allow_responses. The received status is what the "
                    "destination answered."}},
    {Cause::kRedirectLoop,
     {.status = 508,
      .proxy_status = "",
      .title = "Too many redirects",
      .summary = "The destination kept redirecting this client, and the chain of redirects grew "
                 "longer than the proxy allows, which usually means it goes round in a circle. "
                 "The proxy stopped following it.",
      .name = "redirect_loop",
      .user_hint = "Deleting the site's cookies often helps; otherwise the "
                   "site itself needs fixing.",
      .admin_hint = "This client's redirect chain grew past redirects.max_chain; the chain is "
                    "listed. Two URLs that bounce back and forth usually mean a cookie or "
                    "sign-in problem at the destination.",
      .limit_setting = "redirects.max_chain",
      .limit_unit = LimitUnit::kRedirects}},
    {Cause::kConnectionLimit,
     {.status = 503,
      .proxy_status = "connection_limit_reached",
      .title = "The proxy is at its connection limit",
      .summary = "The proxy is already handling as many client connections as it is configured "
                 "to allow, so it turned this one away without reading a request. This is "
                 "temporary.",
      .name = "connection_limit",
      .user_hint = "Wait a few seconds and try again.",
      .admin_hint = "limits.max_connections was reached. Raise it if the host has room (check "
                    "the open-file limit too, LimitNOFILE in the systemd unit), or run more "
                    "proxy instances.",
      .limit_setting = "limits.max_connections",
      .limit_unit = LimitUnit::kConnections}},
    {Cause::kMaintenance,
     {.status = 503,
      .proxy_status = "connection_limit_reached",
      .title = "The proxy is in maintenance mode",
      .summary = "The proxy's administrator has put it into maintenance mode, in which it "
                 "forwards nothing and opens no tunnels until the mode is switched off.",
      .name = "maintenance",
      .user_hint = "Try again later, when the maintenance is over.",
      .admin_hint = "server.maintenance is true. Set it to false and reload (SIGHUP) to resume "
                    "service."}},
    {Cause::kRequestBodyTimeout,
     {.status = 408,
      .proxy_status = "",
      .title = "The request body stopped arriving",
      .summary = "The request's head had been passed on, but its body stopped arriving before "
                 "it was complete, so the proxy gave up on the request and closed the "
                 "connection. The destination received only part of the request.",
      .name = "request_body_timeout",
      .user_hint = "Check your network connection and send the request again on a new "
                   "connection; an upload may need to be restarted from the beginning.",
      .admin_hint = "timeouts.idle bounds how long a request body may pause. Clients that stop "
                    "in the middle of a body would otherwise hold two connections each.",
      .limit_setting = "timeouts.idle",
      .limit_unit = LimitUnit::kMilliseconds}},
    {Cause::kEndpointDenied,
     {.status = 403,
      .proxy_status = "http_request_denied",
      .title = "This page of the proxy is for its operators",
      .summary = "The page asked for is one of the proxy's own operator pages, which only "
                 "addresses the proxy is configured for may read. Using the proxy is not "
                 "affected.",
      .name = "endpoint_denied",
      .user_hint = "This page is meant for the proxy's operators; nothing here affects "
                   "browsing through the proxy.",
      .admin_hint = "access.allow_metrics lists the client networks that may read /metrics "
                    "(loopback by default). Add the address of your metrics scraper there."}},
    {Cause::kInternal,
     {.status = 500,
      .proxy_status = "proxy_internal_error",
      .title = "The proxy hit an internal error",
      .summary = "Something went wrong inside the proxy while it handled the request. The "
                 "request itself is not to blame.",
      .name = "internal_error",
      .user_hint = "Try again; if it happens again, tell the administrator "
                   "the request ID.",
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

// Every page reads its lead, title and hints from the row: none may be missing.
constexpr bool rows_complete() {
  for (const auto& row : kRows) {
    const CauseInfo& i = row.info;
    if (i.title.empty() || i.summary.empty() || i.name.empty() || i.user_hint.empty() ||
        i.admin_hint.empty())
      return false;
  }
  return true;
}
static_assert(rows_complete(), "every cause needs a title, summary, name and both hints");
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
      return "The proxy will not process the request because of something it considers a "
             "mistake on the client's side. Repeating it unchanged will get the same answer.";
    case 403:
      return "The proxy understood the request but, as a matter of policy, will not fulfil it. "
             "Repeating it, with or without credentials, will get the same answer.";
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
      return "The proxy, acting as a gateway, has no valid response from the destination server "
             "to pass on for this request.";
    case 503:
      return "The proxy cannot take the request at the moment. This is expected to pass; "
             "Retry-After, when present, says how long to wait.";
    case 504:
      return "The proxy, acting as a gateway, gave up waiting for something it needed in order "
             "to complete the request.";
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

const std::vector<std::string_view>& error_type_names() {
  static const std::vector<std::string_view> names = [] {
    std::vector<std::string_view> v;
    for (const auto& row : kRows) v.push_back(row.info.name);
    return v;
  }();
  return names;
}

std::optional<Cause> cause_by_name(std::string_view name) {
  for (const auto& row : kRows) {
    if (row.info.name == name) return row.cause;
  }
  return std::nullopt;
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
