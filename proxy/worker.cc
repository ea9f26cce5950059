#include "proxy/worker.h"

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

Worker::Worker(unsigned index, std::shared_ptr<const Config> config, std::vector<int> listen_fds,
               std::shared_ptr<const std::vector<sockaddr_storage>> listen_addrs)
    : index_(index),
      config_(std::move(config)),
      listen_fds_(std::move(listen_fds)),
      listen_addrs_(std::move(listen_addrs)) {
  std::random_device rd;
  id_tag_ = rd();
}

Worker::~Worker() {
  stop();
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
  uv_async_send(&async_);
  thread_.join();
}

void Worker::run(std::promise<int>* ready) {
  int r = uv_loop_init(&loop_);
  if (r != 0) {
    ready->set_value(r);
    return;
  }
  uv_async_init(&loop_, &async_, on_async);
  async_.data = this;

  const Config& cfg = *config_;
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
      uv_tcp_init(&loop_, &l->tcp);
      l->tcp.data = l.get();
      r = uv_tcp_open(&l->tcp, listen_fds_[i]);
      if (r == 0) {
        listen_fds_[i] = -1;  // owned by libuv now
        r = uv_listen(reinterpret_cast<uv_stream_t*>(&l->tcp), 511, on_connection);
      }
      listeners_.push_back(std::move(l));
    }
  }
  if (r != 0) {
    shutdown_loop();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
    ready->set_value(r);
    return;
  }
  ready->set_value(0);
  uv_run(&loop_, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop_);
  if (rc != 0) GH_LOG_ERROR("worker %u: loop closed with handles still open", index_);
}

void Worker::on_async(uv_async_t* a) {
  auto* self = static_cast<Worker*>(a->data);
  if (self->stop_requested_) self->shutdown_loop();
}

void Worker::shutdown_loop() {
  if (stopping_) return;
  stopping_ = true;
  for (auto& l : listeners_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&l->tcp), nullptr);
  }
  auto conns = conns_;  // close() removes from conns_
  for (ClientConn* c : conns) c->close();
  if (pool_) pool_->close_all();
  if (resolver_) resolver_->close([] {});
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

void Worker::on_connection(uv_stream_t* server, int status) {
  auto* l = static_cast<Listener*>(server->data);
  Worker* self = l->worker;
  if (status < 0 || self->stopping_) return;
  ClientConn::accept(*self, server);
}

void Worker::add_conn(ClientConn* c) {
  conns_.push_back(c);
  stats_.connections_accepted.fetch_add(1, std::memory_order_relaxed);
  stats_.connections_active.fetch_add(1, std::memory_order_relaxed);
}

void Worker::remove_conn(ClientConn* c) {
  auto it = std::find(conns_.begin(), conns_.end(), c);
  if (it != conns_.end()) {
    *it = conns_.back();
    conns_.pop_back();
    stats_.connections_active.fetch_sub(1, std::memory_order_relaxed);
  }
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
