#include "proxy/upstream_conn.h"

#include <algorithm>
#include <cassert>
#include <cerrno>

#include <sys/socket.h>

#include "proxy/worker.h"

namespace gatehouse {

UpstreamConn::UpstreamConn(Worker& worker, std::string key)
    : worker_(worker), key_(std::move(key)) {
  uv_tcp_init(worker_.loop(), &tcp_);
  uv_timer_init(worker_.loop(), &idle_timer_);
  tcp_.data = this;
  idle_timer_.data = this;
  open_handles_ = 2;
  worker_.mutable_stats().upstream_open.fetch_add(1, std::memory_order_relaxed);
}

int UpstreamConn::connect(const sockaddr* addr, UpstreamHandler* handler) {
  handler_ = handler;
  connect_req_.data = this;
  return uv_tcp_connect(&connect_req_, &tcp_, addr, on_connect);
}

void UpstreamConn::on_connect(uv_connect_t* req, int status) {
  auto* self = static_cast<UpstreamConn*>(req->data);
  if (self->closing_) return;
  if (status == 0) {
    self->connected_ = true;
    uv_tcp_nodelay(&self->tcp_, 1);
  }
  if (self->handler_) self->handler_->on_upstream_connect(status);
}

int UpstreamConn::start_read() {
  if (reading_ || closing_) return 0;
  int r = uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  if (r == 0) reading_ = true;
  return r;
}

void UpstreamConn::stop_read() {
  if (!reading_ || closing_) return;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
  reading_ = false;
}

void UpstreamConn::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<UpstreamConn*>(h->data);
  *buf = self->reader_.next(self->worker_.chunks());
}

void UpstreamConn::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* self = static_cast<UpstreamConn*>(s->data);
  if (nread == 0) return;  // EAGAIN; the region is handed out again next time
  Chunk* chunk = nullptr;
  const char* data = nullptr;
  if (nread > 0)
    chunk = self->reader_.commit(self->worker_.chunks(), static_cast<size_t>(nread), &data);
  if (self->closing_) {
    if (chunk) self->worker_.chunks().unref(chunk);
    return;
  }
  if (self->pool_) {
    // An idle pooled connection must stay silent: data or EOF means it is unusable.
    if (chunk) self->worker_.chunks().unref(chunk);
    self->pool_->remove(self);
    self->close();
    return;
  }
  if (!self->handler_) {
    if (chunk) self->worker_.chunks().unref(chunk);
    return;
  }
  self->handler_->on_upstream_read(chunk, data, nread);
}

int UpstreamConn::write(WriteBatch* batch) {
  if (closing_) {
    worker_.batches().release(batch);
    return UV_ECANCELED;
  }
  size_t n = batch->bytes();
  int r = batch->submit(reinterpret_cast<uv_stream_t*>(&tcp_), this, on_write_done);
  if (r != 0) {
    worker_.batches().release(batch);
    return r;
  }
  inflight_ += n;
  return 0;
}

void UpstreamConn::on_write_done(void* owner, WriteBatch* batch, int status) {
  auto* self = static_cast<UpstreamConn*>(owner);
  self->inflight_ -= batch->bytes();
  self->worker_.batches().release(batch);
  if (self->closing_) return;
  if (self->handler_) self->handler_->on_upstream_write(status);
}

int UpstreamConn::shutdown_write() {
  if (closing_) return UV_ECANCELED;
  shutdown_req_.data = this;
  return uv_shutdown(&shutdown_req_, reinterpret_cast<uv_stream_t*>(&tcp_), on_shutdown);
}

void UpstreamConn::on_shutdown(uv_shutdown_t* req, int status) {
  auto* self = static_cast<UpstreamConn*>(req->data);
  if (self->closing_) return;
  if (self->handler_) self->handler_->on_upstream_shutdown(status);
}

void UpstreamConn::close() {
  if (closing_) return;
  closing_ = true;
  handler_ = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_timer_), on_close);
}

void UpstreamConn::on_close(uv_handle_t* h) {
  auto* self = static_cast<UpstreamConn*>(h->data);
  if (--self->open_handles_ > 0) return;
  self->reader_.release(self->worker_.chunks());
  self->worker_.mutable_stats().upstream_open.fetch_sub(1, std::memory_order_relaxed);
  delete self;
}

void UpstreamConn::on_idle_timeout(uv_timer_t* t) {
  auto* self = static_cast<UpstreamConn*>(t->data);
  if (self->closing_ || !self->pool_) return;
  self->pool_->remove(self);
  self->close();
}

bool UpstreamConn::has_unread_input() const {
  uv_os_fd_t fd = -1;
  if (uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd) != 0) return true;
  char byte;
  ssize_t r = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // 1: bytes nobody asked for; 0: the peer closed; -1 with EAGAIN: silent, as it must be.
  return !(r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

UpstreamConn* UpstreamPool::take(const std::string& key, UpstreamHandler* handler) {
  for (;;) {
    auto it = idle_.find(key);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    UpstreamConn* c = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) idle_.erase(it);
    c->pool_ = nullptr;
    uv_timer_stop(&c->idle_timer_);
    // An idle connection with unread bytes (late body bytes of a previous response, an
    // early close) would hand another exchange someone else's answer: retire it. The
    // read callback normally catches this; the peek closes the gap before the loop ran.
    if (c->has_unread_input()) {
      c->close();
      continue;
    }
    c->handler_ = handler;
    return c;
  }
}

void UpstreamPool::put(UpstreamConn* c) {
  assert(!c->closing_);
  auto& list = idle_[c->key_];
  if (list.size() >= max_idle_per_key_) {
    c->close();
    return;
  }
  c->handler_ = nullptr;
  c->pool_ = this;
  list.push_back(c);
  uv_timer_start(&c->idle_timer_, UpstreamConn::on_idle_timeout, idle_timeout_ms_, 0);
  if (c->start_read() != 0) {
    remove(c);
    c->close();
  }
}

void UpstreamPool::remove(UpstreamConn* c) {
  auto it = idle_.find(c->key_);
  if (it != idle_.end()) {
    auto& v = it->second;
    v.erase(std::remove(v.begin(), v.end(), c), v.end());
    if (v.empty()) idle_.erase(it);
  }
  c->pool_ = nullptr;
}

void UpstreamPool::close_all() {
  auto idle = std::move(idle_);
  idle_.clear();
  for (auto& [key, list] : idle) {
    for (UpstreamConn* c : list) {
      c->pool_ = nullptr;
      c->close();
    }
  }
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace gatehouse
