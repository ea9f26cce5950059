#include <catch2/catch.hpp>

#include "proxy/error_catalog.h"

using namespace gatehouse;

TEST_CASE("the catalogue maps causes to the design's status and Proxy-Status", "[unit][catalog]") {
  struct Row {
    Cause cause;
    int status;
    const char* type;
  };
  const Row rows[] = {
      {Cause::kBadRequest, 400, "http_request_error"},
      {Cause::kClientDenied, 403, "http_request_denied"},
      {Cause::kMethodDisabled, 405, "http_request_denied"},
      {Cause::kProxyAuthRequired, 407, ""},
      {Cause::kRequestTimeout, 408, ""},
      {Cause::kBodyTooLarge, 413, "http_request_error"},
      {Cause::kUriTooLong, 414, "http_request_error"},
      {Cause::kRequestTypeBlocked, 415, "http_request_denied"},
      {Cause::kExpectationFailed, 417, "http_request_error"},
      {Cause::kHeadersTooLarge, 431, "http_request_error"},
      {Cause::kNotImplemented, 501, "http_request_error"},
      {Cause::kVersionNotSupported, 505, "http_request_error"},
      {Cause::kDnsError, 502, "dns_error"},
      {Cause::kDnsTimeout, 504, "dns_timeout"},
      {Cause::kConnectionRefused, 502, "connection_refused"},
      {Cause::kDestinationUnroutable, 502, "destination_ip_unroutable"},
      {Cause::kConnectTimeout, 504, "connection_timeout"},
      {Cause::kDestinationProhibited, 502, "destination_ip_prohibited"},
      {Cause::kConnectionTerminated, 502, "connection_terminated"},
      {Cause::kResponseTimeout, 504, "http_response_timeout"},
      {Cause::kResponseProtocolError, 502, "http_protocol_error"},
      {Cause::kResponseHeadersTooLarge, 502, "http_response_header_section_size"},
      {Cause::kLoopDetected, 502, "proxy_loop_detected"},
      {Cause::kResponseTypeBlocked, 403, "http_request_denied"},
      {Cause::kRedirectLoop, 508, ""},
      {Cause::kConnectionLimit, 503, "connection_limit_reached"},
      {Cause::kRequestBodyTimeout, 408, ""},
      {Cause::kEndpointDenied, 403, "http_request_denied"},
      {Cause::kInternal, 500, "proxy_internal_error"},
  };
  for (const auto& r : rows) {
    INFO(r.status << " " << r.type);
    CHECK(cause_info(r.cause).status == r.status);
    CHECK(cause_info(r.cause).proxy_status == r.type);
  }
}

TEST_CASE("every cause has a title, a summary and both hints", "[unit][catalog]") {
  // Walk the causes through their names, so a cause missing from error_type_names() fails.
  const std::vector<std::string_view>& names = error_type_names();
  REQUIRE(names.size() == static_cast<size_t>(Cause::kInternal) + 1);
  for (size_t i = 0; i < names.size(); ++i) {
    std::optional<Cause> cause = cause_by_name(names[i]);
    REQUIRE(cause);
    CHECK(static_cast<size_t>(*cause) == i);
    const CauseInfo& info = cause_info(*cause);
    INFO(info.name);
    CHECK(info.name == names[i]);
    CHECK_FALSE(info.title.empty());
    CHECK_FALSE(info.summary.empty());
    CHECK_FALSE(info.user_hint.empty());
    CHECK_FALSE(info.admin_hint.empty());
    // Four different texts: the summary is not a hint repeated, nor the status meaning.
    CHECK(info.summary != info.user_hint);
    CHECK(info.summary != info.admin_hint);
    CHECK(info.summary != status_meaning(info.status));
  }
  CHECK_FALSE(cause_by_name("no_such_error"));
}

TEST_CASE("reason phrases follow RFC 9110 and fall back to the class", "[unit][catalog]") {
  CHECK(reason_phrase(413) == "Content Too Large");
  CHECK(reason_phrase(407) == "Proxy Authentication Required");
  CHECK(reason_phrase(508) == "Loop Detected");
  CHECK(reason_phrase(299) == "Success");
  CHECK(reason_phrase(599) == "Server Error");
}

TEST_CASE("Proxy-Status values are valid structured fields", "[unit][catalog]") {
  ErrorDetails e;
  e.cause = Cause::kDnsError;
  e.rcode = "NXDOMAIN";
  e.next_hop = "a.example:80";
  e.details = "say \"hi\"\\ \r\n<script>";
  auto v = proxy_status_value("gatehouse", e);
  CHECK(v ==
        "gatehouse; error=dns_error; rcode=\"NXDOMAIN\"; next-hop=\"a.example:80\"; "
        "details=\"say \\\"hi\\\"\\\\ <script>\"");
}

TEST_CASE("error responses carry the required companion headers", "[unit][catalog]") {
  ErrorDetails e;
  e.cause = Cause::kConnectTimeout;
  e.details = "took too long";
  e.close = true;
  std::string out;
  build_error_response(e, "gh", out);
  CHECK(out.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0) == 0);
  CHECK(out.find("\r\nDate: ") != std::string::npos);
  CHECK(out.find("\r\nCache-Control: no-store\r\n") != std::string::npos);
  CHECK(out.find("\r\nConnection: close\r\n") != std::string::npos);
  CHECK(out.find("Proxy-Status: gh; error=connection_timeout") != std::string::npos);
  auto body_at = out.find("\r\n\r\n");
  REQUIRE(body_at != std::string::npos);
  std::string body = out.substr(body_at + 4);
  CHECK(out.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
  CHECK(body.find("took too long") != std::string::npos);

  std::string head_only;
  e.head = true;
  build_error_response(e, "gh", head_only);
  CHECK(head_only.substr(head_only.size() - 4) == "\r\n\r\n");
  CHECK(head_only.find("Content-Length: " + std::to_string(body.size())) != std::string::npos);
}
