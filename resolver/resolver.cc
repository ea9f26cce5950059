// c-ares on libuv, after Node.js' cares_wrap: one uv_poll_t per c-ares socket, created and
// stopped from the sock-state callback, and one uv_timer_t re-armed from ares_timeout()
// after everything that may change c-ares' deadlines (no fixed tick).
//
// Ownership: Resolver::Impl (a Core) is heap-allocated by the Resolver and embeds the
// c-ares timer and the delivery idle handle. Every InFlight (one per name being asked) and
// every SocketWatcher (one per c-ares socket) is a separate heap object embedding its own
// handle, freed only in that handle's close callback. close() counts outstanding close
// callbacks and runs on_closed after the last; the Core is not touched after that.
//
// Re-entrancy: c-ares callbacks (on_addrinfo, on_sock_state) may run inside
// ares_getaddrinfo(), ares_process_fd() and ares_destroy(). They never call user code:
// finished lookups are queued in `ready` and delivered from the idle callback, where a
// user callback may safely call resolve(), cancel() or close().
#include "resolver/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "base/log.h"
#include "resolver/address_order.h"
#include "resolver/dns_cache.h"

namespace gatehouse {
namespace {

using LookupId = Resolver::LookupId;
using Callback = Resolver::Callback;

// c-ares sends a query up to kAresTries times per server, waiting t, 2t, 4t, ... With
// t = timeout / 4 the first retransmit comes at a quarter of our own deadline and c-ares
// gives up only after ~1.75 x timeout, so our per-lookup timer is what callers see.
constexpr int kAresTries = 3;
constexpr size_t kMaxNameLength = 253;
constexpr size_t kMaxLabelLength = 63;

struct Core;

// One name being looked up in c-ares. Lives from ares_getaddrinfo() until c-ares calls
// back (with an answer, or ARES_EDESTRUCTION from ares_destroy); then its timer is closed
// and the object is freed in on_inflight_closed.
struct InFlight {
  Core* core = nullptr;
  std::string name;
  uv_timer_t timer{};  // options.timeout for the waiters
  std::vector<LookupId> waiters;
  bool detached = false;  // timed out: no waiters; an answer only fills the cache
};

// Watches one c-ares socket. Freed in on_watcher_closed.
struct SocketWatcher {
  Core* core = nullptr;
  ares_socket_t fd = ARES_SOCKET_BAD;
  int events = 0;  // what c-ares asked for last
  uv_poll_t poll{};
};

struct Ready {
  LookupId id = 0;
  std::shared_ptr<const ResolveResult> result;
};

void on_sock_state(void* data, ares_socket_t fd, int readable, int writable);
void on_poll(uv_poll_t* handle, int status, int events);
void on_ares_timer(uv_timer_t* handle);
void on_lookup_timeout(uv_timer_t* handle);
void on_addrinfo(void* arg, int status, int timeouts, ares_addrinfo* res);
void on_idle(uv_idle_t* handle);
void on_inflight_closed(uv_handle_t* handle);
void on_watcher_closed(uv_handle_t* handle);
void on_core_handle_closed(uv_handle_t* handle);

ResolveResult error_result(ResolveStatus status, std::string rcode, std::string detail) {
  ResolveResult r;
  r.status = status;
  r.rcode = std::move(rcode);
  r.detail = std::move(detail);
  return r;
}

// What resolve() was given, once brackets, case and a trailing dot are dealt with.
struct ParsedHost {
  enum class Kind { kName, kLiteral, kInvalid } kind = Kind::kInvalid;
  std::string name;            // kName: the normalised name (the cache/in-flight key)
  sockaddr_storage address{};  // kLiteral
  std::string problem;         // kInvalid
};

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

ParsedHost parse_host(const std::string& host) {
  ParsedHost out;
  std::string_view text = host;
  bool bracketed = false;
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    bracketed = true;
  }
  std::string literal(text);
  if (!bracketed) {
    in_addr a4{};
    if (inet_pton(AF_INET, literal.c_str(), &a4) == 1) {
      auto* sin = reinterpret_cast<sockaddr_in*>(&out.address);
      sin->sin_family = AF_INET;
      sin->sin_addr = a4;
      out.kind = ParsedHost::Kind::kLiteral;
      return out;
    }
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, literal.c_str(), &a6) == 1) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&out.address);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_addr = a6;
    out.kind = ParsedHost::Kind::kLiteral;
    return out;
  }
  if (bracketed || literal.find(':') != std::string::npos) {
    out.problem = literal.find('%') != std::string::npos
                      ? "'" + host + "': scoped IPv6 addresses (zone ids) are not supported"
                      : "'" + host + "' is not a valid IPv6 address";
    return out;
  }

  std::string name = DnsCache::normalize(text);
  if (name.empty() || name.size() > kMaxNameLength) {
    out.problem = "'" + host + "' is not a valid host name";
    return out;
  }
  size_t start = 0;
  bool last_label_numeric = false;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    std::string_view label(name.data() + start, end - start);
    if (label.empty() || label.size() > kMaxLabelLength ||
        !std::all_of(label.begin(), label.end(), is_name_char)) {
      out.problem = "'" + host + "' is not a valid host name";
      return out;
    }
    last_label_numeric =
        std::all_of(label.begin(), label.end(), [](char c) { return c >= '0' && c <= '9'; });
    start = end + 1;
  }
  if (last_label_numeric) {
    // "127.1", "10.0.0.300": meant as an address, but not a dotted-quad one. No top-level
    // domain is numeric, so asking DNS would only leak a typo.
    out.problem = "'" + host + "' is not a valid IPv4 address";
    return out;
  }
  out.kind = ParsedHost::Kind::kName;
  out.name = std::move(name);
  return out;
}

