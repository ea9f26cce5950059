// Tests of the test helpers against each other: TestClient talks straight to TestOrigin
// (no proxy), run_command drives curl against TestOrigin, ProxyProcess runs a shell
// stand-in for gatehouse.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/client.h"
#include "tests/support/origin.h"
#include "tests/support/process.h"

namespace gatehouse::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string get(std::string_view target, std::string_view extra = "") {
  std::string req = "GET " + std::string(target) + " HTTP/1.1\r\nHost: origin\r\n";
  req.append(extra);
  return req + "\r\n";
}

// Answers every request with its target and the index of its connection.
void echo_target(const OriginRequest& req, OriginConnection& conn) {
  conn.write(TestOrigin::response(200, req.method + " " + req.target,
                                  "X-Conn: " + std::to_string(req.connection_index) + "\r\n"));
}

bool file_exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

TEST_CASE("find_header and count_header ignore case", "[loop][support]") {
  Headers h = {{"Content-Type", "text/plain"}, {"Via", "a"}, {"via", "b"}};
  CHECK(find_header(h, "content-type") == "text/plain");
  CHECK(find_header(h, "VIA") == "a");
  CHECK(find_header(h, "Missing").empty());
  CHECK(count_header(h, "Via") == 2);
  CHECK(count_header(h, "X") == 0);
  CHECK(TestOrigin::response(404, "nope", "X-A: 1\r\n") ==
        "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\nX-A: 1\r\n\r\nnope");
}

TEST_CASE("keep-alive: several requests on one connection", "[loop][support]") {
  TestOrigin origin(echo_target);
  TestClient client(origin.port());
  REQUIRE(client.connected());
  size_t expected = 0;

  SECTION("one after another") {
    expected = 3;
    for (int i = 0; i < 3; ++i) {
      std::string target = "/seq/" + std::to_string(i);
      REQUIRE(client.send(get(target)));
      auto resp = client.read_response();
      REQUIRE(resp);
      CHECK(resp->status == 200);
      CHECK(resp->reason == "OK");
      CHECK(resp->version == "HTTP/1.1");
      CHECK(resp->body == "GET " + target);
      CHECK(resp->header("x-conn") == "0");
      CHECK(resp->header("Content-Length") == std::to_string(resp->body.size()));
    }
  }
  SECTION("pipelined in one write") {
    expected = 3;
    REQUIRE(client.send(get("/p/0") + get("/p/1") + get("/p/2")));
    for (int i = 0; i < 3; ++i) {
      auto resp = client.read_response();
      REQUIRE(resp);
      CHECK(resp->body == "GET /p/" + std::to_string(i));
    }
  }
  SECTION("a request split byte by byte") {
    expected = 1;
    std::string req = get("/slow", "X-Long: " + std::string(100, 'v') + "\r\n");
    for (char c : req) REQUIRE(client.send(std::string_view(&c, 1)));
    auto resp = client.read_response();
    REQUIRE(resp);
    CHECK(resp->body == "GET /slow");
  }

  CHECK(origin.wait_for_requests(expected, 0ms) == expected);  // all answered already
  CHECK(origin.connections_accepted() == 1);
  for (const auto& req : origin.requests()) {
    CHECK(req.connection_index == 0);
    CHECK(req.version == "HTTP/1.1");
    CHECK(req.header("HOST") == "origin");
  }
}

TEST_CASE("chunked request body and chunked response", "[loop][support]") {
  TestOrigin origin([](const OriginRequest& req, OriginConnection& conn) {
    if (req.method == "POST") {
      conn.write(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
          "4\r\ngot:\r\n");
      char size[16];
      std::snprintf(size, sizeof size, "%zx", req.body.size());  // chunk sizes are hex
      conn.write(size + ("\r\n" + req.body) + "\r\n");
      conn.write("0\r\nX-Trailer: t\r\n\r\n");
    } else {
      echo_target(req, conn);
    }
  });
  TestClient client(origin.port());
  REQUIRE(client.connected());
  REQUIRE(
      client.send("POST /up HTTP/1.1\r\nHost: origin\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "5\r\nhello\r\n"));
  REQUIRE(client.send("6\r\n world\r\n0\r\n\r\n"));
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->status == 200);
  CHECK(resp->chunked);
  CHECK(resp->body == "got:hello world");

  // The chunked response ended exactly at its last chunk: the next one parses cleanly.
  REQUIRE(client.send(get("/after")));
  auto next = client.read_response();
  REQUIRE(next);
  CHECK_FALSE(next->chunked);
  CHECK(next->body == "GET /after");

  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 2);
  CHECK(reqs[0].method == "POST");
  CHECK(reqs[0].chunked);
  CHECK(reqs[0].body == "hello world");
  CHECK_FALSE(reqs[1].chunked);
  CHECK(reqs[1].body.empty());
}

