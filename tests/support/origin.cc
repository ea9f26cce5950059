// TestOrigin: a listener and an accept thread, then one blocking thread per connection.
//
// Threads and ownership: Impl owns the listener, the wake pipe, the accept thread and one
// Conn per accepted connection. A Conn's socket is read, written and closed only by its
// own thread (the handler runs there too); the only cross-thread access is the
// destructor's shutdown(SHUT_RDWR), done under the Conn's mutex so it never races with
// close() and never touches a recycled descriptor number.
#include "tests/support/origin.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <llhttp.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

namespace gatehouse::test {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 304:
      return "Not Modified";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 407:
      return "Proxy Authentication Required";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("TestOrigin: ") + what + ": " + std::strerror(errno));
}

// Incremental request parser state for one connection. Header fields and values may
// arrive in several pieces; `last_was_value` tells whether a field callback starts a new
// header.
struct RequestParser {
  llhttp_t parser;
  OriginRequest current;
  bool last_was_value = false;
  bool complete = false;
};

RequestParser* state_of(llhttp_t* p) {
  return static_cast<RequestParser*>(p->data);
}

int on_message_begin(llhttp_t* p) {
  RequestParser* s = state_of(p);
  size_t index = s->current.connection_index;
  s->current = OriginRequest{};
  s->current.connection_index = index;
  s->last_was_value = false;
  s->complete = false;
  return 0;
}

int on_url(llhttp_t* p, const char* at, size_t len) {
  state_of(p)->current.target.append(at, len);
  return 0;
}

int on_method(llhttp_t* p, const char* at, size_t len) {
  state_of(p)->current.method.append(at, len);
  return 0;
}

int on_header_field(llhttp_t* p, const char* at, size_t len) {
  RequestParser* s = state_of(p);
  if (s->current.headers.empty() || s->last_was_value) s->current.headers.emplace_back();
  s->current.headers.back().first.append(at, len);
  s->last_was_value = false;
  return 0;
}

int on_header_value(llhttp_t* p, const char* at, size_t len) {
  RequestParser* s = state_of(p);
  if (s->current.headers.empty()) s->current.headers.emplace_back();
  s->current.headers.back().second.append(at, len);
  s->last_was_value = true;
  return 0;
}

int on_headers_complete(llhttp_t* p) {
  RequestParser* s = state_of(p);
  s->current.chunked = (p->flags & F_CHUNKED) != 0;
  s->current.version =
      "HTTP/" + std::to_string(p->http_major) + "." + std::to_string(p->http_minor);
  return 0;
}

int on_body(llhttp_t* p, const char* at, size_t len) {
  state_of(p)->current.body.append(at, len);
  return 0;
}

// Pausing leaves pipelined bytes unparsed until the handler for this request has run.
int on_message_complete(llhttp_t* p) {
  state_of(p)->complete = true;
  return HPE_PAUSED;
}

const llhttp_settings_t kRequestSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = on_message_begin;
  s.on_url = on_url;
  s.on_method = on_method;
  s.on_header_field = on_header_field;
  s.on_header_value = on_header_value;
  s.on_headers_complete = on_headers_complete;
  s.on_body = on_body;
  s.on_message_complete = on_message_complete;
  return s;
}();

}  // namespace

std::string find_header(const Headers& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (iequals(k, name)) return v;
  }
  return "";
}

size_t count_header(const Headers& headers, std::string_view name) {
  size_t n = 0;
  for (const auto& h : headers) {
    if (iequals(h.first, name)) ++n;
  }
  return n;
}

std::string TestOrigin::response(int status, std::string_view body, std::string_view extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out.append(extra);
  out += "\r\n";
  out.append(body);
  return out;
}

// One accepted connection. The fd is written (closed, set to -1) only by the connection
// thread, under `mu`; the destructor reads it under `mu` to shut the socket down.
class Conn final : public OriginConnection {
 public:
  Conn(int fd, size_t index) : fd_(fd), index_(index) {}
  ~Conn() override { close_fd(); }

