// UpstreamConn: one TCP connection from the proxy to an origin, and UpstreamPool, the
// per-worker set of idle keep-alive connections keyed by "host:port".
//
// Ownership: an UpstreamConn is held either by the ClientConn using it (its handler) or
// by the pool while idle; it is never shared. It dies only through close(), which stops
// reading, closes both handles and frees the object in the last close callback. After
// close() no handler method is called again. Callbacks never run synchronously from
// connect()/start_read()/write().
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "proxy/buffers.h"

namespace gatehouse {

class Worker;
class UpstreamPool;

class UpstreamHandler {
 public:
  virtual void on_upstream_connect(int status) = 0;
  // nread > 0: nread bytes at `data` inside `chunk`; the handler now owns one reference.
  // nread < 0: EOF (UV_EOF) or an error; chunk and data are nullptr.
  virtual void on_upstream_read(Chunk* chunk, const char* data, ssize_t nread) = 0;
  virtual void on_upstream_write(int status) = 0;
  // The write side was shut down (after every queued write went out).
  virtual void on_upstream_shutdown(int status) = 0;

 protected:
  ~UpstreamHandler() = default;
};

class UpstreamConn {
 public:
  UpstreamConn(Worker& worker, std::string key);

  int connect(const sockaddr* addr, UpstreamHandler* handler);
  void set_handler(UpstreamHandler* h) { handler_ = h; }
  int start_read();
  void stop_read();
  // Takes ownership of `batch` (released when the write completes or fails).
  int write(WriteBatch* batch);
  int shutdown_write();
  void close();

  bool closing() const { return closing_; }
  bool connected() const { return connected_; }
  const std::string& key() const { return key_; }
  // Bytes handed to write() whose write callback has not run yet. Writes that complete
  // synchronously still count until their callback, so this bounds the chunks pinned.
  size_t write_queue_size() const { return inflight_; }
  uv_tcp_t* tcp() { return &tcp_; }
  // True when the socket has bytes or an EOF waiting that nobody read (checked without
  // consuming them), or its state cannot be read.
  bool has_unread_input() const;
  uint64_t uses = 0;  // completed exchanges on this connection

 private:
  friend class UpstreamPool;
  ~UpstreamConn() = default;
  static void on_connect(uv_connect_t* req, int status);
  static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t* buf);
  static void on_write_done(void* owner, WriteBatch* batch, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* h);
  static void on_idle_timeout(uv_timer_t* t);

  Worker& worker_;
  std::string key_;
  UpstreamHandler* handler_ = nullptr;
  UpstreamPool* pool_ = nullptr;  // set while idle in the pool
  uv_tcp_t tcp_;
  uv_timer_t idle_timer_;
  uv_connect_t connect_req_;
  uv_shutdown_t shutdown_req_;
  ReadCursor reader_;
  size_t inflight_ = 0;
  int open_handles_ = 0;
  bool closing_ = false;
  bool connected_ = false;
  bool reading_ = false;
};

class UpstreamPool {
 public:
  UpstreamPool(Worker& worker, uint64_t idle_timeout_ms, size_t max_idle_per_key)
      : worker_(worker), idle_timeout_ms_(idle_timeout_ms), max_idle_per_key_(max_idle_per_key) {}
  // An idle connection for `key` (most recently used first), or nullptr.
  UpstreamConn* take(const std::string& key, UpstreamHandler* handler);
  // Keeps `c` for reuse (or closes it when the pool for its key is full).
  void put(UpstreamConn* c);
  void close_all();
  size_t idle_count() const;

 private:
  friend class UpstreamConn;
  void remove(UpstreamConn* c);

  Worker& worker_;
  uint64_t idle_timeout_ms_;
  size_t max_idle_per_key_;
  std::unordered_map<std::string, std::vector<UpstreamConn*>> idle_;
};

}  // namespace gatehouse