TEST_CASE("request with Content-Length body", "[loop][support]") {
  TestOrigin origin([](const OriginRequest& req, OriginConnection& conn) {
    conn.write(TestOrigin::response(200, req.body));
  });
  TestClient client(origin.port());
  std::string body(100000, 'x');
  REQUIRE(client.send("PUT /big HTTP/1.1\r\nHost: o\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body));
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->body == body);
  REQUIRE(origin.requests().size() == 1);
  CHECK_FALSE(origin.requests()[0].chunked);
}

TEST_CASE("HEAD response has no body", "[loop][support]") {
  // The answer to HEAD is held back and sent in one write with the answer to the GET,
  // so the client must stop exactly after the bodiless HEAD response. Both requests use
  // one connection, so `held` is only touched by that connection's thread.
  std::string held;
  TestOrigin origin([&held](const OriginRequest& req, OriginConnection& conn) {
    if (req.method == "HEAD") {
      held = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    } else {
      conn.write(held + TestOrigin::response(200, "0123456789"));
    }
  });
  TestClient client(origin.port());
  REQUIRE(client.send("HEAD /h HTTP/1.1\r\nHost: o\r\n\r\n" + get("/g")));
  auto head = client.read_response(/*head=*/true);
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->header("Content-Length") == "10");
  CHECK(head->body.empty());
  auto got = client.read_response();
  REQUIRE(got);
  CHECK(got->body == "0123456789");
}

TEST_CASE("several responses in one write are split exactly", "[loop][support]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& conn) {
    conn.write(TestOrigin::response(200, "first") +
               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n" +
               "HTTP/1.1 204 No Content\r\n\r\n" + TestOrigin::response(200, "fourth"));
  });
  TestClient client(origin.port());
  REQUIRE(client.send(get("/all")));
  auto a = client.read_response();
  auto b = client.read_response();
  auto c = client.read_response();
  auto d = client.read_response();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  REQUIRE(d);
  CHECK(a->body == "first");
  CHECK(b->chunked);
  CHECK(b->body == "second");
  CHECK(c->status == 204);
  CHECK(c->body.empty());
  CHECK(d->body == "fourth");
}

TEST_CASE("100 Continue is returned on its own, then the final response", "[loop][support]") {
  TestOrigin origin([](const OriginRequest& req, OriginConnection& conn) {
    conn.write("HTTP/1.1 100 Continue\r\n\r\n" + TestOrigin::response(201, "stored " + req.body));
  });
  TestClient client(origin.port());
  REQUIRE(client.send(
      "POST /c HTTP/1.1\r\nHost: o\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc"));
  auto interim = client.read_response();
  REQUIRE(interim);
  CHECK(interim->status == 100);
  CHECK(interim->reason == "Continue");
  CHECK(interim->body.empty());
  auto final_resp = client.read_response();
  REQUIRE(final_resp);
  CHECK(final_resp->status == 201);
  CHECK(final_resp->body == "stored abc");
  CHECK(origin.requests().at(0).header("expect") == "100-continue");
}

TEST_CASE("close-delimited response", "[loop][support]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& conn) {
    conn.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1,");
    conn.write("part2");
    conn.close();
  });
  TestClient client(origin.port());
  REQUIRE(client.send(get("/eof")));

  SECTION("read_response ends the body at EOF") {
    auto resp = client.read_response();
    REQUIRE(resp);
    CHECK(resp->status == 200);
    CHECK(resp->body == "part1,part2");
    CHECK_FALSE(client.read_response());  // nothing more: EOF
  }
  SECTION("read_until_close returns the raw bytes") {
    CHECK(client.read_until_close() == "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\npart1,part2");
  }
  SECTION("read_exact keeps the rest buffered") {
    CHECK(client.read_exact(8) == "HTTP/1.1");
    auto rest = client.read_until_close();
    CHECK(rest == " 200 OK\r\nConnection: close\r\n\r\npart1,part2");
    CHECK_FALSE(client.read_exact(1));
  }
}

