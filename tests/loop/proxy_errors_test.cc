// Upstream failures and request refusals through a real proxy loop: each must produce
// the catalogue's status and Proxy-Status error type.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "tests/loop/proxy_harness.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

// A port on 127.0.0.1 with nothing listening: bind, read the port, close.
uint16_t closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::optional<TestResponse> ask(uint16_t proxy_port, const std::string& request) {
  TestClient client(proxy_port);
  client.send(request);
  return client.read_response();
}

}  // namespace

TEST_CASE("NXDOMAIN answers 502 dns_error with rcode", "[loop][errors]") {
  ProxyHarness h;
  h.dns.set_rcode("gone.test", TestDnsServer::kNxDomain);
  auto r = ask(h.port(), "GET http://gone.test/ HTTP/1.1\r\nHost: gone.test\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=dns_error"));
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("rcode=\"NXDOMAIN\""));
  CHECK_THAT(r->body, Catch::Contains("gone.test"));
  CHECK(r->header("Cache-Control") == "no-store");
  CHECK_FALSE(r->header("Date").empty());
}

TEST_CASE("SERVFAIL answers 502 dns_error with rcode SERVFAIL", "[loop][errors]") {
  ProxyHarness h;
  h.dns.set_rcode("broken.test", TestDnsServer::kServFail);
  auto r = ask(h.port(), "GET http://broken.test/ HTTP/1.1\r\nHost: broken.test\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("rcode=\"SERVFAIL\""));
}

TEST_CASE("no DNS answer in time answers 504 dns_timeout", "[loop][errors]") {
  ProxyHarness h([](Config& c) { c.timeouts.dns = std::chrono::milliseconds(300); });
  h.dns.set_drop("silent.test");
  auto r = ask(h.port(), "GET http://silent.test/ HTTP/1.1\r\nHost: silent.test\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=dns_timeout"));
}

TEST_CASE("a refused connection answers 502 connection_refused", "[loop][errors]") {
  ProxyHarness h;
  uint16_t port = closed_port();
  auto r = ask(h.port(), get_request(port));
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=connection_refused"));
  CHECK_THAT(r->header("Proxy-Status"),
             Catch::Contains("next-hop=\"origin.test:" + std::to_string(port) + "\""));
}

TEST_CASE("an upstream that closes without answering gives 502 connection_terminated",
          "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) { c.close(); });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port()));
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=connection_terminated"));
  // A bodiless request keeps its client connection after a synthesized answer.
  CHECK(r->header("Connection").empty());
  client.send(get_request(origin.port()));
  auto again = client.read_response();
  REQUIRE(again);
  CHECK(again->status == 502);
}

TEST_CASE("no response head in time gives 504 http_response_timeout", "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.read_some(1, std::chrono::seconds(5));  // hold the request until the proxy gives up
  });
  ProxyHarness h([](Config& c) { c.timeouts.response_header = std::chrono::milliseconds(300); });
  auto r = ask(h.port(), get_request(origin.port()));
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=http_response_timeout"));
}

TEST_CASE("an unparsable response gives 502 http_protocol_error", "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("this is not HTTP at all\r\n\r\n");
    c.close();
  });
  ProxyHarness h;
  auto r = ask(h.port(), get_request(origin.port()));
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=http_protocol_error"));
}

TEST_CASE("an oversize response head gives 502 http_response_header_section_size",
          "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(8000, 'b') + "\r\n\r\n");
  });
  ProxyHarness h([](Config& c) { c.limits.max_header_bytes = 4096; });
  auto r = ask(h.port(), get_request(origin.port()));
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=http_response_header_section_size"));
}

TEST_CASE("a failure after the response started closes the client connection", "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-part");
    c.close();
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port()));
  std::string raw = client.read_until_close();
  CHECK(raw.rfind("HTTP/1.1 200 OK", 0) == 0);
  CHECK(raw.find("only-part") != std::string::npos);
  CHECK(client.wait_closed());
}

TEST_CASE("a destination address in deny_destination_ips gives 502 destination_ip_prohibited",
          "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write(TestOrigin::response(200, "should not be reached"));
  });
  ProxyHarness h([](Config& c) {
    c.access.deny_destination_ips = Config::Access::default_deny_destination_ips();
  });
  auto r = ask(h.port(), get_request(origin.port()));
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=destination_ip_prohibited"));
  CHECK_THAT(r->body, Catch::Contains("127.0.0.1"));
  CHECK(origin.connections_accepted() == 0);
}

TEST_CASE("forwarding loops are detected", "[loop][errors]") {
  ProxyHarness h;
  SECTION("our own pseudonym in Via") {
    auto r = ask(h.port(),
                 "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n"
                 "Via: 1.1 elsewhere, 1.1 gatehouse\r\n\r\n");
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=proxy_loop_detected"));
  }
  SECTION("a target that is our own listener") {
    auto r = ask(h.port(), get_request(h.port()));
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=proxy_loop_detected"));
  }
}

