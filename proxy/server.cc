#include "proxy/server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <fcntl.h>
#include <systemd/sd-daemon.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "base/log.h"

namespace gatehouse {
namespace {

bool to_sockaddr(const HostPort& hp, sockaddr_storage* out) {
  std::memset(out, 0, sizeof *out);
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, hp.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(hp.port);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, hp.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(hp.port);
    return true;
  }
  if (hp.host == "localhost") {
    v4->sin_family = AF_INET;
    v4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    v4->sin_port = htons(hp.port);
    return true;
  }
  return false;
}

socklen_t addr_len(const sockaddr_storage& ss) {
  return ss.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

uint16_t port_of(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
}

// Binds a socket for one worker. With `exclusive` the bind is made without SO_REUSEPORT,
// so it fails with EADDRINUSE when any other socket is bound to the address -- including
// another Gatehouse's SO_REUSEPORT sockets, which a SO_REUSEPORT bind would silently join
// (and take half of its connections). SO_REUSEPORT is switched on right after that bind:
// Linux checks it against the sockets already bound when the next one binds, so the
// other workers' sockets join this one on the same port (for port 0, the port the kernel
// picked here), with no moment in which the port is free for someone else to take.
int bind_socket(const sockaddr_storage& addr, bool exclusive, std::string* error) {
  int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);  // a TIME_WAIT is no obstacle
  if (!exclusive) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (addr.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len(addr)) != 0) {
    int e = errno;
    *error = "cannot listen on " + sockaddr_to_string(addr) + ": ";
    if (e == EADDRINUSE) {
      error->append("address already in use");
      if (exclusive) {
        error->append(
            " (another process listens there; stop it, choose another server.listen, or set "
            "server.allow_shared_port = true to share the port with it)");
      }
    } else {
      error->append(strerror(e));
    }
    ::close(fd);
    return -1;
  }
  if (exclusive && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    *error = "cannot listen on " + sockaddr_to_string(addr) + ": SO_REUSEPORT: " + strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::string sockaddr_to_string(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = "?";
  std::string out;
  if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
    out.append("[").append(buf).append("]");
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
    out.append(buf);
  }
  out.append(":").append(std::to_string(port_of(ss)));
  return out;
}

Server::Server(std::shared_ptr<const Config> config, bool use_systemd_sockets)
    : config_(std::move(config)),
      use_systemd_sockets_(use_systemd_sockets),
      addresses_(std::make_shared<std::vector<sockaddr_storage>>()),
      access_log_(std::make_unique<AccessLog>(config_->log.access, config_->log.format)) {
  shared_.access_log = access_log_.get();
  shared_.redirects = std::make_unique<RedirectTracker>(config_->redirects);
}

Server::~Server() {
  stop();
}

bool Server::start(std::string* error) {
  unsigned n = config_->server.workers;
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());

  // fds[w][i]: worker w's socket for listen address i.
  std::vector<std::vector<int>> fds(n);
  auto fail = [&](const std::string& msg) {
    for (auto& list : fds) {
      for (int fd : list) ::close(fd);
    }
    *error = msg;
    return false;
  };
  std::vector<std::string> warnings;
  std::string policy_error;
  policy_ = Policy::build(config_, &warnings, &policy_error);
  for (const auto& w : warnings) GH_LOG_WARN("%s", w.c_str());
  if (!policy_) return fail(policy_error);
  int passed = use_systemd_sockets_ ? sd_listen_fds(1) : 0;
  if (passed < 0) return fail(std::string("sd_listen_fds: ") + strerror(-passed));
  if (passed > 0) {
    // Socket activation: every worker listens on its own duplicate of each passed socket.
    for (int i = 0; i < passed; ++i) {
      int fd = SD_LISTEN_FDS_START + i;
      if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
        return fail("systemd passed descriptor " + std::to_string(fd) +
                    " that is not a listening TCP socket");
      }
      sockaddr_storage addr{};
      socklen_t len = sizeof addr;
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
      addresses_->push_back(addr);
      int flags = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, flags | O_NONBLOCK);
      fcntl(fd, F_SETFD, FD_CLOEXEC);
      for (unsigned w = 0; w < n; ++w) {
        int dup = w == 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (dup < 0) return fail(std::string("dup: ") + strerror(errno));
        fds[w].push_back(dup);
      }
    }
  } else {
    for (const auto& hp : config_->server.listen) {
      sockaddr_storage addr;
      if (!to_sockaddr(hp, &addr)) {
        return fail("cannot listen on " + hp.to_string() + ": not an IP address");
      }
      for (unsigned w = 0; w < n; ++w) {
        std::string err;
        // The first socket for an address proves nobody else holds it, unless the operator
        // asked to share the port (e.g. to start a new version before stopping the old).
        bool exclusive = w == 0 && !config_->server.allow_shared_port;
        int fd = bind_socket(addr, exclusive, &err);
        if (fd < 0) return fail(err);
        fds[w].push_back(fd);
        if (w == 0) {
          // Port 0: every other worker joins the port the kernel chose for the first.
          socklen_t len = sizeof addr;
          getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
          addresses_->push_back(addr);
        }
      }
    }
  }
  for (unsigned w = 0; w < n; ++w) {
    workers_.push_back(
        std::make_unique<Worker>(w, policy_, std::move(fds[w]), addresses_, &shared_));
    fds[w].clear();
    shared_.stats.push_back(&workers_.back()->stats());
  }
  for (unsigned w = 0; w < n; ++w) {
    int r = workers_[w]->start();
    if (r != 0) {
      stop();
      return fail(std::string("worker ") + std::to_string(w) +
                  " failed to start: " + uv_strerror(r));
    }
  }
  for (const auto& a : *addresses_) {
    GH_LOG_INFO("listening on %s (%u workers%s)", sockaddr_to_string(a).c_str(), n,
                passed > 0 ? ", socket from systemd" : "");
  }
  return true;
}