TEST_CASE("handler that closes without answering", "[loop][support]") {
  bool use_reset = GENERATE(false, true);
  TestOrigin origin([use_reset](const OriginRequest&, OriginConnection& conn) {
    if (use_reset) {
      conn.reset();
    } else {
      conn.close();
    }
  });
  TestClient client(origin.port(), 10s);
  REQUIRE(client.send(get("/drop")));
  auto start = Clock::now();
  CHECK_FALSE(client.read_response());
  CHECK(Clock::now() - start < 5s);  // EOF/reset, not the 10 s timeout
  CHECK(client.wait_closed());
  CHECK(origin.wait_for_requests(1, 5s) == 1);
}

TEST_CASE("wait_closed on a connection the origin closes after answering", "[loop][support]") {
  TestOrigin origin([](const OriginRequest& req, OriginConnection& conn) {
    echo_target(req, conn);
    conn.close();
  });
  TestClient client(origin.port());
  REQUIRE(client.send(get("/x")));
  CHECK(client.wait_closed());  // discards the response, then sees EOF
}

TEST_CASE("timeouts: a silent origin fails reads instead of hanging", "[loop][support]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection&) {});  // never answers
  TestClient client(origin.port(), 200ms);
  REQUIRE(client.send(get("/silent")));
  auto start = Clock::now();
  CHECK_FALSE(client.read_response());
  CHECK(Clock::now() - start >= 200ms);
  CHECK_FALSE(client.read_exact(1));
  CHECK_FALSE(client.wait_closed());
  // The connection is still open: the origin read the request and kept waiting.
  CHECK(origin.wait_for_requests(1, 5s) == 1);
}

TEST_CASE("malformed response is a parse error", "[loop][support]") {
  TestOrigin origin(
      [](const OriginRequest&, OriginConnection& conn) { conn.write("NOT HTTP AT ALL\r\n\r\n"); });
  TestClient client(origin.port());
  REQUIRE(client.send(get("/bad")));
  auto start = Clock::now();
  CHECK_FALSE(client.read_response());
  CHECK(Clock::now() - start < 5s);
}

TEST_CASE("origin closes the connection on a malformed request", "[loop][support]") {
  TestOrigin origin(echo_target);
  TestClient client(origin.port());
  REQUIRE(client.send("GARBAGE\x01 / HTTP/1.1\r\n\r\n"));
  CHECK(client.wait_closed());
  CHECK(origin.requests().empty());
}

TEST_CASE("connection_index counts accepted connections", "[loop][support]") {
  TestOrigin origin(echo_target);
  for (int i = 0; i < 3; ++i) {
    TestClient client(origin.port());
    REQUIRE(client.send(get("/c")));
    auto resp = client.read_response();
    REQUIRE(resp);
    CHECK(resp->header("X-Conn") == std::to_string(i));
  }
  CHECK(origin.connections_accepted() == 3);
  auto reqs = origin.requests();
  REQUIRE(reqs.size() == 3);
  for (size_t i = 0; i < reqs.size(); ++i) CHECK(reqs[i].connection_index == i);
}

TEST_CASE("wait_for_requests blocks until requests arrive", "[loop][support]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection&) {});  // never answers
  CHECK(origin.wait_for_requests(0, 0ms) == 0);
  CHECK(origin.wait_for_requests(1, 50ms) == 0);  // times out
  TestClient a(origin.port());
  TestClient b(origin.port());
  REQUIRE(a.send(get("/a")));
  REQUIRE(b.send(get("/b")));
  CHECK(origin.wait_for_requests(2, 10s) == 2);
  CHECK(origin.connections_accepted() == 2);
  std::vector<std::string> targets;
  for (const auto& r : origin.requests()) targets.push_back(r.target);
  std::sort(targets.begin(), targets.end());
  CHECK(targets == std::vector<std::string>{"/a", "/b"});
}