TEST_CASE("request refusals use the catalogue", "[loop][errors]") {
  ProxyHarness h([](Config& c) {
    c.limits.max_uri_bytes = 1024;
    c.limits.max_header_bytes = 2048;
    c.limits.max_request_body_bytes = 10;
  });
  struct Case {
    std::string request;
    int status;
    const char* type;
  };
  const std::string host = "Host: origin.test\r\n";
  const Case cases[] = {
      {"GET http://origin.test/" + std::string(2000, 'u') + " HTTP/1.1\r\n" + host + "\r\n", 414,
       "http_request_error"},
      {"GET http://origin.test/ HTTP/1.1\r\n" + host + "X-Big: " + std::string(3000, 'h') +
           "\r\n\r\n",
       431, "http_request_error"},
      {"POST http://origin.test/ HTTP/1.1\r\n" + host + "Content-Length: 11\r\n\r\nhello world",
       413, "http_request_error"},
      {"GET http://origin.test/ HTTP/1.1\r\n" + host + "Expect: something-else\r\n\r\n", 417,
       "http_request_error"},
      {"TRACE http://origin.test/ HTTP/1.1\r\n" + host + "\r\n", 405, "http_request_denied"},
      {"GET http://origin.test/ HTTP/1.1\r\n\r\n", 400, "http_request_error"},
      {"POST http://origin.test/ HTTP/1.1\r\n" + host +
           "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400, "http_request_error"},
      {"POST http://origin.test/ HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", 501,
       "http_request_error"},
      {"GET http://origin.test/ HTTP/2.0\r\n" + host + "\r\n", 505, "http_request_error"},
      {"CONNECT origin.test:25 HTTP/1.1\r\nHost: origin.test:25\r\n\r\n", 403,
       "http_request_denied"},
      {"GET https://origin.test/ HTTP/1.1\r\n" + host + "\r\n", 400, "http_request_error"},
      {"BREW http://origin.test/ HTTP/1.1\r\n" + host + "\r\n", 501, "http_request_error"},
      {"GET http://origin.test/ HTTP/1.1\r\n" + host + "Bad Name: x\r\n\r\n", 400,
       "http_request_error"},
      {"GET http://origin.test/ HTTP/1.1\r\n" + host + "X-A: 1\r\n folded\r\n\r\n", 400,
       "http_request_error"},
      {"GET http://origin.test/ HTTP/1.1\r\n" + host +
           "Content-Length: 1\r\n"
           "Content-Length: 2\r\n\r\nab",
       400, "http_request_error"},
      {"\x01\x02\x03\r\n\r\n", 400, "http_request_error"},
  };
  for (const auto& c : cases) {
    INFO(c.request.substr(0, 80));
    auto r = ask(h.port(), c.request);
    REQUIRE(r);
    CHECK(r->status == c.status);
    CHECK_THAT(r->header("Proxy-Status"), Catch::Contains(std::string("error=") + c.type));
    if (c.status == 405) CHECK_FALSE(r->header("Allow").empty());
  }
}

TEST_CASE("a head that does not arrive in time gets 408 and a close", "[loop][errors]") {
  ProxyHarness h([](Config& c) { c.timeouts.client_header = std::chrono::milliseconds(300); });
  TestClient client(h.port());
  client.send("GET http://origin.test/ HTTP/1.1\r\nHost: orig");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(r->header("Connection") == "close");
  CHECK(client.wait_closed());
}

TEST_CASE("origin-form requests are for the proxy itself", "[loop][errors]") {
  ProxyHarness h;
  auto health = ask(h.port(), "GET /healthz HTTP/1.1\r\nHost: proxy\r\n\r\n");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(health->body == "ok\n");
  auto other = ask(h.port(), "GET /index.html HTTP/1.1\r\nHost: proxy:3128\r\n\r\n");
  REQUIRE(other);
  CHECK(other->status == 400);
  CHECK_THAT(other->body, Catch::Contains("proxy"));
  CHECK_THAT(other->body, Catch::Contains("curl -x"));
}

TEST_CASE("clients outside allow_clients get 403", "[loop][errors]") {
  ProxyHarness h([](Config& c) { c.access.allow_clients = {*Cidr::parse("10.0.0.0/8")}; });
  auto r = ask(h.port(), "GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=http_request_denied"));
  CHECK_THAT(r->body, Catch::Contains("access.allow_clients"));
}

TEST_CASE("a bad chunk size after the head was forwarded still answers 400", "[loop][errors]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write(TestOrigin::response(200, "never"));
  });
  ProxyHarness h;
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("POST http://" + authority + "/ HTTP/1.1\r\nHost: " + authority +
              "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=http_request_error"));
  CHECK(r->header("Connection") == "close");
  CHECK(client.wait_closed());
}

TEST_CASE("a connect that does not complete in time gives 504 connection_timeout",
          "[loop][errors]") {
  StuckListener stuck;  // the proxy's connect hangs until timeouts.connect
  ProxyHarness h([](Config& c) { c.timeouts.connect = std::chrono::milliseconds(400); });
  auto r = ask(h.port(), get_request(stuck.port()));
  REQUIRE(r);
  CHECK(r->status == 504);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=connection_timeout"));
}
