// Worker: one event-loop thread. Owns its uv loop, its listeners (one SO_REUSEPORT socket
// per listen address, bound by the Server), a Resolver, the upstream connection pool,
// the buffer pools and every ClientConn accepted on it.
//
// Owned by the Server. start() spawns the thread; stop() asks the loop (via uv_async) to
// close every handle and joins the thread. Everything but start(), stop(), stats() and
// the constructor runs on the worker's own thread.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <atomic>
#include <cstdint>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "config/config.h"
#include "proxy/buffers.h"
#include "proxy/upstream_conn.h"
#include "resolver/resolver.h"

namespace gatehouse {

class ClientConn;

// Counters readable from any thread (relaxed atomics).
struct WorkerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_active{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> upstream_connects{0};
  std::atomic<uint64_t> upstream_reuses{0};
  std::atomic<uint64_t> upstream_retries{0};
  std::atomic<uint64_t> tunnels_active{0};
  std::atomic<uint64_t> backpressure_pauses{0};  // times a reader was stopped for a full peer
  std::atomic<uint64_t> chunks_outstanding{0};
  std::atomic<uint64_t> chunks_peak{0};
};

class Worker {
 public:
  Worker(unsigned index, std::shared_ptr<const Config> config, std::vector<int> listen_fds,
         std::shared_ptr<const std::vector<sockaddr_storage>> listen_addrs);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread; returns once the loop is listening (0) or failed (libuv error).
  int start();
  void stop();
  const WorkerStats& stats() const { return stats_; }
  unsigned index() const { return index_; }

  // Loop-thread API.
  uv_loop_t* loop() { return &loop_; }
  BufferPool& chunks() { return chunks_; }
  BatchPool& batches() { return batches_; }
  Resolver& resolver() { return *resolver_; }
  UpstreamPool& pool() { return *pool_; }
  const std::shared_ptr<const Config>& config() const { return config_; }
  WorkerStats& mutable_stats() { return stats_; }
  void add_conn(ClientConn* c);
  void remove_conn(ClientConn* c);
  // True when `addr` (with port) is one of this process's listening sockets.
  bool is_own_listener(const sockaddr* addr) const;
  void note_chunks();  // publishes chunk counters to stats
  // A new id for a request: "<process tag>-<worker>-<counter>", unique per process run
  // and cheap (no allocation beyond the string itself).
  std::string next_request_id();

 private:
  struct Listener {
    uv_tcp_t tcp;
    Worker* worker;
  };
  void run(std::promise<int>* ready);
  void shutdown_loop();
  static void on_connection(uv_stream_t* server, int status);
  static void on_async(uv_async_t* a);

  unsigned index_;
  std::shared_ptr<const Config> config_;
  std::vector<int> listen_fds_;
  std::shared_ptr<const std::vector<sockaddr_storage>> listen_addrs_;
  uv_loop_t loop_;
  uv_async_t async_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  BufferPool chunks_;
  BatchPool batches_{chunks_};
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<UpstreamPool> pool_;
  std::vector<ClientConn*> conns_;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  bool stopping_ = false;
  uint32_t id_tag_ = 0;
  uint64_t id_counter_ = 0;
  WorkerStats stats_;
};

}  // namespace gatehouse
