#include "proxy/client_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "base/log.h"
#include "proxy/worker.h"

namespace gatehouse {
namespace {

// Back-pressure marks for the bytes queued towards one peer. A reader is stopped above
// kHighWater and resumed below kLowWater, so one direction of one exchange holds at most
// kHighWater plus one read chunk (64 KiB) in the proxy.
constexpr size_t kHighWater = 256 * 1024;
constexpr size_t kLowWater = 64 * 1024;
// Chunk extensions are never forwarded; cap what a client may make us skip per chunk.
constexpr size_t kMaxChunkExtensionBytes = 4096;
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
    // llhttp 8 accepts obs-fold (a value continued on a line starting with whitespace);
    // RFC 9112 5.2 lets a proxy refuse it. Spot it from the bytes before the span.
    const char* q = at;
    while (q > c->exec_start_ && (q[-1] == ' ' || q[-1] == '\t')) --q;
    if (q > c->exec_start_ && q[-1] == '\n') {
      c->user_error_set_ = true;
      c->user_error_ = Cause::kBadRequest;
      c->user_error_details_ =
          "A header field value is folded over several lines (obs-fold), "
          "which this proxy does not accept.";
      return -1;
    }
    c->req_.headers.back().value.append(at, n);
    return 0;
  }
  static int on_headers_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    c->req_.http_major = llhttp_get_http_major(p);
    c->req_.http_minor = llhttp_get_http_minor(p);
    c->req_keep_alive_ = llhttp_should_keep_alive(p) != 0;
    c->req_chunked_ = (p->flags & F_CHUNKED) != 0;
    c->req_has_body_ = c->req_chunked_ || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
    c->pause_event_ = ClientConn::PauseEvent::kHeadDone;
    return HPE_PAUSED;
  }
  static int on_chunk_header(llhttp_t* p) {
    req(p)->chunk_ext_bytes_ = 0;
    return 0;
  }
  static int on_chunk_extension(llhttp_t* p, const char*, size_t n) {
    ClientConn* c = req(p);
    c->chunk_ext_bytes_ += n;
    if (c->chunk_ext_bytes_ <= kMaxChunkExtensionBytes) return 0;
    c->user_error_set_ = true;
    c->user_error_ = Cause::kBadRequest;
    c->user_error_details_ = "A chunk extension in the request body is too long.";
    return -1;
  }
  static int on_body(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    c->req_body_bytes_ += n;
    uint64_t limit = c->cfg_->limits.max_request_body_bytes;
    if (limit != 0 && c->req_body_bytes_ > limit) {
      c->user_error_set_ = true;
      c->user_error_ = Cause::kBodyTooLarge;
      c->user_error_details_ = "The request body is larger than limits.max_request_body_bytes (" +
                               std::to_string(limit) + " bytes).";
      return -1;
    }
    if (c->discard_body_ || !c->up_) return 0;
    if (!c->to_up_) c->to_up_ = c->w_.batches().acquire();
    if (c->req_chunked_) {
      c->to_up_->append_copy(hex(n) + "\r\n");
      c->to_up_->append_span(c->w_.chunks(), c->pend_chunk_, at, n);
      c->to_up_->append_copy("\r\n");
    } else {
      c->to_up_->append_span(c->w_.chunks(), c->pend_chunk_, at, n);
    }
    return 0;
  }
  static int on_message_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    if (c->req_chunked_ && c->up_ && !c->discard_body_) {
      if (!c->to_up_) c->to_up_ = c->w_.batches().acquire();
      c->to_up_->append_copy("0\r\n\r\n");
    }
    c->pause_event_ = ClientConn::PauseEvent::kMessageDone;
    return HPE_PAUSED;
  }

  // Response parser.
  static int r_on_status(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    c->resp_head_bytes_ += n;
    c->resp_.reason.append(at, n);
    return 0;
  }
  static bool resp_limit(ClientConn* c, size_t n) {
    c->resp_head_bytes_ += n;
    return c->resp_head_bytes_ <= c->cfg_->limits.max_header_bytes;
  }
  static int r_on_header_field(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!resp_limit(c, n + 4)) return -1;
    append_name(c->resp_.headers, c->resp_field_open_, at, n);
    return 0;
  }
  static int r_on_header_field_complete(llhttp_t* p) {
    req(p)->resp_field_open_ = false;
    return 0;
  }
  static int r_on_header_value(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!resp_limit(c, n)) return -1;
    c->resp_.headers.back().value.append(at, n);
    return 0;
  }
  static int r_on_headers_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    c->resp_.status = llhttp_get_status_code(p);
    c->resp_.http_major = llhttp_get_http_major(p);
    c->resp_.http_minor = llhttp_get_http_minor(p);
    int status = c->resp_.status;
    if (status >= 100 && status < 200) {
      if (status == 101) {
        // Only an upgrade we forwarded may be accepted; anything else is a protocol error.
        if (!c->wants_upgrade_) return -1;
        c->on_switching_protocols();
        return 2;  // no body; llhttp_execute returns HPE_PAUSED_UPGRADE
      }
      // Interim response: forward to HTTP/1.1 clients only, then parse the next head.
      if (c->req_.http_minor >= 1) {
        std::string head;
        ClientResponseOptions o;
        o.via_name = c->cfg_->server.name;
        build_client_response(c->resp_, o, head);
        if (!c->to_client_) c->to_client_ = c->w_.batches().acquire();
        c->to_client_->append_copy(head);
      }
      return 0;
    }
    if (!c->response_allowed()) return -1;  // answered by the proxy instead
    c->on_response_head();
    bool no_body = c->is_head_ || status == 204 || status == 304;
    return no_body ? 1 : 0;
  }
  static int r_on_body(llhttp_t* p, const char* at, size_t n) {
    ClientConn* c = req(p);
    if (!c->to_client_) c->to_client_ = c->w_.batches().acquire();
    if (c->resp_chunked_out_) {
      c->to_client_->append_copy(hex(n) + "\r\n");
      c->to_client_->append_span(c->w_.chunks(), c->resp_chunk_, at, n);
      c->to_client_->append_copy("\r\n");
    } else {
      c->to_client_->append_span(c->w_.chunks(), c->resp_chunk_, at, n);
    }
    return 0;
  }
  static int r_on_message_complete(llhttp_t* p) {
    ClientConn* c = req(p);
    int status = c->resp_.status;
    if (status == 101) return 0;  // llhttp now returns HPE_PAUSED_UPGRADE
    if (status >= 100 && status < 200) {
      // The next message on this connection is the real response: start a fresh head.
      c->resp_ = ResponseHead{};
      c->resp_head_bytes_ = 0;
      return 0;
    }
    if (c->resp_chunked_out_) {
      if (!c->to_client_) c->to_client_ = c->w_.batches().acquire();
      c->to_client_->append_copy("0\r\n\r\n");
    }
    c->resp_complete_ = true;
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
    .on_version = nullptr,
    .on_header_field = ClientCallbacks::on_header_field,
    .on_header_value = ClientCallbacks::on_header_value,
    .on_chunk_extension_name = ClientCallbacks::on_chunk_extension,
    .on_chunk_extension_value = ClientCallbacks::on_chunk_extension,
    .on_headers_complete = ClientCallbacks::on_headers_complete,
    .on_body = ClientCallbacks::on_body,
    .on_message_complete = ClientCallbacks::on_message_complete,
    .on_url_complete = nullptr,
    .on_status_complete = nullptr,
    .on_method_complete = nullptr,
    .on_version_complete = nullptr,
    .on_header_field_complete = ClientCallbacks::on_header_field_complete,
    .on_header_value_complete = nullptr,
    .on_chunk_extension_name_complete = nullptr,
    .on_chunk_extension_value_complete = nullptr,
    .on_chunk_header = ClientCallbacks::on_chunk_header,
    .on_chunk_complete = nullptr,
    .on_reset = nullptr,
};

