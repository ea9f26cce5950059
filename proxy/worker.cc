#include "proxy/worker.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>

#include "base/log.h"
#include "proxy/client_conn.h"

namespace gatehouse {
namespace {

// How long an idle pooled upstream connection is kept. Origins commonly close idle
// keep-alive connections after 5 to 75 s; staying below the usual floor avoids reusing
// a connection the origin is about to drop.
constexpr uint64_t kUpstreamIdleMs = 4000;
constexpr size_t kMaxIdlePerKey = 32;

bool same_address(const sockaddr* a, const sockaddr_storage& b) {
  if (a->sa_family != b.ss_family) return false;
  if (a->sa_family == AF_INET) {
    auto* x = reinterpret_cast<const sockaddr_in*>(a);
    auto* y = reinterpret_cast<const sockaddr_in*>(&b);
    if (x->sin_port != y->sin_port) return false;
    // A wildcard listener answers on every local address; loopback is the common case.
    return y->sin_addr.s_addr == htonl(INADDR_ANY) || x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->sa_family == AF_INET6) {
    auto* x = reinterpret_cast<const sockaddr_in6*>(a);
    auto* y = reinterpret_cast<const sockaddr_in6*>(&b);
    if (x->sin6_port != y->sin6_port) return false;
    return IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr) ||
           std::memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(in6_addr)) == 0;
  }
  return false;
}

}  // namespace

std::string SharedState::render_metrics() const {
  ProcessInfo info;
  info.draining = draining.load();
  info.workers = static_cast<unsigned>(stats.size());
  info.config_reloads = config_reloads.load();
  info.config_reload_failures = config_reload_failures.load();
  info.access_log_dropped = access_log ? access_log->dropped() : 0;
  info.open_fds = count_open_fds();
  return gatehouse::render_metrics(stats, info);
}

Worker::Worker(unsigned index, std::shared_ptr<const Policy> policy, std::vector<int> listen_fds,
               std::shared_ptr<const std::vector<sockaddr_storage>> listen_addrs,
               SharedState* shared)
    : index_(index),
      policy_(std::move(policy)),
      listen_fds_(std::move(listen_fds)),
      listen_addrs_(std::move(listen_addrs)),
      shared_(shared) {
  std::random_device rd;
  id_tag_ = rd();
}

Worker::~Worker() {
  stop();
  for (auto& l : listeners_) {
    if (l->spare_fd >= 0) ::close(l->spare_fd);
  }
  for (int fd : listen_fds_) ::close(fd);  // only those never handed to libuv remain
}

int Worker::start() {
  std::promise<int> ready;
  auto fut = ready.get_future();
  thread_ = std::thread([this, &ready] { run(&ready); });
  int r = fut.get();
  if (r != 0 && thread_.joinable()) thread_.join();
  return r;
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  stop_requested_ = true;
  {
    // The loop may have ended on its own (a finished drain); its async handle is gone then.
    std::lock_guard<std::mutex> lock(control_mu_);
    if (loop_alive_) uv_async_send(&async_);
  }
  thread_.join();
}

void Worker::drain(std::chrono::milliseconds deadline) {
  if (!thread_.joinable()) return;
  std::lock_guard<std::mutex> lock(control_mu_);
  drain_requested_ = true;
  drain_deadline_ = deadline;
  if (loop_alive_) uv_async_send(&async_);
}

