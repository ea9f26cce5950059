// RawOrigin and RawClient. See raw_origin.h for the threading contract.
#include "tests/support/raw_origin.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <llhttp.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace gatehouse::test {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const char* what) {
  throw std::runtime_error(std::string("RawOrigin: ") + what + ": " + std::strerror(errno));
}

// Waits for POLLIN on fd until the deadline. true: readable (data, EOF or error).
bool poll_in(int fd, Clock::time_point deadline) {
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return true;  // let the caller's recv report the error
    if (r > 0) return true;
    if (Clock::now() >= deadline) return false;
  }
}

// ---- request parsing at the origin --------------------------------------------------

struct ReqParser {
  llhttp_t parser;
  RawRequest current;
  bool last_was_value = false;
  bool complete = false;
};

ReqParser* rq(llhttp_t* p) {
  return static_cast<ReqParser*>(p->data);
}

int rq_on_message_begin(llhttp_t* p) {
  ReqParser* s = rq(p);
  RawRequest fresh;
  fresh.connection = s->current.connection;
  fresh.index_on_connection = s->current.index_on_connection;
  fresh.raw = std::move(s->current.raw);  // bytes before the message (e.g. a leading CRLF)
  s->current = std::move(fresh);
  s->last_was_value = false;
  s->complete = false;
  return 0;
}
int rq_on_url(llhttp_t* p, const char* at, size_t n) {
  rq(p)->current.target.append(at, n);
  return 0;
}
int rq_on_method(llhttp_t* p, const char* at, size_t n) {
  rq(p)->current.method.append(at, n);
  return 0;
}
int rq_on_header_field(llhttp_t* p, const char* at, size_t n) {
  ReqParser* s = rq(p);
  if (s->current.headers.empty() || s->last_was_value) s->current.headers.emplace_back();
  s->current.headers.back().first.append(at, n);
  s->last_was_value = false;
  return 0;
}
int rq_on_header_value(llhttp_t* p, const char* at, size_t n) {
  ReqParser* s = rq(p);
  if (s->current.headers.empty()) s->current.headers.emplace_back();
  s->current.headers.back().second.append(at, n);
  s->last_was_value = true;
  return 0;
}
// A field with an empty value gets no value callback; make sure the next field starts anew.
int rq_on_header_field_complete(llhttp_t* p) {
  rq(p)->last_was_value = true;
  return 0;
}
int rq_on_headers_complete(llhttp_t* p) {
  ReqParser* s = rq(p);
  s->current.chunked = (p->flags & F_CHUNKED) != 0;
  s->current.version =
      "HTTP/" + std::to_string(p->http_major) + "." + std::to_string(p->http_minor);
  return 0;
}
int rq_on_body(llhttp_t* p, const char* at, size_t n) {
  rq(p)->current.body.append(at, n);
  return 0;
}
int rq_on_message_complete(llhttp_t* p) {
  rq(p)->complete = true;
  return HPE_PAUSED;
}

const llhttp_settings_t kRequestSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = rq_on_message_begin;
  s.on_url = rq_on_url;
  s.on_method = rq_on_method;
  s.on_header_field = rq_on_header_field;
  s.on_header_field_complete = rq_on_header_field_complete;
  s.on_header_value = rq_on_header_value;
  s.on_headers_complete = rq_on_headers_complete;
  s.on_body = rq_on_body;
  s.on_message_complete = rq_on_message_complete;
  return s;
}();

}  // namespace

// ---- RawOrigin ------------------------------------------------------------------------

struct RawOrigin::Impl {
  struct ConnState {
    std::string received;
    int fd = -1;  // guarded by mu; written only by the connection's thread
    bool peer_closed = false;
    std::string parse_error;
  };
  class Conn;
  struct Slot {
    std::unique_ptr<Conn> conn;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  RawScript script;
  int listen_fd = -1;
  int wake_fds[2] = {-1, -1};
  uint16_t port = 0;
  std::thread accept_thread;
  std::atomic<bool> running{true};

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::deque<ConnState> conns;  // by index; deque keeps references stable
  std::vector<RawRequest> requests;
  std::vector<Slot> slots;

