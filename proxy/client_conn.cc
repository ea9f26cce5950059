#include "proxy/client_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/log.h"
#include "proxy/error_page.h"
#include "proxy/worker.h"

namespace gatehouse {
namespace {

// Back-pressure marks for the bytes queued towards one peer. A reader is stopped above
// kHighWater and resumed below kLowWater, so one direction of one exchange holds at most
// kHighWater plus one read chunk (64 KiB) in the proxy.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kLowWater = 64 * 1024;
// Chunk extensions are never forwarded; cap what a peer may make us skip per chunk.
constexpr size_t kMaxChunkExtensionBytes = 4096;
// Interim (1xx) responses accepted before the final one; an origin sending more is
// broken or hostile.
constexpr unsigned kMaxInterimResponses = 32;
// After answering with Connection: close while the client may still be sending a body,
// keep reading (and discarding) this long so our answer is not lost to a TCP reset.
constexpr uint64_t kLingerMs = 2000;

uv_stream_t* as_stream(uv_tcp_t* t) {
  return reinterpret_cast<uv_stream_t*>(t);
}
uv_handle_t* as_handle(uv_tcp_t* t) {
  return reinterpret_cast<uv_handle_t*>(t);
}
uv_handle_t* as_handle(uv_timer_t* t) {
  return reinterpret_cast<uv_handle_t*>(t);
}

std::string hex(uint64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(v));
  return std::string(buf, static_cast<size_t>(n));
}

std::string address_text(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

void set_port(sockaddr_storage& ss, uint16_t port) {
  if (ss.ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(port);
  } else if (ss.ss_family == AF_INET6) {
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(port);
  }
}

// Runs `blocked` on every media type a message declares: each Content-Type field line and
// each comma-separated member of one (clients differ on which of several they use, so a
// filter must judge them all). A message without Content-Type is judged as "".
template <typename Judge>
std::optional<std::string> judge_content_types(const HeaderList& headers, Judge blocked) {
  bool any = false;
  for (const auto& f : headers) {
    if (!iequals(f.name, "content-type")) continue;
    any = true;
    std::string_view v = f.value;
    bool quoted = false;
    size_t start = 0;
    for (size_t i = 0; i <= v.size(); ++i) {
      if (i < v.size() && v[i] == '"') quoted = !quoted;
      if (i < v.size() && (v[i] != ',' || quoted)) continue;
      std::string_view piece = v.substr(start, i - start);
      while (!piece.empty() && (piece.front() == ' ' || piece.front() == '\t')) {
        piece.remove_prefix(1);
      }
      if (!piece.empty() || v.empty()) {
        if (auto why = blocked(piece)) return why;
      }
      start = i + 1;
    }
  }
  if (!any) return blocked(std::string_view());
  return std::nullopt;
}

bool is_idempotent(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "TRACE" || m == "PUT" || m == "DELETE";
}

}  // namespace

// llhttp and libuv trampolines. llhttp callbacks run inside llhttp_execute, called only
// from ClientConn::execute_pending / on_upstream_read, never after close() began.
struct ClientCallbacks {
  static ClientConn* req(llhttp_t* p) { return static_cast<ClientConn*>(p->data); }

  static int on_message_begin(llhttp_t* p) {
    ClientConn* c = req(p);
    c->any_request_bytes_ = true;
    c->ex_start_ms_ = uv_now(c->w_.loop());
    // A later request on a keep-alive connection: from its first byte the head has
    // timeouts.client_header to arrive, not what is left of timeouts.client_idle.
    uv_timer_start(&c->timer_, ClientCallbacks::on_timer, c->cfg_->timeouts.client_header.count(),
                   0);
    return 0;
  }
  static int on_url(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    c->url_bytes_ += n;
    c->head_bytes_ += n;
    if (c->url_bytes_ > c->cfg_->limits.max_uri_bytes) {
      c->user_error_set_ = true;
      c->user_error_ = Cause::kUriTooLong;
      c->user_error_details_ = "The request-target is longer than limits.max_uri_bytes (" +
                               std::to_string(c->cfg_->limits.max_uri_bytes) + " bytes).";
      return -1;
    }
    c->req_.target.append(at, n);
    return 0;
  }
  static int on_method(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    c->head_bytes_ += n;
    c->req_.method.append(at, n);
    return 0;
  }
  static int on_version(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    c->head_bytes_ += n;
    if (c->req_version_.size() + n <= 16) c->req_version_.append(at, n);
    return 0;
  }
  static bool header_limit(ClientConn* c, size_t n) {
    c->head_bytes_ += n;
    if (c->head_bytes_ <= c->cfg_->limits.max_header_bytes) return true;
    c->user_error_set_ = true;
    c->user_error_ = Cause::kHeadersTooLarge;
    c->user_error_details_ = "The request header section is larger than limits.max_header_bytes (" +
                             std::to_string(c->cfg_->limits.max_header_bytes) + " bytes).";
    return false;
  }
  // A field name may arrive in several pieces; `open` says whether one is under way.
  static void append_name(HeaderList& headers, bool& open, const char* at, size_t n) {
    if (!open) {
      headers.emplace_back();
      open = true;
    }
    headers.back().name.append(at, n);
  }
  static int on_header_field(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!header_limit(c, n + 4)) return -1;
    append_name(c->req_.headers, c->field_open_, at, n);
    return 0;
  }
  static int on_header_field_complete(llhttp_t* p) {
    req(p)->field_open_ = false;
    return 0;
  }
  static int on_header_value(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!header_limit(c, n)) return -1;
    // obs-fold is found by the HeadScanner (whatever the read boundaries); here a folded
    // value simply continues.
    c->req_.headers.back().value.append(at, n);
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    c->req_.http_major = llhttp_get_http_major(p);
    c->req_.http_minor = llhttp_get_http_minor(p);
    c->req_keep_alive_ = llhttp_should_keep_alive(p) != 0;
    c->pause_event_ = ClientConn::PauseEvent::kHeadDone;
    // llhttp's part ends here: the body is read by ClientConn::read_request_body, and the
    // parser is reset before the next request.
    return HPE_PAUSED;
  }

  // Response parser: heads only; bodies are read by ClientConn::read_response_body.
  static bool resp_limit(ClientConn* c, size_t n) {
    c->resp_head_bytes_ += n;
    if (c->resp_head_bytes_ <= c->cfg_->limits.max_header_bytes) return true;
    c->resp_error_.clear();  // reported as kResponseHeadersTooLarge
    return false;
  }
  static int r_on_status(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    // The status line counts toward the head limit, reason phrase included.
    if (!resp_limit(c, n)) return -1;
    for (size_t i = 0; i < n; ++i) {
      auto ch = static_cast<unsigned char>(at[i]);
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
        c->resp_error_ = "its status line's reason phrase contains a control character";
        return -1;
      }
    }
    c->resp_.reason.append(at, n);
    return 0;
  }
  static int r_on_version(llhttp_t* p, const char*, size_t n) {
    return resp_limit(req(p), n + 5) ? 0 : -1;  // "HTTP/" and the version
  }
  static int r_on_header_field(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!resp_limit(c, n + 4)) return -1;
    append_name(c->resp_.headers, c->resp_field_open_, at, n);
    return 0;
  }
  static int r_on_header_field_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    c->resp_field_open_ = false;
    // RFC 9112 5.1: whitespace between a field name and the colon. Strict llhttp refuses
    // such a name before this runs (the answer is 502); trimming stays as a second guard.
    std::string& name = c->resp_.headers.back().name;
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
    if (!is_token(name)) {
      c->resp_error_ = "a header field name is not a valid token";
      return -1;
    }
    return 0;
  }
  static int r_on_header_value(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!resp_limit(c, n)) return -1;
    // An obs-fold continuation arrives as its own span starting with whitespace: the
    // fold becomes that whitespace (RFC 9112 5.2 lets a proxy replace it with SP).
    c->resp_.headers.back().value.append(at, n);
    return 0;
  }
  static int r_on_headers_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    c->resp_.status = llhttp_get_status_code(p);
    c->resp_.http_major = llhttp_get_http_major(p);
    c->resp_.http_minor = llhttp_get_http_minor(p);
    c->resp_head_event_ = true;
    return HPE_PAUSED;
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* c = static_cast<ClientConn*>(h->data);
    *buf = c->reader_.next(c->w_.chunks());
  }
  static void on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*);
  static void on_write(void* owner, WriteBatch* batch, int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_close(uv_handle_t* h);
  static void on_timer(uv_timer_t* t);
  static void on_up_timer(uv_timer_t* t);
};

namespace {

const llhttp_settings_t kRequestSettings = {
    .on_message_begin = ClientCallbacks::on_message_begin,
    .on_url = ClientCallbacks::on_url,
    .on_status = nullptr,
    .on_method = ClientCallbacks::on_method,
    .on_version = ClientCallbacks::on_version,
    .on_header_field = ClientCallbacks::on_header_field,
    .on_header_value = ClientCallbacks::on_header_value,
    .on_chunk_extension_name = nullptr,
    .on_chunk_extension_value = nullptr,
    .on_headers_complete = ClientCallbacks::on_headers_complete,
    .on_body = nullptr,
    .on_message_complete = nullptr,
    .on_url_complete = nullptr,
    .on_status_complete = nullptr,
    .on_method_complete = nullptr,
    .on_version_complete = nullptr,
    .on_header_field_complete = ClientCallbacks::on_header_field_complete,
    .on_header_value_complete = nullptr,
    .on_chunk_extension_name_complete = nullptr,
    .on_chunk_extension_value_complete = nullptr,
    .on_chunk_header = nullptr,
    .on_chunk_complete = nullptr,
    .on_reset = nullptr,
};

const llhttp_settings_t kResponseSettings = {
    .on_message_begin = nullptr,
    .on_url = nullptr,
    .on_status = ClientCallbacks::r_on_status,
    .on_method = nullptr,
    .on_version = ClientCallbacks::r_on_version,
    .on_header_field = ClientCallbacks::r_on_header_field,
    .on_header_value = ClientCallbacks::r_on_header_value,
    .on_chunk_extension_name = nullptr,
    .on_chunk_extension_value = nullptr,
    .on_headers_complete = ClientCallbacks::r_on_headers_complete,
    .on_body = nullptr,
    .on_message_complete = nullptr,
    .on_url_complete = nullptr,
    .on_status_complete = nullptr,
    .on_method_complete = nullptr,
    .on_version_complete = nullptr,
    .on_header_field_complete = ClientCallbacks::r_on_header_field_complete,
    .on_header_value_complete = nullptr,
    .on_chunk_extension_name_complete = nullptr,
    .on_chunk_extension_value_complete = nullptr,
    .on_chunk_header = nullptr,
    .on_chunk_complete = nullptr,
    .on_reset = nullptr,
};

}  // namespace

// ---------------------------------------------------------------------------------------
// Life cycle

ClientConn::ClientConn(Worker& worker)
    : w_(worker), policy_(worker.policy()), cfg_(policy_->config) {}

std::string ClientConn::redirect_key() const {
  return RedirectTracker::client_key(address_text(peer_), user_);
}

