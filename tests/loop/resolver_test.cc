// Resolver on a real uv loop against the in-process TestDnsServer.
#include "resolver/resolver.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "resolver/address_order.h"
#include "tests/support/dns_server.h"

namespace gatehouse {
namespace {

using namespace std::chrono_literals;
using test::TestDnsServer;
using TimePoint = std::chrono::steady_clock::time_point;

std::vector<std::string> texts(const std::vector<sockaddr_storage>& addrs) {
  std::vector<std::string> out;
  for (const auto& a : addrs) out.push_back(address_to_string(a));
  return out;
}

std::multiset<std::string> sorted(const std::vector<sockaddr_storage>& addrs) {
  auto t = texts(addrs);
  return {t.begin(), t.end()};
}

uint16_t port_of(const sockaddr_storage& a) {
  if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
}

// A loop, a DNS server and a Resolver pointed at it. finish() closes the resolver and
// checks that the loop closes cleanly; the destructor only cleans up after a failed test.
class Harness {
 public:
  explicit Harness(ResolverOptions options = {}) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    options.servers = {HostPort{"127.0.0.1", dns.port()}};
    resolver_ = std::make_unique<Resolver>(&loop_, std::move(options));
    REQUIRE(resolver_->init() == 0);
  }

  ~Harness() {
    if (finished_) return;
    if (resolver_) {
      bool closed = false;
      resolver_->close([&] { closed = true; });
      run_until([&] { return closed; });
      if (closed) resolver_.reset();
    }
    uv_loop_close(&loop_);
  }

  Resolver& resolver() { return *resolver_; }
  uv_loop_t* loop() { return &loop_; }

  // Runs the loop until pred() holds; false if 10 s pass first or the loop runs dry.
  bool run_until(const std::function<bool()>& pred) {
    uv_timer_t watchdog;
    bool expired = false;
    uv_timer_init(&loop_, &watchdog);
    watchdog.data = &expired;
    uv_timer_start(
        &watchdog, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 10000, 0);
    while (!pred() && !expired) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);  // runs the close callback
    return pred();
  }

  // Runs the loop until nothing but the (unreferenced) watchdog is left; false after 10 s.
  bool run_until_quiet() {
    uv_timer_t watchdog;
    bool expired = false;
    uv_timer_init(&loop_, &watchdog);
    watchdog.data = &expired;
    uv_timer_start(
        &watchdog,
        [](uv_timer_t* t) {
          *static_cast<bool*>(t->data) = true;
          uv_stop(t->loop);
        },
        10000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return !expired;
  }

  ResolveResult resolve(const std::string& host) {
    std::optional<ResolveResult> result;
    resolver_->resolve(host, [&](const ResolveResult& r) { result = r; });
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }

  // Closes the resolver, waits for on_closed, and requires the loop to close cleanly.
  // With already_closed the test closed the resolver itself and saw on_closed run.
  void finish(bool already_closed = false) {
    if (!already_closed) {
      bool closed = false;
      resolver_->close([&] { closed = true; });
      REQUIRE(run_until([&] { return closed; }));
    }
    resolver_.reset();
    REQUIRE(uv_run(&loop_, UV_RUN_NOWAIT) == 0);
    finished_ = true;
    REQUIRE(uv_loop_close(&loop_) == 0);
  }

  TestDnsServer dns;

 private:
  uv_loop_t loop_;
  std::unique_ptr<Resolver> resolver_;
  bool finished_ = false;
};

ResolverOptions short_timeout(std::chrono::milliseconds timeout) {
  ResolverOptions o;
  o.timeout = timeout;
  return o;
}

}  // namespace

TEST_CASE("resolver: A records only", "[loop][resolver]") {
  Harness h;
  h.dns.set_a("v4.test", {"192.0.2.10", "192.0.2.11"}, 120);
  ResolveResult r = h.resolve("v4.test");
  CHECK(r.status == ResolveStatus::kOk);
  CHECK(r.rcode.empty());
  CHECK_FALSE(r.from_cache);
  CHECK(sorted(r.addresses) == std::multiset<std::string>{"192.0.2.10", "192.0.2.11"});
  for (const auto& a : r.addresses) {
    CHECK(a.ss_family == AF_INET);
    CHECK(port_of(a) == 0);
  }
  CHECK(h.dns.query_count("v4.test", TestDnsServer::kTypeA) == 1);
  CHECK(h.dns.query_count("v4.test", TestDnsServer::kTypeAaaa) == 1);
  CHECK(h.resolver().stats().queries == 1);
  CHECK(h.resolver().stats().cache_misses == 1);
  h.finish();
}

