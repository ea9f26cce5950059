// Raw peers for conformance and hostile-peer tests, all on 127.0.0.1 with port 0.
//
// RawOrigin: a loopback origin that records the exact bytes each accepted connection
// delivered and answers with scripted raw bytes. Unlike TestOrigin it never normalises
// anything: a test can ask "what bytes arrived on connection i" and script responses that
// are deliberately wrong (pieces, trickles, resets mid-body, extra bytes after a response,
// 1xx floods, no answer at all). Received bytes are also parsed with llhttp (strict, the
// way a careful origin would read them) so a script can answer per complete request; a
// parse failure is recorded, never fatal, and recording continues.
//
// Threads and ownership: RawOrigin owns a listener, an accept thread and one thread per
// accepted connection. Script callbacks run on the connection's thread, one at a time
// per connection; they act through the RawConn they are given (write, trickle, close,
// reset...). A connection's socket is written and closed only by its own thread; the
// destructor only shuts sockets down (under a mutex) to unblock them, then joins. When a
// callback returns and the connection is still open, reading continues until the peer
// closes, so "never answer" is simply a callback that writes nothing. Everything the
// test thread reads (received bytes, parsed requests, counts) is copied under one mutex.
//
// RawClient: a blocking client socket towards the proxy with deadlines on every read, that
// parses what the proxy sends strictly (llhttp) and also keeps the raw bytes, so tests can
// check exact framing. read_metrics() reads the proxy's /metrics over a RawClient.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/origin.h"  // Headers, find_header, count_header

namespace gatehouse::test {

using namespace std::chrono_literals;

// One complete request as the origin parsed it from a connection's bytes.
struct RawRequest {
  std::string method;
  std::string target;
  std::string version;  // "HTTP/1.1"
  Headers headers;      // in order, names and values exactly as llhttp reported them
  std::string body;     // de-chunked
  bool chunked = false;
  std::string raw;        // the exact bytes of this message on the wire (head and framed body)
  size_t connection = 0;  // index of the accepted connection
  size_t index_on_connection = 0;
  std::string header(std::string_view name) const { return find_header(headers, name); }
  size_t count(std::string_view name) const { return count_header(headers, name); }
};

class RawOrigin;

// The script's handle on one accepted connection. Only valid inside the callbacks.
class RawConn {
 public:
  virtual ~RawConn() = default;
  virtual size_t index() const = 0;
  // Everything received on this connection so far, exactly as it arrived.
  virtual std::string received() const = 0;
  // Complete requests parsed so far on this connection.
  virtual size_t requests_seen() const = 0;
  // Blocking write of all bytes in one send() loop; false once the peer is gone.
  virtual bool write(std::string_view bytes) = 0;
  // One send() per piece (TCP_NODELAY is set), so the proxy may see them in separate reads.
  virtual bool write_pieces(const std::vector<std::string>& pieces,
                            std::chrono::microseconds gap = 0us) = 0;
  // One byte per send(), `gap` between them: the pacing is the hostile behaviour under
  // test, never a way to wait for the proxy. Stops early when the peer is gone or the
  // origin is being destroyed.
  virtual bool trickle(std::string_view bytes, std::chrono::microseconds gap) = 0;
  // Blocks until at least `n` bytes arrived on this connection in total (true), or the
  // peer closed / the timeout passed (false). Bytes read here are recorded and parsed,
  // but on_request is not run for requests completed while waiting.
  virtual bool wait_received(size_t n, std::chrono::milliseconds timeout) = 0;
  virtual void shutdown_write() = 0;
  // Closes the socket (FIN); no further callbacks for this connection.
  virtual void close() = 0;
  // Closes with a TCP reset (SO_LINGER 0).
  virtual void reset() = 0;
  // True while the origin is not being destroyed; long-running scripts poll it.
  virtual bool running() const = 0;
};

struct RawScript {
  // Right after accept, before anything is read.
  std::function<void(RawConn&)> on_accept;
  // Once per complete request, in order, after it was recorded.
  std::function<void(RawConn&, const RawRequest&)> on_request;
  // After each read (bytes recorded and parsed, on_request already run for them).
  std::function<void(RawConn&)> on_data;
};

class RawOrigin {
 public:
  explicit RawOrigin(RawScript script);
  ~RawOrigin();
  RawOrigin(const RawOrigin&) = delete;
  RawOrigin& operator=(const RawOrigin&) = delete;