void Worker::wait_not_listening() {
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(control_mu_);
  control_cv_.wait(lock, [this] { return not_listening_; });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::reload(std::shared_ptr<const Policy> policy) {
  if (!thread_.joinable()) return;
  std::lock_guard<std::mutex> lock(control_mu_);
  pending_policy_ = std::move(policy);
  if (loop_alive_) uv_async_send(&async_);
}

void Worker::run(std::promise<int>* ready) {
  // Whatever way run() ends, nobody signals the loop afterwards or waits for listeners.
  auto loop_ended = [this] {
    std::lock_guard<std::mutex> lock(control_mu_);
    loop_alive_ = false;
    not_listening_ = true;
    control_cv_.notify_all();
  };
  int r = uv_loop_init(&loop_);
  if (r != 0) {
    loop_ended();
    ready->set_value(r);
    return;
  }
  uv_async_init(&loop_, &async_, on_async);
  async_.data = this;
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    loop_alive_ = true;
  }
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uv_timer_start(&tick_, on_tick, 0, 1000);
  uv_timer_init(&loop_, &drain_timer_);
  drain_timer_.data = this;
  uv_timer_init(&loop_, &resume_timer_);
  resume_timer_.data = this;

  const Config& cfg = *policy_->config;
  auth_ = std::make_unique<Authenticator>(
      &loop_, policy_->users ? policy_->users : std::make_shared<const Htpasswd>());
  ResolverOptions ro;
  ro.servers = cfg.resolver.servers;
  ro.max_ttl = cfg.resolver.max_ttl;
  ro.negative_ttl = cfg.resolver.negative_ttl;
  ro.timeout = cfg.timeouts.dns;
  resolver_ = std::make_unique<Resolver>(&loop_, ro);
  r = resolver_->init();
  if (r == 0) {
    pool_ = std::make_unique<UpstreamPool>(*this, kUpstreamIdleMs, kMaxIdlePerKey);
    for (size_t i = 0; i < listen_fds_.size() && r == 0; ++i) {
      auto l = std::make_unique<Listener>();
      l->worker = this;
      l->spare_fd = fcntl(listen_fds_[i], F_DUPFD_CLOEXEC, 3);
      r = open_listener(l.get(), listen_fds_[i]);
      listen_fds_[i] = -1;  // open_listener owns it, whatever the outcome
      listeners_.push_back(std::move(l));
    }
  }
  if (r != 0) {
    shutdown_loop();
    uv_run(&loop_, UV_RUN_DEFAULT);
    loop_ended();
    uv_loop_close(&loop_);
    ready->set_value(r);
    return;
  }
  ready->set_value(0);
  uv_run(&loop_, UV_RUN_DEFAULT);
  loop_ended();
  int rc = uv_loop_close(&loop_);
  if (rc != 0) GH_LOG_ERROR("worker %u: loop closed with handles still open", index_);
}

void Worker::on_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  if (self->stop_requested_) {
    self->shutdown_loop();
    return;
  }
  std::shared_ptr<const Policy> next;
  bool drain = false;
  {
    std::lock_guard<std::mutex> lock(self->control_mu_);
    next = std::move(self->pending_policy_);
    self->pending_policy_.reset();
    drain = self->drain_requested_;
  }
  if (next) {
    self->policy_ = std::move(next);
    self->auth_->set_users(self->policy_->users ? self->policy_->users
                                                : std::make_shared<const Htpasswd>());
  }
  if (drain) self->begin_drain();
}

void Worker::on_tick(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  self->heartbeat_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::begin_drain() {
  if (draining_ || stopping_) return;
  draining_ = true;
  close_listeners();
  std::chrono::milliseconds deadline;
  {
    std::lock_guard<std::mutex> lock(control_mu_);
    deadline = drain_deadline_;
  }
  uv_timer_start(&drain_timer_, on_drain_deadline, static_cast<uint64_t>(deadline.count()), 0);
  auto conns = conns_;
  for (ClientConn* c : conns) c->drain();
  if (conns_.empty()) shutdown_loop();
}

void Worker::on_drain_deadline(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  if (!self->conns_.empty()) {
    GH_LOG_WARN("worker %u: drain timeout reached, closing %zu connection(s)", self->index_,
                self->conns_.size());
  }
  self->shutdown_loop();
}

void Worker::shutdown_loop() {
  if (stopping_) return;
  stopping_ = true;
  close_listeners();
  uv_close(reinterpret_cast<uv_handle_t*>(&resume_timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
  auto conns = conns_;  // close() removes from conns_
  for (ClientConn* c : conns) c->close();
  if (pool_) pool_->close_all();
  if (resolver_) resolver_->close([] {});
  if (auth_) auth_->close([] {});
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  Worker* self = l->worker;
  if (status < 0) {
    if ((status == UV_EMFILE || status == UV_ENFILE) && l->open && l->spare_fd >= 0) {
      // Out of descriptors. libuv retries accept() at once after this callback, so stop
      // polling this socket (closing the handle also frees a descriptor) and try again
      // in a moment; pending connections wait in the kernel's backlog meanwhile.
      if (self->accept_errors_++ % 100 == 0) {
        GH_LOG_WARN("worker %u: accept failed: %s; pausing this listener for 250 ms", self->index_,
                    uv_strerror(status));
      }
      l->open = false;
      l->closing = true;
      l->paused = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), on_listener_closed);
      if (!uv_is_active(reinterpret_cast<uv_handle_t*>(&self->resume_timer_))) {
        uv_timer_start(&self->resume_timer_, on_resume, 250, 0);
      }
      return;
    }
    GH_LOG_WARN("worker %u: accept failed: %s", self->index_, uv_strerror(status));
    return;
  }
  if (self->stopping_ || self->draining_) return;
  ClientConn::accept(*self, server);
}

int Worker::open_listener(Listener* l, int fd) {
  auto* h = reinterpret_cast<uv_handle_t*>(&l->tcp);
  uv_tcp_init(&loop_, &l->tcp);
  l->tcp.data = l;
  int r = uv_tcp_open(&l->tcp, fd);
  if (r == 0) r = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), 511, on_connection);
  if (r != 0) {
    // uv_tcp_open may have failed before adopting the descriptor; uv_close closes it
    // only if it did.
    uv_os_fd_t adopted;
    bool owned_by_handle = uv_fileno(h, &adopted) == 0;
    l->closing = true;
    uv_close(h, on_listener_closed);
    if (!owned_by_handle) ::close(fd);
    return r;
  }
  l->open = true;
  return 0;
}