TEST_CASE("resolver: AAAA records only", "[loop][resolver]") {
  Harness h;
  h.dns.set_aaaa("v6.test", {"2001:db8::10"});
  ResolveResult r = h.resolve("v6.test");
  CHECK(r.status == ResolveStatus::kOk);
  REQUIRE(r.addresses.size() == 1);
  CHECK(r.addresses[0].ss_family == AF_INET6);
  CHECK(address_to_string(r.addresses[0]) == "2001:db8::10");
  h.finish();
}

TEST_CASE("resolver: both families alternate", "[loop][resolver]") {
  Harness h;
  h.dns.set_a("dual.test", {"192.0.2.1", "192.0.2.2", "192.0.2.3"});
  h.dns.set_aaaa("dual.test", {"2001:db8::1", "2001:db8::2"});
  ResolveResult r = h.resolve("Dual.Test.");  // case and trailing dot do not matter
  CHECK(r.status == ResolveStatus::kOk);
  CHECK(sorted(r.addresses) == std::multiset<std::string>{"192.0.2.1", "192.0.2.2", "192.0.2.3",
                                                          "2001:db8::1", "2001:db8::2"});
  REQUIRE(r.addresses.size() == 5);
  // Two of each family alternate, the third IPv4 address comes last.
  for (size_t i = 0; i + 1 < 4; ++i) {
    CHECK(r.addresses[i].ss_family != r.addresses[i + 1].ss_family);
  }
  CHECK(r.addresses[4].ss_family == AF_INET);
  CHECK(h.dns.query_count("dual.test") == 2);
  h.finish();
}

TEST_CASE("resolver: NXDOMAIN", "[loop][resolver]") {
  Harness h;
  SECTION("unknown name") {
    ResolveResult r = h.resolve("nope.test");
    CHECK(r.status == ResolveStatus::kNxDomain);
    CHECK(r.rcode == "NXDOMAIN");
    CHECK(r.addresses.empty());
    CHECK_FALSE(r.detail.empty());
  }
  SECTION("scripted rcode") {
    h.dns.set_a("gone.test", {"192.0.2.1"});
    h.dns.set_rcode("gone.test", TestDnsServer::kNxDomain);
    ResolveResult r = h.resolve("gone.test");
    CHECK(r.status == ResolveStatus::kNxDomain);
    CHECK(r.rcode == "NXDOMAIN");
  }
  h.finish();
}

TEST_CASE("resolver: SERVFAIL, REFUSED and NODATA", "[loop][resolver]") {
  Harness h;
  SECTION("SERVFAIL") {
    h.dns.set_rcode("broken.test", TestDnsServer::kServFail);
    ResolveResult r = h.resolve("broken.test");
    INFO(r.detail);
    CHECK(r.status == ResolveStatus::kServFail);
    CHECK(r.rcode == "SERVFAIL");
    // A SERVFAIL answer is final: no retry.
    CHECK(h.dns.query_count("broken.test", TestDnsServer::kTypeA) == 1);
  }
  SECTION("REFUSED") {
    h.dns.set_rcode("refused.test", TestDnsServer::kRefused);
    ResolveResult r = h.resolve("refused.test");
    CHECK(r.status == ResolveStatus::kRefused);
    CHECK(r.rcode == "REFUSED");
  }
  SECTION("NODATA: the name exists without addresses") {
    h.dns.set_a("empty.test", {});
    ResolveResult r = h.resolve("empty.test");
    CHECK(r.status == ResolveStatus::kNoData);
    CHECK(r.rcode == "NOERROR");
    CHECK(r.addresses.empty());
  }
  h.finish();
}