uint64_t ClientConn::limit_for(Cause cause) const {
  const Config& c = *cfg_;
  switch (cause) {
    case Cause::kUriTooLong:
      return c.limits.max_uri_bytes;
    case Cause::kHeadersTooLarge:
    case Cause::kResponseHeadersTooLarge:
      return c.limits.max_header_bytes;
    case Cause::kBodyTooLarge:
      return c.limits.max_request_body_bytes;
    case Cause::kRequestTimeout:
      return static_cast<uint64_t>(c.timeouts.client_header.count());
    case Cause::kRequestBodyTimeout:
      return static_cast<uint64_t>(c.timeouts.idle.count());
    case Cause::kDnsTimeout:
      return static_cast<uint64_t>(c.timeouts.dns.count());
    case Cause::kConnectTimeout:
      return static_cast<uint64_t>(c.timeouts.connect.count());
    case Cause::kResponseTimeout:
      return static_cast<uint64_t>(c.timeouts.response_header.count());
    case Cause::kRedirectLoop:
      return c.redirects.max_chain;
    case Cause::kConnectionLimit:
      return c.limits.max_connections;
    default:
      return 0;
  }
}

bool ClientConn::destination_allowed() {
  RuleDecision d = policy_->destinations.check(target_.host);
  if (d.allowed) return true;
  ErrorDetails e;
  e.cause = Cause::kDestinationDenied;
  e.details = "Requests to " + target_.host + " are refused by " + d.rule + ".";
  respond_error(std::move(e));
  return false;
}

// Called with the upstream's final response head parsed; false when the proxy answers
// instead (a blocked media type, a redirect chain over the limit). The refusal is
// delivered once the parser has returned.
bool ClientConn::response_allowed() {
  int status = resp_.status;
  bool has_body = !(is_head_ || status == 204 || status == 304);
  if (has_body) {
    const MimeFilter& mime = policy_->mime;
    if (auto why = judge_content_types(
            resp_.headers, [&mime](std::string_view t) { return mime.blocked_response(t); })) {
      w_.mutable_stats().mime_blocked.fetch_add(1, std::memory_order_relaxed);
      ErrorDetails e;
      e.cause = Cause::kResponseTypeBlocked;
      e.received_status = status;
      e.next_hop = key_;
      e.details = "The response from " + key_ + " has a blocked type: " + *why + ".";
      resp_refusal_ = std::move(e);
      return false;
    }
  }
  const std::string* location = find_field(resp_.headers, "location");
  std::lock_guard<std::mutex> lock(w_.shared().redirects_mu);
  RedirectTracker& tracker = *w_.shared().redirects;
  if (is_redirect_status(status) && location) {
    w_.mutable_stats().redirects_seen.fetch_add(1, std::memory_order_relaxed);
    std::string url = "http://" + target_.to_string(80) + origin_form_;
    RedirectDecision d = tracker.on_redirect(redirect_key(), url, resolve_location(url, *location));
    if (d.cut) {
      w_.mutable_stats().redirect_chains_cut.fetch_add(1, std::memory_order_relaxed);
      ErrorDetails e;
      e.cause = Cause::kRedirectLoop;
      e.received_status = status;
      e.next_hop = key_;
      e.chain = std::move(d.chain);
      e.details = "The redirect chain reached " + std::to_string(d.hops) +
                  " hops, more than redirects.max_chain (" +
                  std::to_string(cfg_->redirects.max_chain) + ")" +
                  (d.omitted ? " (" + std::to_string(d.omitted) + " early URLs not shown)" : "") +
                  ".";
      resp_refusal_ = std::move(e);
      return false;
    }
  } else {
    tracker.on_final(redirect_key(), "http://" + target_.to_string(80) + origin_form_);
  }
  return true;
}

void ClientConn::accept(Worker& worker, uv_stream_t* server) {
  auto* c = new ClientConn(worker);
  uv_tcp_init(worker.loop(), &c->tcp_);
  uv_timer_init(worker.loop(), &c->timer_);
  uv_timer_init(worker.loop(), &c->up_timer_);
  c->tcp_.data = c;
  c->timer_.data = c;
  c->up_timer_.data = c;
  c->open_handles_ = 3;
  worker.add_conn(c);
  if (uv_accept(server, as_stream(&c->tcp_)) != 0) {
    c->close();
    return;
  }
  if (worker.shared().active_connections.load(std::memory_order_relaxed) >
      worker.config()->limits.max_connections) {
    c->refuse_over_limit();
    return;
  }
  c->start();
}

// Over limits.max_connections: answer 503 at once, without waiting for a request, and
// close. Costs one descriptor for a moment; the client learns when to come back.
void ClientConn::refuse_over_limit() {
  w_.mutable_stats().connections_refused_limit.fetch_add(1, std::memory_order_relaxed);
  llhttp_init(&req_parser_, HTTP_REQUEST, &kRequestSettings);
  req_parser_.data = this;
  reset_exchange();
  ErrorDetails e;
  e.cause = Cause::kConnectionLimit;
  e.details = "The proxy already serves limits.max_connections (" +
              std::to_string(cfg_->limits.max_connections) + ") connections.";
  e.extra.push_back({"Retry-After", "5"});
  e.close = true;
  respond_error(std::move(e));
}

void ClientConn::drain() {
  if (closing_) return;
  bool idle = phase_ == Phase::kHead && !any_request_bytes_ && pend_len_ == 0 && !close_pending_;
  if (idle) {
    close();
    return;
  }
  // Whatever is in flight finishes; its answer says the connection will close.
  close_after_response_ = true;
}

void ClientConn::start() {
  uv_tcp_nodelay(&tcp_, 1);
  int len = sizeof peer_;
  uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&peer_), &len);
  client_allowed_ = false;
  for (const auto& cidr : cfg_->access.allow_clients) {
    if (cidr.contains(reinterpret_cast<const sockaddr*>(&peer_))) {
      client_allowed_ = true;
      break;
    }
  }
  llhttp_init(&req_parser_, HTTP_REQUEST, &kRequestSettings);
  req_parser_.data = this;
  reset_exchange();
  uv_timer_start(&timer_, ClientCallbacks::on_timer, cfg_->timeouts.client_header.count(), 0);
  start_client_reading();
}

void ClientConn::close() {
  if (closing_) return;
  log_exchange();
  closing_ = true;
  if (lookup_) {
    w_.resolver().cancel(lookup_);
    lookup_ = 0;
  }
  if (up_) {
    up_->close();
    up_ = nullptr;
  }
  if (phase_ == Phase::kTunnel) w_.mutable_stats().tunnels_active.fetch_sub(1);
  if (to_up_) w_.batches().release(to_up_);
  if (to_client_) w_.batches().release(to_client_);
  to_up_ = to_client_ = nullptr;
  if (pend_chunk_) w_.chunks().unref(pend_chunk_);
  pend_chunk_ = nullptr;
  pend_len_ = 0;
  w_.remove_conn(this);
  if (auth_id_) {
    w_.authenticator().cancel(auth_id_);
    auth_id_ = 0;
  }
  uv_close(as_handle(&tcp_), ClientCallbacks::on_close);
  uv_close(as_handle(&timer_), ClientCallbacks::on_close);
  uv_close(as_handle(&up_timer_), ClientCallbacks::on_close);
}

void ClientCallbacks::on_close(uv_handle_t* h) {
  auto* c = static_cast<ClientConn*>(h->data);
  if (--c->open_handles_ > 0) return;
  c->reader_.release(c->w_.chunks());
  c->w_.note_chunks();
  delete c;
}

void ClientConn::reset_exchange() {
  ex_active_ = ex_logged_ = false;
  ex_start_ms_ = ex_bytes_in_ = ex_bytes_out_ = 0;
  ex_status_ = 0;
  ex_proxy_status_ = {};
  req_ = RequestHead{};
  req_version_.clear();
  req_scan_.reset();
  req_body_mode_ = BodyMode::kNone;
  req_in_body_ = false;
  req_remaining_ = 0;
  req_chunks_ =
      ChunkedDecoder({kMaxChunkExtensionBytes, static_cast<size_t>(cfg_->limits.max_header_bytes)});
  framing_refusal_.reset();
  field_open_ = false;
  head_bytes_ = url_bytes_ = 0;
  any_request_bytes_ = false;
  user_error_set_ = false;
  user_error_details_.clear();
  phase_ = Phase::kHead;
  req_keep_alive_ = true;
  req_has_body_ = req_chunked_ = false;
  req_body_bytes_ = 0;
  req_complete_ = false;
  is_connect_ = is_head_ = false;
  discard_body_ = false;
  origin_form_.clear();
  key_.clear();
  addrs_.clear();
  addr_idx_ = 0;
  up_reused_ = retried_ = false;
  resp_ = ResponseHead{};
  resp_field_open_ = false;
  resp_head_bytes_ = 0;
  resp_any_bytes_ = resp_head_done_ = resp_complete_ = false;
  resp_chunked_out_ = resp_extra_bytes_ = false;
  resp_keep_alive_ = resp_head_event_ = resp_in_body_ = false;
  resp_body_mode_ = BodyMode::kNone;
  resp_remaining_ = 0;
  resp_scan_.reset();
  resp_codings_.clear();
  resp_error_.clear();
  interim_count_ = 0;
  close_after_response_ = false;
  local_response_ = false;
  up_pause_ = 0;
}

// ---------------------------------------------------------------------------------------
// Reading and parsing the client side

void ClientConn::start_client_reading() {
  if (client_reading_ || closing_ || client_eof_) return;
  if (uv_read_start(as_stream(&tcp_), ClientCallbacks::on_alloc, ClientCallbacks::on_read) == 0) {
    client_reading_ = true;
  }
}

void ClientConn::stop_client_reading() {
  if (!client_reading_ || closing_) return;
  uv_read_stop(as_stream(&tcp_));
  client_reading_ = false;
}

void ClientCallbacks::on_read(uv_stream_t* s, ssize_t nread, const uv_buf_t*) {
  auto* c = static_cast<ClientConn*>(s->data);
  if (nread == 0 || c->closing_) return;
  c->last_activity_ = uv_now(c->w_.loop());
  if (nread < 0) {
    c->client_reading_ = false;
    if (c->close_pending_) {  // lingering after an answer: the client is done
      c->close();
      return;
    }
    if (c->phase_ == ClientConn::Phase::kTunnel) {
      c->client_eof_ = true;
      if (c->up_ && nread == UV_EOF) {
        c->flush_to_upstream();
        c->up_->shutdown_write();
      } else {
        c->close();
      }
      return;
    }
    // A CONNECT whose client left before the tunnel was up: nobody will use it, so the
    // lookup or connect in progress is cancelled with the connection.
    if (c->is_connect_) {
      c->close();
      return;
    }
    // EOF after a complete request head without a body, or while waiting for a
    // response: let the exchange finish (some clients half-close after sending), then
    // close.
    bool bodiless = c->phase_ != ClientConn::Phase::kHead && !c->req_has_body_;
    if (nread == UV_EOF && !c->resp_complete_ && (bodiless || (c->req_complete_ && c->up_))) {
      c->client_eof_ = true;
      c->close_after_response_ = true;
      return;
    }
    c->close();
    return;
  }
  const char* data = nullptr;
  Chunk* chunk = c->reader_.commit(c->w_.chunks(), static_cast<size_t>(nread), &data);
  c->ex_bytes_in_ += static_cast<uint64_t>(nread);
  c->w_.mutable_stats().bytes_from_clients.fetch_add(static_cast<uint64_t>(nread),
                                                     std::memory_order_relaxed);
  if (c->close_pending_) {  // discarding what a client sends after our final answer
    c->w_.chunks().unref(chunk);
    return;
  }
  if (c->phase_ == ClientConn::Phase::kTunnel) {
    c->tunnel_client_data(chunk, data, static_cast<size_t>(nread));
    c->w_.chunks().unref(chunk);
    return;
  }
  assert(c->pend_len_ == 0);
  if (c->pend_chunk_) c->w_.chunks().unref(c->pend_chunk_);
  c->pend_chunk_ = chunk;
  c->pend_ptr_ = data;
  c->pend_len_ = static_cast<size_t>(nread);
  c->drive();
}