  void accept_loop();
  void reap_finished_locked();
};

class RawOrigin::Impl::Conn final : public RawConn {
 public:
  Conn(Impl& impl, size_t index) : impl_(impl), index_(index) {
    llhttp_init(&rp_.parser, HTTP_REQUEST, &kRequestSettings);
    rp_.parser.data = &rp_;
    rp_.current.connection = index;
  }
  // The connection thread closed the socket before finishing; destroyed with impl_.mu
  // held (reaping) or after every thread was joined, so it must not lock.
  ~Conn() override = default;

  size_t index() const override { return index_; }
  std::string received() const override {
    std::lock_guard<std::mutex> lock(impl_.mu);
    return impl_.conns[index_].received;
  }
  size_t requests_seen() const override { return seen_; }

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

  bool write_pieces(const std::vector<std::string>& pieces,
                    std::chrono::microseconds gap) override {
    for (size_t i = 0; i < pieces.size(); ++i) {
      if (!impl_.running.load()) return false;
      if (i > 0 && gap.count() > 0) std::this_thread::sleep_for(gap);
      if (!write(pieces[i])) return false;
    }
    return true;
  }

  bool trickle(std::string_view bytes, std::chrono::microseconds gap) override {
    for (size_t i = 0; i < bytes.size(); ++i) {
      if (!impl_.running.load()) return false;
      if (i > 0 && gap.count() > 0) std::this_thread::sleep_for(gap);
      if (!write(bytes.substr(i, 1))) return false;
    }
    return true;
  }

