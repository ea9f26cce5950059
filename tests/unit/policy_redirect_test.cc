// Redirect tracking with a fake clock: chain growth, the max_chain limit and the 508
// chain, expiry, A -> login -> A, per-client separation, LRU and byte bounds, and RFC
// 3986 Location resolution.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/redirect_tracker.h"

namespace gatehouse {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

struct FakeClock {
  TimePoint now{std::chrono::hours(1000)};
  std::function<TimePoint()> fn() {
    return [this] { return now; };
  }
};

Config::Redirects limits(uint64_t max_chain, Duration remember = std::chrono::minutes(2)) {
  Config::Redirects r;
  r.max_chain = max_chain;
  r.remember = remember;
  return r;
}

std::string url(int i) {
  return "http://example.com/step/" + std::to_string(i);
}

}  // namespace

TEST_CASE("resolve_location handles every reference form", "[unit][policy][redirect]") {
  const std::string base = "http://a.example/b/c/d;p?q";
  struct Case {
    const char* location;
    const char* expected;
  };
  // RFC 3986 section 5.4.1 normal examples (the ones meaningful for http), plus more.
  for (const Case& c : {
           Case{"g", "http://a.example/b/c/g"},
           Case{"./g", "http://a.example/b/c/g"},
           Case{"g/", "http://a.example/b/c/g/"},
           Case{"/g", "http://a.example/g"},
           Case{"//g", "http://g/"},
           Case{"?y", "http://a.example/b/c/d;p?y"},
           Case{"g?y", "http://a.example/b/c/g?y"},
           Case{"#s", "http://a.example/b/c/d;p?q"},
           Case{"g#s", "http://a.example/b/c/g"},
           Case{"g?y#s", "http://a.example/b/c/g?y"},
           Case{";x", "http://a.example/b/c/;x"},
           Case{"g;x", "http://a.example/b/c/g;x"},
           Case{"", "http://a.example/b/c/d;p?q"},
           Case{".", "http://a.example/b/c/"},
           Case{"./", "http://a.example/b/c/"},
           Case{"..", "http://a.example/b/"},
           Case{"../", "http://a.example/b/"},
           Case{"../g", "http://a.example/b/g"},
           Case{"../..", "http://a.example/"},
           Case{"../../g", "http://a.example/g"},
           // 5.4.2 abnormal examples
           Case{"../../../g", "http://a.example/g"},
           Case{"/./g", "http://a.example/g"},
           Case{"/../g", "http://a.example/g"},
           Case{"g.", "http://a.example/b/c/g."},
           Case{"..g", "http://a.example/b/c/..g"},
           Case{"./../g", "http://a.example/b/g"},
           Case{"g/./h", "http://a.example/b/c/g/h"},
           Case{"g/../h", "http://a.example/b/c/h"},
           Case{"x/../y", "http://a.example/b/c/y"},
           Case{"http:g", "http://a.example/b/c/g"},  // non-strict, like browsers
           // absolute and scheme-relative
           Case{"https://Other.Example:443/x?y#z", "https://other.example/x?y"},
           Case{"http://other.example:8080", "http://other.example:8080/"},
           Case{"HTTP://UPPER.example/Path", "http://upper.example/Path"},
           Case{"//cdn.example/a/../b", "http://cdn.example/b"},
           Case{"ftp://files.example/x", "ftp://files.example/x"},
           // whitespace, backslashes, unsafe characters
           Case{"  /spaced  ", "http://a.example/spaced"},
           Case{"\\\\evil.example\\x", "http://evil.example/x"},
           Case{"/a b", "http://a.example/a%20b"},
           Case{"/caf\xC3\xA9", "http://a.example/caf%C3%A9"},
           Case{"/x?a\\b", "http://a.example/x?a\\b"},
       }) {
    INFO("location: " << c.location);
    CHECK(resolve_location(base, c.location) == c.expected);
  }
}