  bool write(std::string_view bytes) override {
    int fd = own_fd();
    if (fd < 0) return false;
    while (!bytes.empty()) {
      ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  std::string read_some(size_t max, std::chrono::milliseconds timeout) override {
    // Bytes that arrived behind the request (pipelined or tunnelled) come first.
    if (!pending_.empty()) {
      size_t n = std::min(max, pending_.size());
      std::string out = pending_.substr(0, n);
      pending_.erase(0, n);
      return out;
    }
    int fd = own_fd();
    if (fd < 0 || max == 0) return "";
    pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      if (left.count() < 0) left = std::chrono::milliseconds(0);
      int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return "";
      if (r == 0) {
        if (std::chrono::steady_clock::now() < deadline) continue;
        return "";
      }
      break;
    }
    std::string out(max, '\0');
    ssize_t n;
    do {
      n = ::recv(fd, out.data(), max, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return "";
    out.resize(static_cast<size_t>(n));
    return out;
  }

  void shutdown_write() override {
    int fd = own_fd();
    if (fd >= 0) ::shutdown(fd, SHUT_WR);
  }

  void close() override { close_fd(); }

  void reset() override {
    int fd = own_fd();
    if (fd < 0) return;
    linger lg{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close_fd();
  }

  // Called by TestOrigin's destructor from another thread.
  void shutdown_both() {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
  }

  bool is_open() {
    std::lock_guard<std::mutex> lock(mu_);
    return fd_ >= 0;
  }

  // The connection thread: parse requests and run the handler for each.
  template <typename OnRequest>
  void serve(OnRequest&& on_request) {
    RequestParser rp;
    llhttp_init(&rp.parser, HTTP_REQUEST, &kRequestSettings);
    rp.parser.data = &rp;
    rp.current.connection_index = index_;
    char buf[16384];
    for (;;) {
      if (pending_.empty()) {
        int fd = own_fd();
        if (fd < 0) return;
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // EOF, reset or shut down by the destructor
        pending_.assign(buf, static_cast<size_t>(n));
      }
      llhttp_errno_t err = llhttp_execute(&rp.parser, pending_.data(), pending_.size());
      if (err == HPE_OK) {
        pending_.clear();
        continue;
      }
      if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        size_t used = static_cast<size_t>(llhttp_get_error_pos(&rp.parser) - pending_.data());
        pending_.erase(0, used);
        if (err == HPE_PAUSED_UPGRADE) {
          // The handler already saw the request; a refused upgrade continues as HTTP.
          llhttp_resume_after_upgrade(&rp.parser);
          continue;
        }
        llhttp_resume(&rp.parser);
        if (rp.complete) {
          rp.complete = false;
          on_request(rp.current, *this);
          if (!is_open()) return;
        }
        continue;
      }
      close_fd();  // parse error: a real server would answer 400; tests only need a close
      return;
    }
  }

 private:
  int own_fd() {
    std::lock_guard<std::mutex> lock(mu_);
    return fd_;
  }

  void close_fd() {
    std::lock_guard<std::mutex> lock(mu_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::mutex mu_;
  int fd_;
  const size_t index_;
  std::string pending_;  // received, not yet parsed; only the connection thread uses it
};

struct TestOrigin::Impl {
  struct Slot {
    std::unique_ptr<Conn> conn;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  OriginHandler handler;
  int listen_fd = -1;
  int wake_fds[2] = {-1, -1};
  uint16_t port = 0;
  std::thread accept_thread;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::vector<OriginRequest> requests;
  size_t accepted = 0;
  std::vector<Slot> slots;  // guarded by mu

  void record(const OriginRequest& req) {
    {
      std::lock_guard<std::mutex> lock(mu);
      requests.push_back(req);
    }
    cv.notify_all();
  }

  // Joins threads of connections that already finished, so a long test does not pile up
  // dead threads. Called from the accept thread with `mu` held.
  void reap_finished_locked() {
    for (auto it = slots.begin(); it != slots.end();) {
      if (it->done->load()) {
        it->thread.join();
        it = slots.erase(it);
      } else {
        ++it;
      }
    }
  }

  void accept_loop() {
    pollfd pfds[2] = {{.fd = listen_fd, .events = POLLIN, .revents = 0},
                      {.fd = wake_fds[0], .events = POLLIN, .revents = 0}};
    for (;;) {
      int r = ::poll(pfds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (pfds[1].revents != 0) return;  // the destructor woke us
      if (pfds[0].revents == 0) continue;
      int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;  // e.g. the peer already reset; keep accepting
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> lock(mu);
      reap_finished_locked();
      size_t index = accepted++;
      auto conn = std::make_unique<Conn>(fd, index);
      auto done = std::make_shared<std::atomic<bool>>(false);
      Conn* raw = conn.get();
      std::thread t([this, raw, done] {
        try {
          raw->serve([this](const OriginRequest& req, OriginConnection& c) {
            record(req);
            handler(req, c);
          });
        } catch (...) {
          // A throwing handler (or a failed assertion in it) only drops its connection.
        }
        raw->close();
        done->store(true);
      });
      slots.push_back(Slot{std::move(conn), std::move(t), std::move(done)});
    }
  }
};

TestOrigin::TestOrigin(OriginHandler handler) : impl_(std::make_unique<Impl>()) {
  impl_->handler = std::move(handler);
  impl_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl_->listen_fd < 0) fail("socket");
  int one = 1;
  ::setsockopt(impl_->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(impl_->listen_fd);
    fail("bind");
  }
  if (::listen(impl_->listen_fd, 128) != 0) {
    ::close(impl_->listen_fd);
    fail("listen");
  }
  socklen_t len = sizeof addr;
  ::getsockname(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl_->port = ntohs(addr.sin_port);
  if (::pipe2(impl_->wake_fds, O_CLOEXEC) != 0) {
    ::close(impl_->listen_fd);
    fail("pipe2");
  }
  impl_->accept_thread = std::thread([impl = impl_.get()] { impl->accept_loop(); });
}

TestOrigin::~TestOrigin() {
  char byte = 1;
  while (::write(impl_->wake_fds[1], &byte, 1) < 0 && errno == EINTR) {
  }
  impl_->accept_thread.join();
  ::close(impl_->listen_fd);
  ::close(impl_->wake_fds[0]);
  ::close(impl_->wake_fds[1]);
  // No new slots can appear now; shut every live socket down so blocked recv/send/poll
  // calls return, then join. A handler that blocks on something else blocks us too.
  std::vector<Impl::Slot> slots;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    slots.swap(impl_->slots);
  }
  for (auto& s : slots) s.conn->shutdown_both();
  for (auto& s : slots) s.thread.join();
}

uint16_t TestOrigin::port() const {
  return impl_->port;
}

size_t TestOrigin::connections_accepted() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->accepted;
}

std::vector<OriginRequest> TestOrigin::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests;
}

size_t TestOrigin::wait_for_requests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] { return impl_->requests.size() >= n; });
  return impl_->requests.size();
}

}  // namespace gatehouse::test