const llhttp_settings_t kResponseSettings = {
    .on_message_begin = nullptr,
    .on_url = nullptr,
    .on_status = ClientCallbacks::r_on_status,
    .on_method = nullptr,
    .on_version = nullptr,
    .on_header_field = ClientCallbacks::r_on_header_field,
    .on_header_value = ClientCallbacks::r_on_header_value,
    .on_chunk_extension_name = nullptr,
    .on_chunk_extension_value = nullptr,
    .on_headers_complete = ClientCallbacks::r_on_headers_complete,
    .on_body = ClientCallbacks::r_on_body,
    .on_message_complete = ClientCallbacks::r_on_message_complete,
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
    const std::string* ct = find_field(resp_.headers, "content-type");
    if (auto why = policy_->mime.blocked_response(ct ? *ct : std::string())) {
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
  field_open_ = false;
  head_bytes_ = url_bytes_ = 0;
  chunk_ext_bytes_ = 0;
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
  static const char kNothing[1] = {0};
  const char* p = pend_len_ > 0 ? pend_ptr_ : kNothing;
  size_t n = pend_len_;
  parser_kick_ = false;
  pause_event_ = PauseEvent::kNone;
  exec_start_ = p;
  exec_len_ = n;
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
  flush_to_upstream();
  if (closing_) return;

  if (err == HPE_OK) return;
  if (err == HPE_PAUSED) {
    llhttp_resume(&req_parser_);
    if (pause_event_ == PauseEvent::kHeadDone) {
      client_pause_ |= kPauseExchange;
      parser_kick_ = true;  // the rest of this message may need no further bytes
      on_request_head();
    } else if (pause_event_ == PauseEvent::kMessageDone) {
      on_request_complete();
    }
    return;
  }
  if (err == HPE_PAUSED_UPGRADE) {
    // An Upgrade request that was forwarded without Upgrade: carry on as plain HTTP.
    llhttp_resume_after_upgrade(&req_parser_);
    return;
  }
  on_parse_error(err);
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
    e.cause = Cause::kVersionNotSupported;
    e.details = "Only HTTP/1.x requests are accepted on this port.";
  } else if (err == HPE_INVALID_TRANSFER_ENCODING) {
    const std::string* te = find_field(req_.headers, "transfer-encoding");
    bool unknown = false;
    if (te) {
      std::string_view v = *te;
      // Anything other than "chunked" as the only coding is a coding we do not implement.
      unknown = !iequals(v, "chunked") && v.find("chunked") == std::string_view::npos;
    }
    e.cause = unknown ? Cause::kNotImplemented : Cause::kBadRequest;
    e.details = unknown ? "The request uses a transfer coding this proxy does not implement."
                        : "The request's Transfer-Encoding is invalid (chunked must be last).";
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
  if (req_.http_major != 1) {
    ErrorDetails e;
    e.cause = Cause::kVersionNotSupported;
    e.details = "The request is HTTP/" + std::to_string(req_.http_major) + "." +
                std::to_string(req_.http_minor) + "; this proxy speaks HTTP/1.x here.";
    e.close = true;
    return respond_error(std::move(e));
  }
  for (const auto& f : req_.headers) {
    // llhttp 8 lets some of these through; RFC 9112 5.1 and 5.2 say they must be refused.
    bool bad_name = !is_token(f.name);
    bool bad_value = f.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos;
    if (bad_name || bad_value) {
      ErrorDetails e;
      e.cause = Cause::kBadRequest;
      e.details = bad_name ? "A header field name is not a valid token (whitespace before the "
                             "colon is not allowed)."
                           : "A header field value contains CR, LF or NUL (line folding is "
                             "not accepted).";
      e.close = true;
      return respond_error(std::move(e));
    }
  }
  if (const std::string* te = find_field(req_.headers, "transfer-encoding")) {
    // RFC 9112 6.1: chunked must be the final coding of a request; any other coding is
    // one this proxy does not implement (it never decodes request bodies).
    std::vector<std::string> codings;
    for (const auto& f : req_.headers) {
      if (!iequals(f.name, "transfer-encoding")) continue;
      size_t start = 0;
      while (start <= f.value.size()) {
        size_t comma = f.value.find(',', start);
        std::string c =
            f.value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        c.erase(0, c.find_first_not_of(" \t"));
        c.erase(c.find_last_not_of(" \t") + 1);
        if (!c.empty()) codings.push_back(c);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    (void)te;
    bool chunked_last = !codings.empty() && iequals(codings.back(), "chunked");
    bool others = std::any_of(codings.begin(), codings.end(),
                              [](const std::string& c) { return !iequals(c, "chunked"); });
    if (others || !chunked_last || codings.size() > 1) {
      ErrorDetails e;
      e.cause = others ? Cause::kNotImplemented : Cause::kBadRequest;
      e.details =
          others ? "The request uses a transfer coding (" + *te +
                       ") that this proxy does not implement; only chunked is supported."
                 : "The request's Transfer-Encoding is invalid (chunked must appear once, last).";
      e.close = true;
      return respond_error(std::move(e));
    }
  }
  if (count_fields(req_.headers, "content-length") > 1) {
    ErrorDetails e;
    e.cause = Cause::kBadRequest;
    e.details = "The request has more than one Content-Length field.";
    e.close = true;
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
      return respond_local(200, "text/plain; version=0.0.4; charset=utf-8",
                           w_.shared().render_metrics());
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
  if (req_.http_minor >= 1 && !find_field(req_.headers, "host")) {
    ErrorDetails e;
    e.cause = Cause::kMissingHost;
    e.details = "HTTP/1.1 requests must carry a Host header field.";
    e.close = true;
    return respond_error(std::move(e));
  }
  target_ = u.uri.authority;
  origin_form_ = u.uri.path_and_query;
  if (!destination_allowed()) return;
  if (req_has_body_) {
    const std::string* ct = find_field(req_.headers, "content-type");
    if (auto why = policy_->mime.blocked_request(ct ? *ct : std::string())) {
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

// A PAC file sending browsers to this proxy (as the browser reached it), except for
// plain host names, loopback and private networks.
std::string ClientConn::pac_file() const {
  std::string proxy;
  const std::string* host = find_field(req_.headers, "host");
  if (host && parse_authority(*host, 80)) {
    proxy = *host;
  } else {
    sockaddr_storage local{};
    int len = sizeof local;
    uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&local), &len);
    char buf[INET6_ADDRSTRLEN] = "127.0.0.1";
    uint16_t port = 3128;
    if (local.ss_family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&local);
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
      port = ntohs(a->sin6_port);
      proxy = "[" + std::string(buf) + "]:" + std::to_string(port);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&local);
      inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
      port = ntohs(a->sin_port);
      proxy = std::string(buf) + ":" + std::to_string(port);
    }
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
    bool reusable = !resp_extra_bytes_ && llhttp_should_keep_alive(&resp_parser_) &&
                    req_complete_ && up_->write_queue_size() == 0;
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
    if (w_.is_own_listener(sa)) {
      ErrorDetails e;
      e.cause = Cause::kLoopDetected;
      e.details = target_.to_string() + " is this proxy's own listening address.";
      e.next_hop = key_;
      return respond_error(std::move(e));
    }
    bool blocked = false;
    for (const auto& cidr : cfg_->access.deny_destination_ips) {
      if (cidr.contains(sa)) {
        if (denied.empty()) denied = address_text(a) + " (in " + cidr.to_string() + ")";
        blocked = true;
        break;
      }
    }
    if (!blocked) addrs_.push_back(a);
  }
  if (addrs_.empty()) {
    ErrorDetails e;
    e.cause = Cause::kDestinationProhibited;
    e.next_hop = key_;
    e.details = target_.host + " resolves to " + denied +
                ", which access.deny_destination_ips does not allow.";
    return respond_error(std::move(e));
  }
  addr_idx_ = 0;
  phase_ = Phase::kConnecting;
  connect_next();
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
  llhttp_errno_t err = llhttp_execute(&resp_parser_, p, n);
  resp_chunk_ = nullptr;
  if (closing_) {
    w_.chunks().unref(chunk);
    return;
  }
  if (err == HPE_PAUSED) {
    const char* pos = llhttp_get_error_pos(&resp_parser_);
    if (pos && pos < p + n) resp_extra_bytes_ = true;
    llhttp_resume(&resp_parser_);
  }
  flush_to_client();
  if (err == HPE_PAUSED_UPGRADE && resp_.status == 101 && !closing_) {
    // Bytes after the 101 head already belong to the new protocol.
    const char* pos = llhttp_get_error_pos(&resp_parser_);
    size_t used = pos && pos >= p && pos <= p + n ? static_cast<size_t>(pos - p) : n;
    enter_tunnel(false);
    if (!closing_ && used < n) tunnel_upstream_data(chunk, p + used, n - used);
    w_.chunks().unref(chunk);
    return;
  }
  w_.chunks().unref(chunk);
  if (closing_) return;
  if (err == HPE_OK) return;
  if (err == HPE_PAUSED) {
    on_response_complete();
    return;
  }
  if (resp_refusal_) {
    ErrorDetails e = std::move(*resp_refusal_);
    resp_refusal_.reset();
    return respond_error(std::move(e));
  }
  // Parse error.
  if (resp_head_done_) {
    abort_exchange("the response body could not be parsed");
    return;
  }
  ErrorDetails e;
  if (err == HPE_USER && resp_head_bytes_ > cfg_->limits.max_header_bytes) {
    e.cause = Cause::kResponseHeadersTooLarge;
    e.details = key_ + " sent a response head larger than limits.max_header_bytes (" +
                std::to_string(cfg_->limits.max_header_bytes) + " bytes).";
  } else {
    e.cause = Cause::kResponseProtocolError;
    e.details = key_ + " sent a response that is not valid HTTP/1.1: " +
                llhttp_get_error_reason(&resp_parser_) + ".";
  }
  respond_error(std::move(e));
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
    if (status == UV_EOF && llhttp_message_needs_eof(&resp_parser_)) {
      llhttp_errno_t err = llhttp_finish(&resp_parser_);
      flush_to_client();
      if (closing_) return;
      if (err == HPE_OK || err == HPE_PAUSED) {
        if (up_) {
          up_->close();
          up_ = nullptr;
        }
        resp_complete_ = true;
        on_response_complete();
        return;
      }
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
  bool no_body = is_head_ || status == 204 || status == 304;
  bool client_11 = req_.http_minor >= 1;
  ClientResponseOptions o;
  o.via_name = cfg_->server.name;
  if (no_body) {
    o.framing = BodyFraming::kNone;
    o.keep_content_length = status != 204;
  } else if (resp_parser_.flags & F_CHUNKED) {
    o.framing = client_11 ? BodyFraming::kChunked : BodyFraming::kCloseDelimited;
  } else if (resp_parser_.flags & F_CONTENT_LENGTH) {
    o.framing = BodyFraming::kContentLength;
    o.content_length = resp_parser_.content_length;
  } else {
    o.framing = client_11 ? BodyFraming::kChunked : BodyFraming::kCloseDelimited;
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
