// Proxy semantics through a real loop: Max-Forwards, OPTIONS/TRACE, upgrades, status
// codes that must pass untouched, interim responses and Expect.
#include <catch2/catch.hpp>

#include "tests/loop/proxy_harness.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

std::string authority(const TestOrigin& o) {
  return "origin.test:" + std::to_string(o.port());
}

void reply_ok(const OriginRequest& r, OriginConnection& c) {
  c.write(TestOrigin::response(200, r.method + " mf=" + r.header("Max-Forwards")));
}

}  // namespace

TEST_CASE("OPTIONS with Max-Forwards 0 is answered by the proxy with Allow", "[loop][semantics]") {
  TestOrigin origin(reply_ok);
  ProxyHarness h;
  TestClient client(h.port());
  client.send("OPTIONS http://" + authority(origin) + "/ HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nMax-Forwards: 0\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_THAT(r->header("Allow"), Catch::Contains("GET"));
  CHECK_THAT(r->header("Allow"), Catch::Contains("CONNECT"));
  // TRACE is disabled by default, so it is not offered.
  CHECK_THAT(r->header("Allow"), !Catch::Contains("TRACE"));
  CHECK(origin.requests().empty());
}

TEST_CASE("Max-Forwards above 0 is decremented and forwarded", "[loop][semantics]") {
  TestOrigin origin(reply_ok);
  ProxyHarness h;
  TestClient client(h.port());
  client.send("OPTIONS http://" + authority(origin) + "/ HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nMax-Forwards: 5\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->body == "OPTIONS mf=4");
  // Max-Forwards means nothing to other methods: left as it is.
  client.send(get_request(origin.port(), "/", "Max-Forwards: 0\r\n"));
  auto g = client.read_response();
  REQUIRE(g);
  CHECK(g->body == "GET mf=0");
}

TEST_CASE("OPTIONS * is answered by the proxy", "[loop][semantics]") {
  ProxyHarness h;
  TestClient client(h.port());
  client.send("OPTIONS * HTTP/1.1\r\nHost: proxy\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_FALSE(r->header("Allow").empty());
}

TEST_CASE("TRACE, when enabled, echoes the request at Max-Forwards 0 without proxy credentials",
          "[loop][semantics]") {
  TestOrigin origin(reply_ok);
  ProxyHarness h([](Config& c) { c.access.disabled_methods.clear(); });
  TestClient client(h.port());
  client.send("TRACE http://" + authority(origin) + "/t HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nMax-Forwards: 0\r\nX-Echo: yes\r\nProxy-Authorization: Basic c2VjcmV0\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK_THAT(r->header("Content-Type"), Catch::StartsWith("message/http"));
  CHECK_THAT(r->body, Catch::StartsWith("TRACE http://" + authority(origin) + "/t HTTP/1.1\r\n"));
  CHECK_THAT(r->body, Catch::Contains("X-Echo: yes\r\n"));
  CHECK_THAT(r->body, !Catch::Contains("c2VjcmV0"));
  CHECK(origin.requests().empty());
}

TEST_CASE("a 101 upgrade turns the exchange into a two-way tunnel", "[loop][semantics]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    if (r.header("Upgrade") != "websocket") {
      c.write(TestOrigin::response(400, "no upgrade header reached the origin"));
      return;
    }
    c.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: abc\r\n\r\nserver-hello;");
    // Echo what arrives, upper-cased, until the client closes.
    for (;;) {
      std::string in = c.read_some(4096, std::chrono::seconds(5));
      if (in.empty()) break;
      for (auto& ch : in) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      c.write(in);
    }
    c.close();
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send("GET http://" + authority(origin) + "/ws HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n");
  auto r = client.read_response(true);
  REQUIRE(r);
  CHECK(r->status == 101);
  CHECK(r->header("Upgrade") == "websocket");
  CHECK_THAT(r->header("Connection"), Catch::Contains("upgrade"));
  auto hello = client.read_exact(std::string("server-hello;").size());
  REQUIRE(hello);
  CHECK(*hello == "server-hello;");
  client.send("ping");
  auto pong = client.read_exact(4);
  REQUIRE(pong);
  CHECK(*pong == "PING");
  CHECK(h.server->stats().tunnels_active == 1);
}

TEST_CASE("a refused upgrade leaves an ordinary HTTP exchange", "[loop][semantics]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write(TestOrigin::response(200, "plain " + r.target));
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send("GET http://" + authority(origin) + "/a HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n");
  auto a = client.read_response();
  REQUIRE(a);
  CHECK(a->body == "plain /a");
  client.send(get_request(origin.port(), "/b"));
  auto b = client.read_response();
  REQUIRE(b);
  CHECK(b->body == "plain /b");
}

TEST_CASE("401 with WWW-Authenticate and 206 with Range pass untouched", "[loop][semantics]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    if (r.target == "/private") {
      c.write(
          TestOrigin::response(401, "who are you", "WWW-Authenticate: Basic realm=\"site\"\r\n"));
    } else {
      c.write(
          "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 2-4/10\r\nContent-Length: 3\r\n"
          "X-Range-Seen: " +
          r.header("Range") + "\r\n\r\ncde");
    }
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port(), "/private", "Authorization: Basic dXNlcjpwdw==\r\n"));
  auto a = client.read_response();
  REQUIRE(a);
  CHECK(a->status == 401);
  CHECK(a->header("WWW-Authenticate") == "Basic realm=\"site\"");
  CHECK(origin.requests().at(0).header("Authorization") == "Basic dXNlcjpwdw==");
  client.send(get_request(origin.port(), "/file", "Range: bytes=2-4\r\n"));
  auto b = client.read_response();
  REQUIRE(b);
  CHECK(b->status == 206);
  CHECK(b->header("Content-Range") == "bytes 2-4/10");
  CHECK(b->header("X-Range-Seen") == "bytes=2-4");
  CHECK(b->body == "cde");
}

TEST_CASE("unknown status codes pass through as their class", "[loop][semantics]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 299 Something New\r\nContent-Length: 2\r\n\r\nok");
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port()));
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 299);
  CHECK(r->reason == "Something New");
  CHECK(r->body == "ok");
}

TEST_CASE("interim responses are not sent to HTTP/1.0 clients", "[loop][semantics]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n");
    c.write(TestOrigin::response(200, "final"));
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send("GET http://" + authority(origin) + "/ HTTP/1.0\r\n\r\n");
  std::string raw = client.read_until_close();
  CHECK(raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(raw.find("103") == std::string::npos);
  CHECK(raw.find("final") != std::string::npos);
}

TEST_CASE("a refusal with Expect: 100-continue sends no 100 and never parses the body",
          "[loop][semantics]") {
  TestOrigin origin(reply_ok);
  ProxyHarness h([](Config& c) { c.limits.max_request_body_bytes = 10; });
  TestClient client(h.port());
  // The body looks like a request: it must never be taken as one.
  std::string body = "GET http://" + authority(origin) + "/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  client.send("POST http://" + authority(origin) + "/ HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(r->header("Connection") == "close");
  client.send(body);
  CHECK(client.wait_closed());
  CHECK(origin.requests().empty());
}

TEST_CASE("100 Continue from the origin reaches the client before the body is sent",
          "[loop][semantics]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write(TestOrigin::response(200, "stored " + std::to_string(r.body.size())));
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send("PUT http://" + authority(origin) + "/f HTTP/1.1\r\nHost: " + authority(origin) +
              "\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  client.send("hello");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "stored 5");
  CHECK(origin.requests().at(0).header("Expect") == "100-continue");
}
