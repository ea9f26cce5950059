#include <catch2/catch.hpp>

#include "proxy/http_head.h"

using namespace gatehouse;

namespace {

RequestHead make_request(HeaderList headers) {
  RequestHead h;
  h.method = "GET";
  h.target = "http://example.com/x";
  h.headers = std::move(headers);
  return h;
}

std::string upstream(const RequestHead& h, BodyFraming framing = BodyFraming::kNone,
                     uint64_t len = 0) {
  UpstreamRequestOptions o;
  o.via_name = "gatehouse";
  o.origin_form = "/x";
  o.host = "example.com";
  o.framing = framing;
  o.content_length = len;
  std::string out;
  build_upstream_request(h, o, out);
  return out;
}

}  // namespace

TEST_CASE("the upstream request line is origin-form with Host from the URI", "[unit][head]") {
  auto out = upstream(make_request({{"Host", "evil.example"}, {"Accept", "*/*"}}));
  CHECK(out.rfind("GET /x HTTP/1.1\r\nHost: example.com\r\n", 0) == 0);
  CHECK(out.find("evil.example") == std::string::npos);
  CHECK(out.find("Accept: */*\r\n") != std::string::npos);
  CHECK(out.find("Via: 1.1 gatehouse\r\n") != std::string::npos);
  CHECK(out.size() >= 4);
  CHECK(out.substr(out.size() - 4) == "\r\n\r\n");
}

TEST_CASE("every fixed hop-by-hop field is removed from requests", "[unit][head]") {
  const char* hop[] = {"Connection", "Keep-Alive", "Proxy-Connection",  "Proxy-Authorization",
                       "TE",         "Trailer",    "Transfer-Encoding", "Upgrade"};
  for (const char* name : hop) {
    auto out = upstream(make_request({{name, "x-value-for-test"}, {"X-Keep", "1"}}));
    INFO(name);
    CHECK(out.find("x-value-for-test") == std::string::npos);
    CHECK(out.find("X-Keep: 1\r\n") != std::string::npos);
  }
}

TEST_CASE("fields named by Connection are removed, case-insensitively", "[unit][head]") {
  auto out = upstream(make_request({{"Connection", "X-Secret, keep-alive"},
                                    {"x-secret", "hide"},
                                    {"Connection", "x-other"},
                                    {"X-OTHER", "hide2"},
                                    {"X-Public", "show"}}));
  CHECK(out.find("hide") == std::string::npos);
  CHECK(out.find("X-Public: show") != std::string::npos);
  CHECK(out.find("Connection") == std::string::npos);
}

TEST_CASE("framing is re-derived: never both Content-Length and chunked", "[unit][head]") {
  auto h = make_request({{"Content-Length", "5"}, {"Transfer-Encoding", "chunked"}});
  auto chunked = upstream(h, BodyFraming::kChunked);
  CHECK(chunked.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(chunked.find("Content-Length") == std::string::npos);
  auto cl = upstream(make_request({{"Content-Length", "7"}}), BodyFraming::kContentLength, 7);
  CHECK(cl.find("Content-Length: 7\r\n") != std::string::npos);
  CHECK(cl.find("Transfer-Encoding") == std::string::npos);
}

TEST_CASE("an existing Via is kept and ours appended with the received version", "[unit][head]") {
  auto h = make_request({{"Via", "1.1 other-proxy"}});
  h.http_minor = 0;
  auto out = upstream(h);
  CHECK(out.find("Via: 1.1 other-proxy\r\n") != std::string::npos);
  CHECK(out.find("Via: 1.0 gatehouse\r\n") != std::string::npos);
}

TEST_CASE("Upgrade is forwarded only when the upgrade is supported", "[unit][head]") {
  auto h = make_request({{"Connection", "Upgrade"}, {"Upgrade", "websocket"}});
  UpstreamRequestOptions o;
  o.via_name = "gatehouse";
  o.origin_form = "/";
  o.host = "h";
  o.keep_upgrade = true;
  std::string out;
  build_upstream_request(h, o, out);
  CHECK(out.find("Upgrade: websocket\r\n") != std::string::npos);
  CHECK(out.find("Connection: upgrade\r\n") != std::string::npos);
}

TEST_CASE("responses lose hop-by-hop fields and gain Via and our framing", "[unit][head]") {
  ResponseHead r;
  r.status = 200;
  r.reason = "OK";
  r.http_minor = 0;
  r.headers = {{"Connection", "X-Hop"},        {"X-Hop", "1"},
               {"Keep-Alive", "timeout=5"},    {"Content-Length", "10"},
               {"Content-Type", "text/plain"}, {"Proxy-Authenticate", "Basic realm=upstream"}};
  ClientResponseOptions o;
  o.via_name = "gh";
  o.framing = BodyFraming::kChunked;
  o.close = true;
  std::string out;
  build_client_response(r, o, out);
  CHECK(out.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(out.find("X-Hop") == std::string::npos);
  CHECK(out.find("Keep-Alive") == std::string::npos);
  CHECK(out.find("Proxy-Authenticate") == std::string::npos);
  CHECK(out.find("Content-Length") == std::string::npos);
  CHECK(out.find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(out.find("Via: 1.0 gh\r\n") != std::string::npos);
  CHECK(out.find("Connection: close\r\n") != std::string::npos);
  CHECK(out.find("Content-Type: text/plain\r\n") != std::string::npos);
}

TEST_CASE("a bodiless answer keeps its Content-Length as metadata", "[unit][head]") {
  ResponseHead r;
  r.status = 200;
  r.reason = "OK";
  r.headers = {{"Content-Length", "1234"}};
  ClientResponseOptions o;
  o.via_name = "gh";
  o.keep_content_length = true;
  std::string out;
  build_client_response(r, o, out);
  CHECK(out.find("Content-Length: 1234\r\n") != std::string::npos);
}

TEST_CASE("token and list helpers", "[unit][head]") {
  CHECK(is_token("GET"));
  CHECK(is_token("X-Custom_1"));
  CHECK_FALSE(is_token(""));
  CHECK_FALSE(is_token("GE T"));
  CHECK_FALSE(is_token("A(B"));
  CHECK(has_token("a, Close ,b", "close"));
  CHECK_FALSE(has_token("closed", "close"));
  CHECK(iequals("Content-Length", "content-length"));
}

TEST_CASE("transfer codings are split over every field, trimmed, empties kept", "[unit][head]") {
  gatehouse::HeaderList h = {
      {"Transfer-Encoding", "gzip ,\tchunked\t"}, {"X", "y"}, {"transfer-encoding", "chunked,"}};
  auto c = gatehouse::transfer_codings(h);
  REQUIRE(c.size() == 4);
  CHECK(c[0] == "gzip");
  CHECK(c[1] == "chunked");
  CHECK(c[2] == "chunked");
  CHECK(c[3] == "");
  CHECK(gatehouse::transfer_codings({{"Content-Length", "5"}}).empty());
}