// Converts a c-ares answer. *ttl is the smallest TTL of the address and CNAME records
// (0 for answers without one: /etc/hosts, localhost).
ResolveResult make_result(int status, const ares_addrinfo* res, std::chrono::seconds* ttl) {
  *ttl = std::chrono::seconds::zero();
  std::string what = ares_strerror(status);
  switch (status) {
    case ARES_SUCCESS:
      break;
    case ARES_ENOTFOUND:
      return error_result(ResolveStatus::kNxDomain, "NXDOMAIN", what);
    case ARES_ENODATA:
      return error_result(ResolveStatus::kNoData, "NOERROR", what);
    case ARES_ESERVFAIL:
      return error_result(ResolveStatus::kServFail, "SERVFAIL", what);
    case ARES_EREFUSED:
      return error_result(ResolveStatus::kRefused, "REFUSED", what);
    case ARES_ETIMEOUT:
      return error_result(ResolveStatus::kTimeout, "", what);
    case ARES_EFORMERR:
      return error_result(ResolveStatus::kError, "FORMERR", what);
    case ARES_ENOTIMP:
      return error_result(ResolveStatus::kError, "NOTIMP", what);
    default:
      return error_result(ResolveStatus::kError, "", what);
  }

  std::vector<sockaddr_storage> addresses;
  long min_ttl = LONG_MAX;
  for (const ares_addrinfo_node* node = res ? res->nodes : nullptr; node; node = node->ai_next) {
    sockaddr_storage ss{};
    if (node->ai_family == AF_INET && node->ai_addrlen >= sizeof(sockaddr_in)) {
      std::memcpy(&ss, node->ai_addr, sizeof(sockaddr_in));
      reinterpret_cast<sockaddr_in*>(&ss)->sin_port = 0;
    } else if (node->ai_family == AF_INET6 && node->ai_addrlen >= sizeof(sockaddr_in6)) {
      std::memcpy(&ss, node->ai_addr, sizeof(sockaddr_in6));
      reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = 0;
    } else {
      continue;
    }
    addresses.push_back(ss);
    min_ttl = std::min<long>(min_ttl, std::max(node->ai_ttl, 0));
  }
  if (addresses.empty()) {
    return error_result(ResolveStatus::kNoData, "NOERROR", "the name has no IPv4 or IPv6 address");
  }
  for (const ares_addrinfo_cname* c = res->cnames; c; c = c->next) {
    min_ttl = std::min<long>(min_ttl, std::max(c->ttl, 0));
  }
  ResolveResult r;
  r.status = ResolveStatus::kOk;
  r.addresses = interleave_families(addresses);
  *ttl = std::chrono::seconds(min_ttl);
  return r;
}

int uv_error_from_ares(int status) {
  switch (status) {
    case ARES_ENOMEM:
      return UV_ENOMEM;
    case ARES_EFILE:
      return UV_EIO;
    default:
      return UV_EINVAL;
  }
}

