// Listening: IPv4 and IPv6 addresses, several workers sharing one port, refusing a port
// another process serves, and closing every listening descriptor when draining.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>

#include <uv.h>
#include "proxy/metrics.h"

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

// Holds an origin's handler until the test opens it. The handler keeps the gate alive
// (shared_ptr), and an OpenOnExit declared after the origin opens it even when a REQUIRE
// fails, so the origin's destructor never waits for a handler blocked here.
class Gate {
 public:
  void open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

struct OpenOnExit {
  std::shared_ptr<Gate> gate;
  ~OpenOnExit() { gate->open(); }
};

// connect() to 127.0.0.1:port: 0 when a connection was established (by the kernel, which
// does that for any socket in LISTEN, whether or not anybody will ever accept), else errno.
int connect_result(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int r = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  ::close(fd);
  return r;
}

// A socket of some other program listening on 127.0.0.1 (port 0: the kernel picks one).
class ForeignListener {
 public:
  explicit ForeignListener(bool reuseport) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (reuseport) setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~ForeignListener() { ::close(fd_); }
  ForeignListener(const ForeignListener&) = delete;
  ForeignListener& operator=(const ForeignListener&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

// Starts a Server on 127.0.0.1:port; returns it, or nullptr with *error set.
std::unique_ptr<Server> start_on(uint16_t port, std::string* error,
                                 const std::function<void(Config&)>& tweak = {}) {
  Config c;
  c.server.listen = {{"127.0.0.1", port}};
  c.server.workers = 2;
  c.log.access = "off";
  if (tweak) tweak(c);
  auto s = std::make_unique<Server>(std::make_shared<const Config>(c));
  if (!s->start(error)) return nullptr;
  return s;
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

TEST_CASE("drain refuses new clients at once while an in-flight exchange finishes",
          "[loop][listen][drain]") {
  auto gate = std::make_shared<Gate>();
  TestOrigin origin([gate](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
    gate->wait();  // the rest comes once the test has checked the drained listeners
    c.write("-half");
  });
  OpenOnExit opener{gate};
  ProxyHarness h([](Config& c) { c.server.workers = 2; });
  uint16_t port = h.port();
  TestClient client(port);
  client.send(get_request(origin.port()));
  auto start = client.read_response(true);  // the response is under way
  REQUIRE(start);
  REQUIRE(start->status == 200);

  h.server->drain();
  // Not accepted by the kernel into a backlog nobody serves any more: refused outright,
  // on every worker's socket (several attempts land on different SO_REUSEPORT sockets).
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 8; ++i) CHECK(connect_result(port) == ECONNREFUSED);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(1));

  gate->open();
  CHECK(client.read_until_close() == "first-half");
  h.server->wait();
}

TEST_CASE("a drained server leaves no descriptor open, and so does a stopped one",
          "[loop][listen][drain]") {
  TestDnsServer dns;
  auto config = [&] {
    Config c;
    c.server.listen = {{"127.0.0.1", 0}, {"::1", 0}};
    c.server.workers = 2;
    c.resolver.servers = {{"127.0.0.1", dns.port()}};
    c.log.access = "off";
    return std::make_shared<const Config>(c);
  };
  // libuv opens a process-wide pipe pair with the first loop of a process (its signal
  // lock) and keeps it: make sure it exists before counting, so only leaks show.
  {
    uv_loop_t warm;
    REQUIRE(uv_loop_init(&warm) == 0);
    REQUIRE(uv_loop_close(&warm) == 0);
  }
  int64_t before = count_open_fds();
  REQUIRE(before > 0);
  {
    Server s(config());
    std::string error;
    REQUIRE(s.start(&error));
    {
      TestClient c(s.port());
      c.send("GET /healthz HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
      REQUIRE(c.read_response());
    }
    s.drain();
    s.wait();
    // The workers have finished; their listeners, spare duplicates, loops and resolvers
    // must be gone although the Server object still exists.
    CHECK(count_open_fds() == before);
    s.stop();
    CHECK(count_open_fds() == before);
  }
  {
    Server s(config());
    std::string error;
    REQUIRE(s.start(&error));
    s.stop();
    CHECK(count_open_fds() == before);
  }
  CHECK(count_open_fds() == before);
}

TEST_CASE("a second server on a port that is already served refuses to start",
          "[loop][listen][shared-port]") {
  SECTION("another Gatehouse") {
    ProxyHarness first([](Config& c) { c.server.workers = 2; });
    uint16_t port = first.port();
    std::string error;
    auto second = start_on(port, &error);
    CHECK_FALSE(second);
    CHECK_THAT(error, Catch::Contains("address already in use"));
    CHECK_THAT(error, Catch::Contains("127.0.0.1:" + std::to_string(port)));
    CHECK_THAT(error, Catch::Contains("server.allow_shared_port"));
    // The first one still gets every connection.
    for (int i = 0; i < 10; ++i) {
      TestClient c(port);
      c.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
      CHECK(c.read_response());
    }
    CHECK(first.server->stats().connections_accepted == 10);
  }
  SECTION("another program, with or without SO_REUSEPORT") {
    for (bool reuseport : {false, true}) {
      ForeignListener other(reuseport);
      std::string error;
      auto s = start_on(other.port(), &error);
      CHECK_FALSE(s);
      CHECK_THAT(error, Catch::Contains("cannot listen on 127.0.0.1:" +
                                        std::to_string(other.port()) + ": address already in use"));
    }
  }
  SECTION("a failed start leaves no descriptor behind") {
    ForeignListener other(true);
    int64_t before = count_open_fds();
    std::string error;
    CHECK_FALSE(start_on(other.port(), &error, [](Config& c) { c.server.workers = 3; }));
    CHECK(count_open_fds() == before);
  }
}

TEST_CASE("a fixed port is free again once its server stopped, for several workers",
          "[loop][listen][shared-port]") {
  uint16_t port;
  {
    std::string error;
    auto first = start_on(0, &error);
    REQUIRE(first);
    port = first->port();
    TestClient c(port);
    c.send("GET /healthz HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n");
    REQUIRE(c.read_response());  // leaves a TIME_WAIT behind on the proxy side
  }
  std::string error;
  auto again = start_on(port, &error, [](Config& c) { c.server.workers = 3; });
  INFO(error);
  REQUIRE(again);
  CHECK(again->port() == port);
  CHECK(again->worker_count() == 3);
}

TEST_CASE("server.allow_shared_port lets a second server share the port",
          "[loop][listen][shared-port]") {
  ProxyHarness first;
  uint16_t port = first.port();
  std::string error;
  auto second = start_on(port, &error, [](Config& c) { c.server.allow_shared_port = true; });
  INFO(error);
  REQUIRE(second);
  CHECK(second->port() == port);
  // The kernel spreads connections over all sockets of the port (by address hash).
  constexpr int kConnections = 40;
  for (int i = 0; i < kConnections; ++i) {
    TestClient c(port);
    c.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
    CHECK(c.read_response());
  }
  uint64_t a = first.server->stats().connections_accepted;
  uint64_t b = second->stats().connections_accepted;
  CHECK(a + b == kConnections);
  CHECK(b > 0);
  // After the second one goes, the first serves alone again.
  second->stop();
  TestClient c(port);
  c.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  CHECK(c.read_response());
}
