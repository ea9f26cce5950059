// The error catalogue as clients see it: for each cause reachable on one proxy, the
// status, the Proxy-Status type and a body fragment in each of the three body formats.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "tests/loop/proxy_harness.h"
#include "tests/support/process.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

struct Row {
  const char* name;
  std::string request;
  int status;
  const char* type;      // Proxy-Status error type
  std::string fragment;  // must appear in every body format
};

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

}  // namespace

TEST_CASE("every reachable catalogue row answers in HTML, JSON and text", "[loop][catalog]") {
  ProxyHarness h([](Config& c) {
    c.limits.max_uri_bytes = 1024;
    c.limits.max_header_bytes = 2048;
    c.limits.max_request_body_bytes = 10;
    c.timeouts.dns = std::chrono::milliseconds(300);
    c.access.deny_destinations = {"*.denied.test"};
    c.access.deny_destination_ips = {*Cidr::parse("127.0.0.2/32")};
    c.mime.deny_requests = {"application/x-evil"};
  });
  h.dns.set_rcode("nx.test", TestDnsServer::kNxDomain);
  h.dns.set_rcode("fail.test", TestDnsServer::kServFail);
  h.dns.set_drop("slow.test");
  h.dns.set_a("inside.test", {"127.0.0.2"});
  // The kernel refuses TCP to the broadcast address at once (ENETUNREACH): an unroutable
  // destination without a packet leaving the machine.
  h.dns.set_a("unroutable.test", {"255.255.255.255"});
  uint16_t refused = closed_port();
  const std::string host = "Host: origin.test\r\n";
  const Row rows[] = {
      {"missing Host", "GET http://origin.test/ HTTP/1.1\r\n", 400, "http_request_error", "Host"},
      {"bad header", "GET http://origin.test/ HTTP/1.1\r\n" + host + "Bad Name: x\r\n", 400,
       "http_request_error", "token"},
      {"denied destination", "GET http://www.denied.test/ HTTP/1.1\r\nHost: www.denied.test\r\n",
       403, "http_request_denied", "denied.test"},
      {"disabled method", "TRACE http://origin.test/ HTTP/1.1\r\n" + host, 405,
       "http_request_denied", "TRACE"},
      {"body too large", "POST http://origin.test/ HTTP/1.1\r\n" + host + "Content-Length: 11\r\n",
       413, "http_request_error", "max_request_body_bytes"},
      {"uri too long", "GET http://origin.test/" + std::string(1100, 'u') + " HTTP/1.1\r\n" + host,
       414, "http_request_error", "max_uri_bytes"},
      {"blocked request type",
       "POST http://origin.test/ HTTP/1.1\r\n" + host +
           "Content-Type: application/x-evil\r\nContent-Length: 1\r\n",
       415, "http_request_denied", "application/x-evil"},
      {"expectation", "GET http://origin.test/ HTTP/1.1\r\n" + host + "Expect: tea\r\n", 417,
       "http_request_error", "100-continue"},
      {"headers too large",
       "GET http://origin.test/ HTTP/1.1\r\n" + host + "X-Big: " + std::string(2500, 'h') + "\r\n",
       431, "http_request_error", "max_header_bytes"},
      {"unknown coding",
       "POST http://origin.test/ HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n", 501,
       "http_request_error", "gzip"},
      {"version", "GET http://origin.test/ HTTP/2.0\r\n" + host, 505, "http_request_error",
       "HTTP/2"},
      {"nxdomain", "GET http://nx.test/ HTTP/1.1\r\nHost: nx.test\r\n", 502, "dns_error",
       "nx.test"},
      {"servfail", "GET http://fail.test/ HTTP/1.1\r\nHost: fail.test\r\n", 502, "dns_error",
       "SERVFAIL"},
      {"dns timeout", "GET http://slow.test/ HTTP/1.1\r\nHost: slow.test\r\n", 504, "dns_timeout",
       "slow.test"},
      {"refused", "GET http://origin.test:" + std::to_string(refused) + "/ HTTP/1.1\r\n" + host,
       502, "connection_refused", std::to_string(refused)},
      {"prohibited address", "GET http://inside.test/ HTTP/1.1\r\nHost: inside.test\r\n", 502,
       "destination_ip_prohibited", "127.0.0.2"},
      {"unroutable", "GET http://unroutable.test/ HTTP/1.1\r\nHost: unroutable.test\r\n", 502,
       "destination_ip_unroutable", "255.255.255.255"},
      {"loop", "GET http://origin.test/ HTTP/1.1\r\n" + host + "Via: 1.1 gatehouse\r\n", 502,
       "proxy_loop_detected", "Via"},
  };
  const std::pair<const char*, const char*> formats[] = {
      {"text/html,application/xhtml+xml,*/*;q=0.8", "text/html"},
      {"application/json", "application/problem+json"},
      {"*/*", "text/plain"},
  };
  for (const auto& row : rows) {
    for (const auto& [accept, type] : formats) {
      INFO(row.name << " / " << accept);
      TestClient client(h.port());
      // Accept goes right after the request line, as browsers and curl send it.
      size_t eol = row.request.find("\r\n") + 2;
      client.send(row.request.substr(0, eol) + "Accept: " + accept + "\r\n" +
                  row.request.substr(eol) + "\r\n");
      auto r = client.read_response();
      REQUIRE(r);
      CHECK(r->status == row.status);
      CHECK_THAT(r->header("Proxy-Status"), Catch::Contains(std::string("error=") + row.type));
      // A request-target over the limit is refused before any header is read, so its
      // Accept is unknown and the answer is plain text.
      CHECK_THAT(r->header("Content-Type"),
                 Catch::StartsWith(row.status == 414 ? "text/plain" : type));
      CHECK(r->header("Cache-Control") == "no-store");
      CHECK_FALSE(r->header("Date").empty());
      CHECK_FALSE(r->header("X-Request-Id").empty());
      CHECK_THAT(r->body, Catch::Contains(row.fragment));
      CHECK(r->header("Content-Length") == std::to_string(r->body.size()));
    }
  }
}

