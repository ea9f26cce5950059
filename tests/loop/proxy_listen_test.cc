// Listening: IPv4 and IPv6 addresses, several workers sharing one port.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/loop/proxy_harness.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

// Sends one request to [::1]:port and returns everything until the proxy closes.
std::string ask_v6(uint16_t port, const std::string& request) {
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, "::1", &a.sin6_addr);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

TEST_CASE("the proxy serves on IPv4 and IPv6 listeners at once", "[loop][listen]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write(TestOrigin::response(200, "dual"));
  });
  ProxyHarness h([](Config& c) { c.server.listen = {{"127.0.0.1", 0}, {"::1", 0}}; });
  REQUIRE(h.server->addresses().size() == 2);
  CHECK(h.server->addresses()[1].ss_family == AF_INET6);
  uint16_t v6port = h.server->port(1);
  REQUIRE(v6port != 0);

  TestClient v4(h.server->port(0));
  v4.send(get_request(origin.port()));
  auto r4 = v4.read_response();
  REQUIRE(r4);
  CHECK(r4->body == "dual");

  std::string raw = ask_v6(v6port, get_request(origin.port(), "/", "Connection: close\r\n"));
  CHECK(raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(raw.find("dual") != std::string::npos);
}

TEST_CASE("several workers share one port", "[loop][listen]") {
  TestOrigin origin(
      [](const OriginRequest&, OriginConnection& c) { c.write(TestOrigin::response(200, "w")); });
  ProxyHarness h([](Config& c) { c.server.workers = 3; });
  CHECK(h.server->worker_count() == 3);
  for (int i = 0; i < 30; ++i) {
    TestClient client(h.port());
    client.send(get_request(origin.port()));
    auto r = client.read_response();
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  CHECK(h.server->stats().connections_accepted == 30);
}