  bool wait_received(size_t n, std::chrono::milliseconds timeout) override {
    auto deadline = Clock::now() + timeout;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(impl_.mu);
        if (impl_.conns[index_].received.size() >= n) return true;
      }
      int fd = own_fd();
      if (fd < 0) return false;
      if (!poll_in(fd, deadline)) return false;
      if (!read_once()) return false;
    }
  }

  void shutdown_write() override {
    int fd = own_fd();
    if (fd >= 0) ::shutdown(fd, SHUT_WR);
  }

  void close() override {
    {
      std::lock_guard<std::mutex> lock(impl_.mu);
      int& fd = impl_.conns[index_].fd;
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
    impl_.cv.notify_all();
  }

  void reset() override {
    int fd = own_fd();
    if (fd < 0) return;
    linger lg{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close();
  }

  bool running() const override { return impl_.running.load(); }

  // The connection thread.
  void serve() {
    const RawScript& s = impl_.script;
    if (s.on_accept) s.on_accept(*this);
    while (own_fd() >= 0) {
      if (!read_once()) break;
      while (!ready_.empty() && own_fd() >= 0) {
        RawRequest r = std::move(ready_.front());
        ready_.pop_front();
        if (s.on_request) s.on_request(*this, r);
      }
      if (own_fd() >= 0 && s.on_data) s.on_data(*this);
    }
    close();
  }

  // Called by the destructor from another thread: unblocks recv/send.
  void shutdown_both() {
    std::lock_guard<std::mutex> lock(impl_.mu);
    int fd = impl_.conns[index_].fd;
    if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }

 private:
  int own_fd() const {
    std::lock_guard<std::mutex> lock(impl_.mu);
    return impl_.conns[index_].fd;
  }

  // One blocking recv; records and parses. false on EOF or error (the peer is gone).
  bool read_once() {
    int fd = own_fd();
    if (fd < 0) return false;
    char buf[65536];
    ssize_t n;
    do {
      n = ::recv(fd, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      {
        std::lock_guard<std::mutex> lock(impl_.mu);
        impl_.conns[index_].peer_closed = true;
      }
      impl_.cv.notify_all();
      return false;
    }
    std::string_view data(buf, static_cast<size_t>(n));
    {
      std::lock_guard<std::mutex> lock(impl_.mu);
      impl_.conns[index_].received.append(data);
    }
    parse(data);
    impl_.cv.notify_all();
    return true;
  }

  void parse(std::string_view data) {
    if (parse_stopped_) return;
    while (!data.empty()) {
      llhttp_errno_t err = llhttp_execute(&rp_.parser, data.data(), data.size());
      if (err == HPE_OK) {
        rp_.current.raw.append(data);
        return;
      }
      if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) {
        size_t used = static_cast<size_t>(llhttp_get_error_pos(&rp_.parser) - data.data());
        rp_.current.raw.append(data.substr(0, used));
        data.remove_prefix(used);
        if (err == HPE_PAUSED_UPGRADE) {
          parse_stopped_ = true;  // whatever follows belongs to another protocol
          return;
        }
        llhttp_resume(&rp_.parser);
        if (rp_.complete) {
          rp_.complete = false;
          RawRequest done = std::move(rp_.current);
          rp_.current = RawRequest{};
          rp_.current.connection = index_;
          rp_.current.index_on_connection = ++seen_;
          {
            std::lock_guard<std::mutex> lock(impl_.mu);
            impl_.requests.push_back(done);
          }
          ready_.push_back(std::move(done));
          if (llhttp_get_upgrade(&rp_.parser)) {
            parse_stopped_ = true;
            return;
          }
        }
        continue;
      }
      std::string why =
          std::string(llhttp_errno_name(err)) + ": " + llhttp_get_error_reason(&rp_.parser);
      {
        std::lock_guard<std::mutex> lock(impl_.mu);
        impl_.conns[index_].parse_error = why;
      }
      parse_stopped_ = true;
      return;
    }
  }

  Impl& impl_;
  const size_t index_;
  ReqParser rp_;
  bool parse_stopped_ = false;
  size_t seen_ = 0;
  std::deque<RawRequest> ready_;
};

void RawOrigin::Impl::reap_finished_locked() {
  for (auto it = slots.begin(); it != slots.end();) {
    if (it->done->load()) {
      it->thread.join();
      it = slots.erase(it);
    } else {
      ++it;
    }
  }
}

void RawOrigin::Impl::accept_loop() {
  pollfd pfds[2] = {{.fd = listen_fd, .events = POLLIN, .revents = 0},
                    {.fd = wake_fds[0], .events = POLLIN, .revents = 0}};
  for (;;) {
    int r = ::poll(pfds, 2, -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (pfds[1].revents != 0) return;
    if (pfds[0].revents == 0) continue;
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard<std::mutex> lock(mu);
    reap_finished_locked();
    size_t index = conns.size();
    conns.emplace_back();
    conns.back().fd = fd;
    auto conn = std::make_unique<Conn>(*this, index);
    auto done = std::make_shared<std::atomic<bool>>(false);
    Conn* raw = conn.get();
    std::thread t([raw, done] {
      try {
        raw->serve();
      } catch (...) {
        // A throwing script only drops its connection.
      }
      raw->close();
      done->store(true);
    });
    slots.push_back(Slot{std::move(conn), std::move(t), std::move(done)});
    cv.notify_all();
  }
}

RawOrigin::RawOrigin(RawScript script) : impl_(std::make_unique<Impl>()) {
  impl_->script = std::move(script);
  impl_->listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (impl_->listen_fd < 0) fail("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(impl_->listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(impl_->listen_fd, 128) != 0) {
    ::close(impl_->listen_fd);
    fail("bind/listen");
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

RawOrigin::~RawOrigin() {
  impl_->running.store(false);
  char byte = 1;
  while (::write(impl_->wake_fds[1], &byte, 1) < 0 && errno == EINTR) {
  }
  impl_->accept_thread.join();
  ::close(impl_->listen_fd);
  ::close(impl_->wake_fds[0]);
  ::close(impl_->wake_fds[1]);
  std::vector<Impl::Slot> slots;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    slots.swap(impl_->slots);
  }
  for (auto& s : slots) s.conn->shutdown_both();
  for (auto& s : slots) s.thread.join();
}

RawScript RawOrigin::respond(std::function<std::string(const RawRequest&)> responder,
                             std::function<bool(const RawRequest&)> close_after) {
  RawScript s;
  s.on_request = [responder = std::move(responder), close_after = std::move(close_after)](
                     RawConn& c, const RawRequest& r) {
    c.write(responder(r));
    if (close_after && close_after(r)) c.close();
  };
  return s;
}

uint16_t RawOrigin::port() const {
  return impl_->port;
}

size_t RawOrigin::connections_accepted() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->conns.size();
}

size_t RawOrigin::wait_connections(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] { return impl_->conns.size() >= n; });
  return impl_->conns.size();
}

std::string RawOrigin::received(size_t i) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return i < impl_->conns.size() ? impl_->conns[i].received : std::string();
}

size_t RawOrigin::total_received() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  size_t n = 0;
  for (const auto& c : impl_->conns) n += c.received.size();
  return n;
}

std::vector<RawRequest> RawOrigin::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests;
}

size_t RawOrigin::wait_requests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, timeout, [&] { return impl_->requests.size() >= n; });
  return impl_->requests.size();
}