struct Core {
  enum class State { kNew, kRunning, kClosing, kClosed };

  struct Waiter {
    Callback cb;
    InFlight* query = nullptr;  // null once the answer is queued for delivery
  };

  Core(uv_loop_t* loop, ResolverOptions opts, Resolver::Stats* stats)
      : loop(loop),
        options(std::move(opts)),
        stats(stats),
        cache(options.cache_capacity, options.max_ttl, options.negative_ttl, options.clock) {}

  int init();
  LookupId resolve(const std::string& host, Callback cb);
  void cancel(LookupId id);
  void close(std::function<void()> done);

  void start_query(LookupId id, Callback cb, std::string name);
  void finish_query(InFlight* q, int status, ares_addrinfo* res);
  void time_out(InFlight* q);
  void deliver_ready();
  void sock_state(ares_socket_t fd, int readable, int writable);
  void process(ares_socket_t read_fd, ares_socket_t write_fd);
  void poll_failed(SocketWatcher* w);
  void arm_ares_timer();
  void enqueue(LookupId id, Callback cb, ResolveResult result);
  void push_ready(LookupId id, std::shared_ptr<const ResolveResult> result);
  void close_inflight(InFlight* q);
  void close_watcher(SocketWatcher* w);
  void handle_closed();

  uv_loop_t* loop;
  ResolverOptions options;
  Resolver::Stats* stats;
  DnsCache cache;
  State state = State::kNew;
  std::string init_error;
  ares_channel channel = nullptr;
  uv_timer_t ares_timer{};  // c-ares' next deadline, from ares_timeout()
  uv_idle_t idle{};         // runs while `ready` is non-empty: delivers on the next turn
  std::unordered_map<ares_socket_t, SocketWatcher*> watchers;
  std::unordered_map<std::string, InFlight*> inflight;  // by name; not detached ones
  std::unordered_set<InFlight*> queries;                // every InFlight not yet closing
  std::unordered_map<LookupId, Waiter> waiters;
  std::vector<Ready> ready;
  LookupId next_id = 1;
  int closes_pending = 0;
  std::function<void()> on_closed;
};

int Core::init() {
  if (state != State::kNew) {
    init_error = "Resolver::init() called twice";
    return UV_EINVAL;
  }
  ares_options opts;
  std::memset(&opts, 0, sizeof opts);
  int mask = 0;
  opts.sock_state_cb = on_sock_state;
  opts.sock_state_cb_data = this;
  mask |= ARES_OPT_SOCK_STATE_CB;
  long long timeout_ms = std::max<long long>(options.timeout.count(), 1);
  opts.timeout = static_cast<int>(std::clamp<long long>(timeout_ms / 4, 1, INT_MAX));
  mask |= ARES_OPT_TIMEOUTMS;
  opts.tries = kAresTries;
  mask |= ARES_OPT_TRIES;
  // Without NOCHECKRESP, c-ares 1.18 treats SERVFAIL/REFUSED/NOTIMP as "try the next
  // server" and, once all are used up, reports ARES_ECONNREFUSED: the rcode would be lost.
  // Like Node.js we take such an answer as final (the price: no fail-over to a second
  // server on SERVFAIL, and c-ares skips its question-echo check; the random query id
  // and the connected UDP socket remain).
  opts.flags = ARES_FLAG_NOCHECKRESP;
  mask |= ARES_OPT_FLAGS;
  // Files, then DNS, whatever nsswitch.conf says: admins pin names in /etc/hosts.
  char lookups[] = "fb";
  opts.lookups = lookups;
  mask |= ARES_OPT_LOOKUPS;

  int rc = ares_init_options(&channel, &opts, mask);
  if (rc != ARES_SUCCESS) {
    init_error = std::string("c-ares initialisation failed: ") + ares_strerror(rc);
    channel = nullptr;
    return uv_error_from_ares(rc);
  }
  if (!options.servers.empty()) {
    std::string csv;
    for (const HostPort& s : options.servers) {
      if (!csv.empty()) csv += ',';
      bool v6 = s.host.find(':') != std::string::npos;
      csv += v6 ? "[" + s.host + "]" : s.host;
      csv += ':';
      csv += std::to_string(s.port != 0 ? s.port : 53);
    }
    rc = ares_set_servers_ports_csv(channel, csv.c_str());
    if (rc != ARES_SUCCESS) {
      init_error =
          "invalid DNS servers '" + csv + "' (IP addresses are required): " + ares_strerror(rc);
      ares_destroy(channel);  // no sockets yet: no callbacks
      channel = nullptr;
      return uv_error_from_ares(rc);
    }
  }
  uv_timer_init(loop, &ares_timer);
  ares_timer.data = this;
  uv_idle_init(loop, &idle);
  idle.data = this;
  state = State::kRunning;
  return 0;
}

