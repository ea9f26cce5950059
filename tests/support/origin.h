// TestOrigin: an in-process, scriptable HTTP/1.1 origin server on 127.0.0.1, port 0.
//
// Each accepted connection is served on its own thread with blocking sockets. Requests
// are parsed with llhttp (Content-Length and chunked bodies are read whole); for each one
// the handler runs and may write anything — a proper response, garbage, half a head —
// and may close the connection. When the handler returns and the connection is still
// open, the next request on it is read (keep-alive), until the peer closes.
// The destructor stops accepting, shuts every connection down and joins all threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gatehouse::test {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Case-insensitive lookup of the first field with this name; "" when absent.
std::string find_header(const Headers& headers, std::string_view name);
// Number of fields with this name (case-insensitive).
size_t count_header(const Headers& headers, std::string_view name);

struct OriginRequest {
  std::string method;
  std::string target;           // as received (origin-form expected from a proxy)
  std::string version;          // "HTTP/1.1"
  Headers headers;              // in order, names as received
  std::string body;             // de-chunked
  bool chunked = false;         // the request used Transfer-Encoding: chunked
  size_t connection_index = 0;  // 0-based index of the accepted connection
  std::string header(std::string_view name) const { return find_header(headers, name); }
};

class OriginConnection {
 public:
  virtual ~OriginConnection() = default;
  // Blocking write of all bytes; false if the peer is gone.
  virtual bool write(std::string_view bytes) = 0;
  // Reads whatever arrives next (up to `max` bytes) with a timeout; "" on EOF/timeout.
  virtual std::string read_some(size_t max, std::chrono::milliseconds timeout) = 0;
  virtual void shutdown_write() = 0;
  // Closes the connection; no further requests are read from it.
  virtual void close() = 0;
  // Closes with a TCP reset (SO_LINGER 0).
  virtual void reset() = 0;
};

using OriginHandler = std::function<void(const OriginRequest&, OriginConnection&)>;

class TestOrigin {
 public:
  explicit TestOrigin(OriginHandler handler);
  ~TestOrigin();
  TestOrigin(const TestOrigin&) = delete;
  TestOrigin& operator=(const TestOrigin&) = delete;

  uint16_t port() const;
  size_t connections_accepted() const;
  // Copies of every request seen so far, in arrival order.
  std::vector<OriginRequest> requests() const;
  // Blocks until at least n requests were seen or the timeout passed; returns the count.
  size_t wait_for_requests(size_t n, std::chrono::milliseconds timeout) const;

  // "HTTP/1.1 <status> <reason>\r\nContent-Length: N\r\n<extra>\r\n<body>"; `extra` is
  // raw header lines each ending in "\r\n".
  static std::string response(int status, std::string_view body, std::string_view extra = "");

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::test