TEST_CASE("resolver: no answer times out after options.timeout", "[loop][resolver]") {
  Harness h(short_timeout(300ms));
  h.dns.set_drop("void.test");
  auto start = std::chrono::steady_clock::now();
  ResolveResult r = h.resolve("void.test");
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(r.status == ResolveStatus::kTimeout);
  CHECK(r.rcode.empty());
  CHECK(r.detail.find("300 ms") != std::string::npos);
  CHECK(elapsed >= 280ms);  // the loop clock may lag a few ms behind steady_clock
  CHECK(elapsed < 2s);
  CHECK(h.dns.query_count("void.test", TestDnsServer::kTypeA) >= 1);

  // A timeout is not cached: the next lookup is a miss and asks again.
  auto misses = h.resolver().stats().cache_misses;
  auto queries = h.resolver().stats().queries;
  Resolver::LookupId id = h.resolver().resolve(
      "void.test", [](const ResolveResult&) { FAIL("cancelled lookup called back"); });
  CHECK(id != 0);
  CHECK(h.resolver().stats().cache_misses == misses + 1);
  CHECK(h.resolver().stats().queries == queries + 1);
  h.resolver().cancel(id);
  h.finish();
}

TEST_CASE("resolver: a late answer after the timeout fills the cache", "[loop][resolver]") {
  // timeout 400 ms: c-ares sends at 0, 100 and 300 ms and gives up at 700 ms; the answer
  // to the first send arrives at 550 ms, after the waiters got kTimeout at 400 ms.
  Harness h(short_timeout(400ms));
  h.dns.set_a("late.test", {"192.0.2.44"});
  h.dns.set_delay("late.test", 550ms);
  ResolveResult r = h.resolve("late.test");
  CHECK(r.status == ResolveStatus::kTimeout);
  REQUIRE(h.run_until_quiet());  // the c-ares query finishes in the background

  ResolveResult again = h.resolve("late.test");
  CHECK(again.status == ResolveStatus::kOk);
  CHECK(again.from_cache);
  CHECK(texts(again.addresses) == std::vector<std::string>{"192.0.2.44"});
  h.finish();
}

TEST_CASE("resolver: a slow name does not hold up others", "[loop][resolver]") {
  Harness h;
  h.dns.set_a("slow.test", {"192.0.2.1"});
  h.dns.set_delay("slow.test", 300ms);
  h.dns.set_a("fast.test", {"192.0.2.2"});
  std::vector<std::string> order;
  h.resolver().resolve("slow.test", [&](const ResolveResult&) { order.push_back("slow"); });
  h.resolver().resolve("fast.test", [&](const ResolveResult&) { order.push_back("fast"); });
  REQUIRE(h.run_until([&] { return order.size() == 2; }));
  CHECK(order == std::vector<std::string>{"fast", "slow"});
  h.finish();
}

TEST_CASE("resolver: concurrent lookups of one name share one query", "[loop][resolver]") {
  Harness h;
  h.dns.set_a("shared.test", {"192.0.2.5"});
  h.dns.set_aaaa("shared.test", {"2001:db8::5"});
  h.dns.set_delay("shared.test", 50ms);
  int done = 0;
  for (int i = 0; i < 10; ++i) {
    h.resolver().resolve(i % 2 ? "shared.test" : "SHARED.test.", [&](const ResolveResult& r) {
      CHECK(r.status == ResolveStatus::kOk);
      CHECK(r.addresses.size() == 2);
      CHECK_FALSE(r.from_cache);
      ++done;
    });
  }
  REQUIRE(h.run_until([&] { return done == 10; }));
  CHECK(h.dns.query_count("shared.test", TestDnsServer::kTypeA) == 1);
  CHECK(h.dns.query_count("shared.test", TestDnsServer::kTypeAaaa) == 1);
  CHECK(h.resolver().stats().queries == 1);
  CHECK(h.resolver().stats().cache_misses == 10);
  CHECK(h.resolver().stats().cache_hits == 0);
  h.finish();
}

TEST_CASE("resolver: second lookup is a cache hit", "[loop][resolver]") {
  Harness h;
  h.dns.set_a("cached.test", {"192.0.2.7"});
  ResolveResult first = h.resolve("cached.test");
  CHECK(first.status == ResolveStatus::kOk);
  CHECK_FALSE(first.from_cache);
  size_t queries = h.dns.query_count("cached.test");

  bool inside_resolve = true;
  std::optional<ResolveResult> second;
  h.resolver().resolve("cached.test", [&](const ResolveResult& r) {
    CHECK_FALSE(inside_resolve);
    second = r;
  });
  inside_resolve = false;
  CHECK_FALSE(second);
  REQUIRE(h.run_until([&] { return second.has_value(); }));
  CHECK(second->status == ResolveStatus::kOk);
  CHECK(second->from_cache);
  CHECK(texts(second->addresses) == std::vector<std::string>{"192.0.2.7"});
  CHECK(h.dns.query_count("cached.test") == queries);
  CHECK(h.resolver().stats().cache_hits == 1);
  CHECK(h.resolver().stats().cache_misses == 1);
  CHECK(h.resolver().stats().queries == 1);
  h.finish();
}

