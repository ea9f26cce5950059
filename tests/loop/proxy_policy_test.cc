// Access policy through a real loop: proxy authentication, destination rules, MIME
// filters, redirect chains, and the error bodies each refusal produces.
#include <catch2/catch.hpp>

#include <crypt.h>
#include <poll.h>

#include "tests/loop/proxy_harness.h"
#include "tests/support/process.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

// An htpasswd line for user:password with a cheap bcrypt cost (tests only).
std::string htpasswd_line(const std::string& user, const std::string& password) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", 4, nullptr, 0, salt, sizeof salt) != nullptr);
  crypt_data data{};
  const char* hash = crypt_r(password.c_str(), salt, &data);
  REQUIRE(hash != nullptr);
  return user + ":" + hash + "\n";
}

std::string basic(const std::string& user_pass) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < user_pass.size(); i += 3) {
    uint32_t v = (uint8_t(user_pass[i]) << 16) | (uint8_t(user_pass[i + 1]) << 8) |
                 uint8_t(user_pass[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += k[(v >> s) & 63];
  }
  if (i + 1 == user_pass.size()) {
    uint32_t v = uint8_t(user_pass[i]) << 16;
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == user_pass.size()) {
    uint32_t v = (uint8_t(user_pass[i]) << 16) | (uint8_t(user_pass[i + 1]) << 8);
    out += k[(v >> 18) & 63];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return "Basic " + out;
}

void hello(const OriginRequest& r, OriginConnection& c) {
  c.write(TestOrigin::response(
      200, "hello " + r.target + " auth=[" + r.header("Proxy-Authorization") + "]"));
}

}  // namespace

TEST_CASE("proxy authentication: 407 keeps the connection, good credentials pass, never forwarded",
          "[loop][policy]") {
  TempFile users(htpasswd_line("alice", "wonderland"), ".htpasswd");
  TestOrigin origin(hello);
  ProxyHarness h([&](Config& c) {
    c.auth.htpasswd = users.path();
    c.auth.realm = "office";
  });
  TestClient client(h.port());
  client.send(get_request(origin.port(), "/a"));
  auto challenge = client.read_response();
  REQUIRE(challenge);
  CHECK(challenge->status == 407);
  CHECK(challenge->header("Proxy-Authenticate") == "Basic realm=\"office\", charset=\"UTF-8\"");
  CHECK(challenge->header("Connection").empty());  // a bodiless request keeps the connection

  client.send(get_request(origin.port(), "/b",
                          "Proxy-Authorization: " + basic("alice:wonderland") + "\r\n"));
  auto ok = client.read_response();
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(ok->body == "hello /b auth=[]");

  client.send(
      get_request(origin.port(), "/c", "Proxy-Authorization: " + basic("alice:wrong") + "\r\n"));
  auto wrong = client.read_response();
  REQUIRE(wrong);
  CHECK(wrong->status == 407);
  client.send(
      get_request(origin.port(), "/d", "Proxy-Authorization: " + basic("mallory:wrong") + "\r\n"));
  auto unknown = client.read_response();
  REQUIRE(unknown);
  CHECK(unknown->status == 407);
  // The answer never tells whether the user exists.
  for (const auto* r : {&*wrong, &*unknown}) {
    CHECK_THAT(r->body, Catch::Contains("were not accepted"));
    CHECK_THAT(r->body, !Catch::Contains("alice") && !Catch::Contains("mallory"));
    CHECK_THAT(r->body, !Catch::Contains("unknown user") && !Catch::Contains("wrong password"));
  }
  CHECK(origin.requests().size() == 1);
  CHECK(h.server->stats().requests >= 4);

  // CONNECT needs credentials too; local endpoints do not.
  TestClient tunnel(h.port());
  tunnel.send("CONNECT origin.test:443 HTTP/1.1\r\nHost: origin.test:443\r\n\r\n");
  auto t = tunnel.read_response(true);
  REQUIRE(t);
  CHECK(t->status == 407);
  TestClient health(h.port());
  health.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  auto hz = health.read_response();
  REQUIRE(hz);
  CHECK(hz->status == 200);
}

TEST_CASE("destination rules refuse with 403 naming the rule", "[loop][policy]") {
  ProxyHarness h([](Config& c) {
    c.access.deny_destinations = {"*.blocked.test", "192.0.2.0/24"};
  });
  TestClient client(h.port());
  client.send("GET http://www.blocked.test/ HTTP/1.1\r\nHost: www.blocked.test\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 403);
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=http_request_denied"));
  CHECK_THAT(r->body, Catch::Contains("*.blocked.test"));
  client.send("CONNECT 192.0.2.7:443 HTTP/1.1\r\nHost: 192.0.2.7:443\r\n\r\n");
  auto c = client.read_response(true);
  REQUIRE(c);
  CHECK(c->status == 403);
}

TEST_CASE("MIME filters: blocked request bodies get 415, blocked responses 403", "[loop][policy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    if (r.target == "/exe") {
      c.write(TestOrigin::response(200, "MZ....", "Content-Type: application/x-msdownload\r\n"));
    } else {
      c.write(TestOrigin::response(200, "fine", "Content-Type: text/plain; charset=utf-8\r\n"));
    }
  });
  ProxyHarness h([](Config& c) {
    c.mime.deny_responses = {"application/x-msdownload", "video/*"};
    c.mime.deny_requests = {"application/x-www-form-urlencoded"};
  });
  TestClient client(h.port());
  client.send(get_request(origin.port(), "/exe"));
  auto blocked = client.read_response();
  REQUIRE(blocked);
  CHECK(blocked->status == 403);
  CHECK_THAT(blocked->header("Proxy-Status"), Catch::Contains("received-status=200"));
  CHECK_THAT(blocked->body, Catch::Contains("application/x-msdownload"));
  client.send(get_request(origin.port(), "/txt"));
  auto fine = client.read_response();
  REQUIRE(fine);
  CHECK(fine->body == "fine");

  TestClient poster(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  poster.send(
      "POST http://" + authority + "/form HTTP/1.1\r\nHost: " + authority +
      "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\na=b");
  auto refused = poster.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 415);
  CHECK(origin.requests().size() == 2);
}

