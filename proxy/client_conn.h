// ClientConn: one accepted client connection and the exchange currently running on it.
//
// Requests are handled one at a time: the request parser (llhttp, strict) pauses at the
// end of every head and every message, so bytes of a pipelined request N+1 stay buffered
// (never read as the body of request N) until response N is complete.
//
// Ownership: created by accept(), registered with its Worker, and owned by itself. It
// dies only through close(): mark closing, cancel the DNS lookup, close the upstream
// connection, uv_close the socket and both timers, and free in the last close callback.
// Every libuv and resolver callback checks closing_ first. Methods called from inside a
// callback may call close(); the object stays valid until the loop runs the close
// callbacks, so code after such a call only checks closing_ and returns.
#pragma once

#include <llhttp.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/authenticator.h"
#include "proxy/buffers.h"
#include "proxy/chunked_decoder.h"
#include "proxy/error_catalog.h"
#include "proxy/head_scanner.h"
#include "proxy/http_head.h"
#include "proxy/policy.h"
#include "proxy/upstream_conn.h"
#include "proxy/uri.h"
#include "resolver/resolver.h"

namespace gatehouse {

class Worker;

class ClientConn final : private UpstreamHandler {
 public:
  static void accept(Worker& worker, uv_stream_t* server);
  void close();
  // The worker is draining: close now if idle, else after the current exchange.
  void drain();

 private:
  // Why client reads are stopped; reading resumes only when none is left.
  enum ClientPause : unsigned {
    kPauseExchange = 1u << 0,      // head parsed; waiting for the upstream (or a decision)
    kPauseUpstreamFull = 1u << 1,  // upstream write queue above the high-water mark
    kPauseRequestDone = 1u << 2,   // request complete; waiting for its response
    kPauseClosing = 1u << 3,       // answer sent with Connection: close
  };
  enum class Phase { kHead, kResolving, kConnecting, kForwarding, kTunnel };
  enum class PauseEvent { kNone, kHeadDone };
  // How a body is delimited, decided once per message from its head (llhttp parses heads
  // only; bodies are read by this class, so one verdict decides framing).
  enum class BodyMode { kNone, kLength, kChunked, kUntilClose };

  explicit ClientConn(Worker& worker);
  ~ClientConn() = default;

  // Client side.
  void start();
  void drive();
  void execute_pending();
  void on_request_head();
  void on_authenticated(AuthResult r);
  void on_request_allowed();
  bool destination_allowed();
  bool response_allowed();
  std::string redirect_key() const;
  uint64_t limit_for(Cause cause) const;
  void on_request_complete();
  void read_request_body();
  void request_body_span(const char* at, size_t n);
  bool decide_request_framing(ErrorDetails* refusal);
  void on_parse_error(llhttp_errno_t err);
  bool method_looks_like_token() const;
  void start_client_reading();
  void stop_client_reading();
  void flush_to_upstream();
  void flush_to_client();
  void write_to_client(WriteBatch* batch);
  void close_after_flush();
  void reset_exchange();
  void finish_exchange();
  void abort_exchange(const char* why);
  void respond_local(int status, std::string_view content_type, std::string_view body,
                     const HeaderList& extra = {});
  void respond_error(ErrorDetails e);
  bool via_has_our_name() const;
  void refuse_over_limit();
  void note_status(int status);
  void log_exchange();
  std::string pac_file() const;
  std::string own_authority() const;
  void serve_error_type_page(std::string_view path);
  std::string allowed_methods() const;
  void answer_here();

  // Upstream side.
  void start_upstream();
  void on_resolved(const ResolveResult& r);
  std::string forbidden_address_reason(const sockaddr* sa, const sockaddr* sa4) const;
  void connect_next();
  void on_connected();
  void retry_or_fail(Cause cause, const std::string& details);
  void on_upstream_connect(int status) override;
  void on_upstream_read(Chunk* chunk, const char* data, ssize_t nread) override;
  void on_upstream_write(int status) override;
  void on_upstream_shutdown(int status) override;
  void on_upstream_eof(int status);
  size_t parse_response_head(const char* p, size_t n);
  size_t read_response_body(const char* p, size_t n);
  void response_body_span(const char* at, size_t n);
  void on_interim_response();
  bool decide_response_framing(ErrorDetails* refusal);
  void on_response_head();
  void on_response_complete();
  void on_switching_protocols();
  void start_up_timer(uint64_t ms);

  // Tunnel (CONNECT).
  void enter_tunnel(bool connect);
  void tunnel_client_data(Chunk* chunk, const char* p, size_t n);
  void tunnel_upstream_data(Chunk* chunk, const char* p, size_t n);
  void tunnel_maybe_finish();

  // llhttp and libuv trampolines are friends living in the .cc file.
  friend struct ClientCallbacks;