TEST_CASE("handler reads bytes sent after the request", "[loop][support]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& conn) {
    conn.write("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n");
    std::string got;
    while (got.size() < 10) {
      std::string part = conn.read_some(64, 5s);
      if (part.empty()) break;
      got += part;
    }
    conn.write(got);
    conn.shutdown_write();
    conn.read_some(1, 5s);  // wait for the client's EOF before closing
  });
  TestClient client(origin.port());
  // The first tunnelled bytes travel in the same write as the request.
  REQUIRE(client.send(get("/up", "Connection: upgrade\r\nUpgrade: echo\r\n") + "01234"));
  auto resp = client.read_response();
  REQUIRE(resp);
  CHECK(resp->status == 101);
  REQUIRE(client.send("56789"));
  CHECK(client.read_exact(10) == "0123456789");
  client.shutdown_write();
  CHECK(client.read_until_close().empty());
}

TEST_CASE("the origin destructor does not wait for idle connections", "[loop][support]") {
  auto origin = std::make_unique<TestOrigin>(echo_target);
  TestClient idle(origin->port());
  TestClient half(origin->port());
  REQUIRE(idle.connected());
  REQUIRE(half.send("GET /half HTTP/1.1\r\nHo"));
  TestClient done(origin->port());
  REQUIRE(done.send(get("/done")));
  REQUIRE(done.read_response());
  auto start = Clock::now();
  origin.reset();
  CHECK(Clock::now() - start < 5s);
  CHECK(idle.wait_closed());
  CHECK(half.wait_closed());
  CHECK(done.wait_closed());
}

TEST_CASE("TestClient on a closed port is not connected", "[loop][support]") {
  uint16_t port;
  {
    TestOrigin origin(echo_target);
    port = origin.port();
  }
  TestClient client(port);
  CHECK_FALSE(client.connected());
  CHECK_FALSE(client.send("x"));
  CHECK_FALSE(client.read_response());
}

TEST_CASE("run_command drives curl against the origin", "[loop][support]") {
  TestOrigin origin(echo_target);
  std::string url = "http://127.0.0.1:" + std::to_string(origin.port()) + "/x";
  CommandResult r = run_command({"curl", "-s", "-o", "-", url});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "GET /x");
  REQUIRE(origin.requests().size() == 1);
  CHECK(origin.requests()[0].target == "/x");
  CHECK(origin.requests()[0].header("User-Agent").rfind("curl/", 0) == 0);
}

TEST_CASE("run_command reports exit code, stdout and stderr", "[loop][support]") {
  CommandResult r = run_command({"sh", "-c", "echo out; echo err >&2; exit 3"});
  CHECK(r.exit_code == 3);
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");

  // stdin is not the test's stdin: cat sees EOF at once.
  CommandResult cat = run_command({"cat"}, 10s);
  CHECK(cat.exit_code == 0);
  CHECK(cat.out.empty());

  // Large outputs on both pipes do not deadlock.
  CommandResult big =
      run_command({"sh", "-c", "head -c 300000 /dev/zero; head -c 300000 /dev/zero >&2"});
  CHECK(big.exit_code == 0);
  CHECK(big.out.size() == 300000);
  CHECK(big.err.size() == 300000);
}

TEST_CASE("run_command kills a command at the timeout", "[loop][support]") {
  auto start = Clock::now();
  CommandResult r = run_command({"sleep", "30"}, 200ms);
  CHECK(r.exit_code == -1);
  CHECK(Clock::now() - start < 10s);

  // Exit by signal is -1 too.
  CHECK(run_command({"sh", "-c", "kill -9 $$"}).exit_code == -1);
}

TEST_CASE("run_command returns when the command exits, not when its pipes close",
          "[loop][support]") {
  // The background sleep inherits stdout and stderr and outlives the shell.
  auto start = Clock::now();
  CommandResult r = run_command({"sh", "-c", "echo started; sleep 5 & exit 4"}, 20s);
  CHECK(Clock::now() - start < 4s);
  CHECK(r.exit_code == 4);
  CHECK(r.out == "started\n");
}

TEST_CASE("run_command with an unknown program", "[loop][support]") {
  CommandResult r = run_command({"gatehouse-no-such-program-xyz"});
  CHECK(r.exit_code == 127);
  CHECK_FALSE(r.err.empty());
}

