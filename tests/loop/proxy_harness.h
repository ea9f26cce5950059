// Shared set-up for proxy loop tests: an in-process Server (one worker, 127.0.0.1 port 0)
// whose resolver asks an in-process TestDnsServer, plus helpers for requests.
#pragma once

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/server.h"
#include "tests/support/client.h"
#include "tests/support/dns_server.h"
#include "tests/support/origin.h"

namespace gatehouse::test {

class ProxyHarness {
 public:
  explicit ProxyHarness(const std::function<void(Config&)>& tweak = {}) {
    dns.set_a("origin.test", {"127.0.0.1"});
    Config c;
    c.server.listen = {{"127.0.0.1", 0}};
    c.server.workers = 1;
    c.access.deny_destination_ips.clear();  // the test origins live on loopback
    c.resolver.servers = {{"127.0.0.1", dns.port()}};
    c.timeouts.dns = std::chrono::seconds(3);
    c.log.access = "off";  // tests that read the access log turn it on
    if (tweak) tweak(c);
    server = std::make_unique<Server>(std::make_shared<const Config>(c));
    std::string error;
    bool ok = server->start(&error);
    INFO(error);
    REQUIRE(ok);
  }
  ~ProxyHarness() { server->stop(); }

  uint16_t port() const { return server->port(); }

  TestDnsServer dns;
  std::unique_ptr<Server> server;
};

// A loopback listener that never accepts, its backlog filled: further SYNs are dropped,
// so a connect to port() hangs until the connector's timeout. Closed by the destructor.
class StuckListener {
 public:
  StuckListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 0) == 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    for (int i = 0; i < 4; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(fd);
    }
  }
  ~StuckListener() {
    for (int fd : fillers_) ::close(fd);
    ::close(fd_);
  }
  StuckListener(const StuckListener&) = delete;
  StuckListener& operator=(const StuckListener&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::vector<int> fillers_;
};

inline std::string get_request(uint16_t origin_port, const std::string& path = "/",
                               const std::string& extra = "") {
  std::string authority = "origin.test:" + std::to_string(origin_port);
  return "GET http://" + authority + path + " HTTP/1.1\r\nHost: " + authority + "\r\n" + extra +
         "\r\n";
}

}  // namespace gatehouse::test