TEST_CASE("resolver: negative answers are cached", "[loop][resolver]") {
  Harness h;
  ResolveResult first = h.resolve("missing.test");
  CHECK(first.status == ResolveStatus::kNxDomain);
  size_t queries = h.dns.query_count("missing.test");
  CHECK(queries >= 1);

  ResolveResult second = h.resolve("missing.test");
  CHECK(second.status == ResolveStatus::kNxDomain);
  CHECK(second.rcode == "NXDOMAIN");
  CHECK(second.from_cache);
  CHECK(h.dns.query_count("missing.test") == queries);
  h.finish();
}

TEST_CASE("resolver: cache entries expire with the TTL, capped by max_ttl", "[loop][resolver]") {
  TimePoint now = TimePoint{} + 1000h;
  ResolverOptions options;
  options.max_ttl = 60s;
  options.negative_ttl = 10s;
  options.clock = [&now] { return now; };
  Harness h(options);
  h.dns.set_a("short.test", {"192.0.2.1"}, 30);
  h.dns.set_a("long.test", {"192.0.2.2"}, 3600);

  CHECK_FALSE(h.resolve("short.test").from_cache);
  CHECK_FALSE(h.resolve("long.test").from_cache);
  CHECK_FALSE(h.resolve("neg.test").from_cache);
  now += 9s;
  CHECK(h.resolve("short.test").from_cache);
  CHECK(h.resolve("neg.test").from_cache);
  now += 1s;  // negative_ttl over
  CHECK_FALSE(h.resolve("neg.test").from_cache);
  now += 20s;  // TTL 30 over
  CHECK_FALSE(h.resolve("short.test").from_cache);
  CHECK(h.resolve("long.test").from_cache);
  now += 30s;  // 60 s: max_ttl over, although the record said 3600
  CHECK_FALSE(h.resolve("long.test").from_cache);
  CHECK(h.dns.query_count("short.test", TestDnsServer::kTypeA) == 2);
  CHECK(h.dns.query_count("long.test", TestDnsServer::kTypeA) == 2);
  h.finish();
}

TEST_CASE("resolver: IP literals resolve without a query, asynchronously", "[loop][resolver]") {
  Harness h;
  struct Case {
    std::string host;
    std::string address;
    int family;
  };
  const std::vector<Case> cases = {
      {"127.0.0.1", "127.0.0.1", AF_INET},
      {"::1", "::1", AF_INET6},
      {"[::1]", "::1", AF_INET6},
      {"[2001:DB8::1]", "2001:db8::1", AF_INET6},
  };
  for (const Case& c : cases) {
    INFO(c.host);
    bool inside_resolve = true;
    std::optional<ResolveResult> result;
    h.resolver().resolve(c.host, [&](const ResolveResult& r) {
      CHECK_FALSE(inside_resolve);
      result = r;
    });
    inside_resolve = false;
    CHECK_FALSE(result);
    REQUIRE(h.run_until([&] { return result.has_value(); }));
    CHECK(result->status == ResolveStatus::kOk);
    CHECK(result->rcode.empty());
    REQUIRE(result->addresses.size() == 1);
    CHECK(result->addresses[0].ss_family == c.family);
    CHECK(address_to_string(result->addresses[0]) == c.address);
  }
  CHECK(h.dns.total_queries() == 0);
  CHECK(h.resolver().stats().queries == 0);
  h.finish();
}