void Server::stop() {
  for (auto& w : workers_) w->stop();
  workers_.clear();
  shared_.stats.clear();
}

void Server::drain() {
  shared_.draining = true;
  for (auto& w : workers_) w->drain(config_->server.drain_timeout);
  // Every worker closes its listeners on its own loop; wait for all of them, so that a
  // client connecting after drain() returns is refused rather than left in a backlog.
  for (auto& w : workers_) w->wait_not_listening();
}

void Server::wait() {
  for (auto& w : workers_) w->join();
}

bool Server::reload(std::shared_ptr<const Config> config, std::vector<std::string>* warnings,
                    std::string* error) {
  auto policy = Policy::build(config, warnings, error);
  if (!policy) {
    shared_.config_reload_failures.fetch_add(1);
    return false;
  }
  const Config& old = *config_;
  if (!(config->server.listen == old.server.listen)) {
    warnings->push_back("server.listen changed: the new addresses apply after a restart");
  }
  if (config->server.workers != old.server.workers) {
    warnings->push_back("server.workers changed: applies after a restart");
  }
  if (config->server.allow_shared_port != old.server.allow_shared_port) {
    warnings->push_back("server.allow_shared_port changed: applies after a restart");
  }
  if (!(config->resolver == old.resolver) || config->timeouts.dns != old.timeouts.dns) {
    warnings->push_back("[resolver] and timeouts.dns changes apply after a restart");
  }
  config_ = std::move(config);
  policy_ = policy;
  access_log_->reconfigure(config_->log.access, config_->log.format);
  {
    std::lock_guard<std::mutex> lock(shared_.redirects_mu);
    shared_.redirects->set_limits(config_->redirects);
  }
  for (auto& w : workers_) w->reload(policy_);
  shared_.config_reloads.fetch_add(1);
  return true;
}

void Server::reopen_logs() {
  access_log_->reopen();
}

std::vector<uint64_t> Server::heartbeats() const {
  std::vector<uint64_t> out;
  for (const auto& w : workers_) out.push_back(w->heartbeat());
  return out;
}

uint16_t Server::port(size_t i) const {
  return i < addresses_->size() ? port_of((*addresses_)[i]) : 0;
}

ServerStats Server::stats() const {
  ServerStats s;
  for (const auto& w : workers_) {
    const WorkerStats& ws = w->stats();
    s.connections_accepted += ws.connections_accepted.load();
    s.connections_active += ws.connections_active.load();
    s.requests += ws.requests.load();
    s.upstream_connects += ws.upstream_connects.load();
    s.upstream_reuses += ws.upstream_reuses.load();
    s.upstream_retries += ws.upstream_retries.load();
    s.tunnels_active += ws.tunnels_active.load();
    s.backpressure_pauses += ws.backpressure_pauses.load();
    s.chunks_outstanding += ws.chunks_outstanding.load();
    s.chunks_peak = std::max<uint64_t>(s.chunks_peak, ws.chunks_peak.load());
  }
  return s;
}

}  // namespace gatehouse
