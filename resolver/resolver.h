// Resolver: asynchronous name resolution for one event loop, c-ares on libuv.
//
// Owned by a Worker; lives on that worker's loop thread and is used only from it.
// c-ares sockets are watched with one uv_poll_t each (from ARES_OPT_SOCK_STATE_CB) and
// c-ares timeouts are driven by a uv_timer_t armed from ares_timeout().
//
// Lookups go through a DnsCache first (TTL-respecting, capped by max_ttl; failures
// remembered for negative_ttl) and concurrent lookups of one name share one query.
// IP literals ("192.0.2.1", "::1") resolve immediately without a query.
//
// Callbacks NEVER fire synchronously from resolve(): a cached or literal answer is
// delivered on a later loop turn. After cancel(id) the callback for id never fires.
// close() must be called before destruction; the destructor only frees memory once the
// on_closed callback has run (or if init() was never called / failed).
//
// Details the callers can rely on:
//  - Every callback runs from the resolver's own uv_idle_t callback, never from inside
//    c-ares, so a callback may call resolve(), cancel() or close() freely. After close()
//    from inside a callback no further callback runs.
//  - A host may be given with or without IPv6 brackets ("[::1]") and a trailing dot; case
//    does not matter. Names that are not valid DNS names (characters other than letters,
//    digits, '-', '_' and '.', empty labels, over 253 characters) and scoped IPv6
//    literals ("fe80::1%eth0") fail with kError without a query.
//  - /etc/hosts is consulted before DNS; "localhost" and "*.localhost" never go to DNS.
//  - options.timeout bounds every lookup: waiters get kTimeout when it expires. The
//    c-ares query itself is left to finish (its own retries end after about 1.75 x the
//    timeout); a late success fills the cache for the next lookup.
//  - cancel(id) only forgets that waiter; the query keeps running for the others and to
//    fill the cache. cancel() of an unknown or finished id is a no-op.
//  - resolve() after close() returns an id whose callback never fires. resolve() before a
//    successful init() is a programming error and aborts.
#pragma once

#include <sys/socket.h>
#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"

namespace gatehouse {

enum class ResolveStatus {
  kOk,
  kNxDomain,  // name does not exist (rcode NXDOMAIN)
  kNoData,    // name exists but has no A/AAAA records
  kServFail,  // server failure (rcode SERVFAIL)
  kRefused,   // server refused (rcode REFUSED)
  kTimeout,   // no answer within options.timeout
  kError,     // anything else (bad name, no servers, c-ares failure)
};

struct ResolveResult {
  ResolveStatus status = ResolveStatus::kError;
  // Addresses with the port left 0, ordered for connecting: families alternate
  // (first family as returned, then the other, then the first again ...).
  std::vector<sockaddr_storage> addresses;
  // For RFC 9209 Proxy-Status: "NXDOMAIN", "SERVFAIL", "REFUSED", "NOERROR" (no data),
  // or empty when no DNS rcode applies (timeout, literal, /etc/hosts).
  std::string rcode;
  std::string detail;  // human-readable, e.g. c-ares' ares_strerror text
  bool from_cache = false;
};

struct ResolverOptions {
  std::vector<HostPort> servers;  // empty = system configuration (/etc/resolv.conf)
  std::chrono::milliseconds max_ttl{std::chrono::minutes(5)};
  std::chrono::milliseconds negative_ttl{std::chrono::seconds(30)};
  std::chrono::milliseconds timeout{std::chrono::seconds(5)};  // per lookup, overall
  size_t cache_capacity = 10000;                               // entries (LRU beyond)
  // Time source of the DNS cache; empty = std::chrono::steady_clock::now (tests inject one).
  std::function<std::chrono::steady_clock::time_point()> clock;
};

class Resolver {
 public:
  using Callback = std::function<void(const ResolveResult&)>;
  using LookupId = uint64_t;  // never 0

  Resolver(uv_loop_t* loop, ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Returns 0 or a negative c-ares/libuv error code (as a libuv-style int): c-ares
  // failures are mapped to UV_ENOMEM / UV_EINVAL (bad servers list) / UV_EIO, and
  // init_error() then says what failed in words. Must be called once, before resolve().
  int init();
  const std::string& init_error() const;

  LookupId resolve(const std::string& host, Callback cb);
  void cancel(LookupId id);

  // Cancels every pending lookup (their callbacks do not fire), closes all handles and
  // calls on_closed once the last close callback ran.
  void close(std::function<void()> on_closed);

  struct Stats {
    uint64_t cache_hits = 0;
    uint64_t cache_misses = 0;
    uint64_t queries = 0;  // lookups that went to c-ares
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Stats stats_;
};

}  // namespace gatehouse