LookupId Core::resolve(const std::string& host, Callback cb) {
  if (state == State::kNew) {
    std::fprintf(stderr, "gatehouse: Resolver::resolve() before a successful init()\n");
    std::abort();
  }
  LookupId id = next_id++;
  if (state != State::kRunning) return id;  // closed: the callback never fires

  ParsedHost parsed = parse_host(host);
  switch (parsed.kind) {
    case ParsedHost::Kind::kInvalid:
      enqueue(id, std::move(cb), error_result(ResolveStatus::kError, "", parsed.problem));
      return id;
    case ParsedHost::Kind::kLiteral: {
      ResolveResult r;
      r.status = ResolveStatus::kOk;
      r.addresses.push_back(parsed.address);
      enqueue(id, std::move(cb), std::move(r));
      return id;
    }
    case ParsedHost::Kind::kName:
      break;
  }

  if (std::optional<ResolveResult> hit = cache.get(parsed.name)) {
    ++stats->cache_hits;
    enqueue(id, std::move(cb), std::move(*hit));
    return id;
  }
  ++stats->cache_misses;
  auto it = inflight.find(parsed.name);
  if (it != inflight.end()) {
    it->second->waiters.push_back(id);
    waiters.emplace(id, Waiter{std::move(cb), it->second});
    return id;
  }
  start_query(id, std::move(cb), std::move(parsed.name));
  return id;
}

void Core::start_query(LookupId id, Callback cb, std::string name) {
  auto* q = new InFlight;
  q->core = this;
  q->name = std::move(name);
  uv_timer_init(loop, &q->timer);
  q->timer.data = q;
  uv_timer_start(&q->timer, on_lookup_timeout,
                 static_cast<uint64_t>(std::max<long long>(options.timeout.count(), 1)), 0);
  q->waiters.push_back(id);
  waiters.emplace(id, Waiter{std::move(cb), q});
  inflight.emplace(q->name, q);
  queries.insert(q);
  ++stats->queries;

  ares_addrinfo_hints hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  // No ARES_AI_NOSORT: c-ares orders the answer by RFC 6724 before we interleave families.
  ares_getaddrinfo(channel, q->name.c_str(), nullptr, &hints, on_addrinfo, q);
  // c-ares may have answered synchronously (/etc/hosts, localhost): q may be finished and
  // its timer closing already, so it is not touched here again.
  arm_ares_timer();
}

void Core::finish_query(InFlight* q, int status, ares_addrinfo* res) {
  if (state != State::kRunning) {
    // ARES_EDESTRUCTION (or a last answer) from ares_destroy() in close().
    if (res) ares_freeaddrinfo(res);
    close_inflight(q);
    return;
  }
  std::chrono::seconds ttl{0};
  ResolveResult result = make_result(status, res, &ttl);
  if (res) ares_freeaddrinfo(res);
  if (status == ARES_ECANCELLED || status == ARES_EDESTRUCTION) {
    // Only ares_cancel()/ares_destroy() produce these and we call them only when closing;
    // should it happen anyway, fail the waiters rather than leave them hanging.
    result = error_result(ResolveStatus::kError, "", "lookup cancelled");
  }

  if (q->detached) {
    // The waiters already got kTimeout. A late answer still serves the next lookup.
    if (result.status == ResolveStatus::kOk) cache.put(q->name, result, ttl);
    close_inflight(q);
    return;
  }
  cache.put(q->name, result, ttl);
  auto it = inflight.find(q->name);
  if (it != inflight.end() && it->second == q) inflight.erase(it);
  auto shared = std::make_shared<const ResolveResult>(std::move(result));
  for (LookupId id : q->waiters) push_ready(id, shared);
  q->waiters.clear();
  close_inflight(q);
}