TEST_CASE("a redirect loop is cut with 508 listing the chain", "[loop][policy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    // /a -> /b -> /a -> ... forever.
    std::string next = r.target == "/a" ? "/b" : "/a";
    c.write(TestOrigin::response(302, "", "Location: " + next + "\r\n"));
  });
  ProxyHarness h([](Config& c) { c.redirects.max_chain = 5; });
  TestClient client(h.port());
  std::string path = "/a";
  std::optional<TestResponse> last;
  int hops = 0;
  for (; hops < 20; ++hops) {
    client.send(get_request(origin.port(), path, "Accept: application/json\r\n"));
    last = client.read_response();
    REQUIRE(last);
    if (last->status != 302) break;
    path = last->header("Location");
  }
  CHECK(last->status == 508);
  CHECK(hops == 5);
  CHECK_THAT(last->header("Content-Type"), Catch::StartsWith("application/problem+json"));
  CHECK_THAT(last->body, Catch::Contains("\"chain\""));
  CHECK_THAT(last->body, Catch::Contains("/a"));
  CHECK_THAT(last->header("Proxy-Status"), Catch::Contains("received-status=302"));
}

TEST_CASE("error bodies follow Accept and escape hostile values", "[loop][policy]") {
  ProxyHarness h;
  h.dns.set_rcode("evil.test", TestDnsServer::kNxDomain);
  std::string target = "http://evil.test/%3Cscript%3E<script>alert(1)</script>\"'";
  auto ask = [&](const std::string& accept) {
    TestClient client(h.port());
    client.send("GET " + target + " HTTP/1.1\r\nHost: evil.test\r\nAccept: " + accept + "\r\n\r\n");
    return client.read_response();
  };
  auto html = ask("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
  REQUIRE(html);
  CHECK(html->status == 502);
  CHECK_THAT(html->header("Content-Type"), Catch::StartsWith("text/html"));
  CHECK_THAT(html->body, Catch::Contains("<!doctype html>") || Catch::Contains("<!DOCTYPE html>"));
  CHECK_THAT(html->body, !Catch::Contains("<script>alert(1)"));
  CHECK_THAT(html->body, Catch::Contains("&lt;script&gt;"));
  CHECK_FALSE(html->header("X-Request-Id").empty());
  auto json = ask("application/json");
  REQUIRE(json);
  CHECK_THAT(json->header("Content-Type"), Catch::StartsWith("application/problem+json"));
  CHECK_THAT(json->body, Catch::Contains("\"status\":502") || Catch::Contains("\"status\": 502"));
  CHECK_THAT(json->body, Catch::Contains("dns_error"));
  auto text = ask("*/*");
  REQUIRE(text);
  CHECK_THAT(text->header("Content-Type"), Catch::StartsWith("text/plain"));
  CHECK_THAT(text->body, Catch::Contains("evil.test"));
}

TEST_CASE("other requests are answered while a bcrypt verification runs", "[loop][policy]") {
  // Cost 13: a verification takes a good fraction of a second, far longer than a local
  // /healthz round trip.
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn("$2b$", 13, nullptr, 0, salt, sizeof salt) != nullptr);
  crypt_data data{};
  std::string hash = crypt_r("slowpass", salt, &data);
  TempFile users("slow:" + hash + "\n", ".htpasswd");
  TestOrigin origin(hello);
  ProxyHarness h([&](Config& c) { c.auth.htpasswd = users.path(); });
  TestClient authed(h.port(), std::chrono::seconds(30));
  authed.send(
      get_request(origin.port(), "/s", "Proxy-Authorization: " + basic("slow:slowpass") + "\r\n"));
  TestClient other(h.port());
  other.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  auto quick = other.read_response();
  REQUIRE(quick);
  CHECK(quick->status == 200);
  // The authenticated request is still being verified: nothing has come back on it yet.
  pollfd p{authed.fd(), POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
  auto slow = authed.read_response();
  REQUIRE(slow);
  CHECK(slow->status == 200);
}
