// CONNECT tunnels through a real proxy loop.
#include <catch2/catch.hpp>

#include "tests/loop/proxy_harness.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

std::function<void(Config&)> allow_port(uint16_t port) {
  return [port](Config& c) { c.access.connect_ports.push_back(port); };
}

}  // namespace

TEST_CASE("CONNECT answers exactly 200 Connection established, then tunnels bytes",
          "[loop][tunnel]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write(TestOrigin::response(200, "through the tunnel: " + r.target));
  });
  ProxyHarness h(allow_port(origin.port()));
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  // The first tunnelled request is sent together with the CONNECT head.
  client.send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n" +
              "GET /inside HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string established = "HTTP/1.1 200 Connection established\r\n\r\n";
  auto head = client.read_exact(established.size());
  REQUIRE(head);
  CHECK(*head == established);
  auto inner = client.read_response();
  REQUIRE(inner);
  CHECK(inner->body == "through the tunnel: /inside");
  CHECK(h.server->stats().tunnels_active == 1);
  // A second exchange on the same tunnel.
  client.send("GET /again HTTP/1.1\r\nHost: x\r\n\r\n");
  auto again = client.read_response();
  REQUIRE(again);
  CHECK(again->body == "through the tunnel: /again");
}

TEST_CASE("CONNECT half-close: the answer still arrives after the client shuts down writing",
          "[loop][tunnel]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    // Answer only once the client's EOF has travelled through the tunnel.
    std::string rest = c.read_some(1, std::chrono::seconds(5));
    c.write(TestOrigin::response(
        200, "late answer for " + r.target + (rest.empty() ? " after EOF" : "")));
    c.close();
  });
  ProxyHarness h(allow_port(origin.port()));
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  auto est = client.read_response(true);
  REQUIRE(est);
  REQUIRE(est->status == 200);
  client.send("GET /half HTTP/1.1\r\nHost: x\r\n\r\n");
  client.shutdown_write();
  std::string raw = client.read_until_close();
  CHECK(raw.find("late answer for /half after EOF") != std::string::npos);
  CHECK(client.wait_closed());
}

TEST_CASE("a CONNECT whose name does not resolve answers 502 and closes", "[loop][tunnel]") {
  ProxyHarness h;
  TestClient client(h.port());
  client.send("CONNECT nowhere.test:443 HTTP/1.1\r\nHost: nowhere.test:443\r\n\r\n");
  auto r = client.read_response(true);
  REQUIRE(r);
  CHECK(r->status == 502);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=dns_error"));
  CHECK(r->header("Connection") == "close");
  CHECK(client.wait_closed());
}

TEST_CASE("an idle tunnel is closed after timeouts.idle", "[loop][tunnel]") {
  TestOrigin origin(
      [](const OriginRequest&, OriginConnection& c) { c.write(TestOrigin::response(200, "x")); });
  uint16_t port = origin.port();
  ProxyHarness h([port](Config& c) {
    c.access.connect_ports.push_back(port);
    c.timeouts.idle = std::chrono::milliseconds(300);
  });
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(port);
  client.send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  auto est = client.read_response(true);
  REQUIRE(est);
  REQUIRE(est->status == 200);
  // Send nothing: the proxy must close the tunnel by itself.
  CHECK(client.wait_closed());
  CHECK(h.server->stats().tunnels_active == 0);
}
