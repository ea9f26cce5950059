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
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "config/config.h"
#include "proxy/access_log.h"
#include "proxy/authenticator.h"
#include "proxy/buffers.h"
#include "proxy/metrics.h"
#include "proxy/policy.h"
#include "proxy/redirect_tracker.h"
#include "proxy/upstream_conn.h"
#include "resolver/resolver.h"

namespace gatehouse {

class ClientConn;

// State shared by the Server and all its workers. Owned by the Server, outlives workers.
struct SharedState {
  std::atomic<uint64_t> active_connections{0};  // over all workers
  std::atomic<bool> draining{false};
  std::atomic<uint64_t> config_reloads{0};
  std::atomic<uint64_t> config_reload_failures{0};
  AccessLog* access_log = nullptr;
  // One redirect table for the process: a client's next hop may land on another worker.
  std::mutex redirects_mu;
  std::unique_ptr<RedirectTracker> redirects;
  std::vector<const WorkerStats*> stats;  // every worker's, filled before any starts
  std::string render_metrics() const;
};

class Worker {
 public:
  Worker(unsigned index, std::shared_ptr<const Policy> policy, std::vector<int> listen_fds,
         std::shared_ptr<const std::vector<sockaddr_storage>> listen_addrs, SharedState* shared);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread; returns once the loop is listening (0) or failed (libuv error).
  int start();
  // Closes everything at once and joins the thread.
  void stop();
  // Stops accepting; open exchanges finish (answers carry Connection: close), idle
  // connections close; after `deadline` whatever is left is closed. join() waits.
  // Returns at once; wait_not_listening() waits for the listeners to be gone.
  void drain(std::chrono::milliseconds deadline);
  // Blocks until this worker holds no listening descriptor any more (its handles and
  // spare duplicates are closed, so the kernel refuses new connections to its sockets),
  // or its loop has ended. Called by the controlling thread after drain().
  void wait_not_listening();
  void join();
  // New connections use `policy` from now on; open ones keep theirs. Thread-safe.
  void reload(std::shared_ptr<const Policy> policy);
  // Increases every second while the loop turns (for the systemd watchdog).
  uint64_t heartbeat() const { return heartbeat_.load(std::memory_order_relaxed); }
  const WorkerStats& stats() const { return stats_; }
  unsigned index() const { return index_; }

  // Loop-thread API.
  uv_loop_t* loop() { return &loop_; }
  BufferPool& chunks() { return chunks_; }
  BatchPool& batches() { return batches_; }
  Resolver& resolver() { return *resolver_; }
  UpstreamPool& pool() { return *pool_; }
  const std::shared_ptr<const Config>& config() const { return policy_->config; }
  const std::shared_ptr<const Policy>& policy() const { return policy_; }
  Authenticator& authenticator() { return *auth_; }
  WorkerStats& mutable_stats() { return stats_; }
  SharedState& shared() { return *shared_; }
  bool draining() const { return draining_; }
  void add_conn(ClientConn* c);
  void remove_conn(ClientConn* c);
  // True when `addr` (with port) is one of this process's listening sockets.
  bool is_own_listener(const sockaddr* addr) const;
  void note_chunks();  // publishes chunk counters to stats
  // A new id for a request: "<process tag>-<worker>-<counter>", unique per process run
  // and cheap (no allocation beyond the string itself).
  std::string next_request_id();

 private:
  // A listening socket. While descriptors run out (EMFILE) its handle is closed so the
  // loop stops polling it (libuv would otherwise retry accept() without end); `spare_fd`,
  // a duplicate taken at start, keeps the socket and its backlog alive, and a new handle
  // is opened from it once descriptors are free again. close_listeners() closes the
  // spare too: as long as any descriptor of a socket is open the kernel keeps it in
  // LISTEN and completes handshakes nobody will accept.
  // Owned by Worker::listeners_ (freed with the Worker, after the loop has closed).
  struct Listener {
    uv_tcp_t tcp;
    Worker* worker;
    int spare_fd = -1;
    bool open = false;     // tcp is an open handle
    bool closing = false;  // uv_close called, on_listener_closed not yet run
    bool paused = false;   // closed because of EMFILE, waiting to be reopened
  };
  // Takes ownership of `fd` in every case: on failure the handle is closed (with the
  // descriptor, if libuv adopted it) or the descriptor is closed here.
  int open_listener(Listener* l, int fd);
  static void on_listener_closed(uv_handle_t* h);
  static void on_resume(uv_timer_t* t);
  void close_listeners();
  void run(std::promise<int>* ready);
  void shutdown_loop();
  static void on_connection(uv_stream_t* server, int status);
  static void on_async(uv_async_t* a);
  static void on_tick(uv_timer_t* t);
  static void on_drain_deadline(uv_timer_t* t);
  void begin_drain();

  unsigned index_;
  std::shared_ptr<const Policy> policy_;
  std::vector<int> listen_fds_;
  std::shared_ptr<const std::vector<sockaddr_storage>> listen_addrs_;
  uv_loop_t loop_;
  uv_async_t async_;
  uv_timer_t tick_;
  uv_timer_t drain_timer_;
  uv_timer_t resume_timer_;
  uint64_t accept_errors_ = 0;
  SharedState* shared_;
  std::mutex control_mu_;               // guards the requests below, set by other threads
  std::condition_variable control_cv_;  // signals not_listening_
  std::shared_ptr<const Policy> pending_policy_;
  bool drain_requested_ = false;
  std::chrono::milliseconds drain_deadline_{0};
  // async_ may be signalled: the loop runs and has not been closed. Other threads call
  // uv_async_send only while this is true (under control_mu_), never on a closed loop.
  bool loop_alive_ = false;
  bool not_listening_ = false;  // every listening descriptor is closed, or the loop ended
  bool draining_ = false;
  bool listeners_closed_ = false;
  std::atomic<uint64_t> heartbeat_{0};
  std::vector<std::unique_ptr<Listener>> listeners_;
  BufferPool chunks_;
  BatchPool batches_{chunks_};
  std::unique_ptr<Resolver> resolver_;
  std::unique_ptr<UpstreamPool> pool_;
  std::unique_ptr<Authenticator> auth_;
  std::vector<ClientConn*> conns_;
  std::thread thread_;
  std::atomic<bool> stop_requested_{false};
  bool stopping_ = false;
  uint32_t id_tag_ = 0;
  uint64_t id_counter_ = 0;
  WorkerStats stats_;
};

}  // namespace gatehouse
