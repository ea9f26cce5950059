// Listening sockets of the built binary: a busy port fails the start, SIGTERM closes every
// listening descriptor at once, and a socket passed by systemd stays with systemd.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>

#include "tests/support/client.h"
#include "tests/support/origin.h"
#include "tests/support/process.h"

using namespace gatehouse::test;

namespace {

const std::string kBinary = GATEHOUSE_BINARY;

// Logged by the binary once Server::drain() has returned, i.e. no worker listens any more.
const std::string kListenersClosed = "listeners closed";

std::string config_on(uint16_t port, unsigned workers = 2) {
  return "[server]\nlisten = [\"127.0.0.1:" + std::to_string(port) +
         "\"]\nworkers = " + std::to_string(workers) +
         "\n\n[access]\ndeny_destination_ips = []\n\n[log]\naccess = \"off\"\n";
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

// 0 when connect() to 127.0.0.1:port established a connection, else errno.
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

std::string slow_request(uint16_t origin_port) {
  std::string authority = "127.0.0.1:" + std::to_string(origin_port);
  return "GET http://" + authority + "/slow HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
}

}  // namespace

TEST_CASE("a second gatehouse on a port already served exits with 'address already in use'",
          "[e2e][listen][shared-port]") {
  TempFile cfg(config_on(0));
  ProxyProcess first({"--config", cfg.path()});
  REQUIRE(first.port() != 0);
  TempFile busy(config_on(first.port()));
  auto second = run_command({kBinary, "--config", busy.path()}, std::chrono::seconds(10));
  CHECK(second.exit_code == 1);
  CHECK_THAT(second.err,
             Catch::Contains("cannot listen on 127.0.0.1:" + std::to_string(first.port()) +
                             ": address already in use"));
  CHECK_THAT(second.err, Catch::Contains("server.allow_shared_port"));
  // The first one is untouched and keeps every connection.
  auto health = run_command({"curl", "-sS", "--max-time", "5",
                             "http://127.0.0.1:" + std::to_string(first.port()) + "/healthz"});
  CHECK(health.out == "ok\n");
}

TEST_CASE("SIGTERM refuses new connections at once while an in-flight exchange finishes",
          "[e2e][listen][drain]") {
  auto gate = std::make_shared<Gate>();
  TestOrigin origin([gate](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
    gate->wait();
    c.write("-half");
  });
  OpenOnExit opener{gate};
  TempFile cfg(config_on(0));
  ProxyProcess proxy({"--config", cfg.path()});
  REQUIRE(proxy.port() != 0);
  TestClient client(proxy.port());
  client.send(slow_request(origin.port()));
  auto head = client.read_response(true);
  REQUIRE(head);
  REQUIRE(head->status == 200);

  proxy.send_signal(SIGTERM);
  REQUIRE(proxy.wait_for_stderr(kListenersClosed, std::chrono::seconds(10)));
  for (int i = 0; i < 8; ++i) CHECK(connect_result(proxy.port()) == ECONNREFUSED);

  gate->open();
  CHECK(client.read_until_close() == "first-half");
  CHECK(proxy.wait_exit(std::chrono::seconds(10)) == 0);
}

TEST_CASE("socket activation: while draining, new clients queue on systemd's socket",
          "[e2e][listen][systemd]") {
  // Stands in for systemd: inherited by the child on purpose, and kept open here.
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(lfd, 16) == 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t port = ntohs(a.sin_port);

  auto gate = std::make_shared<Gate>();
  TestOrigin origin([gate](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
    gate->wait();
    c.write("-half");
  });
  OpenOnExit opener{gate};
  TempFile cfg(config_on(3128));  // ignored: the passed socket replaces server.listen
  std::string script = "exec 3<&" + std::to_string(lfd) + "; LISTEN_PID=$$ LISTEN_FDS=1 exec " +
                       kBinary + " --config " + cfg.path();
  ProxyProcess proxy("/bin/sh", {"-c", script});
  REQUIRE(proxy.port() == port);
  TestClient client(port);
  client.send(slow_request(origin.port()));
  auto head = client.read_response(true);
  REQUIRE(head);

  proxy.send_signal(SIGTERM);
  REQUIRE(proxy.wait_for_stderr(kListenersClosed, std::chrono::seconds(10)));
  // The socket still listens (systemd holds it), so a new client connects and waits ...
  TestClient queued(port);
  REQUIRE(queued.connected());
  REQUIRE(queued.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n"));
  gate->open();
  CHECK(client.read_until_close() == "first-half");
  CHECK(proxy.wait_exit(std::chrono::seconds(10)) == 0);
  // ... untouched by the stopped instance: the next one (here: the test) accepts it and
  // finds its request intact.
  pollfd p{lfd, POLLIN, 0};
  REQUIRE(::poll(&p, 1, 5000) == 1);
  int conn = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
  REQUIRE(conn >= 0);
  char buf[256];
  ssize_t n = ::recv(conn, buf, sizeof buf, 0);
  CHECK(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0) ==
        "GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  ::close(conn);
  ::close(lfd);
}