TEST_CASE("resolve_location refuses what cannot be resolved", "[unit][policy][redirect]") {
  CHECK(resolve_location("/relative/base", "x").empty());
  CHECK(resolve_location("example.com/x", "y").empty());
  CHECK(resolve_location("http://a.example/", "/x\r\nSet-Cookie: a=b").empty());
  CHECK(resolve_location("http://a.example/", "1http://x/").empty());
  // Base without a path.
  CHECK(resolve_location("http://a.example", "g") == "http://a.example/g");
  CHECK(resolve_location("http://a.example:80", "?q") == "http://a.example/?q");
  // IPv6 authorities keep their brackets and drop the default port.
  CHECK(resolve_location("http://[2001:DB8::1]:80/a", "b") == "http://[2001:db8::1]/b");
  CHECK(resolve_location("http://[::1]:8080/a", "/b") == "http://[::1]:8080/b");
  CHECK(resolve_location("http://user@Host.example/a", "b") == "http://user@host.example/b");
}

TEST_CASE("normalize_url makes equal URLs equal", "[unit][policy][redirect]") {
  CHECK(normalize_url("HTTP://Example.COM:80") == "http://example.com/");
  CHECK(normalize_url("http://example.com/a/./b/../c?x#frag") == "http://example.com/a/c?x");
  CHECK(normalize_url("https://example.com:443/") == "https://example.com/");
  CHECK(normalize_url("http://example.com:8080/") == "http://example.com:8080/");
  CHECK(normalize_url("http://example.com:/x") == "http://example.com/x");
  CHECK(normalize_url("not a url") == "not a url");
  CHECK(is_redirect_status(301));
  CHECK(is_redirect_status(308));
  CHECK(is_redirect_status(300));
  CHECK_FALSE(is_redirect_status(304));
  CHECK_FALSE(is_redirect_status(305));
  CHECK_FALSE(is_redirect_status(200));
}

TEST_CASE("a chain grows hop by hop and is cut past max_chain", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(3), {.clock = clock.fn()});
  std::string key = RedirectTracker::client_key("192.0.2.1", "");

  CHECK_FALSE(t.on_request(key, url(0)).continues);
  for (int i = 0; i < 3; ++i) {
    auto d = t.on_redirect(key, url(i), url(i + 1));
    CHECK_FALSE(d.cut);
    CHECK(d.hops == uint64_t(i + 1));
    CHECK(d.chain.empty());  // only filled when cut
    auto step = t.on_request(key, url(i + 1));
    CHECK(step.continues);
    CHECK(step.hops == uint64_t(i + 1));
    clock.now += 1s;
  }
  auto cut = t.on_redirect(key, url(3), url(4));
  CHECK(cut.cut);
  CHECK(cut.hops == 4);
  CHECK(cut.omitted == 0);
  CHECK(cut.chain == std::vector<std::string>{url(0), url(1), url(2), url(3), url(4)});
  // The refused target is not remembered: the client never saw that redirect.
  CHECK_FALSE(t.on_request(key, url(4)).continues);
  auto s = t.stats();
  CHECK(s.redirects_seen == 4);
  CHECK(s.chains_cut == 1);
  CHECK(s.entries == 3);
}

TEST_CASE("a redirect loop between two URLs is cut", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(20), {.clock = clock.fn()});
  std::string key = RedirectTracker::client_key("192.0.2.1", "alice");
  const std::string a = "http://loop.example/a", b = "http://loop.example/b";
  int hops = 0;
  RedirectDecision d;
  for (;;) {
    bool even = hops % 2 == 0;
    d = t.on_redirect(key, even ? a : b, even ? b : a);
    ++hops;
    if (d.cut) break;
    REQUIRE(hops <= 20);
  }
  CHECK(hops == 21);
  CHECK(d.hops == 21);
  CHECK(d.chain.size() == 22);
  CHECK(d.chain.front() == a);
  CHECK(d.chain.back() == b);
}

