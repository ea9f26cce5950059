// Hardening through a real proxy loop: destinations the kernel would take to this host,
// operator endpoints, problem type pages, and the timers of states that wait for a peer.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/loop/proxy_harness.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

// A loopback listener that accepts (and counts) connections but never reads: if the
// proxy connected to it, the count says so.
class CountingListener {
 public:
  CountingListener() {
    fd_ = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);  // pending() never blocks
    int off = 0;
    setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);  // dual stack, like [::]
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin6_port);
  }
  ~CountingListener() { ::close(fd_); }
  uint16_t port() const { return port_; }
  // Connections waiting in the backlog (accepted here, without blocking).
  int pending() {
    int n = 0;
    for (;;) {
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK);
      if (c < 0) break;
      ::close(c);
      ++n;
    }
    return n;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

std::optional<TestResponse> ask(uint16_t proxy_port, const std::string& request) {
  TestClient client(proxy_port);
  client.send(request);
  return client.read_response();
}

}  // namespace

TEST_CASE("unspecified and IPv4-embedding destinations never reach this host",
          "[loop][hardening]") {
  CountingListener local;  // reachable through [::], 0.0.0.0, ::ffff:127.0.0.1, ...
  // The test harness clears deny_destination_ips (its origins live on loopback); the
  // unspecified addresses are refused whatever the list says. The embedded forms are
  // judged by the list, so it gets loopback back here.
  ProxyHarness h([&local](Config& c) {
    c.access.deny_destination_ips = {*Cidr::parse("127.0.0.0/8")};
    c.access.connect_ports = {local.port()};
  });
  h.dns.set_aaaa("zero6.test", {"::"});
  h.dns.set_a("zero4.test", {"0.0.0.0"});
  h.dns.set_aaaa("mapped.test", {"::ffff:127.0.0.1"});
  std::string port = std::to_string(local.port());
  const std::vector<std::string> targets = {
      "GET http://[::]:" + port + "/ HTTP/1.1\r\nHost: [::]:" + port + "\r\n\r\n",
      "GET http://[0::0]:" + port + "/ HTTP/1.1\r\nHost: [0::0]:" + port + "\r\n\r\n",
      "GET http://0.0.0.0:" + port + "/ HTTP/1.1\r\nHost: 0.0.0.0:" + port + "\r\n\r\n",
      "GET http://0.1.2.3:" + port + "/ HTTP/1.1\r\nHost: 0.1.2.3:" + port + "\r\n\r\n",
      "GET http://zero6.test:" + port + "/ HTTP/1.1\r\nHost: zero6.test:" + port + "\r\n\r\n",
      "GET http://zero4.test:" + port + "/ HTTP/1.1\r\nHost: zero4.test:" + port + "\r\n\r\n",
      "CONNECT [::]:" + port + " HTTP/1.1\r\nHost: [::]:" + port + "\r\n\r\n",
      "GET http://[::ffff:127.0.0.1]:" + port + "/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://[::ffff:7f00:1]:" + port + "/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://mapped.test:" + port + "/ HTTP/1.1\r\nHost: mapped.test\r\n\r\n",
      "GET http://[64:ff9b::7f00:1]:" + port + "/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://[2002:7f00:1::]:" + port + "/ HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET http://[::127.0.0.1]:" + port + "/ HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (const auto& request : targets) {
    INFO(request);
    auto r = ask(h.port(), request);
    REQUIRE(r);
    CHECK(r->status == 502);
    CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("destination_ip_prohibited"));
  }
  // Had any of them connected, the connection would be waiting in the backlog.
  CHECK(local.pending() == 0);
  // The check is not a blanket refusal of the listener: a plain loopback address is
  // reachable once the list allows it.
  ProxyHarness open_h([&local](Config& c) {
    c.access.deny_destination_ips.clear();
    c.access.connect_ports = {local.port()};
  });
  TestClient client(open_h.port());
  client.send("CONNECT 127.0.0.1:" + port + " HTTP/1.1\r\nHost: x\r\n\r\n");
  auto r = client.read_response(true);
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("a refused IP literal is described as an address and not as a lookup",
          "[loop][hardening]") {
  ProxyHarness h([](Config& c) { c.access.deny_destination_ips = {*Cidr::parse("127.0.0.0/8")}; });
  auto r = ask(h.port(), "GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), !Catch::Contains("resolves to"));
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("The destination address 127.0.0.1"));
}

