// systemd integration of the built binary: sd_notify messages and socket activation,
// exercised without systemd itself (a notify socket and an inherited listener).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>

#include "tests/support/process.h"

using namespace gatehouse::test;

namespace {

const std::string kBinary = GATEHOUSE_BINARY;

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  NotifySocket() {
    path_ = "/tmp/gatehouse-notify-" + std::to_string(getpid()) + "-" + std::to_string(counter_++);
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path_.c_str());
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  }
  ~NotifySocket() {
    ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // Reads datagrams until one contains `needle` or 10 s pass.
  bool wait_for(const std::string& needle) {
    for (int i = 0; i < 100; ++i) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10000) <= 0) return false;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      seen_ += std::string(buf, static_cast<size_t>(n)) + "\n--\n";
      if (std::string(buf, static_cast<size_t>(n)).find(needle) != std::string::npos) return true;
    }
    return false;
  }
  const std::string& seen() const { return seen_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
  std::string seen_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("sd_notify: READY once listening, RELOADING/READY on SIGHUP, STOPPING on SIGTERM",
          "[e2e][systemd]") {
  NotifySocket notify;
  TempFile cfg("[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = 1\n[log]\naccess = \"off\"\n");
  setenv("NOTIFY_SOCKET", notify.path().c_str(), 1);
  ProxyProcess proxy({"--config", cfg.path()});
  unsetenv("NOTIFY_SOCKET");
  REQUIRE(proxy.port() != 0);
  CHECK(notify.wait_for("READY=1"));
  proxy.send_signal(SIGHUP);
  CHECK(notify.wait_for("RELOADING=1"));
  CHECK(notify.wait_for("READY=1"));
  proxy.send_signal(SIGTERM);
  CHECK(notify.wait_for("STOPPING=1"));
  CHECK(proxy.wait_exit(std::chrono::seconds(10)) == 0);
  INFO(notify.seen());
}

TEST_CASE("socket activation: a listener passed as LISTEN_FDS replaces server.listen",
          "[e2e][systemd]") {
  int lfd = ::socket(AF_INET, SOCK_STREAM, 0);  // inherited by the child on purpose
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(lfd, 16) == 0);
  socklen_t len = sizeof a;
  getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t port = ntohs(a.sin_port);
  // server.listen names an address that cannot be bound: it must not be used.
  TempFile cfg("[server]\nlisten = [\"192.0.2.1:3128\"]\nworkers = 2\n[log]\naccess = \"off\"\n");
  std::string script = "exec 3<&" + std::to_string(lfd) + "; LISTEN_PID=$$ LISTEN_FDS=1 exec " +
                       kBinary + " --config " + cfg.path();
  ProxyProcess proxy("/bin/sh", {"-c", script});
  ::close(lfd);
  REQUIRE(proxy.port() == port);
  CHECK_THAT(proxy.stderr_text(), Catch::Contains("socket from systemd"));
  auto r = run_command(
      {"curl", "-sS", "--max-time", "5", "http://127.0.0.1:" + std::to_string(port) + "/healthz"});
  CHECK(r.out == "ok\n");
}