void Worker::on_listener_closed(uv_handle_t* h) {
  // The handle may be initialised again (on_resume) only from now on.
  static_cast<Listener*>(h->data)->closing = false;
}

void Worker::on_resume(uv_timer_t* t) {
  auto* self = static_cast<Worker*>(t->data);
  if (self->stopping_ || self->draining_) return;
  bool again = false;
  for (auto& l : self->listeners_) {
    if (!l->paused) continue;
    if (l->closing) {
      again = true;  // the old handle's close callback has not run yet
      continue;
    }
    int fd = fcntl(l->spare_fd, F_DUPFD_CLOEXEC, 3);
    if (fd < 0 || self->open_listener(l.get(), fd) != 0) {
      again = true;  // still no descriptor to spare (open_listener closed its fd)
      continue;
    }
    l->paused = false;
  }
  if (again) uv_timer_start(&self->resume_timer_, on_resume, 250, 0);
}

void Worker::close_listeners() {
  if (listeners_closed_) return;
  listeners_closed_ = true;
  for (auto& l : listeners_) {
    // uv_close closes the descriptor at once (not in the callback), and so does the
    // spare's close: once both are gone the kernel refuses new connections, and resets
    // those it had completed but nobody accepted yet.
    if (l->open) {
      l->closing = true;
      uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), on_listener_closed);
    }
    l->open = false;
    l->paused = false;
    if (l->spare_fd >= 0) ::close(l->spare_fd);
    l->spare_fd = -1;
  }
  std::lock_guard<std::mutex> lock(control_mu_);
  not_listening_ = true;
  control_cv_.notify_all();
}

void Worker::add_conn(ClientConn* c) {
  conns_.push_back(c);
  stats_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  stats_.connections_active.fetch_add(1, std::memory_order_relaxed);
  shared_->active_connections.fetch_add(1, std::memory_order_relaxed);
}

void Worker::remove_conn(ClientConn* c) {
  auto it = std::find(conns_.begin(), conns_.end(), c);
  if (it != conns_.end()) {
    *it = conns_.back();
    conns_.pop_back();
    stats_.connections_active.fetch_sub(1, std::memory_order_relaxed);
    shared_->active_connections.fetch_sub(1, std::memory_order_relaxed);
  }
  if (draining_ && conns_.empty()) shutdown_loop();
}

bool Worker::is_own_listener(const sockaddr* addr) const {
  for (const auto& a : *listen_addrs_) {
    if (same_address(addr, a)) return true;
  }
  return false;
}

void Worker::note_chunks() {
  stats_.chunks_outstanding.store(chunks_.outstanding(), std::memory_order_relaxed);
  uint64_t peak = chunks_.peak_outstanding();
  if (peak > stats_.chunks_peak.load(std::memory_order_relaxed)) {
    stats_.chunks_peak.store(peak, std::memory_order_relaxed);
  }
}

}  // namespace gatehouse

namespace gatehouse {

std::string Worker::next_request_id() {
  char buf[48];
  int n = snprintf(buf, sizeof buf, "%08x-%u-%llx", id_tag_, index_,
                   static_cast<unsigned long long>(++id_counter_));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace gatehouse