  Worker& w_;
  std::shared_ptr<const Policy> policy_;  // this connection's snapshot; a reload swaps the worker's
  std::shared_ptr<const Config> cfg_;
  uint64_t auth_id_ = 0;  // a verification in flight
  std::optional<ErrorDetails> resp_refusal_;
  uv_tcp_t tcp_;
  uv_timer_t timer_;     // client header / keep-alive idle
  uv_timer_t up_timer_;  // connect / response head / body and tunnel idle
  uv_shutdown_t shutdown_req_;
  int open_handles_ = 0;
  bool closing_ = false;
  bool client_reading_ = false;
  bool client_allowed_ = true;
  bool driving_ = false;
  bool redrive_ = false;
  bool parser_kick_ = false;    // resumed after a head pause: run the parser even with no bytes
  bool close_pending_ = false;  // close once queued writes are flushed
  bool lingering_ = false;      // answer flushed; reading what the client still sends
  unsigned client_pause_ = 0;
  unsigned up_pause_ = 0;
  size_t client_inflight_ = 0;  // bytes written to the client whose callback is pending
  ReadCursor reader_;
  Chunk* pend_chunk_ = nullptr;  // unparsed client bytes live here
  const char* pend_ptr_ = nullptr;
  size_t pend_len_ = 0;
  sockaddr_storage peer_{};

  // Request parsing.
  llhttp_t req_parser_;
  PauseEvent pause_event_ = PauseEvent::kNone;
  const char* exec_start_ = nullptr;  // the bytes of the current llhttp_execute call
  size_t exec_len_ = 0;
  RequestHead req_;
  std::string req_version_;  // as written on the request line ("1.1"); empty = none
  HeadScanner req_scan_;
  BodyMode req_body_mode_ = BodyMode::kNone;
  bool req_in_body_ = false;  // the head is done; body bytes are read by read_request_body
  uint64_t req_remaining_ = 0;
  ChunkedDecoder req_chunks_;
  std::optional<ErrorDetails> framing_refusal_;
  bool field_open_ = false;
  bool value_open_ = false;
  size_t head_bytes_ = 0;
  size_t url_bytes_ = 0;
  size_t chunk_ext_bytes_ = 0;
  bool any_request_bytes_ = false;
  bool user_error_set_ = false;
  Cause user_error_ = Cause::kBadRequest;
  std::string user_error_details_;

  // The exchange.
  Phase phase_ = Phase::kHead;
  bool req_keep_alive_ = true;
  bool req_has_body_ = false;
  bool req_chunked_ = false;
  uint64_t req_body_bytes_ = 0;
  bool req_complete_ = false;
  bool is_connect_ = false;
  bool is_head_ = false;
  bool discard_body_ = false;
  bool wants_upgrade_ = false;  // Upgrade forwarded; a 101 turns the exchange into a tunnel
  std::string request_id_;
  std::string user_;  // authenticated proxy user, for the log

  // Accounting for the access log and metrics.
  bool ex_active_ = false;
  bool ex_logged_ = false;
  uint64_t ex_start_ms_ = 0;
  uint64_t ex_bytes_in_ = 0;
  uint64_t ex_bytes_out_ = 0;
  int ex_status_ = 0;
  std::string_view ex_proxy_status_;
  uint64_t dns_start_ms_ = 0;
  uint64_t connect_start_ms_ = 0;
  Authority target_;
  std::string origin_form_;
  std::string key_;
  Resolver::LookupId lookup_ = 0;
  std::vector<sockaddr_storage> addrs_;
  size_t addr_idx_ = 0;
  Cause last_connect_error_ = Cause::kConnectionRefused;
  std::string last_connect_details_;
  UpstreamConn* up_ = nullptr;
  bool up_reused_ = false;
  bool retried_ = false;
  WriteBatch* to_up_ = nullptr;
  WriteBatch* to_client_ = nullptr;
  uint64_t last_activity_ = 0;
  uint64_t idle_ms_ = 0;

  // Response parsing.
  llhttp_t resp_parser_;
  Chunk* resp_chunk_ = nullptr;  // the chunk being parsed, for zero-copy body spans
  ResponseHead resp_;
  bool resp_field_open_ = false;
  bool resp_value_open_ = false;
  size_t resp_head_bytes_ = 0;
  bool resp_any_bytes_ = false;
  bool resp_head_done_ = false;
  bool resp_complete_ = false;
  bool resp_chunked_out_ = false;
  bool resp_extra_bytes_ = false;
  bool resp_keep_alive_ = false;  // the upstream connection may be reused after this response
  bool resp_head_event_ = false;  // the parser paused at the end of a response head
  bool resp_in_body_ = false;
  BodyMode resp_body_mode_ = BodyMode::kNone;
  uint64_t resp_remaining_ = 0;
  ChunkedDecoder resp_chunks_;
  HeadScanner resp_scan_;
  std::string resp_codings_;  // transfer codings other than chunked, kept on the way out
  std::string resp_error_;    // why a response head was refused from inside a callback
  unsigned interim_count_ = 0;
  bool close_after_response_ = false;
  bool local_response_ = false;

  // Tunnel state.
  bool client_eof_ = false;
  bool up_eof_ = false;
  bool client_shut_ = false;
  bool up_shut_ = false;
};

}  // namespace gatehouse