// Feeds buffered client bytes to the parser for as long as nothing asks us to wait, then
// reads more. Re-entrant calls (an answer written from inside) just ask for another round.
void ClientConn::drive() {
  if (driving_) {
    redrive_ = true;
    return;
  }
  driving_ = true;
  do {
    redrive_ = false;
    while (!closing_ && client_pause_ == 0 && (pend_len_ > 0 || parser_kick_)) execute_pending();
  } while (redrive_ && !closing_);
  driving_ = false;
  if (closing_) return;
  // Reading goes on while nothing is buffered, even when an exchange is waiting: a read
  // that arrives then is parked in pend_ and reading stops. Connections that do not
  // pipeline thus never toggle their epoll registration between requests.
  bool must_stop = pend_len_ > 0 || (client_pause_ & (kPauseUpstreamFull | kPauseClosing));
  if (must_stop) {
    stop_client_reading();
  } else {
    start_client_reading();
  }
}

void ClientConn::execute_pending() {
  parser_kick_ = false;
  if (req_in_body_) return read_request_body();
  static const char kNothing[1] = {0};
  const char* p = pend_len_ > 0 ? pend_ptr_ : kNothing;
  size_t n = pend_len_;
  pause_event_ = PauseEvent::kNone;
  exec_start_ = p;
  exec_len_ = n;
  // The scanner sees the same bytes first (it stops by itself at the end of the head).
  req_scan_.feed(p, n);
  llhttp_errno_t err = llhttp_execute(&req_parser_, p, n);
  size_t used = n;
  if (err != HPE_OK) {
    const char* pos = llhttp_get_error_pos(&req_parser_);
    if (pos >= p && pos <= p + n) used = static_cast<size_t>(pos - p);
  }
  if (n > 0) {
    pend_ptr_ += used;
    pend_len_ -= used;
  }
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED && pause_event_ == PauseEvent::kHeadDone) {
    // llhttp stays paused after the head: it is reset, not resumed, for the next request.
    client_pause_ |= kPauseExchange;
    parser_kick_ = true;  // the rest of this message may need no further bytes
    ErrorDetails refusal;
    if (!decide_request_framing(&refusal)) framing_refusal_ = std::move(refusal);
    req_in_body_ = true;
    on_request_head();
    return;
  }
  on_parse_error(err);
}

// The request head is parsed; its framing is decided here, once, by this proxy (never by
// llhttp and this code both). RFC 9112 6.1-6.3 and 9110 8.6. False with a refusal.
bool ClientConn::decide_request_framing(ErrorDetails* refusal) {
  refusal->close = true;
  size_t te_fields = count_fields(req_.headers, "transfer-encoding");
  size_t cl_fields = count_fields(req_.headers, "content-length");
  if (te_fields > 0) {
    std::vector<std::string> codings = transfer_codings(req_.headers);
    std::string all;
    for (const auto& f : req_.headers) {
      if (!iequals(f.name, "transfer-encoding")) continue;
      if (!all.empty()) all += ", ";
      all += f.value;
    }
    bool chunked_last = !codings.empty() && iequals(codings.back(), "chunked");
    size_t chunked_count =
        static_cast<size_t>(std::count_if(codings.begin(), codings.end(), [](const std::string& c) {
          return iequals(c, "chunked");
        }));
    bool empty_member =
        std::any_of(codings.begin(), codings.end(), [](const std::string& c) { return c.empty(); });
    bool unknown = std::any_of(codings.begin(), codings.end(), [](const std::string& c) {
      return !c.empty() && !iequals(c, "chunked");
    });
    if (req_.http_minor == 0) {
      refusal->cause = Cause::kBadRequest;
      refusal->details =
          "The request is HTTP/1.0 but has Transfer-Encoding, which HTTP/1.0 does not have; "
          "its framing cannot be trusted.";
      return false;
    }
    if (cl_fields > 0) {
      refusal->cause = Cause::kBadRequest;
      refusal->details =
          "The request has both Transfer-Encoding and Content-Length; its length is ambiguous.";
      return false;
    }
    if (unknown && !empty_member && chunked_count <= 1) {
      refusal->cause = Cause::kNotImplemented;
      refusal->details = "The request uses a transfer coding (" + all +
                         ") that this proxy does not implement; only chunked is supported.";
      return false;
    }
    if (!chunked_last || chunked_count != 1 || empty_member) {
      refusal->cause = Cause::kBadRequest;
      refusal->details = "The request's Transfer-Encoding (" + all +
                         ") is invalid: chunked must appear exactly once, as the last coding.";
      return false;
    }
    req_body_mode_ = BodyMode::kChunked;
    req_chunked_ = true;
    req_has_body_ = true;
    return true;
  }
  if (cl_fields > 1) {
    refusal->cause = Cause::kBadRequest;
    refusal->details = "The request has more than one Content-Length field.";
    return false;
  }
  if (cl_fields == 1) {
    // llhttp has checked the value is a plain decimal number.
    req_remaining_ = req_parser_.content_length;
    req_body_mode_ = req_remaining_ > 0 ? BodyMode::kLength : BodyMode::kNone;
    req_has_body_ = req_remaining_ > 0;
  }
  return true;
}

// Request body bytes (or the end of a bodiless request), read with the framing decided
// from the head.
void ClientConn::read_request_body() {
  switch (req_body_mode_) {
    case BodyMode::kNone:
    case BodyMode::kUntilClose:
      break;
    case BodyMode::kLength: {
      size_t take = static_cast<size_t>(std::min<uint64_t>(req_remaining_, pend_len_));
      if (take > 0) {
        const char* at = pend_ptr_;
        pend_ptr_ += take;
        pend_len_ -= take;
        req_remaining_ -= take;
        request_body_span(at, take);
        if (closing_ || close_pending_) return;
      }
      if (req_remaining_ > 0) {
        flush_to_upstream();
        return;
      }
      break;
    }
    case BodyMode::kChunked: {
      for (;;) {
        size_t used = 0;
        const char* data = nullptr;
        size_t len = 0;
        ChunkedDecoder::Status st = req_chunks_.feed(pend_ptr_, pend_len_, &used, &data, &len);
        pend_ptr_ += used;
        pend_len_ -= used;
        if (st == ChunkedDecoder::Status::kData) {
          request_body_span(data, len);
          if (closing_ || close_pending_) return;
          continue;
        }
        if (st == ChunkedDecoder::Status::kDone) break;
        if (st == ChunkedDecoder::Status::kError) {
          ErrorDetails e;
          e.cause = Cause::kBadRequest;
          e.details = "The request's chunked body is malformed: " + req_chunks_.error() + ".";
          e.close = true;
          return respond_error(std::move(e));
        }
        flush_to_upstream();
        return;  // kNeedMore
      }
      if (up_ && !discard_body_) {
        if (!to_up_) to_up_ = w_.batches().acquire();
        to_up_->append_copy("0\r\n\r\n");
      }
      break;
    }
  }
  flush_to_upstream();
  if (closing_) return;
  req_in_body_ = false;
  llhttp_reset(&req_parser_);
  on_request_complete();
}