TEST_CASE("/metrics is only for access.allow_metrics; the probes stay open", "[loop][hardening]") {
  ProxyHarness closed([](Config& c) { c.access.allow_metrics = {*Cidr::parse("10.0.0.0/8")}; });
  auto r = ask(closed.port(), "GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("http_request_denied"));
  CHECK_THAT(r->body, !Catch::Contains("gatehouse_requests_total"));
  auto health = ask(closed.port(), "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(health);
  CHECK(health->status == 200);
  ProxyHarness open;  // default: loopback may read it
  auto m = ask(open.port(), "GET /metrics HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK_THAT(m->body, Catch::Contains("process_open_fds"));
  CHECK_THAT(m->body, Catch::Contains("gatehouse_upstream_connections_open"));
}

TEST_CASE("problem type URIs point at pages this proxy serves", "[loop][hardening]") {
  ProxyHarness h;
  h.dns.set_rcode("gone.test", 3);
  auto r = ask(h.port(),
               "GET http://gone.test/ HTTP/1.1\r\nHost: gone.test\r\nAccept: "
               "application/problem+json\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 502);
  std::string own = "http://127.0.0.1:" + std::to_string(h.port());
  std::string type = own + "/gatehouse/errors/dns_error";
  CHECK_THAT(r->body, Catch::Contains("\"type\": \"" + type + "\""));
  // The page behind it, asked for directly and through the proxy (as a browser would).
  auto direct = ask(h.port(), "GET /gatehouse/errors/dns_error HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(direct);
  CHECK(direct->status == 200);
  CHECK_THAT(direct->body, Catch::Contains("dns_error"));
  auto proxied = ask(h.port(), "GET " + type + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  REQUIRE(proxied);
  CHECK(proxied->status == 200);
  CHECK(proxied->body == direct->body);
  auto unknown = ask(h.port(), "GET /gatehouse/errors/no_such_thing HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(unknown);
  CHECK(unknown->status == 404);
}

TEST_CASE("OPTIONS for a URL without a path goes upstream as OPTIONS *", "[loop][hardening]") {
  TestOrigin origin(
      [](const OriginRequest&, OriginConnection& c) { c.write(TestOrigin::response(200, "")); });
  ProxyHarness h;
  std::string authority = "origin.test:" + std::to_string(origin.port());
  auto r =
      ask(h.port(), "OPTIONS http://" + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  REQUIRE(r);
  CHECK(r->status == 200);
  REQUIRE(origin.wait_for_requests(1, std::chrono::seconds(5)) == 1);
  CHECK(origin.requests()[0].target == "*");
  auto g =
      ask(h.port(), "GET http://" + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  REQUIRE(g);
  REQUIRE(origin.wait_for_requests(2, std::chrono::seconds(5)) == 2);
  CHECK(origin.requests()[1].target == "/");
}

TEST_CASE("a later request head on a keep-alive connection has timeouts.client_header",
          "[loop][hardening]") {
  TestOrigin origin(
      [](const OriginRequest&, OriginConnection& c) { c.write(TestOrigin::response(200, "ok")); });
  ProxyHarness h([](Config& c) {
    c.timeouts.client_header = std::chrono::milliseconds(300);
    c.timeouts.client_idle = std::chrono::seconds(30);
  });
  TestClient client(h.port());
  client.send(get_request(origin.port()));
  REQUIRE(client.read_response());
  // Half a head, then silence: answered 408 after client_header, long before client_idle.
  client.send("GET http://origin.test/ HTTP/1.1\r\nHo");
  auto start = std::chrono::steady_clock::now();
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 408);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("the response media-type filter judges every Content-Type", "[loop][hardening]") {
  const std::vector<std::string> heads = {
      "Content-Type: text/html\r\nContent-Type: video/mp4\r\n",
      "Content-Type: video/mp4\r\nContent-Type: text/html\r\n",
      "Content-Type: text/html, video/mp4\r\n",
  };
  for (const auto& fields : heads) {
    INFO(fields);
    TestOrigin origin([&fields](const OriginRequest&, OriginConnection& c) {
      c.write("HTTP/1.1 200 OK\r\n" + fields + "Content-Length: 4\r\n\r\nfilm");
    });
    ProxyHarness h([](Config& c) { c.mime.deny_responses = {"video/*"}; });
    auto r = ask(h.port(), get_request(origin.port()));
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK_THAT(r->body, !Catch::Contains("film"));
  }
  TestOrigin plain([](const OriginRequest&, OriginConnection& c) {
    c.write(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\"a,b\"\r\nContent-Length: "
        "4\r\n\r\npage");
  });
  ProxyHarness h([](Config& c) { c.mime.deny_responses = {"video/*"}; });
  auto r = ask(h.port(), get_request(plain.port()));
  REQUIRE(r);
  CHECK(r->status == 200);  // a comma inside a quoted parameter is not a second type
  CHECK(r->body == "page");
}