TEST_CASE("resolver: localhost comes from /etc/hosts, not DNS", "[loop][resolver]") {
  std::ifstream hosts("/etc/hosts");
  std::string line;
  bool listed = false;
  while (std::getline(hosts, line)) {
    if (line.rfind("127.0.0.1", 0) == 0 && line.find("localhost") != std::string::npos) {
      listed = true;
    }
  }
  REQUIRE(listed);  // this machine's /etc/hosts is part of the test's premise

  Harness h;
  bool inside_resolve = true;
  std::optional<ResolveResult> result;
  h.resolver().resolve("localhost", [&](const ResolveResult& r) {
    CHECK_FALSE(inside_resolve);
    result = r;
  });
  inside_resolve = false;
  CHECK_FALSE(result);  // c-ares answered inside resolve(); delivery still waits a turn
  REQUIRE(h.run_until([&] { return result.has_value(); }));
  CHECK(result->status == ResolveStatus::kOk);
  auto all = texts(result->addresses);
  CHECK(std::find(all.begin(), all.end(), "127.0.0.1") != all.end());
  CHECK(h.dns.total_queries() == 0);
  h.finish();
}

TEST_CASE("resolver: invalid names fail without a query", "[loop][resolver]") {
  Harness h;
  for (const char* host : {"", "bad name.test", "a..b.test", ".test", "127.1", "10.0.0.300",
                           "fe80::1%eth0", "[example.test]", "x\n.test"}) {
    INFO(host);
    ResolveResult r = h.resolve(host);
    CHECK(r.status == ResolveStatus::kError);
    CHECK_FALSE(r.detail.empty());
  }
  std::string long_label(64, 'a');
  CHECK(h.resolve(long_label + ".test").status == ResolveStatus::kError);
  CHECK(h.dns.total_queries() == 0);
  h.finish();
}

TEST_CASE("resolver: cancel", "[loop][resolver]") {
  Harness h;
  SECTION("a waiter of an in-flight query") {
    h.dns.set_a("c.test", {"192.0.2.9"});
    h.dns.set_delay("c.test", 50ms);
    bool cancelled_fired = false;
    std::optional<ResolveResult> other;
    Resolver::LookupId id =
        h.resolver().resolve("c.test", [&](const ResolveResult&) { cancelled_fired = true; });
    h.resolver().resolve("c.test", [&](const ResolveResult& r) { other = r; });
    h.resolver().cancel(id);
    REQUIRE(h.run_until([&] { return other.has_value(); }));
    CHECK(other->status == ResolveStatus::kOk);
    CHECK_FALSE(cancelled_fired);
  }
  SECTION("the only waiter: the query still fills the cache") {
    h.dns.set_a("alone.test", {"192.0.2.8"});
    bool fired = false;
    Resolver::LookupId id =
        h.resolver().resolve("alone.test", [&](const ResolveResult&) { fired = true; });
    h.resolver().cancel(id);
    h.resolver().cancel(id);  // twice is harmless
    REQUIRE(h.run_until_quiet());
    CHECK_FALSE(fired);
    ResolveResult r = h.resolve("alone.test");
    CHECK(r.from_cache);
  }
  SECTION("an answer already queued for delivery") {
    bool fired = false;
    Resolver::LookupId id =
        h.resolver().resolve("192.0.2.1", [&](const ResolveResult&) { fired = true; });
    std::optional<ResolveResult> later;
    h.resolver().resolve("192.0.2.2", [&](const ResolveResult& r) { later = r; });
    h.resolver().cancel(id);
    REQUIRE(h.run_until([&] { return later.has_value(); }));
    CHECK_FALSE(fired);
  }
  SECTION("from inside another callback") {
    bool fired = false;
    Resolver::LookupId second = 0;
    bool first_done = false;
    h.resolver().resolve("192.0.2.1", [&](const ResolveResult&) {
      first_done = true;
      h.resolver().cancel(second);
    });
    second = h.resolver().resolve("192.0.2.2", [&](const ResolveResult&) { fired = true; });
    REQUIRE(h.run_until([&] { return first_done; }));
    REQUIRE(h.run_until_quiet());
    CHECK_FALSE(fired);
  }
  h.finish();
}

TEST_CASE("resolver: a callback may start another lookup", "[loop][resolver]") {
  Harness h;
  h.dns.set_a("chain.test", {"192.0.2.3"});
  std::optional<ResolveResult> inner;
  h.resolver().resolve("chain.test", [&](const ResolveResult&) {
    h.resolver().resolve("chain.test", [&](const ResolveResult& r) { inner = r; });
  });
  REQUIRE(h.run_until([&] { return inner.has_value(); }));
  CHECK(inner->from_cache);
  h.finish();
}