bool RawOrigin::wait_received(size_t i, const std::function<bool(std::string_view)>& pred,
                              std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(
      lock, timeout, [&] { return i < impl_->conns.size() && pred(impl_->conns[i].received); });
}

bool RawOrigin::wait_peer_closed(size_t i, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] {
    return i < impl_->conns.size() && (impl_->conns[i].peer_closed || impl_->conns[i].fd < 0);
  });
}

size_t RawOrigin::open_connections() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  size_t n = 0;
  for (const auto& c : impl_->conns) n += c.fd >= 0 ? 1 : 0;
  return n;
}

std::string RawOrigin::parse_error(size_t i) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return i < impl_->conns.size() ? impl_->conns[i].parse_error : std::string();
}

// ---- RawClient ------------------------------------------------------------------------

namespace {

struct RespParser {
  llhttp_t parser;
  RawResponse response;
  bool head = false;
  bool last_was_value = false;
  bool complete = false;
  bool started = false;
};

RespParser* rs(llhttp_t* p) {
  return static_cast<RespParser*>(p->data);
}

int rs_on_message_begin(llhttp_t* p) {
  rs(p)->started = true;
  return 0;
}
int rs_on_status(llhttp_t* p, const char* at, size_t n) {
  rs(p)->response.reason.append(at, n);
  return 0;
}
int rs_on_header_field(llhttp_t* p, const char* at, size_t n) {
  RespParser* s = rs(p);
  if (s->response.headers.empty() || s->last_was_value) s->response.headers.emplace_back();
  s->response.headers.back().first.append(at, n);
  s->last_was_value = false;
  return 0;
}
int rs_on_header_field_complete(llhttp_t* p) {
  rs(p)->last_was_value = true;
  return 0;
}
int rs_on_header_value(llhttp_t* p, const char* at, size_t n) {
  RespParser* s = rs(p);
  if (s->response.headers.empty()) s->response.headers.emplace_back();
  s->response.headers.back().second.append(at, n);
  s->last_was_value = true;
  return 0;
}
int rs_on_headers_complete(llhttp_t* p) {
  RespParser* s = rs(p);
  s->response.status = p->status_code;
  s->response.version =
      "HTTP/" + std::to_string(p->http_major) + "." + std::to_string(p->http_minor);
  s->response.chunked = (p->flags & F_CHUNKED) != 0;
  // llhttp 8 leaves RFC 9112 §6.3(1) to the caller: a HEAD answer, 1xx, 204 and 304
  // end at the blank line whatever their framing fields say.
  int st = p->status_code;
  bool bodiless = s->head || (st >= 100 && st < 200) || st == 204 || st == 304;
  return bodiless ? 1 : 0;
}
int rs_on_body(llhttp_t* p, const char* at, size_t n) {
  rs(p)->response.body.append(at, n);
  return 0;
}
int rs_on_message_complete(llhttp_t* p) {
  RespParser* s = rs(p);
  s->complete = true;
  s->response.keep_alive = llhttp_should_keep_alive(p) != 0;
  return HPE_PAUSED;
}

const llhttp_settings_t kResponseSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_message_begin = rs_on_message_begin;
  s.on_status = rs_on_status;
  s.on_header_field = rs_on_header_field;
  s.on_header_field_complete = rs_on_header_field_complete;
  s.on_header_value = rs_on_header_value;
  s.on_headers_complete = rs_on_headers_complete;
  s.on_body = rs_on_body;
  s.on_message_complete = rs_on_message_complete;
  return s;
}();

}  // namespace

const char* to_string(ReadOutcome o) {
  switch (o) {
    case ReadOutcome::kResponse:
      return "response";
    case ReadOutcome::kClosed:
      return "closed";
    case ReadOutcome::kTruncated:
      return "truncated";
    case ReadOutcome::kTimeout:
      return "timeout";
    case ReadOutcome::kParseError:
      return "parse-error";
  }
  return "?";
}

std::string RawResponse::raw_head() const {
  size_t a = raw.find("\r\n\r\n");
  size_t b = raw.find("\n\n");
  size_t end = std::string::npos;
  if (a != std::string::npos) end = a + 4;
  if (b != std::string::npos && (end == std::string::npos || b + 2 < end)) end = b + 2;
  return end == std::string::npos ? raw : raw.substr(0, end);
}

