// Server: binds the listening sockets and runs one Worker (event-loop thread) per
// configured worker. Owned by main() or by a test; start() and stop() are called from
// one controlling thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/worker.h"

namespace gatehouse {

struct ServerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_active = 0;
  uint64_t requests = 0;
  uint64_t upstream_connects = 0;
  uint64_t upstream_reuses = 0;
  uint64_t upstream_retries = 0;
  uint64_t tunnels_active = 0;
  uint64_t backpressure_pauses = 0;
  uint64_t chunks_outstanding = 0;
  uint64_t chunks_peak = 0;  // max over workers
};

class Server {
 public:
  // With use_systemd_sockets, sockets passed by systemd (sd_listen_fds) replace
  // server.listen when there are any.
  explicit Server(std::shared_ptr<const Config> config, bool use_systemd_sockets = false);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listen address (SO_REUSEPORT, one socket per worker; port 0 becomes the
  // port the kernel picked, shared by all workers) and starts the workers. An address
  // another socket is already bound to fails ("address already in use") unless
  // server.allow_shared_port is set. On failure returns false with a message in *error.
  bool start(std::string* error);
  // Closes listeners and connections and joins the workers.
  void stop();
  // Stops accepting and lets open exchanges finish, up to server.drain_timeout. Returns
  // once every worker has closed all its listening descriptors: from then on connecting
  // is refused (ECONNREFUSED), except on sockets systemd passed, which systemd keeps
  // listening. Connections the kernel had completed but no worker had accepted yet are
  // reset by that close.
  void drain();
  // Waits until every worker has finished (after drain() or stop()).
  void wait();
  // Applies a new configuration to new connections. Settings that need a restart
  // (server.listen, server.workers, [resolver]) keep their old values; a warning per
  // ignored change is appended to *warnings.
  // Returns false (and keeps the running policy) when the new one cannot be built, e.g.
  // an unusable htpasswd file; *error says why.
  bool reload(std::shared_ptr<const Config> config, std::vector<std::string>* warnings,
              std::string* error);
  void reopen_logs();
  void note_reload_failure() { shared_.config_reload_failures.fetch_add(1); }
  bool draining() const { return shared_.draining.load(); }
  // Sum of every worker's heartbeat: increases while every loop turns.
  std::vector<uint64_t> heartbeats() const;
  AccessLog& access_log() { return *access_log_; }
  std::string render_metrics() const { return shared_.render_metrics(); }
  // Actual bound addresses, in listen order.
  const std::vector<sockaddr_storage>& addresses() const { return *addresses_; }
  uint16_t port(size_t i = 0) const;
  ServerStats stats() const;
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }

 private:
  std::shared_ptr<const Config> config_;
  std::shared_ptr<const Policy> policy_;
  bool use_systemd_sockets_;
  std::shared_ptr<std::vector<sockaddr_storage>> addresses_;
  std::unique_ptr<AccessLog> access_log_;
  SharedState shared_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// "127.0.0.1:3128" for logs.
std::string sockaddr_to_string(const sockaddr_storage& ss);

}  // namespace gatehouse