TEST_CASE("A -> login -> A does not trip the limit, however often", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(2), {.clock = clock.fn()});
  std::string key = RedirectTracker::client_key("198.51.100.7", "");
  const std::string a = "http://app.example/", login = "http://app.example/login?next=%2F";
  for (int round = 0; round < 50; ++round) {
    INFO("round " << round);
    // GET A -> 302 login
    t.on_request(key, a);
    auto d1 = t.on_redirect(key, a, login);
    CHECK_FALSE(d1.cut);
    // GET login -> 200 (the form)
    CHECK(t.on_request(key, login).continues);
    t.on_final(key, login);
    // POST login -> 302 A
    CHECK_FALSE(t.on_request(key, login).continues);
    auto d2 = t.on_redirect(key, login, a);
    CHECK_FALSE(d2.cut);
    CHECK(d2.hops == 1);
    // GET A -> 200
    CHECK(t.on_request(key, a).continues);
    t.on_final(key, a);
    clock.now += 1s;
  }
  CHECK(t.stats().chains_cut == 0);

  // An automatic round trip (single sign-on: A -> sso -> A -> 200) counts 2 hops.
  const std::string sso = "http://sso.example/auth";
  CHECK_FALSE(t.on_redirect(key, a, sso).cut);
  auto back = t.on_redirect(key, sso, a);
  CHECK_FALSE(back.cut);
  CHECK(back.hops == 2);
  t.on_final(key, a);
}

TEST_CASE("remembered targets expire after `remember`", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(2, 30s), {.clock = clock.fn()});
  std::string key = RedirectTracker::client_key("192.0.2.1", "");
  CHECK(t.on_redirect(key, url(0), url(1)).hops == 1);
  clock.now += 29s;
  CHECK(t.on_request(key, url(1)).continues);
  CHECK(t.on_redirect(key, url(1), url(2)).hops == 2);
  clock.now += 30s;  // url(1) and url(2) are both past their time now
  CHECK_FALSE(t.on_request(key, url(2)).continues);
  // The next redirect starts a fresh chain instead of being cut as the third hop.
  auto d = t.on_redirect(key, url(2), url(3));
  CHECK_FALSE(d.cut);
  CHECK(d.hops == 1);
  CHECK(t.stats().entries == 1);  // expired entries are purged
}

TEST_CASE("chains are kept per client and per user", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(1), {.clock = clock.fn()});
  std::string alice = RedirectTracker::client_key("192.0.2.1", "alice");
  std::string bob = RedirectTracker::client_key("192.0.2.1", "bob");
  std::string anon = RedirectTracker::client_key("192.0.2.1", "");
  std::string other = RedirectTracker::client_key("192.0.2.2", "");
  CHECK(alice != bob);
  CHECK(alice != anon);
  CHECK(t.on_redirect(alice, url(0), url(1)).hops == 1);
  CHECK_FALSE(t.on_request(bob, url(1)).continues);
  CHECK_FALSE(t.on_request(anon, url(1)).continues);
  CHECK_FALSE(t.on_request(other, url(1)).continues);
  CHECK_FALSE(t.on_redirect(bob, url(1), url(2)).cut);  // bob's first hop
  CHECK(t.on_redirect(alice, url(1), url(2)).cut);      // alice's second hop
}

TEST_CASE("URLs are compared after normalisation", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(5), {.clock = clock.fn()});
  std::string key = "k";
  t.on_redirect(key, "http://example.com/a", "HTTP://EXAMPLE.com:80/b/../c#top");
  auto step = t.on_request(key, "http://example.com/c");
  CHECK(step.continues);
  CHECK(t.on_redirect(key, "http://Example.com:80/c", "http://example.com/d").hops == 2);
}

TEST_CASE("parallel chains to one target keep the longer count", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(10), {.clock = clock.fn()});
  std::string key = "k";
  for (int i = 0; i < 4; ++i) t.on_redirect(key, url(i), url(i + 1));
  CHECK(t.on_request(key, url(4)).hops == 4);
  // A fresh one-hop chain arriving at the same target does not reset the count.
  CHECK(t.on_redirect(key, "http://elsewhere.example/", url(4)).hops == 1);
  CHECK(t.on_request(key, url(4)).hops == 4);
  CHECK(t.on_redirect(key, url(4), url(5)).hops == 5);
}

