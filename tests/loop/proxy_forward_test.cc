// Forwarding through a real proxy loop: heads, bodies both ways, keep-alive, pipelining.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>

#include "tests/loop/proxy_harness.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

std::string pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 1024) % 26);
  return s;
}

// Echoes the request body back with Content-Length.
void echo_handler(const OriginRequest& r, OriginConnection& c) {
  c.write(TestOrigin::response(200, r.body, "Content-Type: application/octet-stream\r\n"));
}

}  // namespace

TEST_CASE("absolute-form GET is rewritten to origin-form with Host, Via and no hop fields",
          "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write(TestOrigin::response(200, "hello", "Connection: X-Drop\r\nX-Drop: 1\r\nX-Keep: 2\r\n"));
  });
  ProxyHarness h;
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("GET http://" + authority + "/path?q=1 HTTP/1.1\r\nHost: wrong.example\r\n" +
              "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
              "Connection: X-Secret\r\nX-Secret: s\r\nUser-Agent: test\r\n\r\n");
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  CHECK(resp->body == "hello");
  CHECK(resp->header("X-Keep") == "2");
  CHECK(resp->header("X-Drop").empty());
  CHECK(resp->header("Via") == "1.1 gatehouse");

  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 1);
  const auto& r = reqs[0];
  CHECK(r.method == "GET");
  CHECK(r.target == "/path?q=1");
  CHECK(r.header("Host") == authority);
  CHECK(count_header(r.headers, "Host") == 1);
  CHECK(r.header("Via") == "1.1 gatehouse");
  CHECK(r.header("User-Agent") == "test");
  CHECK(count_header(r.headers, "Proxy-Connection") == 0);
  CHECK(count_header(r.headers, "Proxy-Authorization") == 0);
  CHECK(count_header(r.headers, "X-Secret") == 0);
  CHECK(count_header(r.headers, "Connection") == 0);
}

TEST_CASE("1 MiB bodies stream both ways with Content-Length", "[loop][proxy]") {
  TestOrigin origin(echo_handler);
  ProxyHarness h;
  TestClient client(h.port());
  std::string body = pattern(1 << 20);
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("POST http://" + authority + "/up HTTP/1.1\r\nHost: " + authority +
              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  CHECK(resp->body.size() == body.size());
  CHECK(resp->body == body);
  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].header("Content-Length") == std::to_string(body.size()));
  CHECK_FALSE(reqs[0].chunked);
}

TEST_CASE("chunked bodies stream both ways", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    std::string out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    // Echo the body in uneven chunks, with an extension the proxy must not forward.
    size_t off = 0, step = 1;
    while (off < r.body.size()) {
      size_t n = std::min(step, r.body.size() - off);
      char size[32];
      snprintf(size, sizeof size, "%zx;ext=1\r\n", n);
      out += size + r.body.substr(off, n) + "\r\n";
      off += n;
      step = step * 3 + 1;
    }
    out += "0\r\n\r\n";
    c.write(out);
  });
  ProxyHarness h;
  TestClient client(h.port());
  std::string body = pattern(1 << 20);
  std::string authority = "origin.test:" + std::to_string(origin.port());
  std::string req = "POST http://" + authority + "/c HTTP/1.1\r\nHost: " + authority +
                    "\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (size_t off = 0; off < body.size(); off += 100000) {
    size_t n = std::min<size_t>(100000, body.size() - off);
    char size[32];
    snprintf(size, sizeof size, "%zx\r\n", n);
    req += size + body.substr(off, n) + "\r\n";
  }
  req += "0\r\n\r\n";
  client.send(req);
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  CHECK(resp->chunked);
  CHECK(resp->body == body);
  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 1);
  CHECK(reqs[0].chunked);
  CHECK(reqs[0].body == body);
  CHECK(count_header(reqs[0].headers, "Content-Length") == 0);
}

TEST_CASE("HEAD responses carry no body and the connection stays usable", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    if (r.method == "HEAD") {
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n");
    } else {
      c.write(TestOrigin::response(200, "after-head"));
    }
  });
  ProxyHarness h;
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("HEAD http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  auto head = client.read_response(true);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->header("Content-Length") == "12345");
  client.send(get_request(origin.port()));
  auto next = client.read_response();
  REQUIRE(next);
  CHECK(next->body == "after-head");
}

TEST_CASE("204 and 304 responses carry no body", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    if (r.target == "/204") {
      c.write("HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n");
    } else {
      c.write("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
    }
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port(), "/204"));
  auto a = client.read_response();
  REQUIRE(a);
  CHECK(a->status == 204);
  CHECK(a->body.empty());
  CHECK(a->header("Transfer-Encoding").empty());
  client.send(get_request(origin.port(), "/304"));
  auto b = client.read_response();
  REQUIRE(b);
  CHECK(b->status == 304);
  CHECK(b->header("ETag") == "\"x\"");
}

TEST_CASE("keep-alive: 10 sequential requests use one upstream connection", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write(TestOrigin::response(200, "n=" + r.target));
  });
  ProxyHarness h;
  TestClient client(h.port());
  for (int i = 0; i < 10; ++i) {
    client.send(get_request(origin.port(), "/" + std::to_string(i)));
    auto resp = client.read_response();
    REQUIRE(resp);
    CHECK(resp->body == "n=/" + std::to_string(i));
  }
  CHECK(origin.connections_accepted() == 1);
  CHECK(h.server->stats().upstream_reuses == 9);

  // A new client connection also gets the pooled upstream connection.
  TestClient other(h.port());
  other.send(get_request(origin.port(), "/other"));
  auto resp = other.read_response();
  REQUIRE(resp);
  CHECK(origin.connections_accepted() == 1);
}