RawClient::RawClient(uint16_t port, std::chrono::milliseconds timeout, int rcvbuf)
    : timeout_(timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  int r;
  do {
    r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  } while (r != 0 && errno == EINTR);
  if (r != 0) {
    ::close(fd);
    return;
  }
  fd_ = fd;
}

RawClient::~RawClient() {
  close();
}

bool RawClient::send(std::string_view bytes) {
  if (fd_ < 0) return false;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void RawClient::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

void RawClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void RawClient::reset() {
  if (fd_ < 0) return;
  linger lg{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close();
}

bool RawClient::readable(std::chrono::milliseconds timeout) const {
  if (fd_ < 0) return true;
  if (!buffered_.empty() || eof_) return true;
  return poll_in(fd_, Clock::now() + timeout);
}

RawRead RawClient::read(bool head) {
  RawRead out;
  RespParser rp;
  llhttp_init(&rp.parser, HTTP_RESPONSE, &kResponseSettings);
  rp.parser.data = &rp;
  rp.head = head;
  std::string raw;
  const auto deadline = Clock::now() + timeout_;
  auto finish = [&](ReadOutcome o) {
    out.outcome = o;
    rp.response.raw = raw;
    out.response = std::move(rp.response);
    return out;
  };
  for (;;) {
    if (!buffered_.empty()) {
      llhttp_errno_t err = llhttp_execute(&rp.parser, buffered_.data(), buffered_.size());
      if ((err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE) && rp.complete) {
        size_t used = static_cast<size_t>(llhttp_get_error_pos(&rp.parser) - buffered_.data());
        raw.append(buffered_, 0, used);
        buffered_.erase(0, used);
        return finish(ReadOutcome::kResponse);
      }
      if (err != HPE_OK) {
        out.error =
            std::string(llhttp_errno_name(err)) + ": " + llhttp_get_error_reason(&rp.parser);
        raw.append(buffered_);
        buffered_.clear();
        return finish(ReadOutcome::kParseError);
      }
      raw.append(buffered_);
      buffered_.clear();
    }
    if (eof_ || fd_ < 0) {
      // A close-delimited body ends here.
      llhttp_finish(&rp.parser);
      if (rp.complete) return finish(ReadOutcome::kResponse);
      return finish(raw.empty() ? ReadOutcome::kClosed : ReadOutcome::kTruncated);
    }
    if (!poll_in(fd_, deadline)) return finish(ReadOutcome::kTimeout);
    char buf[65536];
    ssize_t n;
    do {
      n = ::recv(fd_, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      eof_ = true;
      continue;
    }
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

RawRead RawClient::read_final(std::vector<RawResponse>* interim, bool head) {
  for (int i = 0; i < 100000; ++i) {
    RawRead r = read(head);
    if (!r.ok() || r.response.status >= 200 || r.response.status == 101) return r;
    if (interim) interim->push_back(std::move(r.response));
  }
  RawRead r;
  r.outcome = ReadOutcome::kTimeout;
  r.error = "endless interim responses";
  return r;
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  if (fd_ < 0) return true;
  buffered_.clear();
  if (eof_) return true;
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!poll_in(fd_, deadline)) return false;
    char buf[65536];
    ssize_t n;
    do {
      n = ::recv(fd_, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      eof_ = true;
      return true;
    }
  }
}

// ---- metrics ----------------------------------------------------------------------------

std::map<std::string, double> parse_metrics(std::string_view text) {
  std::map<std::string, double> out;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string_view::npos) continue;
    try {
      out[std::string(line.substr(0, sp))] = std::stod(std::string(line.substr(sp + 1)));
    } catch (...) {
    }
  }
  return out;
}

std::optional<std::map<std::string, double>> read_metrics(uint16_t proxy_port) {
  RawClient c(proxy_port, 2s);
  if (!c.send("GET /metrics HTTP/1.1\r\nHost: gatehouse\r\nConnection: close\r\n\r\n"))
    return std::nullopt;
  RawRead r = c.read();
  if (!r.ok() || r.response.status != 200) return std::nullopt;
  c.wait_closed(1s);  // so this connection is gone before the next sample
  return parse_metrics(r.response.body);
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto backoff = std::chrono::microseconds(500);
  for (;;) {
    if (pred()) return true;
    auto now = Clock::now();
    if (now >= deadline) return false;
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(deadline - now);
    std::this_thread::sleep_for(std::min(backoff, left));
    backoff = std::min(backoff * 2, std::chrono::microseconds(20000));
  }
}

}  // namespace gatehouse::test