TEST_CASE("HEAD gets an error's headers without its body", "[loop][catalog]") {
  ProxyHarness h;
  h.dns.set_rcode("nx.test", TestDnsServer::kNxDomain);
  TestClient client(h.port());
  client.send("HEAD http://nx.test/ HTTP/1.1\r\nHost: nx.test\r\n\r\n");
  auto r = client.read_response(true);
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK(std::stoul(r->header("Content-Length")) > 0);
  // Nothing follows the head: the next answer starts right away.
  client.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  auto next = client.read_response();
  REQUIRE(next);
  CHECK(next->status == 200);
}

namespace {

const std::pair<const char*, const char*> kFormats[] = {
    {"text/html,application/xhtml+xml,*/*;q=0.8", "text/html"},
    {"application/json", "application/problem+json"},
    {"*/*", "text/plain"},
};

// Sends `head` (request line plus fields, without the final CRLF) with each Accept and
// checks status, Proxy-Status, content type and a body fragment.
void check_row(uint16_t port, const std::string& head, int status, const std::string& type,
               const std::string& fragment) {
  for (const auto& [accept, ctype] : kFormats) {
    INFO(head.substr(0, head.find('\r')) << " / " << accept);
    TestClient client(port);
    client.send(head + "Accept: " + accept + "\r\n\r\n");
    auto r = client.read_response();
    REQUIRE(r);
    CHECK(r->status == status);
    if (!type.empty()) {
      CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=" + type));
    }
    CHECK_THAT(r->header("Content-Type"), Catch::StartsWith(ctype));
    CHECK_THAT(r->body, Catch::Contains(fragment));
  }
}

}  // namespace

TEST_CASE("upstream-side and policy rows answer in HTML, JSON and text", "[loop][catalog]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    if (r.target == "/close") {
      c.close();
    } else if (r.target == "/garbage") {
      c.write("NOT HTTP\r\n\r\n");
      c.close();
    } else if (r.target == "/big-head") {
      c.write("HTTP/1.1 200 OK\r\nX-Big: " + std::string(6000, 'b') + "\r\n\r\n");
    } else if (r.target == "/silent") {
      c.read_some(1, std::chrono::seconds(3));
    } else if (r.target == "/evil-type") {
      c.write(TestOrigin::response(200, "x", "Content-Type: application/x-evil\r\n"));
    } else {  // redirect loop
      c.write(TestOrigin::response(302, "", "Location: " + r.target + "x\r\n"));
    }
  });
  StuckListener stuck;  // connects to it hang
  ProxyHarness h([](Config& c) {
    c.timeouts.connect = std::chrono::milliseconds(300);
    c.limits.max_header_bytes = 4096;
    c.timeouts.response_header = std::chrono::milliseconds(300);
    c.mime.deny_responses = {"application/x-evil"};
    c.redirects.max_chain = 1;
  });
  std::string a = "origin.test:" + std::to_string(origin.port());
  auto get = [&](const std::string& path) {
    return "GET http://" + a + path + " HTTP/1.1\r\nHost: " + a + "\r\n";
  };
  std::string stuck_authority = "origin.test:" + std::to_string(stuck.port());
  check_row(h.port(),
            "GET http://" + stuck_authority + "/ HTTP/1.1\r\nHost: " + stuck_authority + "\r\n",
            504, "connection_timeout", "timed out");
  check_row(h.port(), get("/close"), 502, "connection_terminated", a);
  check_row(h.port(), get("/garbage"), 502, "http_protocol_error", a);
  check_row(h.port(), get("/big-head"), 502, "http_response_header_section_size", "4096");
  check_row(h.port(), get("/silent"), 504, "http_response_timeout", a);
  check_row(h.port(), get("/evil-type"), 403, "http_request_denied", "application/x-evil");
  // A chain of one redirect is allowed; the second hop of the same chain is cut.
  TestClient first(h.port());
  first.send(get("/r") + "\r\n");
  auto hop = first.read_response();
  REQUIRE(hop);
  REQUIRE(hop->status == 302);
  check_row(h.port(), get("/rx"), 508, "", "/rx");

  ProxyHarness auth([](Config& c) {
    static TempFile users("nobody:$2b$04$abcdefghijklmnopqrstuu5Hhs7vYxhCWJq5L2h1oRkRq1mVPS3sS\n",
                          ".htpasswd");
    c.auth.htpasswd = users.path();
  });
  check_row(auth.port(), get("/"), 407, "", "Proxy-Authorization");

  ProxyHarness denied([](Config& c) { c.access.allow_clients = {*Cidr::parse("10.0.0.0/8")}; });
  check_row(denied.port(), get("/"), 403, "http_request_denied", "allow_clients");

  ProxyHarness maintenance([](Config& c) { c.server.maintenance = true; });
  check_row(maintenance.port(), get("/"), 503, "connection_limit_reached", "maintenance");

  ProxyHarness slow_client(
      [](Config& c) { c.timeouts.client_header = std::chrono::milliseconds(200); });
  for (const auto& [accept, ctype] : kFormats) {
    TestClient client(slow_client.port());
    client.send("GET http://" + a + "/ HTTP/1.1\r\nAccept: " + std::string(accept) + "\r\nHo");
    auto r = client.read_response();
    REQUIRE(r);
    CHECK(r->status == 408);
    CHECK_THAT(r->header("Content-Type"), Catch::StartsWith(ctype));
    CHECK_THAT(r->body, Catch::Contains("client_header"));
  }
}
