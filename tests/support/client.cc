// TestClient: every read has a deadline of `timeout_` from the start of the call (poll
// before each recv), so a stalled peer fails the test instead of hanging it. Sends are
// bounded by SO_SNDTIMEO (which also bounds connect on Linux).
#include "tests/support/client.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <llhttp.h>

#include <algorithm>
#include <cerrno>

namespace gatehouse::test {

namespace {

using Clock = std::chrono::steady_clock;

enum class RecvResult { kData, kEof, kTimeout, kError };

// Waits until `deadline` for bytes and appends what one recv returns to `out`.
// kError covers ECONNRESET and friends: the peer is gone without an orderly close.
RecvResult recv_some(int fd, std::string& out, Clock::time_point deadline) {
  if (fd < 0) return RecvResult::kError;
  pollfd pfd{.fd = fd, .events = POLLIN, .revents = 0};
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() < 0) left = std::chrono::milliseconds(0);
    int r = ::poll(&pfd, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return RecvResult::kError;
    if (r == 0) {
      if (Clock::now() < deadline) continue;
      return RecvResult::kTimeout;
    }
    break;
  }
  char buf[16384];
  ssize_t n;
  do {
    n = ::recv(fd, buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return RecvResult::kError;
  if (n == 0) return RecvResult::kEof;
  out.append(buf, static_cast<size_t>(n));
  return RecvResult::kData;
}

struct ResponseParser {
  llhttp_t parser;
  TestResponse response;
  bool head = false;
  bool last_was_value = false;
  bool complete = false;
};

ResponseParser* state_of(llhttp_t* p) {
  return static_cast<ResponseParser*>(p->data);
}

int on_status(llhttp_t* p, const char* at, size_t len) {
  state_of(p)->response.reason.append(at, len);
  return 0;
}

int on_header_field(llhttp_t* p, const char* at, size_t len) {
  ResponseParser* s = state_of(p);
  if (s->response.headers.empty() || s->last_was_value) s->response.headers.emplace_back();
  s->response.headers.back().first.append(at, len);
  s->last_was_value = false;
  return 0;
}

int on_header_value(llhttp_t* p, const char* at, size_t len) {
  ResponseParser* s = state_of(p);
  if (s->response.headers.empty()) s->response.headers.emplace_back();
  s->response.headers.back().second.append(at, len);
  s->last_was_value = true;
  return 0;
}

int on_headers_complete(llhttp_t* p) {
  ResponseParser* s = state_of(p);
  s->response.status = p->status_code;
  s->response.version =
      "HTTP/" + std::to_string(p->http_major) + "." + std::to_string(p->http_minor);
  s->response.chunked = (p->flags & F_CHUNKED) != 0;
  return s->head ? 1 : 0;  // 1: this message has no body
}

int on_body(llhttp_t* p, const char* at, size_t len) {
  state_of(p)->response.body.append(at, len);
  return 0;
}

// Pausing stops llhttp right after this message; the rest stays in buffered_.
int on_message_complete(llhttp_t* p) {
  state_of(p)->complete = true;
  return HPE_PAUSED;
}

const llhttp_settings_t kResponseSettings = [] {
  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_status = on_status;
  s.on_header_field = on_header_field;
  s.on_header_value = on_header_value;
  s.on_headers_complete = on_headers_complete;
  s.on_body = on_body;
  s.on_message_complete = on_message_complete;
  return s;
}();

}  // namespace

TestClient::TestClient(uint16_t port, std::chrono::milliseconds timeout) : timeout_(timeout) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
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

TestClient::~TestClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool TestClient::connected() const {
  return fd_ >= 0;
}

bool TestClient::send(std::string_view bytes) {
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

void TestClient::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

std::optional<TestResponse> TestClient::read_response(bool head) {
  if (fd_ < 0) return std::nullopt;
  ResponseParser rp;
  llhttp_init(&rp.parser, HTTP_RESPONSE, &kResponseSettings);
  rp.parser.data = &rp;
  rp.head = head;
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    if (!buffered_.empty()) {
      llhttp_errno_t err = llhttp_execute(&rp.parser, buffered_.data(), buffered_.size());
      if (err == HPE_PAUSED && rp.complete) {
        size_t used = static_cast<size_t>(llhttp_get_error_pos(&rp.parser) - buffered_.data());
        buffered_.erase(0, used);
        return std::move(rp.response);
      }
      if (err != HPE_OK) {
        buffered_.clear();
        return std::nullopt;
      }
      buffered_.clear();  // all of it is inside llhttp's state now
    }
    switch (recv_some(fd_, buffered_, deadline)) {
      case RecvResult::kData:
        continue;
      case RecvResult::kEof:
        // A close-delimited body ends here; llhttp_finish completes it (our callback's
        // HPE_PAUSED comes back as the result, so look at `complete`).
        llhttp_finish(&rp.parser);
        if (rp.complete) return std::move(rp.response);
        return std::nullopt;
      case RecvResult::kTimeout:
      case RecvResult::kError:
        return std::nullopt;
    }
  }
}

std::optional<std::string> TestClient::read_exact(size_t n) {
  const auto deadline = Clock::now() + timeout_;
  while (buffered_.size() < n) {
    if (recv_some(fd_, buffered_, deadline) != RecvResult::kData) return std::nullopt;
  }
  std::string out = buffered_.substr(0, n);
  buffered_.erase(0, n);
  return out;
}

std::string TestClient::read_until_close() {
  const auto deadline = Clock::now() + timeout_;
  while (recv_some(fd_, buffered_, deadline) == RecvResult::kData) {
  }
  std::string out;
  out.swap(buffered_);
  return out;
}

bool TestClient::wait_closed() {
  if (fd_ < 0) return false;
  buffered_.clear();
  const auto deadline = Clock::now() + timeout_;
  for (;;) {
    std::string discard;
    switch (recv_some(fd_, discard, deadline)) {
      case RecvResult::kData:
        continue;
      case RecvResult::kEof:
      case RecvResult::kError:
        return true;
      case RecvResult::kTimeout:
        return false;
    }
  }
}

}  // namespace gatehouse::test