void Core::time_out(InFlight* q) {
  if (state != State::kRunning || q->detached) return;
  q->detached = true;
  auto it = inflight.find(q->name);
  if (it != inflight.end() && it->second == q) inflight.erase(it);
  auto shared = std::make_shared<const ResolveResult>(
      error_result(ResolveStatus::kTimeout, "",
                   "no DNS answer within " + std::to_string(options.timeout.count()) + " ms"));
  for (LookupId id : q->waiters) push_ready(id, shared);
  q->waiters.clear();
}

void Core::cancel(LookupId id) {
  auto it = waiters.find(id);
  if (it == waiters.end()) return;
  if (InFlight* q = it->second.query) std::erase(q->waiters, id);
  // The query keeps running: other waiters may join it and its answer fills the cache.
  waiters.erase(it);
}

void Core::enqueue(LookupId id, Callback cb, ResolveResult result) {
  waiters.emplace(id, Waiter{std::move(cb), nullptr});
  push_ready(id, std::make_shared<const ResolveResult>(std::move(result)));
}

void Core::push_ready(LookupId id, std::shared_ptr<const ResolveResult> result) {
  auto it = waiters.find(id);
  if (it == waiters.end()) return;  // cancelled
  it->second.query = nullptr;
  ready.push_back(Ready{id, std::move(result)});
  uv_idle_start(&idle, on_idle);  // no-op when already active
}

void Core::deliver_ready() {
  if (state != State::kRunning) return;
  // Answers queued by these callbacks wait for the next turn.
  std::vector<Ready> batch;
  batch.swap(ready);
  for (Ready& r : batch) {
    if (state != State::kRunning) return;  // a callback called close()
    auto it = waiters.find(r.id);
    if (it == waiters.end()) continue;  // cancelled
    Callback cb = std::move(it->second.cb);
    waiters.erase(it);
    if (cb) cb(*r.result);
  }
  if (state == State::kRunning && ready.empty()) uv_idle_stop(&idle);
}

void Core::sock_state(ares_socket_t fd, int readable, int writable) {
  auto it = watchers.find(fd);
  if (!readable && !writable) {
    // Called before c-ares closes the socket, also from ares_destroy() while closing.
    if (it == watchers.end()) return;
    SocketWatcher* w = it->second;
    watchers.erase(it);
    close_watcher(w);
    return;
  }
  if (state != State::kRunning) return;
  SocketWatcher* w = nullptr;
  if (it != watchers.end()) {
    w = it->second;
  } else {
    w = new SocketWatcher;
    w->core = this;
    w->fd = fd;
    int rc = uv_poll_init_socket(loop, &w->poll, fd);
    if (rc != 0) {
      // The query will end by timeout; nothing else can be done from here.
      GH_LOG_ERROR("resolver: cannot watch c-ares socket %d: %s", fd, uv_strerror(rc));
      delete w;
      return;
    }
    w->poll.data = w;
    watchers.emplace(fd, w);
  }
  w->events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  uv_poll_start(&w->poll, w->events, on_poll);
}

void Core::poll_failed(SocketWatcher* w) {
  ares_socket_t fd = w->fd;
  // Let c-ares read the error (it usually closes the socket and fails over).
  process(fd, fd);
  // libuv stopped the handle on POLLERR. If c-ares kept the socket, its state did not
  // change and no sock-state callback will come: watch it again ourselves.
  auto it = watchers.find(fd);
  if (state == State::kRunning && it != watchers.end() && it->second == w) {
    uv_poll_start(&w->poll, w->events, on_poll);
  }
}

void Core::process(ares_socket_t read_fd, ares_socket_t write_fd) {
  if (state != State::kRunning) return;
  ares_process_fd(channel, read_fd, write_fd);
  arm_ares_timer();
}

void Core::arm_ares_timer() {
  if (state != State::kRunning) return;
  timeval tv{};
  if (ares_timeout(channel, nullptr, &tv) == nullptr) {
    uv_timer_stop(&ares_timer);
    return;
  }
  // Round up: firing early would only re-arm for the remainder.
  uint64_t ms =
      static_cast<uint64_t>(tv.tv_sec) * 1000 + (static_cast<uint64_t>(tv.tv_usec) + 999) / 1000;
  uv_timer_start(&ares_timer, on_ares_timer, ms, 0);
}

