// TestClient: a blocking TCP client for tests, connected to 127.0.0.1:<port>, with a
// receive timeout (default 10 s) so a broken proxy fails a test instead of hanging it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/origin.h"

namespace gatehouse::test {

struct TestResponse {
  int status = 0;
  std::string reason;
  std::string version;  // "HTTP/1.1"
  Headers headers;
  std::string body;  // de-chunked
  bool chunked = false;
  std::string header(std::string_view name) const { return find_header(headers, name); }
};

class TestClient {
 public:
  explicit TestClient(uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  bool connected() const;
  bool send(std::string_view bytes);
  void shutdown_write();
  // Reads exactly one response (a 1xx interim response is returned on its own).
  // For a response to HEAD pass head=true (no body is read); the same goes for a 2xx
  // answer to CONNECT, which has no body either. Bytes after the response
  // stay buffered for the next call. nullopt on timeout, EOF before a complete
  // response, or a parse error.
  std::optional<TestResponse> read_response(bool head = false);
  // Reads raw bytes: exactly n bytes (nullopt on EOF/timeout first).
  std::optional<std::string> read_exact(size_t n);
  // Reads until the peer closes (or timeout); returns everything read, buffered included.
  std::string read_until_close();
  // True when the peer closed the connection (EOF or reset) within the timeout, after
  // discarding any bytes still arriving.
  bool wait_closed();
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffered_;
};

}  // namespace gatehouse::test
