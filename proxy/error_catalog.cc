#include "proxy/error_catalog.h"

#include <ctime>

namespace gatehouse {
namespace {

struct Row {
  Cause cause;
  CauseInfo info;
};

// The catalogue. Order follows the Cause enum; checked at start-up by cause_info().
constexpr Row kRows[] = {
    {Cause::kBadRequest, {400, "http_request_error", "The request could not be parsed"}},
    {Cause::kMissingHost, {400, "http_request_error", "The request has no Host"}},
    {Cause::kNotProxyRequest, {400, "", "This is a proxy, not a web server"}},
    {Cause::kUnsupportedScheme, {400, "http_request_error", "Unsupported URI scheme"}},
    {Cause::kClientDenied, {403, "http_request_denied", "Your address may not use this proxy"}},
    {Cause::kDestinationDenied, {403, "http_request_denied", "The destination is not allowed"}},
    {Cause::kConnectPortDenied,
     {403, "http_request_denied", "Tunnels to this port are not allowed"}},
    {Cause::kProxyAuthRequired, {407, "", "The proxy needs you to sign in"}},
    {Cause::kMethodDisabled, {405, "http_request_denied", "This method is disabled on the proxy"}},
    {Cause::kRequestTimeout, {408, "", "The request did not arrive in time"}},
    {Cause::kBodyTooLarge, {413, "http_request_error", "The request body is too large"}},
    {Cause::kUriTooLong, {414, "http_request_error", "The request URL is too long"}},
    {Cause::kHeadersTooLarge,
     {431, "http_request_error", "The request header section is too large"}},
    {Cause::kRequestTypeBlocked, {415, "http_request_denied", "The request body type is blocked"}},
    {Cause::kExpectationFailed, {417, "http_request_error", "The expectation cannot be met"}},
    {Cause::kNotImplemented, {501, "http_request_error", "The proxy does not implement this"}},
    {Cause::kVersionNotSupported, {505, "http_request_error", "HTTP version not supported"}},
    {Cause::kDnsError, {502, "dns_error", "The destination name could not be resolved"}},
    {Cause::kDnsTimeout, {504, "dns_timeout", "DNS did not answer in time"}},
    {Cause::kConnectionRefused,
     {502, "connection_refused", "The destination refused the connection"}},
    {Cause::kDestinationUnroutable,
     {502, "destination_ip_unroutable", "The destination cannot be reached"}},
    {Cause::kConnectTimeout,
     {504, "connection_timeout", "Connecting to the destination timed out"}},
    {Cause::kDestinationProhibited,
     {502, "destination_ip_prohibited", "The destination address is off limits"}},
    {Cause::kConnectionTerminated,
     {502, "connection_terminated", "The destination closed the connection"}},
    {Cause::kResponseTimeout,
     {504, "http_response_timeout", "The destination did not answer in time"}},
    {Cause::kResponseProtocolError,
     {502, "http_protocol_error", "The destination sent an invalid response"}},
    {Cause::kResponseHeadersTooLarge,
     {502, "http_response_header_section_size", "The destination's response head is too large"}},
    {Cause::kLoopDetected,
     {502, "proxy_loop_detected", "The request would loop through this proxy"}},
    {Cause::kResponseTypeBlocked, {403, "http_request_denied", "The response type is blocked"}},
    {Cause::kRedirectLoop, {508, "", "Too many redirects"}},
    {Cause::kConnectionLimit,
     {503, "connection_limit_reached", "The proxy is at its connection limit"}},
    {Cause::kMaintenance, {503, "connection_limit_reached", "The proxy is in maintenance mode"}},
    {Cause::kInternal, {500, "proxy_internal_error", "The proxy hit an internal error"}},
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
  std::string v(proxy_name);
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

void build_error_response(const ErrorDetails& e, std::string_view proxy_name, std::string& out) {
  const CauseInfo& info = cause_info(e.cause);
  std::string body;
  body += std::to_string(info.status);
  body += ' ';
  body += reason_phrase(info.status);
  body += "\n\n";
  body += info.title;
  body += ".\n";
  if (!e.details.empty()) {
    body += e.details;
    body += '\n';
  }

  out += "HTTP/1.1 ";
  out += std::to_string(info.status);
  out += ' ';
  out += reason_phrase(info.status);
  out += "\r\nDate: ";
  out += http_date(static_cast<long>(time(nullptr)));
  out += "\r\nProxy-Status: ";
  out += proxy_status_value(proxy_name, e);
  out += "\r\nCache-Control: no-store\r\nContent-Type: text/plain; charset=utf-8\r\n";
  for (const auto& f : e.extra) {
    out += f.name;
    out += ": ";
    out += f.value;
    out += "\r\n";
  }
  if (e.close) out += "Connection: close\r\n";
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  if (!e.head) out += body;
}

}  // namespace gatehouse
