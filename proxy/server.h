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
  explicit Server(std::shared_ptr<const Config> config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds every listen address (SO_REUSEPORT, one socket per worker; port 0 becomes the
  // port the kernel picked, shared by all workers) and starts the workers. On failure
  // returns false with a message in *error.
  bool start(std::string* error);
  // Closes listeners and connections and joins the workers.
  void stop();

  // Actual bound addresses, in listen order.
  const std::vector<sockaddr_storage>& addresses() const { return *addresses_; }
  uint16_t port(size_t i = 0) const;
  ServerStats stats() const;
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }

 private:
  std::shared_ptr<const Config> config_;
  std::shared_ptr<std::vector<sockaddr_storage>> addresses_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// "127.0.0.1:3128" for logs.
std::string sockaddr_to_string(const sockaddr_storage& ss);

}  // namespace gatehouse