TEST_CASE("pipelined requests are answered in order; N+1 is never N's body", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write(TestOrigin::response(200, r.method + " " + r.target + " [" + r.body + "]"));
  });
  ProxyHarness h;
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  std::string post_body = "GET http://" + authority + "/smuggled HTTP/1.1\r\n\r\n";
  std::string all = get_request(origin.port(), "/one") + "POST http://" + authority +
                    "/two HTTP/1.1\r\nHost: " + authority +
                    "\r\nContent-Length: " + std::to_string(post_body.size()) + "\r\n\r\n" +
                    post_body + get_request(origin.port(), "/three");
  client.send(all);
  auto r1 = client.read_response();
  auto r2 = client.read_response();
  auto r3 = client.read_response();
  REQUIRE(r1);
  REQUIRE(r2);
  REQUIRE(r3);
  CHECK(r1->body == "GET /one []");
  CHECK(r2->body == "POST /two [" + post_body + "]");
  CHECK(r3->body == "GET /three []");
  CHECK(origin.requests().size() == 3);
}

TEST_CASE("a close-delimited response reaches a 1.1 client re-framed as chunked", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
    c.close();
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port()));
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  CHECK(resp->chunked);
  CHECK(resp->body == "until the end");
  // The client connection stays usable.
  client.send(get_request(origin.port()));
  auto again = client.read_response();
  REQUIRE(again);
  CHECK(again->body == "until the end");
}

TEST_CASE("an HTTP/1.0 client gets a close-delimited body and Connection: close", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send("GET http://origin.test:" + std::to_string(origin.port()) + "/ HTTP/1.0\r\n\r\n");
  std::string raw = client.read_until_close();
  CHECK(raw.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  CHECK(raw.find("Transfer-Encoding") == std::string::npos);
  CHECK(raw.find("Connection: close\r\n") != std::string::npos);
  CHECK(raw.substr(raw.size() - 5) == "hello");
}

TEST_CASE("100-continue interim responses are forwarded to 1.1 clients", "[loop][proxy]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write("HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n");
    c.write(TestOrigin::response(201, "got " + std::to_string(r.body.size())));
  });
  ProxyHarness h;
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("POST http://" + authority + "/ HTTP/1.1\r\nHost: " + authority +
              "\r\nContent-Length: 3\r\n\r\nabc");
  auto hint = client.read_response();
  REQUIRE(hint);
  CHECK(hint->status == 103);
  CHECK(hint->header("Link") == "</s.css>; rel=preload");
  auto final = client.read_response();
  REQUIRE(final);
  CHECK(final->status == 201);
  CHECK(final->body == "got 3");
}

TEST_CASE("a reused upstream connection that fails is retried once for GET", "[loop][proxy]") {
  std::atomic<int> seen{0};
  TestOrigin origin([&](const OriginRequest&, OriginConnection& c) {
    if (seen.fetch_add(1) == 1) {
      c.reset();  // second request, on the reused connection: fail before answering
      return;
    }
    c.write(TestOrigin::response(200, "fine"));
  });
  ProxyHarness h;
  TestClient client(h.port());
  client.send(get_request(origin.port(), "/a"));
  auto first = client.read_response();
  REQUIRE(first);
  client.send(get_request(origin.port(), "/b"));
  auto second = client.read_response();
  REQUIRE(second);
  CHECK(second->status == 200);
  CHECK(second->body == "fine");
  CHECK(origin.connections_accepted() == 2);
  CHECK(h.server->stats().upstream_retries == 1);
}

TEST_CASE("a slow reader keeps the proxy's buffering bounded (1 GiB download)",
          "[loop][proxy][slow]") {
  constexpr uint64_t kTotal = 1ull << 30;
  std::atomic<uint64_t> written{0};
  TestOrigin origin([&](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(kTotal) + "\r\n\r\n");
    std::string block(256 * 1024, 'z');
    for (uint64_t sent = 0; sent < kTotal; sent += block.size()) {
      if (!c.write(block)) return;
      written += block.size();
    }
  });
  ProxyHarness h;
  TestClient client(h.port(), std::chrono::seconds(60));
  // A small receive buffer makes this client slow to drain.
  int small = 16 * 1024;
  setsockopt(client.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  client.send(get_request(origin.port(), "/big"));

  // Read nothing until the proxy has had to stop reading the origin at least once.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (h.server->stats().backpressure_pauses == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  REQUIRE(h.server->stats().backpressure_pauses > 0);

  // Now drain everything, counting bytes, without keeping them.
  auto head = client.read_exact(1);
  REQUIRE(head);
  std::string buf;
  uint64_t got = 0;
  bool in_body = false;
  std::string acc = *head;
  while (!in_body) {
    auto more = client.read_exact(1);
    REQUIRE(more);
    acc += *more;
    if (acc.size() >= 4 && acc.compare(acc.size() - 4, 4, "\r\n\r\n") == 0) in_body = true;
  }
  CHECK(acc.find("Content-Length: " + std::to_string(kTotal)) != std::string::npos);
  while (got < kTotal) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(kTotal - got, 1 << 20));
    auto part = client.read_exact(want);
    REQUIRE(part);
    got += part->size();
  }
  CHECK(got == kTotal);
  // Bound: per direction at most 256 KiB queued plus the chunk being read (64 KiB each);
  // the peak counts every pooled chunk alive at once in the worker.
  uint64_t peak_bytes = h.server->stats().chunks_peak * 64 * 1024;
  INFO("peak proxy chunk memory: " << peak_bytes << " bytes");
  CHECK(peak_bytes <= 1024 * 1024);
}