TEST_CASE("run_command does not leak the test's sockets to children", "[loop][support]") {
  TestOrigin origin(echo_target);
  TestClient client(origin.port());
  REQUIRE(client.send(get("/open")));
  REQUIRE(client.read_response());  // listener, wake pipe and both connection ends exist
  CommandResult r =
      run_command({"sh", "-c", "for f in /proc/$$/fd/*; do readlink \"$f\" || :; done"});
  REQUIRE(r.exit_code == 0);
  CHECK_FALSE(r.out.empty());
  CHECK(r.out.find("socket:") == std::string::npos);
}

TEST_CASE("TempFile holds its content and is removed", "[loop][support]") {
  std::string path;
  {
    TempFile f("listen = \"127.0.0.1:0\"\n");
    path = f.path();
    CHECK(path.rfind("/tmp/", 0) == 0);
    CHECK(path.size() > 5);
    CHECK(path.substr(path.size() - 5) == ".toml");
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    CHECK(ss.str() == "listen = \"127.0.0.1:0\"\n");

    TempFile other("x", ".pem");
    CHECK(other.path() != path);
    CHECK(other.path().substr(other.path().size() - 4) == ".pem");
  }
  CHECK_FALSE(file_exists(path));
}

TEST_CASE("ProxyProcess with a stand-in program", "[loop][support]") {
  SECTION("port, stderr and SIGTERM") {
    ProxyProcess p("/bin/sh", {"-c",
                               "echo \"gatehouse: info: listening on 127.0.0.1:4242\" >&2; "
                               "exec sleep 30"});
    CHECK(p.port() == 4242);
    CHECK(p.pid() > 0);
    CHECK(p.wait_for_stderr("info: listening", 5s));
    CHECK_FALSE(p.wait_for_stderr("never printed", 50ms));
    CHECK(p.stderr_text() == "gatehouse: info: listening on 127.0.0.1:4242\n");
    p.send_signal(SIGTERM);
    auto start = Clock::now();
    CHECK(p.wait_exit(10s) == -1);  // died by the signal
    CHECK(Clock::now() - start < 5s);
    p.send_signal(SIGTERM);  // reaped already: a no-op, not a kill of a recycled pid
  }
  SECTION("exit code after a trapped SIGTERM") {
    ProxyProcess p("/bin/sh", {"-c",
                               "trap 'echo bye >&2; kill $! 2>/dev/null; exit 7' TERM; "
                               "echo 'listening on [::1]:5151' >&2; sleep 30 & wait"});
    CHECK(p.port() == 5151);
    CHECK(p.wait_exit(50ms) == -1);  // still running
    p.send_signal(SIGTERM);
    CHECK(p.wait_exit(10s) == 7);
    CHECK(p.wait_exit(0ms) == 7);
    CHECK(p.wait_for_stderr("bye", 5s));
  }
  SECTION("a listening line split across writes") {
    ProxyProcess p("/bin/sh", {"-c",
                               "printf 'listening on 127.0.0.1:12' >&2; sleep 0.2; "
                               "printf '34\\nmore\\n' >&2; exec sleep 30"});
    CHECK(p.port() == 1234);
  }
  SECTION("a program that exits without listening") {
    auto start = Clock::now();
    ProxyProcess p("/bin/sh", {"-c", "echo 'error: bad config' >&2; exit 2"});
    CHECK(Clock::now() - start < 5s);
    CHECK(p.port() == 0);
    CHECK(p.wait_exit(10s) == 2);
    CHECK(p.stderr_text() == "error: bad config\n");
  }
  SECTION("the destructor does not wait for a grandchild holding stderr") {
    auto start = Clock::now();
    {
      ProxyProcess p("/bin/sh", {"-c",
                                 "echo 'listening on 127.0.0.1:4343' >&2; "
                                 "sleep 5 & exec sleep 30"});
      CHECK(p.port() == 4343);
    }
    CHECK(Clock::now() - start < 4s);
  }
  SECTION("a program that cannot be started") {
    CHECK_THROWS(ProxyProcess("/nonexistent/gatehouse", {}));
  }
}

}  // namespace
}  // namespace gatehouse::test