TEST_CASE("resolver: close with lookups in flight", "[loop][resolver]") {
  Harness h;
  h.dns.set_drop("d1.test");
  h.dns.set_drop("d2.test");
  h.dns.set_a("slow.test", {"192.0.2.1"});
  h.dns.set_delay("slow.test", 200ms);
  int fired = 0;
  auto count = [&](const ResolveResult&) { ++fired; };
  h.resolver().resolve("d1.test", count);
  h.resolver().resolve("d2.test", count);
  h.resolver().resolve("d2.test", count);
  h.resolver().resolve("slow.test", count);
  h.resolver().resolve("localhost", count);  // answered inside resolve(), queued
  h.resolver().resolve("127.0.0.1", count);  // queued for the next turn
  uv_run(h.loop(), UV_RUN_NOWAIT);           // one turn: both are delivered
  CHECK(fired == 2);
  h.resolver().resolve("10.0.0.1", count);   // queued, never delivered
  h.resolver().resolve("localhost", count);  // its c-ares query is finished but closing
  h.finish();
  CHECK(fired == 2);
}

TEST_CASE("resolver: close from inside a callback", "[loop][resolver]") {
  Harness h;
  h.dns.set_drop("never.test");
  bool closed = false;
  int fired = 0;
  h.resolver().resolve("never.test", [&](const ResolveResult&) { ++fired; });
  h.resolver().resolve("192.0.2.1", [&](const ResolveResult&) {
    ++fired;
    h.resolver().close([&] { closed = true; });
  });
  h.resolver().resolve("192.0.2.2", [&](const ResolveResult&) { ++fired; });
  REQUIRE(h.run_until([&] { return closed; }));
  CHECK(fired == 1);
  // resolve() after close() never calls back.
  h.resolver().resolve("192.0.2.3", [&](const ResolveResult&) { ++fired; });
  bool closed_again = false;
  h.resolver().close([&] { closed_again = true; });  // ignored: already closed
  CHECK_FALSE(closed_again);
  h.finish(/*already_closed=*/true);
  CHECK(fired == 1);
}

TEST_CASE("resolver: an unreachable DNS server ends as a timeout", "[loop][resolver]") {
  // A UDP port that was just free: queries to it are refused (ICMP port unreachable).
  // c-ares 1.18 does not report that as ARES_ECONNREFUSED: a refusal that surfaces on a
  // send() is swallowed and the query waits for its retransmit timer, so the lookup ends
  // with ARES_ETIMEOUT (or our own timer), i.e. kTimeout.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
  socklen_t len = sizeof sin;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
  ::close(fd);

  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  ResolverOptions options;
  options.servers = {HostPort{"127.0.0.1", ntohs(sin.sin_port)}};
  options.timeout = 400ms;
  Resolver resolver(&loop, options);
  REQUIRE(resolver.init() == 0);
  std::optional<ResolveResult> result;
  auto start = std::chrono::steady_clock::now();
  resolver.resolve("any.test", [&](const ResolveResult& r) { result = r; });
  while (!result && uv_run(&loop, UV_RUN_ONCE) != 0) {
  }
  auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(result);
  INFO(result->detail);
  CHECK(result->status == ResolveStatus::kTimeout);
  CHECK(result->rcode.empty());
  CHECK(elapsed < 2s);
  bool closed = false;
  resolver.close([&] { closed = true; });
  uv_run(&loop, UV_RUN_DEFAULT);
  CHECK(closed);
  REQUIRE(uv_loop_close(&loop) == 0);
}

TEST_CASE("resolver: init rejects servers that are not IP addresses", "[loop][resolver]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    ResolverOptions options;
    options.servers = {HostPort{"dns.example", 53}};
    Resolver resolver(&loop, options);
    CHECK(resolver.init() == UV_EINVAL);
    CHECK(resolver.init_error().find("dns.example") != std::string::npos);
    bool closed = false;
    resolver.close([&] { closed = true; });  // nothing to close: runs at once
    CHECK(closed);
  }
  {
    ResolverOptions options;
    options.servers = {HostPort{"::1", 0}, HostPort{"127.0.0.1", 5353}};
    Resolver resolver(&loop, options);
    REQUIRE(resolver.init() == 0);
    bool closed = false;
    resolver.close([&] { closed = true; });
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(closed);
  }
  REQUIRE(uv_loop_close(&loop) == 0);
}

}  // namespace gatehouse