void Core::close_inflight(InFlight* q) {
  if (queries.erase(q) == 0) return;  // already closing
  uv_timer_stop(&q->timer);
  ++closes_pending;
  uv_close(reinterpret_cast<uv_handle_t*>(&q->timer), on_inflight_closed);
}

void Core::close_watcher(SocketWatcher* w) {
  uv_poll_stop(&w->poll);
  ++closes_pending;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), on_watcher_closed);
}

void Core::close(std::function<void()> done) {
  if (state == State::kClosing || state == State::kClosed) return;
  if (state == State::kNew) {
    // Nothing was opened (init() never ran or failed): nothing to wait for.
    state = State::kClosed;
    if (done) done();
    return;
  }
  state = State::kClosing;
  on_closed = std::move(done);
  waiters.clear();
  ready.clear();
  inflight.clear();
  // Calls on_addrinfo (ARES_EDESTRUCTION) for every query and on_sock_state(fd, 0, 0) for
  // every socket; both close their handles.
  ares_destroy(channel);
  channel = nullptr;
  for (auto& [fd, w] : watchers) close_watcher(w);
  watchers.clear();
  std::vector<InFlight*> left(queries.begin(), queries.end());
  for (InFlight* q : left) close_inflight(q);
  closes_pending += 2;
  uv_close(reinterpret_cast<uv_handle_t*>(&ares_timer), on_core_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle), on_core_handle_closed);
}

void Core::handle_closed() {
  if (--closes_pending > 0 || state != State::kClosing) return;
  state = State::kClosed;
  std::function<void()> done = std::move(on_closed);
  if (done) done();
  // The owner may have deleted the Resolver (and this Core) in on_closed.
}

void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
  static_cast<Core*>(data)->sock_state(fd, readable, writable);
}

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* w = static_cast<SocketWatcher*>(handle->data);
  Core* core = w->core;
  if (status < 0) {
    core->poll_failed(w);
    return;
  }
  // c-ares may close w from inside process(); w stays allocated until its close
  // callback, but only copies are used from here on.
  ares_socket_t fd = w->fd;
  core->process((events & UV_READABLE) ? fd : ARES_SOCKET_BAD,
                (events & UV_WRITABLE) ? fd : ARES_SOCKET_BAD);
}

void on_ares_timer(uv_timer_t* handle) {
  static_cast<Core*>(handle->data)->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

void on_lookup_timeout(uv_timer_t* handle) {
  auto* q = static_cast<InFlight*>(handle->data);
  q->core->time_out(q);
}

void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
  auto* q = static_cast<InFlight*>(arg);
  q->core->finish_query(q, status, res);
}

void on_idle(uv_idle_t* handle) {
  static_cast<Core*>(handle->data)->deliver_ready();
}

void on_inflight_closed(uv_handle_t* handle) {
  auto* q = static_cast<InFlight*>(handle->data);
  Core* core = q->core;
  delete q;
  core->handle_closed();
}

void on_watcher_closed(uv_handle_t* handle) {
  auto* w = static_cast<SocketWatcher*>(handle->data);
  Core* core = w->core;
  delete w;
  core->handle_closed();
}

void on_core_handle_closed(uv_handle_t* handle) {
  static_cast<Core*>(handle->data)->handle_closed();
}

}  // namespace

struct Resolver::Impl : Core {
  using Core::Core;
};

Resolver::Resolver(uv_loop_t* loop, ResolverOptions options)
    : impl_(std::make_unique<Impl>(loop, std::move(options), &stats_)) {}

Resolver::~Resolver() {
  if (impl_ && (impl_->state == Core::State::kRunning || impl_->state == Core::State::kClosing)) {
    std::fprintf(stderr, "gatehouse: Resolver destroyed before close() completed\n");
    std::abort();
  }
}

int Resolver::init() {
  return impl_->init();
}

const std::string& Resolver::init_error() const {
  return impl_->init_error;
}

Resolver::LookupId Resolver::resolve(const std::string& host, Callback cb) {
  return impl_->resolve(host, std::move(cb));
}

void Resolver::cancel(LookupId id) {
  impl_->cancel(id);
}

void Resolver::close(std::function<void()> on_closed) {
  impl_->close(std::move(on_closed));
}

}  // namespace gatehouse