  // A script answering each complete request with responder(request) and then, when
  // close_after(request) says so, closing the connection.
  static RawScript respond(std::function<std::string(const RawRequest&)> responder,
                           std::function<bool(const RawRequest&)> close_after = {});

  uint16_t port() const;
  std::string authority() const { return "origin.test:" + std::to_string(port()); }

  size_t connections_accepted() const;
  // Blocks until at least n connections were accepted or the timeout passed.
  size_t wait_connections(size_t n, std::chrono::milliseconds timeout) const;
  // The exact bytes received on connection i ("" when there is no such connection).
  std::string received(size_t i) const;
  // Bytes received on all connections together.
  size_t total_received() const;
  // Every complete request, in the order they completed (over all connections).
  std::vector<RawRequest> requests() const;
  size_t wait_requests(size_t n, std::chrono::milliseconds timeout) const;
  // Blocks until `pred(received(i))` holds, or the timeout passed; returns the last value.
  bool wait_received(size_t i, const std::function<bool(std::string_view)>& pred,
                     std::chrono::milliseconds timeout) const;
  // True when the proxy closed (EOF or reset) connection i; waits up to `timeout`.
  bool wait_peer_closed(size_t i, std::chrono::milliseconds timeout) const;
  // Connections whose socket is still open on our side.
  size_t open_connections() const;
  // The llhttp error for connection i, "" when its bytes parsed cleanly so far.
  std::string parse_error(size_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One response as the client side read it.
struct RawResponse {
  int status = 0;
  std::string reason;
  std::string version;  // "HTTP/1.1"
  Headers headers;
  std::string body;  // de-chunked
  bool chunked = false;
  bool keep_alive = false;       // llhttp_should_keep_alive after this message
  std::string raw;               // exact bytes of this message
  std::string raw_head() const;  // raw up to and including the blank line
  std::string header(std::string_view name) const { return find_header(headers, name); }
  size_t count(std::string_view name) const { return count_header(headers, name); }
};

enum class ReadOutcome {
  kResponse,    // a complete message
  kClosed,      // EOF or reset before any byte of a message
  kTruncated,   // EOF or reset inside a message
  kTimeout,     // nothing complete within the deadline
  kParseError,  // the proxy sent something that is not valid HTTP/1.1
};
const char* to_string(ReadOutcome o);

struct RawRead {
  ReadOutcome outcome = ReadOutcome::kTimeout;
  RawResponse response;  // complete for kResponse; what was parsed so far otherwise
  std::string error;     // llhttp's reason for kParseError
  bool ok() const { return outcome == ReadOutcome::kResponse; }
};

class RawClient {
 public:
  // rcvbuf > 0 sets SO_RCVBUF before connecting (a small window makes a client that
  // stops reading stall the proxy sooner).
  explicit RawClient(uint16_t port, std::chrono::milliseconds timeout = 5s, int rcvbuf = 0);
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool send(std::string_view bytes);
  void shutdown_write();
  // Reads one message. head=true: the answer to a HEAD request (no body). 1xx interim
  // responses come back one at a time.
  RawRead read(bool head = false);
  // Reads messages until a final (non-1xx) one; interim ones are appended to *interim.
  RawRead read_final(std::vector<RawResponse>* interim = nullptr, bool head = false);
  // True when the peer closed (EOF or reset) within the timeout; data is discarded.
  bool wait_closed(std::chrono::milliseconds timeout);
  // Waits up to `timeout` for bytes or a close without consuming them: true when the
  // socket became readable (data, EOF or reset).
  bool readable(std::chrono::milliseconds timeout) const;
  // Bytes received but not yet part of a message returned by read().
  const std::string& buffered() const { return buffered_; }
  // Closes now (FIN), or with a reset (SO_LINGER 0).
  void close();
  void reset();

 private:
  int fd_ = -1;
  std::chrono::milliseconds timeout_;
  std::string buffered_;
  bool eof_ = false;
};

// GET /metrics from the proxy (origin-form, its own connection, Connection: close) and
// the samples by name (labels included, e.g. `gatehouse_responses_total{code="200"}`).
// nullopt when the request failed.
std::optional<std::map<std::string, double>> read_metrics(uint16_t proxy_port);

// Parses Prometheus text into samples by name.
std::map<std::string, double> parse_metrics(std::string_view text);

// Polls `pred` until it holds or the deadline passes, with a short back-off between
// polls (a polling interval, not a synchronisation sleep). Returns the last result.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace gatehouse::test