TEST_CASE("a self-redirect counts each hop", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(3), {.clock = clock.fn()});
  const std::string a = "http://self.example/";
  CHECK(t.on_redirect("k", a, a).hops == 1);
  CHECK(t.on_redirect("k", a, a).hops == 2);
  CHECK(t.on_redirect("k", a, a).hops == 3);
  auto d = t.on_redirect("k", a, a);
  CHECK(d.cut);
  CHECK(d.chain == std::vector<std::string>(5, a));
}

TEST_CASE("stored chains keep only the most recent URLs", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(100), {.max_stored_urls = 4, .clock = clock.fn()});
  for (int i = 0; i < 100; ++i) REQUIRE_FALSE(t.on_redirect("k", url(i), url(i + 1)).cut);
  auto d = t.on_redirect("k", url(100), url(101));
  REQUIRE(d.cut);
  CHECK(d.hops == 101);
  CHECK(d.chain == std::vector<std::string>{url(98), url(99), url(100), url(101)});
  CHECK(d.omitted == 98);
  CHECK(d.omitted + d.chain.size() == d.hops + 1);
}

TEST_CASE("the entry cap evicts the least recently recorded", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(5), {.max_entries = 3, .clock = clock.fn()});
  for (int i = 0; i < 3; ++i) {
    t.on_redirect("client" + std::to_string(i), url(0), url(1));
    clock.now += 1s;
  }
  CHECK(t.stats().entries == 3);
  // Re-recording client0's target makes it the most recent.
  t.on_redirect("client0", "http://other.example/", url(1));
  t.on_redirect("client3", url(0), url(1));
  CHECK(t.stats().entries == 3);
  CHECK(t.on_request("client0", url(1)).continues);
  CHECK_FALSE(t.on_request("client1", url(1)).continues);  // evicted
  CHECK(t.on_request("client2", url(1)).continues);
  CHECK(t.on_request("client3", url(1)).continues);
}

TEST_CASE("the byte budget bounds memory", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(5), {.max_bytes = 64 * 1024, .clock = clock.fn()});
  std::string long_path(2000, 'p');
  for (int i = 0; i < 1000; ++i) {
    t.on_redirect("k" + std::to_string(i), "http://example.com/" + long_path,
                  "http://example.com/" + long_path + std::to_string(i));
    REQUIRE(t.stats().bytes <= 64 * 1024);
  }
  auto s = t.stats();
  CHECK(s.entries > 0);
  CHECK(s.entries < 1000);
  // The newest entry survives.
  CHECK(t.on_request("k999", "http://example.com/" + long_path + "999").continues);
  CHECK_FALSE(t.on_request("k0", "http://example.com/" + long_path + "0").continues);
}

TEST_CASE("max_chain = 0 tracks nothing; set_limits applies on reload",
          "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(0), {.clock = clock.fn()});
  for (int i = 0; i < 50; ++i) {
    auto d = t.on_redirect("k", url(i), url(i + 1));
    CHECK_FALSE(d.cut);
    CHECK(d.hops == 0);
  }
  CHECK_FALSE(t.on_request("k", url(1)).continues);
  CHECK(t.stats().redirects_seen == 50);
  CHECK(t.stats().entries == 0);

  t.set_limits(limits(1));
  CHECK_FALSE(t.on_redirect("k", url(0), url(1)).cut);
  CHECK(t.on_redirect("k", url(1), url(2)).cut);
  t.set_limits(limits(0));
  CHECK(t.stats().entries == 0);
}

TEST_CASE("on_final ends a chain only for that client and URL", "[unit][policy][redirect]") {
  FakeClock clock;
  RedirectTracker t(limits(5), {.clock = clock.fn()});
  t.on_redirect("a", url(0), url(1));
  t.on_redirect("b", url(0), url(1));
  t.on_final("a", url(1));
  t.on_final("a", url(7));  // unknown: no-op
  CHECK_FALSE(t.on_request("a", url(1)).continues);
  CHECK(t.on_request("b", url(1)).continues);
}

}  // namespace gatehouse