void ClientConn::request_body_span(const char* at, size_t n) {
  req_body_bytes_ += n;
  uint64_t limit = cfg_->limits.max_request_body_bytes;
  if (limit != 0 && req_body_bytes_ > limit) {
    ErrorDetails e;
    e.cause = Cause::kBodyTooLarge;
    e.details = "The request body is larger than limits.max_request_body_bytes (" +
                std::to_string(limit) + " bytes).";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (discard_body_ || !up_) return;
  if (!to_up_) to_up_ = w_.batches().acquire();
  if (req_chunked_) {
    to_up_->append_copy(hex(n) + "\r\n");
    to_up_->append_span(w_.chunks(), pend_chunk_, at, n);
    to_up_->append_copy("\r\n");
  } else {
    to_up_->append_span(w_.chunks(), pend_chunk_, at, n);
  }
}

bool ClientConn::method_looks_like_token() const {
  // The parser stopped inside the request line; the method is what precedes the space.
  std::string_view line(exec_start_, exec_len_);
  size_t sp = line.find(' ');
  return sp != std::string_view::npos && is_token(line.substr(0, sp));
}

void ClientConn::on_parse_error(llhttp_errno_t err) {
  ErrorDetails e;
  e.close = true;
  if (err == HPE_USER && user_error_set_) {
    e.cause = user_error_;
    e.details = user_error_details_;
  } else if (err == HPE_INVALID_METHOD && method_looks_like_token()) {
    e.cause = Cause::kNotImplemented;
    e.details = "The request method is not one this proxy recognises.";
  } else if (err == HPE_INVALID_VERSION) {
    // 505 only for a well-formed version with another major number ("HTTP/3.0");
    // garbage after the version or a malformed one is a malformed request line.
    const char* pos = llhttp_get_error_pos(&req_parser_);
    bool well_formed = req_version_.size() == 3 && req_version_[1] == '.' &&
                       std::isdigit(static_cast<unsigned char>(req_version_[0])) &&
                       std::isdigit(static_cast<unsigned char>(req_version_[2]));
    bool at_line_end = pos && (*pos == '\r' || *pos == '\n');
    if (well_formed && req_version_[0] != '1' && at_line_end) {
      e.cause = Cause::kVersionNotSupported;
      e.details = "The request is HTTP/" + req_version_ + "; this proxy speaks HTTP/1.x here.";
    } else if (well_formed && at_line_end) {
      // HTTP/1.2 and the like: a 1.x this proxy's parser does not take.
      e.cause = Cause::kBadRequest;
      e.details = "The request is HTTP/" + req_version_ +
                  ", a minor version this proxy does not accept; send HTTP/1.1.";
    } else {
      e.cause = Cause::kBadRequest;
      e.details =
          "The request line is malformed after the request-target (expected "
          "\"HTTP/1.1\" and the end of the line).";
    }
  } else {
    e.cause = Cause::kBadRequest;
    e.details = std::string("The request could not be parsed: ") +
                llhttp_get_error_reason(&req_parser_) + ".";
  }
  respond_error(std::move(e));
}

// The request head is complete and the parser is paused right after it.
void ClientConn::on_request_head() {
  uv_timer_stop(&timer_);
  ex_active_ = true;
  if (ex_start_ms_ == 0) ex_start_ms_ = uv_now(w_.loop());
  w_.mutable_stats().requests.fetch_add(1, std::memory_order_relaxed);
  is_connect_ = req_.method == "CONNECT";
  is_head_ = req_.method == "HEAD";
  // A protocol upgrade (WebSocket, h2c, ...) is forwarded for bodiless requests; on a 101
  // the connection becomes a tunnel. With a body it would be ambiguous where the new
  // protocol starts, so Upgrade is dropped there.
  {
    const std::string* up = find_field(req_.headers, "upgrade");
    wants_upgrade_ = up && !up->empty() && !req_has_body_ &&
                     has_token_in_fields(req_.headers, "connection", "upgrade");
  }
  request_id_ = w_.next_request_id();

  if (!client_allowed_) {
    ErrorDetails e;
    e.cause = Cause::kClientDenied;
    e.details =
        "Your address " + address_text(peer_) + " is not in access.allow_clients of this proxy.";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (w_.draining()) close_after_response_ = true;
  if (req_version_.empty()) {
    // llhttp takes a request line without a version as HTTP/0.9; that is not a request
    // this proxy can answer in kind, and it is malformed for HTTP/1.x.
    ErrorDetails e;
    e.cause = Cause::kBadRequest;
    e.details = "The request line has no HTTP version (expected \"HTTP/1.1\" at its end).";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (req_.http_major != 1) {
    ErrorDetails e;
    e.cause = Cause::kVersionNotSupported;
    e.details = "The request is HTTP/" + std::to_string(req_.http_major) + "." +
                std::to_string(req_.http_minor) + "; this proxy speaks HTTP/1.x here.";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (req_scan_.obs_fold()) {
    ErrorDetails e;
    e.cause = Cause::kBadRequest;
    e.details =
        "A header field value is folded over several lines (obs-fold), which this proxy does "
        "not accept.";
    e.close = true;
    return respond_error(std::move(e));
  }
  for (const auto& f : req_.headers) {
    // llhttp 8 lets some of these through; RFC 9112 5.1 says they must be refused.
    bool bad_name = !is_token(f.name);
    bool bad_value = f.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos;
    if (bad_name || bad_value) {
      ErrorDetails e;
      e.cause = Cause::kBadRequest;
      e.details = bad_name ? "A header field name is not a valid token (whitespace before the "
                             "colon is not allowed)."
                           : "A header field value contains CR, LF or NUL.";
      e.close = true;
      return respond_error(std::move(e));
    }
  }
  if (count_fields(req_.headers, "host") > 1) {
    ErrorDetails e;
    e.cause = Cause::kBadRequest;
    e.details = "The request has more than one Host field (RFC 9112 section 3.2).";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (framing_refusal_) {
    ErrorDetails e = std::move(*framing_refusal_);
    framing_refusal_.reset();
    return respond_error(std::move(e));
  }
  // Proxy authentication, for everything but requests to the proxy itself (health checks
  // and metrics scrapers must not need the users' password file). Verification runs on
  // the thread pool; the parser stays paused meanwhile.
  bool for_us = !req_.target.empty() && (req_.target.front() == '/' || req_.target == "*");
  if (policy_->users && !for_us) {
    const std::string* creds = find_field(req_.headers, "proxy-authorization");
    auth_id_ = w_.authenticator().check(creds ? *creds : std::string(), address_text(peer_),
                                        [this](AuthResult r) { on_authenticated(std::move(r)); });
    return;
  }
  on_request_allowed();
}

void ClientConn::on_authenticated(AuthResult r) {
  auth_id_ = 0;
  if (closing_) return;
  if (r.status == AuthStatus::kOk) {
    user_ = r.user;
    return on_request_allowed();
  }
  w_.mutable_stats().auth_failures.fetch_add(1, std::memory_order_relaxed);
  if (!r.detail.empty()) {
    GH_LOG_INFO("proxy authentication failed for %s: %s", address_text(peer_).c_str(),
                r.detail.c_str());
  }
  ErrorDetails e;
  e.cause = Cause::kProxyAuthRequired;
  e.details = r.status == AuthStatus::kMissing
                  ? "This proxy needs a user name and password (Proxy-Authorization), and the "
                    "request had none."
                  : "The credentials in Proxy-Authorization were not accepted.";
  std::string realm = cfg_->auth.realm;
  e.extra.push_back({"Proxy-Authenticate", "Basic realm=\"" + realm + "\", charset=\"UTF-8\""});
  respond_error(std::move(e));
}

// The request may use the proxy: method, target and destination checks follow.
void ClientConn::on_request_allowed() {
  const Config& cfg = *cfg_;
  for (const auto& m : cfg.access.disabled_methods) {
    if (m == req_.method) {
      ErrorDetails e;
      e.cause = Cause::kMethodDisabled;
      e.details = "The method " + req_.method + " is disabled by access.disabled_methods.";
      e.extra.push_back({"Allow", allowed_methods()});
      return respond_error(std::move(e));
    }
  }
  if (const std::string* expect = find_field(req_.headers, "expect")) {
    if (!iequals(*expect, "100-continue")) {
      ErrorDetails e;
      e.cause = Cause::kExpectationFailed;
      e.details = "The only expectation this proxy supports is 100-continue.";
      return respond_error(std::move(e));
    }
  }
  if (req_.method == "OPTIONS" || req_.method == "TRACE") {
    // RFC 9110 7.6.2: Max-Forwards 0 means "answer here"; otherwise count it down.
    for (auto& f : req_.headers) {
      if (!iequals(f.name, "max-forwards")) continue;
      uint64_t v = 0;
      bool digits = !f.value.empty() && f.value.size() <= 18 &&
                    std::all_of(f.value.begin(), f.value.end(),
                                [](char ch) { return ch >= '0' && ch <= '9'; });
      if (!digits) break;  // not a number: forwarded untouched
      for (char ch : f.value) v = v * 10 + static_cast<uint64_t>(ch - '0');
      if (v == 0) return answer_here();
      f.value = std::to_string(v - 1);
      break;
    }
  }
  if (req_.method == "OPTIONS" && req_.target == "*") return answer_here();
  uint64_t limit = cfg.limits.max_request_body_bytes;
  if (limit != 0 && (req_parser_.flags & F_CONTENT_LENGTH) && req_parser_.content_length > limit) {
    ErrorDetails e;
    e.cause = Cause::kBodyTooLarge;
    e.details = "The request body (" + std::to_string(req_parser_.content_length) +
                " bytes) is larger than limits.max_request_body_bytes (" + std::to_string(limit) +
                " bytes).";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (via_has_our_name()) {
    ErrorDetails e;
    e.cause = Cause::kLoopDetected;
    e.details =
        "The request already passed through this proxy (its Via names '" + cfg.server.name + "').";
    return respond_error(std::move(e));
  }

  if (is_connect_) {
    auto a = parse_authority_form(req_.target);
    if (!a) {
      ErrorDetails e;
      e.cause = Cause::kBadRequest;
      e.details = "CONNECT needs a host:port target.";
      e.close = true;
      return respond_error(std::move(e));
    }
    target_ = *a;
    if (!cfg.access.connect_port_allowed(a->port)) {
      ErrorDetails e;
      e.cause = Cause::kConnectPortDenied;
      e.details = "Tunnels to port " + std::to_string(a->port) +
                  " are not allowed by access.connect_ports.";
      e.close = true;
      return respond_error(std::move(e));
    }
    if (!destination_allowed()) return;
    if (cfg.server.maintenance) {
      ErrorDetails e;
      e.cause = Cause::kMaintenance;
      e.details = "The proxy is in maintenance mode (server.maintenance) and opens no tunnels.";
      e.extra.push_back({"Retry-After", "60"});
      return respond_error(std::move(e));
    }
    return start_upstream();
  }

  if (!req_.target.empty() && req_.target.front() == '/') {
    // Origin-form: a request for the proxy itself.
    std::string_view path = req_.target;
    std::string_view route = path.substr(0, path.find('?'));
    if (route == "/healthz") return respond_local(200, "text/plain; charset=utf-8", "ok\n");
    if (route == "/readyz") {
      if (w_.draining() || cfg_->server.maintenance) {
        return respond_local(503, "text/plain; charset=utf-8",
                             w_.draining() ? "draining\n" : "maintenance\n",
                             {{"Retry-After", "5"}});
      }
      return respond_local(200, "text/plain; charset=utf-8", "ready\n");
    }
    if (route == "/metrics") {
      bool allowed = false;
      for (const auto& cidr : cfg_->access.allow_metrics) {
        if (cidr.contains(reinterpret_cast<const sockaddr*>(&peer_))) allowed = true;
      }
      if (!allowed) {
        ErrorDetails e;
        e.cause = Cause::kEndpointDenied;
        e.details = "Your address " + address_text(peer_) +
                    " is not in access.allow_metrics, so /metrics is not shown to it.";
        return respond_error(std::move(e));
      }
      return respond_local(200, "text/plain; version=0.0.4; charset=utf-8",
                           w_.shared().render_metrics());
    }
    if (route.substr(0, kErrorTypePath.size()) == kErrorTypePath) {
      return serve_error_type_page(route);
    }
    if (route == "/proxy.pac") {
      return respond_local(200, "application/x-ns-proxy-autoconfig", pac_file());
    }
    ErrorDetails e;
    e.cause = Cause::kNotProxyRequest;
    e.details = "This is an HTTP proxy. Configure it as your proxy (for example: curl -x http://" +
                (find_field(req_.headers, "host") ? *find_field(req_.headers, "host")
                                                  : std::string("this-host:3128")) +
                " http://example.com/) instead of requesting pages from it directly.";
    return respond_error(std::move(e));
  }

  if (cfg.server.maintenance) {
    ErrorDetails e;
    e.cause = Cause::kMaintenance;
    e.details = "The proxy is in maintenance mode (server.maintenance) and forwards nothing.";
    e.extra.push_back({"Retry-After", "60"});
    return respond_error(std::move(e));
  }
  UriParse u = parse_absolute_uri(req_.target);
  if (u.error != UriError::kNone) {
    ErrorDetails e;
    e.cause =
        u.error == UriError::kUnsupportedScheme ? Cause::kUnsupportedScheme : Cause::kBadRequest;
    if (u.error == UriError::kUnsupportedScheme) {
      e.details = "Only http:// URLs can be forwarded; https:// goes through CONNECT.";
    } else if (u.error == UriError::kBadPort) {
      e.details = "The port in the request URL is not valid.";
    } else {
      e.details = "The request-target is not an absolute http:// URL.";
    }
    return respond_error(std::move(e));
  }
  if (u.uri.has_userinfo || u.uri.has_fragment) {
    // RFC 9110 4.2.4 (userinfo is deprecated for http and a phishing tool) and RFC 9112
    // 3.2.2 (a fragment is never sent): either means a client built a bad target.
    ErrorDetails e;
    e.cause = Cause::kBadRequest;
    e.details = u.uri.has_userinfo
                    ? "The request-target contains user information (user@host), which an "
                      "http URL must not carry; send credentials in a header field instead."
                    : "The request-target contains a fragment (#...), which is never sent in a "
                      "request.";
    return respond_error(std::move(e));
  }
  if (req_.http_minor >= 1 && !find_field(req_.headers, "host")) {
    ErrorDetails e;
    e.cause = Cause::kMissingHost;
    e.details = "HTTP/1.1 requests must carry a Host header field.";
    e.close = true;
    return respond_error(std::move(e));
  }
  if (u.uri.path_and_query.compare(0, kErrorTypePath.size(), kErrorTypePath) == 0) {
    // A browser using this proxy follows a problem "type" link as an absolute URL to the
    // proxy's own address: answer it here rather than as a forwarding loop.
    sockaddr_storage own{};
    auto* a4 = reinterpret_cast<sockaddr_in*>(&own);
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&own);
    bool literal = false;
    if (inet_pton(AF_INET, u.uri.authority.host.c_str(), &a4->sin_addr) == 1) {
      own.ss_family = AF_INET;
      a4->sin_port = htons(u.uri.authority.port);
      literal = true;
    } else if (inet_pton(AF_INET6, u.uri.authority.host.c_str(), &a6->sin6_addr) == 1) {
      own.ss_family = AF_INET6;
      a6->sin6_port = htons(u.uri.authority.port);
      literal = true;
    }
    if (literal && w_.is_own_listener(reinterpret_cast<const sockaddr*>(&own))) {
      std::string_view path = u.uri.path_and_query;
      return serve_error_type_page(path.substr(0, path.find('?')));
    }
  }
  target_ = u.uri.authority;
  origin_form_ = u.uri.path_and_query;
  // RFC 9112 3.2.4: OPTIONS for a URL without a path asks about the server as a whole,
  // which is "OPTIONS *" on the next hop.
  if (req_.method == "OPTIONS" && u.uri.empty_path && origin_form_ == "/") origin_form_ = "*";
  if (!destination_allowed()) return;
  if (req_has_body_) {
    const MimeFilter& mime = policy_->mime;
    if (auto why = judge_content_types(
            req_.headers, [&mime](std::string_view t) { return mime.blocked_request(t); })) {
      w_.mutable_stats().mime_blocked.fetch_add(1, std::memory_order_relaxed);
      ErrorDetails e;
      e.cause = Cause::kRequestTypeBlocked;
      e.details = "The request body's type is not allowed: " + *why + ".";
      e.close = true;
      return respond_error(std::move(e));
    }
  }
  {
    std::lock_guard<std::mutex> lock(w_.shared().redirects_mu);
    w_.shared().redirects->on_request(redirect_key(), req_.target);
  }
  start_upstream();
}

void ClientConn::note_status(int status) {
  ex_status_ = status;
  if (status >= 0 && status < 600) {
    w_.mutable_stats().responses_by_status[static_cast<size_t>(status)].fetch_add(
        1, std::memory_order_relaxed);
  }
}

void ClientConn::log_exchange() {
  if (!ex_active_ || ex_logged_) return;
  ex_logged_ = true;
  AccessLog* log = w_.shared().access_log;
  if (!log || !log->enabled()) return;
  AccessRecord r;
  char when[64];
  {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
    char clf[40];
    strftime(clf, sizeof clf, "%d/%b/%Y:%H:%M:%S +0000", &tm);
    r.clf_time = clf;
  }
  r.time = when;
  r.client = address_text(peer_);
  r.user = user_;
  r.method = req_.method;
  r.url = strip_userinfo(req_.target);
  r.version = "HTTP/" + std::to_string(req_.http_major) + "." + std::to_string(req_.http_minor);
  r.status = ex_status_;
  r.proxy_status = std::string(ex_proxy_status_);
  r.bytes_in = ex_bytes_in_;
  r.bytes_out = ex_bytes_out_;
  r.duration_ms = uv_now(w_.loop()) - ex_start_ms_;
  r.upstream = key_;
  r.request_id = request_id_;
  if (const std::string* ua = find_field(req_.headers, "user-agent")) r.user_agent = *ua;
  if (const std::string* ref = find_field(req_.headers, "referer")) r.referer = *ref;
  log->write(r);
}

// "address:port" of this connection's end on the proxy, as the client reached it.
std::string ClientConn::own_authority() const {
  sockaddr_storage local{};
  int len = sizeof local;
  uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&local), &len);
  uint16_t port = 0;
  if (local.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
    return "[" + address_text(local) + "]:" + std::to_string(port);
  }
  port = ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port);
  return address_text(local) + ":" + std::to_string(port);
}

// The page describing one problem type (the "type" URI of every problem+json answer).
void ClientConn::serve_error_type_page(std::string_view path) {
  std::string_view name = path.substr(kErrorTypePath.size());
  const std::string* accept = find_field(req_.headers, "accept");
  BodyFormat format = negotiate_format(accept ? *accept : std::string());
  if (auto page = render_error_type_page(name, format, cfg_->server.name)) {
    return respond_local(200, type_page_content_type(format), *page);
  }
  return respond_local(404, "text/plain; charset=utf-8",
                       "No such error type here; the list is at " + std::string(kErrorTypePath) +
                           " in the proxy's documentation (docs/errors.md).\n");
}

// A PAC file sending browsers to this proxy (as the browser reached it), except for
// plain host names, loopback and private networks.
std::string ClientConn::pac_file() const {
  std::string proxy;
  const std::string* host = find_field(req_.headers, "host");
  if (host && parse_authority(*host, 80)) {
    proxy = *host;
  } else {
    proxy = own_authority();
  }
  return "// Proxy auto-configuration served by " + cfg_->server.name +
         ".\n"
         "function FindProxyForURL(url, host) {\n"
         "  if (host.indexOf(\":\") >= 0) {  // an IPv6 literal, with or without brackets\n"
         "    var h = host.replace(/^\\[|\\]$/g, \"\").toLowerCase();\n"
         "    if (h === \"::1\" || /^f[cd]/.test(h) || /^fe[89ab]/.test(h)) return \"DIRECT\";\n"
         "    return \"PROXY " +
         proxy +
         "\";\n"
         "  }\n"
         "  if (isPlainHostName(host) || host === \"localhost\" ||\n"
         "      shExpMatch(host, \"*.localhost\") || shExpMatch(host, \"*.local\"))\n"
         "    return \"DIRECT\";\n"
         "  if (/^[0-9.]+$/.test(host) &&\n"
         "      (isInNet(host, \"127.0.0.0\", \"255.0.0.0\") ||\n"
         "       isInNet(host, \"10.0.0.0\", \"255.0.0.0\") ||\n"
         "       isInNet(host, \"172.16.0.0\", \"255.240.0.0\") ||\n"
         "       isInNet(host, \"192.168.0.0\", \"255.255.0.0\") ||\n"
         "       isInNet(host, \"169.254.0.0\", \"255.255.0.0\")))\n"
         "    return \"DIRECT\";\n"
         "  return \"PROXY " +
         proxy +
         "\";\n"
         "}\n";
}

std::string ClientConn::allowed_methods() const {
  static const char* const kMethods[] = {"GET",     "HEAD",  "POST",  "PUT",    "DELETE",
                                         "OPTIONS", "PATCH", "TRACE", "CONNECT"};
  std::string out;
  for (const char* m : kMethods) {
    const auto& off = cfg_->access.disabled_methods;
    if (std::find(off.begin(), off.end(), m) != off.end()) continue;
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

// OPTIONS or TRACE addressed to this proxy (Max-Forwards: 0, or OPTIONS *).
void ClientConn::answer_here() {
  if (req_.method == "OPTIONS") {
    return respond_local(200, "text/plain; charset=utf-8", "", {{"Allow", allowed_methods()}});
  }
  // TRACE (only reachable when enabled): echo the request as received, minus the
  // credentials meant for this proxy.
  std::string echo = req_.method + " " + req_.target + " HTTP/" + std::to_string(req_.http_major) +
                     "." + std::to_string(req_.http_minor) + "\r\n";
  for (const auto& f : req_.headers) {
    if (iequals(f.name, "proxy-authorization")) continue;
    echo += f.name + ": " + f.value + "\r\n";
  }
  echo += "\r\n";
  respond_local(200, "message/http", echo);
}

bool ClientConn::via_has_our_name() const {
  const std::string& name = cfg_->server.name;
  for (const auto& f : req_.headers) {
    if (!iequals(f.name, "via")) continue;
    std::string_view v = f.value;
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view entry = v.substr(0, comma);
      while (!entry.empty() && (entry.front() == ' ' || entry.front() == '\t')) {
        entry.remove_prefix(1);
      }
      size_t sp = entry.find_first_of(" \t");
      if (sp != std::string_view::npos) {
        std::string_view by = entry.substr(sp + 1);
        while (!by.empty() && (by.front() == ' ' || by.front() == '\t')) by.remove_prefix(1);
        by = by.substr(0, by.find_first_of(" \t"));
        if (iequals(by, name)) return true;
      }
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return false;
}

void ClientConn::on_request_complete() {
  req_complete_ = true;
  if (resp_complete_) {
    finish_exchange();
    return;
  }
  client_pause_ |= kPauseRequestDone;
  if (up_ && !resp_head_done_ && phase_ == Phase::kForwarding) {
    start_up_timer(cfg_->timeouts.response_header.count());
  }
}

// ---------------------------------------------------------------------------------------
// Writing to the client

void ClientConn::write_to_client(WriteBatch* batch) {
  if (closing_) {
    w_.batches().release(batch);
    return;
  }
  size_t n = batch->bytes();
  int r = batch->submit(as_stream(&tcp_), this, ClientCallbacks::on_write);
  if (r != 0) {
    w_.batches().release(batch);
    close();
    return;
  }
  client_inflight_ += n;
  ex_bytes_out_ += n;
  w_.mutable_stats().bytes_to_clients.fetch_add(n, std::memory_order_relaxed);
}

void ClientConn::flush_to_client() {
  if (!to_client_ || closing_) return;
  WriteBatch* b = to_client_;
  to_client_ = nullptr;
  write_to_client(b);
  if (closing_) return;
  if (up_ && client_inflight_ > kHighWater) {
    if (!(up_pause_ & 1u)) w_.mutable_stats().backpressure_pauses.fetch_add(1);
    up_pause_ |= 1u;
    up_->stop_read();
  }
  w_.note_chunks();
}

void ClientCallbacks::on_write(void* owner, WriteBatch* batch, int status) {
  auto* c = static_cast<ClientConn*>(owner);
  c->client_inflight_ -= batch->bytes();
  c->w_.batches().release(batch);
  if (c->closing_) return;
  c->last_activity_ = uv_now(c->w_.loop());  // the client is reading
  if (status != 0) {
    c->close();
    return;
  }
  if (c->up_pause_ && c->up_ && c->client_inflight_ < kLowWater) {
    c->up_pause_ = 0;
    c->up_->start_read();
  }
}

void ClientConn::flush_to_upstream() {
  if (!to_up_) return;
  WriteBatch* b = to_up_;
  to_up_ = nullptr;
  if (!up_) {
    w_.batches().release(b);
    return;
  }
  int r = up_->write(b);
  if (r != 0) return;  // the failure surfaces through the upstream read side
  if (up_->write_queue_size() > kHighWater) {
    if (!(client_pause_ & kPauseUpstreamFull)) w_.mutable_stats().backpressure_pauses.fetch_add(1);
    client_pause_ |= kPauseUpstreamFull;
  }
  w_.note_chunks();
}

void ClientConn::on_upstream_write(int status) {
  if (closing_) return;
  last_activity_ = uv_now(w_.loop());
  if (status != 0) {
    // The read side reports the failure (EOF/reset) with better context; stop feeding.
    client_pause_ |= kPauseUpstreamFull;
    stop_client_reading();
    return;
  }
  if ((client_pause_ & kPauseUpstreamFull) && up_ && up_->write_queue_size() < kLowWater) {
    client_pause_ &= ~kPauseUpstreamFull;
    if (phase_ == Phase::kTunnel) {
      if (client_pause_ == 0) start_client_reading();
    } else {
      drive();
    }
  }
}

void ClientCallbacks::on_shutdown(uv_shutdown_t* req, int) {
  auto* c = static_cast<ClientConn*>(req->data);
  if (c->closing_) return;
  if (c->phase_ == ClientConn::Phase::kTunnel) {
    c->client_shut_ = true;
    c->tunnel_maybe_finish();
    return;
  }
  // Answer flushed. If the client may still be sending, linger briefly so the answer is
  // not destroyed by a reset; otherwise close now.
  if (c->client_reading_ || c->req_has_body_ || c->pend_len_ > 0) {
    c->client_pause_ = 0;
    c->lingering_ = true;
    c->start_client_reading();
    uv_timer_start(&c->timer_, ClientCallbacks::on_timer, kLingerMs, 0);
    return;
  }
  c->close();
}

void ClientConn::close_after_flush() {
  if (closing_ || close_pending_) return;
  log_exchange();
  close_pending_ = true;
  client_pause_ |= kPauseClosing;
  if (up_) {
    up_->close();
    up_ = nullptr;
  }
  uv_timer_stop(&up_timer_);
  // The shutdown completes only once the client has read everything: bound the wait.
  last_activity_ = uv_now(w_.loop());
  uv_timer_start(&timer_, ClientCallbacks::on_timer, cfg_->timeouts.idle.count(), 0);
  shutdown_req_.data = this;
  if (uv_shutdown(&shutdown_req_, as_stream(&tcp_), ClientCallbacks::on_shutdown) != 0) close();
}

void ClientConn::respond_local(int status, std::string_view content_type, std::string_view body,
                               const HeaderList& extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(reason_phrase(status)) +
                    "\r\nDate: " + http_date(static_cast<long>(time(nullptr))) +
                    "\r\nCache-Control: no-store\r\nContent-Type: " + std::string(content_type) +
                    "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  for (const auto& f : extra) out += f.name + ": " + f.value + "\r\n";
  bool must_close = !req_keep_alive_ || req_has_body_ || close_after_response_;
  if (must_close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!is_head_) out.append(body);
  note_status(status);
  WriteBatch* b = w_.batches().acquire();
  b->append_copy(out);
  write_to_client(b);
  if (closing_) return;
  local_response_ = true;
  resp_complete_ = true;
  if (must_close) return close_after_flush();
  // The parser is paused after the head; let it reach the end of this bodiless request.
  client_pause_ &= ~kPauseExchange;
  drive();
}

void ClientConn::respond_error(ErrorDetails e) {
  if (closing_) return;
  if (lookup_) {
    w_.resolver().cancel(lookup_);
    lookup_ = 0;
  }
  if (up_) {
    up_->close();
    up_ = nullptr;
  }
  uv_timer_stop(&up_timer_);
  if (to_up_) {
    w_.batches().release(to_up_);
    to_up_ = nullptr;
  }
  bool body_pending = req_has_body_ && !req_complete_;
  if (const std::string* accept = find_field(req_.headers, "accept")) e.accept = *accept;
  e.method = req_.method;
  e.url = req_.target;
  e.request_id = request_id_.empty() ? w_.next_request_id() : request_id_;
  e.client_address = address_text(peer_);
  e.contact = cfg_->errors.contact;
  e.type_base = "http://" + own_authority();
  e.pages = policy_->pages.get();
  if (e.limit == 0) e.limit = limit_for(e.cause);
  e.close = e.close || !req_keep_alive_ || body_pending || is_connect_ || client_eof_ ||
            close_after_response_;
  e.head = is_head_;
  if (e.next_hop.empty() && !target_.host.empty() && phase_ != Phase::kHead) {
    e.next_hop = target_.to_string();
  }
  const CauseInfo& info = cause_info(e.cause);
  note_status(info.status);
  ex_proxy_status_ = info.proxy_status;
  if (static_cast<size_t>(e.cause) < w_.stats().errors_by_cause.size()) {
    w_.mutable_stats().errors_by_cause[static_cast<size_t>(e.cause)].fetch_add(
        1, std::memory_order_relaxed);
  }
  GH_LOG_INFO("%s %s -> %d %s: %s", req_.method.c_str(), req_.target.c_str(), info.status,
              std::string(info.proxy_status).c_str(), e.details.c_str());
  std::string out;
  build_error_response(e, cfg_->server.name, out);
  WriteBatch* b = w_.batches().acquire();
  b->append_copy(out);
  write_to_client(b);
  if (closing_) return;
  local_response_ = true;
  resp_complete_ = true;
  if (e.close) return close_after_flush();
  if (req_complete_) return finish_exchange();
  client_pause_ &= ~kPauseExchange;
  drive();
}

// Both the request and its response are complete.
void ClientConn::finish_exchange() {
  log_exchange();
  uv_timer_stop(&up_timer_);
  if (up_) {
    bool reusable = !resp_extra_bytes_ && resp_keep_alive_ && !local_response_ && req_complete_ &&
                    up_->write_queue_size() == 0;
    if (reusable) {
      up_->uses++;
      w_.pool().put(up_);
    } else {
      up_->close();
    }
    up_ = nullptr;
  }
  if (close_after_response_ || !req_keep_alive_ || req_.http_minor == 0) {
    close_after_flush();
    return;
  }
  reset_exchange();
  client_pause_ &= ~(kPauseExchange | kPauseRequestDone);
  uv_timer_start(&timer_, ClientCallbacks::on_timer, cfg_->timeouts.client_idle.count(), 0);
  drive();
}

void ClientConn::abort_exchange(const char* why) {
  GH_LOG_INFO("%s %s: aborted after the response started: %s", req_.method.c_str(),
              req_.target.c_str(), why);
  close();
}

void ClientCallbacks::on_timer(uv_timer_t* t) {
  auto* c = static_cast<ClientConn*>(t->data);
  if (c->closing_) return;
  if (c->close_pending_ && !c->lingering_) {
    // Flushing the last answer before closing: wait while the client keeps reading, but
    // not for a client that stopped (that would pin the connection and its buffers).
    uint64_t now = uv_now(c->w_.loop());
    uint64_t idle = static_cast<uint64_t>(c->cfg_->timeouts.idle.count());
    if (now - c->last_activity_ < idle) {
      uv_timer_start(&c->timer_, ClientCallbacks::on_timer, idle - (now - c->last_activity_), 0);
      return;
    }
    GH_LOG_INFO("closing a connection whose client stopped reading (timeouts.idle)");
    c->close();
    return;
  }
  if (c->close_pending_ || c->phase_ != ClientConn::Phase::kHead || !c->any_request_bytes_) {
    c->close();  // idle keep-alive connection, linger over, or nothing ever sent
    return;
  }
  ErrorDetails e;
  e.cause = Cause::kRequestTimeout;
  e.details = "The request head did not arrive within timeouts.client_header (" +
              std::to_string(c->cfg_->timeouts.client_header.count()) + " ms).";
  e.close = true;
  c->respond_error(std::move(e));
}

// ---------------------------------------------------------------------------------------
// Upstream: resolve, connect, forward

void ClientConn::start_upstream() {
  key_ = target_.to_string();
  phase_ = Phase::kResolving;
  if (!is_connect_ && !retried_) {
    if (UpstreamConn* c = w_.pool().take(key_, this)) {
      up_ = c;
      up_reused_ = true;
      w_.mutable_stats().upstream_reuses.fetch_add(1, std::memory_order_relaxed);
      on_connected();
      return;
    }
  }
  up_reused_ = false;
  dns_start_ms_ = uv_now(w_.loop());
  // The callback never runs synchronously (Resolver contract).
  lookup_ = w_.resolver().resolve(target_.host, [this](const ResolveResult& r) { on_resolved(r); });
}

void ClientConn::on_resolved(const ResolveResult& r) {
  lookup_ = 0;
  if (closing_) return;
  WorkerStats& st = w_.mutable_stats();
  (r.from_cache ? st.dns_cache_hits : st.dns_cache_misses).fetch_add(1, std::memory_order_relaxed);
  st.dns_latency.observe(uv_now(w_.loop()) - dns_start_ms_);
  if (r.status != ResolveStatus::kOk) {
    ErrorDetails e;
    e.next_hop = key_;
    if (r.status == ResolveStatus::kTimeout) {
      e.cause = Cause::kDnsTimeout;
      e.details = "No DNS answer for " + target_.host + " within timeouts.dns (" +
                  std::to_string(cfg_->timeouts.dns.count()) + " ms).";
    } else {
      e.cause = Cause::kDnsError;
      e.rcode = r.rcode;
      e.details = "DNS lookup of " + target_.host + " failed" +
                  (r.rcode.empty() ? std::string() : " (" + r.rcode + ")") +
                  (r.detail.empty() ? std::string() : ": " + r.detail) + ".";
    }
    return respond_error(std::move(e));
  }
  addrs_.clear();
  std::string denied;
  for (auto a : r.addresses) {
    set_port(a, target_.port);
    const sockaddr* sa = reinterpret_cast<const sockaddr*>(&a);
    // Checked as the kernel will use the address: an IPv6 form that carries an IPv4
    // address is judged as that IPv4 address too.
    std::optional<sockaddr_storage> v4 = embedded_ipv4(sa);
    const sockaddr* sa4 = v4 ? reinterpret_cast<const sockaddr*>(&*v4) : nullptr;
    if (w_.is_own_listener(sa) || (sa4 && w_.is_own_listener(sa4))) {
      ErrorDetails e;
      e.cause = Cause::kLoopDetected;
      e.details = target_.to_string() + " is this proxy's own listening address.";
      e.next_hop = key_;
      return respond_error(std::move(e));
    }
    std::string why = forbidden_address_reason(sa, sa4);
    if (why.empty()) {
      addrs_.push_back(a);
    } else if (denied.empty()) {
      denied = address_text(a) + " (" + why + ")";
    }
  }
  if (addrs_.empty()) {
    ErrorDetails e;
    e.cause = Cause::kDestinationProhibited;
    e.next_hop = key_;
    bool literal = r.addresses.size() == 1 && address_text(r.addresses[0]) == target_.host;
    e.details = literal
                    ? "The destination address " + denied + " is one this proxy never connects to."
                    : target_.host +
                          " resolves only to addresses this proxy never connects to, such as " +
                          denied + ".";
    return respond_error(std::move(e));
  }
  addr_idx_ = 0;
  phase_ = Phase::kConnecting;
  connect_next();
}

// Why the proxy will not connect to `sa` (with `sa4` the IPv4 address it embeds, if
// any), or "" when it may.
std::string ClientConn::forbidden_address_reason(const sockaddr* sa, const sockaddr* sa4) const {
  // "This host" to connect(), whatever the configuration says.
  if (is_unspecified_address(sa) || (sa4 && is_unspecified_address(sa4))) {
    return "an unspecified address, which means this host";
  }
  for (const auto& cidr : cfg_->access.deny_destination_ips) {
    if (cidr.contains(sa)) return "in " + cidr.to_string() + ", access.deny_destination_ips";
    if (sa4 && cidr.contains(sa4)) {
      return "it embeds " + address_text(*reinterpret_cast<const sockaddr_storage*>(sa4)) +
             ", in " + cidr.to_string() + ", access.deny_destination_ips";
    }
  }
  return std::string();
}

void ClientConn::connect_next() {
  if (addr_idx_ >= addrs_.size()) {
    ErrorDetails e;
    e.cause = last_connect_error_;
    e.next_hop = key_;
    e.details = last_connect_details_;
    return respond_error(std::move(e));
  }
  const sockaddr_storage& a = addrs_[addr_idx_];
  up_ = new UpstreamConn(w_, key_);
  w_.mutable_stats().upstream_connects.fetch_add(1, std::memory_order_relaxed);
  connect_start_ms_ = uv_now(w_.loop());
  int r = up_->connect(reinterpret_cast<const sockaddr*>(&a), this);
  if (r != 0) {
    up_->close();
    up_ = nullptr;
    last_connect_error_ = Cause::kDestinationUnroutable;
    last_connect_details_ = "Could not connect to " + address_text(a) + ": " + uv_strerror(r);
    ++addr_idx_;
    return connect_next();
  }
  // Spread the connect budget over the addresses still to try, so one black-holed
  // address cannot use all of it.
  uint64_t remaining = addrs_.size() - addr_idx_;
  uint64_t budget = static_cast<uint64_t>(cfg_->timeouts.connect.count());
  start_up_timer(std::max<uint64_t>(budget / remaining, std::min<uint64_t>(budget, 250)));
}

void ClientConn::on_upstream_connect(int status) {
  if (closing_) return;
  uv_timer_stop(&up_timer_);
  if (status == 0) {
    w_.mutable_stats().connect_latency.observe(uv_now(w_.loop()) - connect_start_ms_);
    on_connected();
    return;
  }
  const sockaddr_storage& a = addrs_[addr_idx_];
  if (status == UV_ECONNREFUSED) {
    last_connect_error_ = Cause::kConnectionRefused;
  } else if (status == UV_ETIMEDOUT) {
    last_connect_error_ = Cause::kConnectTimeout;
  } else {
    last_connect_error_ = Cause::kDestinationUnroutable;
  }
  last_connect_details_ = "Connecting to " + address_text(a) + " port " +
                          std::to_string(target_.port) + " failed: " + uv_strerror(status) + ".";
  up_->close();
  up_ = nullptr;
  ++addr_idx_;
  connect_next();
}

void ClientConn::start_up_timer(uint64_t ms) {
  uv_timer_start(&up_timer_, ClientCallbacks::on_up_timer, ms, 0);
}

void ClientCallbacks::on_up_timer(uv_timer_t* t) {
  auto* c = static_cast<ClientConn*>(t->data);
  if (c->closing_) return;
  switch (c->phase_) {
    case ClientConn::Phase::kConnecting: {
      const sockaddr_storage& a = c->addrs_[c->addr_idx_];
      c->last_connect_error_ = Cause::kConnectTimeout;
      c->last_connect_details_ = "Connecting to " + address_text(a) + " port " +
                                 std::to_string(c->target_.port) + " timed out (timeouts.connect " +
                                 std::to_string(c->cfg_->timeouts.connect.count()) + " ms).";
      c->up_->close();
      c->up_ = nullptr;
      ++c->addr_idx_;
      c->connect_next();
      return;
    }
    case ClientConn::Phase::kForwarding:
      if (!c->resp_head_done_ && !c->req_complete_) {
        uint64_t now = uv_now(c->w_.loop());
        uint64_t idle = static_cast<uint64_t>(c->cfg_->timeouts.idle.count());
        if (now - c->last_activity_ < idle) {
          c->start_up_timer(idle - (now - c->last_activity_));
          return;
        }
        // The client stopped sending its body and nothing was answered yet.
        ErrorDetails e;
        e.cause = Cause::kRequestBodyTimeout;
        e.limit = idle;
        e.details = "The request body stopped arriving: no bytes for timeouts.idle (" +
                    std::to_string(idle) + " ms) after " + std::to_string(c->req_body_bytes_) +
                    " bytes.";
        e.close = true;
        c->respond_error(std::move(e));
        return;
      }
      if (!c->resp_head_done_) {
        ErrorDetails e;
        e.cause = Cause::kResponseTimeout;
        e.details = c->key_ + " sent no response head within timeouts.response_header (" +
                    std::to_string(c->cfg_->timeouts.response_header.count()) + " ms).";
        c->respond_error(std::move(e));
        return;
      }
      [[fallthrough]];
    case ClientConn::Phase::kTunnel: {
      uint64_t now = uv_now(c->w_.loop());
      uint64_t idle = static_cast<uint64_t>(c->cfg_->timeouts.idle.count());
      if (now - c->last_activity_ >= idle) {
        c->abort_exchange("no bytes in either direction within timeouts.idle");
        return;
      }
      c->start_up_timer(idle - (now - c->last_activity_));
      return;
    }
    default:
      return;
  }
}

void ClientConn::on_connected() {
  if (is_connect_) {
    enter_tunnel(true);
    return;
  }
  phase_ = Phase::kForwarding;
  llhttp_init(&resp_parser_, HTTP_RESPONSE, &kResponseSettings);
  resp_parser_.data = this;

  UpstreamRequestOptions o;
  o.via_name = cfg_->server.name;
  o.origin_form = origin_form_;
  std::string host = target_.to_string(80);
  o.host = host;
  if (req_chunked_) {
    o.framing = BodyFraming::kChunked;
  } else if (req_parser_.flags & F_CONTENT_LENGTH) {
    o.framing = BodyFraming::kContentLength;
    o.content_length = req_parser_.content_length;
  }
  o.keep_upgrade = wants_upgrade_;
  std::string head;
  build_upstream_request(req_, o, head);
  to_up_ = w_.batches().acquire();
  to_up_->append_copy(head);
  flush_to_upstream();
  if (closing_ || !up_) return;
  up_->start_read();
  last_activity_ = uv_now(w_.loop());
  // Let the parser run on: the body (if any) streams to the upstream from on_body.
  client_pause_ &= ~kPauseExchange;
  if (req_complete_) {
    start_up_timer(cfg_->timeouts.response_header.count());
  } else {
    // The request body is still coming: a body that stalls is bounded by timeouts.idle.
    start_up_timer(cfg_->timeouts.idle.count());
  }
  drive();
}

void ClientConn::on_upstream_read(Chunk* chunk, const char* data, ssize_t nread) {
  if (closing_) {
    if (chunk) w_.chunks().unref(chunk);
    return;
  }
  last_activity_ = uv_now(w_.loop());
  if (nread < 0) {
    on_upstream_eof(static_cast<int>(nread));
    return;
  }
  if (phase_ == Phase::kTunnel) {
    tunnel_upstream_data(chunk, data, static_cast<size_t>(nread));
    w_.chunks().unref(chunk);
    return;
  }
  resp_any_bytes_ = true;
  resp_chunk_ = chunk;
  const char* p = data;
  size_t n = static_cast<size_t>(nread);
  std::optional<ErrorDetails> refusal;
  while (n > 0 && !closing_ && up_ && phase_ == Phase::kForwarding && !resp_complete_) {
    size_t used = resp_in_body_ ? read_response_body(p, n) : parse_response_head(p, n);
    p += used;
    n -= used;
    if (resp_refusal_) {
      refusal = std::move(resp_refusal_);
      resp_refusal_.reset();
      break;
    }
  }
  resp_chunk_ = nullptr;
  if (!closing_) flush_to_client();
  if (!closing_ && phase_ == Phase::kTunnel && n > 0) {
    // Bytes after the 101 head already belong to the new protocol.
    tunnel_upstream_data(chunk, p, n);
    n = 0;
  }
  w_.chunks().unref(chunk);
  if (closing_) return;
  if (refusal) {
    if (resp_head_done_) {
      abort_exchange(refusal->details.c_str());
      return;
    }
    return respond_error(std::move(*refusal));
  }
  if (resp_complete_ && phase_ == Phase::kForwarding && !local_response_) {
    // Bytes after a complete response poison the connection: it is never reused.
    if (n > 0) resp_extra_bytes_ = true;
    on_response_complete();
  }
}

// Parses response head bytes; returns how many were used. Sets resp_refusal_ when the
// proxy must answer instead (before any byte of the response reached the client).
size_t ClientConn::parse_response_head(const char* p, size_t n) {
  resp_scan_.feed(p, n);
  resp_head_event_ = false;
  llhttp_errno_t err = llhttp_execute(&resp_parser_, p, n);
  if (err == HPE_OK) return n;
  const char* pos = llhttp_get_error_pos(&resp_parser_);
  size_t used = pos && pos >= p && pos <= p + n ? static_cast<size_t>(pos - p) : n;
  if (err != HPE_PAUSED || !resp_head_event_) {
    ErrorDetails e;
    e.next_hop = key_;
    if (err == HPE_USER && resp_head_bytes_ > cfg_->limits.max_header_bytes) {
      e.cause = Cause::kResponseHeadersTooLarge;
      e.details = key_ + " sent a response head larger than limits.max_header_bytes (" +
                  std::to_string(cfg_->limits.max_header_bytes) + " bytes).";
    } else {
      e.cause = Cause::kResponseProtocolError;
      e.details = key_ + " sent a response that is not valid HTTP/1.1: " +
                  (err == HPE_USER && !resp_error_.empty()
                       ? resp_error_
                       : std::string(llhttp_get_error_reason(&resp_parser_))) +
                  ".";
    }
    resp_refusal_ = std::move(e);
    return used;
  }
  // A complete head. llhttp is not resumed: the body is ours to read, and the parser is
  // reset for the next head on this connection.
  int status = resp_.status;
  if (resp_.http_major != 1) {
    ErrorDetails e;
    e.next_hop = key_;
    e.cause = Cause::kResponseProtocolError;
    e.details = key_ + " answered with HTTP/" + std::to_string(resp_.http_major) + "." +
                std::to_string(resp_.http_minor) + ", not HTTP/1.x.";
    resp_refusal_ = std::move(e);
    return used;
  }
  if (resp_scan_.status_digits() != 3 || status < 100 || status > 599) {
    ErrorDetails e;
    e.next_hop = key_;
    e.cause = Cause::kResponseProtocolError;
    e.details = key_ + " sent a status line whose status code is not three digits from 100 to 599.";
    resp_refusal_ = std::move(e);
    return used;
  }
  if (status >= 100 && status < 200 && status != 101) {
    on_interim_response();
    return used;
  }
  if (status == 101) {
    // Only an upgrade we forwarded may be accepted; anything else is a protocol error.
    if (!wants_upgrade_) {
      ErrorDetails e;
      e.next_hop = key_;
      e.cause = Cause::kResponseProtocolError;
      e.details = key_ + " switched protocols (101) although the request asked for no upgrade.";
      resp_refusal_ = std::move(e);
      return used;
    }
    on_switching_protocols();
    enter_tunnel(false);
    return used;
  }
  ErrorDetails refusal;
  if (!decide_response_framing(&refusal)) {
    resp_refusal_ = std::move(refusal);
    return used;
  }
  if (!response_allowed()) return used;  // resp_refusal_ is set
  on_response_head();
  if (resp_body_mode_ == BodyMode::kNone) {
    resp_complete_ = true;
  } else {
    resp_in_body_ = true;
  }
  return used;
}

// An interim response: forwarded to HTTP/1.1 clients only (RFC 9110 15.2), never with
// content (a 1xx has none, whatever its fields say: RFC 9112 6.3 rule 1).
void ClientConn::on_interim_response() {
  if (++interim_count_ > kMaxInterimResponses) {
    ErrorDetails e;
    e.next_hop = key_;
    e.cause = Cause::kResponseProtocolError;
    e.details = key_ + " sent more than " + std::to_string(kMaxInterimResponses) +
                " interim (1xx) responses for one request.";
    resp_refusal_ = std::move(e);
    return;
  }
  if (req_.http_minor >= 1) {
    std::string head;
    ClientResponseOptions o;
    o.via_name = cfg_->server.name;
    build_client_response(resp_, o, head);
    if (!to_client_) to_client_ = w_.batches().acquire();
    to_client_->append_copy(head);
  }
  resp_ = ResponseHead{};
  resp_head_bytes_ = 0;
  resp_error_.clear();
  resp_scan_.reset();
  llhttp_reset(&resp_parser_);
}

// The framing of a final response, decided once from its head (RFC 9112 6.3).
bool ClientConn::decide_response_framing(ErrorDetails* refusal) {
  refusal->next_hop = key_;
  refusal->cause = Cause::kResponseProtocolError;
  int status = resp_.status;
  bool te = (resp_parser_.flags & F_TRANSFER_ENCODING) != 0 ||
            find_field(resp_.headers, "transfer-encoding") != nullptr;
  bool cl = (resp_parser_.flags & F_CONTENT_LENGTH) != 0;
  resp_keep_alive_ = llhttp_should_keep_alive(&resp_parser_) != 0;
  if (is_head_ || status == 204 || status == 304) {
    resp_body_mode_ = BodyMode::kNone;
    // Late bytes a broken origin sends after such a response (its Content-Length taken
    // for a body) would be read as the next client's response: never reuse it.
    if (te || cl) resp_keep_alive_ = false;
    return true;
  }
  if (te) {
    // Empty list members are ignored here (RFC 9110 5.6.1); requests are judged strictly.
    std::vector<std::string> codings = transfer_codings(resp_.headers);
    codings.erase(std::remove(codings.begin(), codings.end(), std::string()), codings.end());
    size_t chunked = 0;
    for (const auto& c : codings) chunked += iequals(c, "chunked") ? 1 : 0;
    bool chunked_last = !codings.empty() && iequals(codings.back(), "chunked");
    if (codings.empty() || chunked > 1 || (chunked == 1 && !chunked_last)) {
      refusal->details = key_ + " sent an invalid Transfer-Encoding (chunked must be last, once).";
      return false;
    }
    // Codings this proxy does not decode travel on, still applied, with chunked added
    // back for the next hop; the label is never dropped.
    if (chunked_last) codings.pop_back();
    for (const auto& c : codings) {
      if (!resp_codings_.empty()) resp_codings_ += ", ";
      resp_codings_ += c;
    }
    if (!resp_codings_.empty() && req_.http_minor == 0) {
      refusal->details = key_ + " sent the response with a transfer coding (" + resp_codings_ +
                         ") that an HTTP/1.0 client cannot receive.";
      return false;
    }
    // With Transfer-Encoding, Content-Length is ignored (and the connection not reused:
    // such a message may be an attempt to desynchronise someone).
    if (cl) resp_keep_alive_ = false;
    if (chunked_last) {
      resp_body_mode_ = BodyMode::kChunked;
      resp_chunks_ = ChunkedDecoder(
          {kMaxChunkExtensionBytes, static_cast<size_t>(cfg_->limits.max_header_bytes)});
    } else {
      resp_body_mode_ = BodyMode::kUntilClose;
      resp_keep_alive_ = false;
    }
    return true;
  }
  if (cl) {
    resp_remaining_ = resp_parser_.content_length;
    resp_body_mode_ = resp_remaining_ > 0 ? BodyMode::kLength : BodyMode::kNone;
    return true;
  }
  resp_body_mode_ = BodyMode::kUntilClose;
  resp_keep_alive_ = false;
  return true;
}

size_t ClientConn::read_response_body(const char* p, size_t n) {
  switch (resp_body_mode_) {
    case BodyMode::kNone:
      resp_complete_ = true;
      return 0;
    case BodyMode::kUntilClose:
      response_body_span(p, n);
      return n;
    case BodyMode::kLength: {
      size_t take = static_cast<size_t>(std::min<uint64_t>(resp_remaining_, n));
      response_body_span(p, take);
      resp_remaining_ -= take;
      if (resp_remaining_ == 0) resp_complete_ = true;
      return take;
    }
    case BodyMode::kChunked: {
      size_t total = 0;
      while (total < n) {
        size_t used = 0;
        const char* data = nullptr;
        size_t len = 0;
        ChunkedDecoder::Status st = resp_chunks_.feed(p + total, n - total, &used, &data, &len);
        total += used;
        if (st == ChunkedDecoder::Status::kData) {
          response_body_span(data, len);
          continue;
        }
        if (st == ChunkedDecoder::Status::kDone) {
          if (resp_chunked_out_) {
            if (!to_client_) to_client_ = w_.batches().acquire();
            to_client_->append_copy("0\r\n\r\n");
          }
          resp_complete_ = true;
          break;
        }
        if (st == ChunkedDecoder::Status::kError) {
          ErrorDetails e;
          e.cause = Cause::kResponseProtocolError;
          e.next_hop = key_;
          e.details = "the chunked response body is malformed: " + resp_chunks_.error();
          resp_refusal_ = std::move(e);
          break;
        }
        break;  // kNeedMore
      }
      return total;
    }
  }
  return n;
}

void ClientConn::response_body_span(const char* at, size_t n) {
  if (n == 0) return;
  if (!to_client_) to_client_ = w_.batches().acquire();
  if (resp_chunked_out_) {
    to_client_->append_copy(hex(n) + "\r\n");
    to_client_->append_span(w_.chunks(), resp_chunk_, at, n);
    to_client_->append_copy("\r\n");
  } else {
    to_client_->append_span(w_.chunks(), resp_chunk_, at, n);
  }
}

void ClientConn::on_upstream_eof(int status) {
  if (phase_ == Phase::kTunnel) {
    up_eof_ = true;
    if (status != UV_EOF) {
      close();
      return;
    }
    flush_to_client();
    shutdown_req_.data = this;
    if (uv_shutdown(&shutdown_req_, as_stream(&tcp_), ClientCallbacks::on_shutdown) != 0) close();
    return;
  }
  if (resp_head_done_) {
    if (status == UV_EOF && resp_body_mode_ == BodyMode::kUntilClose) {
      if (resp_chunked_out_) {
        if (!to_client_) to_client_ = w_.batches().acquire();
        to_client_->append_copy("0\r\n\r\n");
      }
      flush_to_client();
      if (closing_) return;
      if (up_) {
        up_->close();
        up_ = nullptr;
      }
      resp_complete_ = true;
      on_response_complete();
      return;
    }
    abort_exchange("the upstream connection ended in the middle of the response body");
    return;
  }
  // Nothing usable arrived. A reused connection may simply have been closed by the
  // origin while idle: retry once on a fresh one when that is safe.
  bool safe =
      up_reused_ && !retried_ && !resp_any_bytes_ && !req_has_body_ && is_idempotent(req_.method);
  if (safe) {
    retried_ = true;
    w_.mutable_stats().upstream_retries.fetch_add(1, std::memory_order_relaxed);
    up_->close();
    up_ = nullptr;
    uv_timer_stop(&up_timer_);
    client_pause_ |= kPauseExchange;
    start_upstream();
    return;
  }
  ErrorDetails e;
  e.cause = Cause::kConnectionTerminated;
  e.details = key_ + (resp_any_bytes_ ? " closed the connection in the middle of the response head."
                                      : " closed the connection without sending a response.");
  if (status != UV_EOF) e.details += std::string(" (") + uv_strerror(status) + ")";
  respond_error(std::move(e));
}

void ClientConn::on_response_head() {
  resp_head_done_ = true;
  note_status(resp_.status);
  uv_timer_stop(&up_timer_);
  idle_ms_ = static_cast<uint64_t>(cfg_->timeouts.idle.count());
  start_up_timer(idle_ms_);

  int status = resp_.status;
  bool client_11 = req_.http_minor >= 1;
  ClientResponseOptions o;
  o.via_name = cfg_->server.name;
  o.add_date = true;  // RFC 9110 6.6.1: a recipient with a clock adds a missing Date
  switch (resp_body_mode_) {
    case BodyMode::kNone:
      o.framing = BodyFraming::kNone;
      o.keep_content_length = status != 204;
      break;
    case BodyMode::kLength:
      o.framing = BodyFraming::kContentLength;
      o.content_length = resp_parser_.content_length;
      break;
    case BodyMode::kChunked:
    case BodyMode::kUntilClose:
      o.framing = client_11 ? BodyFraming::kChunked : BodyFraming::kCloseDelimited;
      o.transfer_codings = resp_codings_;
      break;
  }
  resp_chunked_out_ = o.framing == BodyFraming::kChunked;
  close_after_response_ = close_after_response_ || !req_keep_alive_ || !client_11 ||
                          o.framing == BodyFraming::kCloseDelimited || client_eof_;
  o.close = close_after_response_;
  std::string head;
  build_client_response(resp_, o, head);
  if (!to_client_) to_client_ = w_.batches().acquire();
  to_client_->append_copy(head);
}

void ClientConn::on_switching_protocols() {
  resp_head_done_ = true;
  note_status(101);
  ResponseHead& r = resp_;
  ClientResponseOptions o;
  o.via_name = cfg_->server.name;
  o.upgrade = true;
  std::string head;
  build_client_response(r, o, head);
  if (!to_client_) to_client_ = w_.batches().acquire();
  to_client_->append_copy(head);
}

void ClientConn::on_response_complete() {
  if (!req_complete_) {
    // The origin answered before the request body was complete (e.g. it refused the
    // upload). The upstream cannot be reused, and the client gets Connection: close.
    if (up_) {
      up_->close();
      up_ = nullptr;
    }
    close_after_response_ = true;
    discard_body_ = true;
    close_after_flush();
    return;
  }
  finish_exchange();
}

// ---------------------------------------------------------------------------------------
// CONNECT tunnels

void ClientConn::enter_tunnel(bool connect) {
  phase_ = Phase::kTunnel;
  parser_kick_ = false;  // the parser is done with this connection
  w_.mutable_stats().tunnels_active.fetch_add(1);
  uv_timer_stop(&timer_);
  uv_timer_stop(&up_timer_);
  client_pause_ &= ~kPauseRequestDone;
  w_.mutable_stats().tunnels_total.fetch_add(1, std::memory_order_relaxed);
  if (connect) {
    note_status(200);
    WriteBatch* b = w_.batches().acquire();
    b->append_copy("HTTP/1.1 200 Connection established\r\n\r\n");
    write_to_client(b);
    if (closing_) return;
  }
  // Bytes the client sent after the CONNECT head (or after the upgraded request) belong
  // to the tunnel.
  if (pend_len_ > 0) {
    tunnel_client_data(pend_chunk_, pend_ptr_, pend_len_);
    pend_len_ = 0;
  }
  if (pend_chunk_) {
    w_.chunks().unref(pend_chunk_);
    pend_chunk_ = nullptr;
  }
  last_activity_ = uv_now(w_.loop());
  start_up_timer(static_cast<uint64_t>(cfg_->timeouts.idle.count()));
  up_->start_read();
  client_pause_ &= ~kPauseExchange;
  if (client_pause_ == 0) start_client_reading();
}

void ClientConn::tunnel_client_data(Chunk* chunk, const char* p, size_t n) {
  if (!up_) return;
  if (!to_up_) to_up_ = w_.batches().acquire();
  to_up_->append_span(w_.chunks(), chunk, p, n);
  flush_to_upstream();
  if (client_pause_ & kPauseUpstreamFull) stop_client_reading();
}

void ClientConn::tunnel_upstream_data(Chunk* chunk, const char* p, size_t n) {
  if (!to_client_) to_client_ = w_.batches().acquire();
  to_client_->append_span(w_.chunks(), chunk, p, n);
  flush_to_client();
}

void ClientConn::on_upstream_shutdown(int) {
  if (closing_) return;
  up_shut_ = true;
  tunnel_maybe_finish();
}

void ClientConn::tunnel_maybe_finish() {
  if (client_eof_ && up_eof_ && client_shut_ && up_shut_) close();
}

}  // namespace gatehouse
