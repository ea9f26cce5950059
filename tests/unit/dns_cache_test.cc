// DnsCache with a hand-moved clock, and family interleaving.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "resolver/address_order.h"
#include "resolver/dns_cache.h"

namespace gatehouse {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

sockaddr_storage addr(const std::string& text) {
  sockaddr_storage ss{};
  if (text.find(':') != std::string::npos) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    sin6->sin6_family = AF_INET6;
    REQUIRE(inet_pton(AF_INET6, text.c_str(), &sin6->sin6_addr) == 1);
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, text.c_str(), &sin->sin_addr) == 1);
  }
  return ss;
}

std::vector<std::string> texts(const std::vector<sockaddr_storage>& addrs) {
  std::vector<std::string> out;
  for (const auto& a : addrs) out.push_back(address_to_string(a));
  return out;
}

ResolveResult ok(std::vector<std::string> ips) {
  ResolveResult r;
  r.status = ResolveStatus::kOk;
  for (const auto& ip : ips) r.addresses.push_back(addr(ip));
  return r;
}

ResolveResult failed(ResolveStatus status, std::string rcode) {
  ResolveResult r;
  r.status = status;
  r.rcode = std::move(rcode);
  r.detail = "detail";
  return r;
}

struct FakeClock {
  TimePoint now = TimePoint{} + 1000h;
  DnsCache::Clock fn() {
    return [this] { return now; };
  }
};

}  // namespace

TEST_CASE("dns cache keeps an answer for its TTL", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 5min, 30s, clock.fn());
  REQUIRE(cache.put("example.test", ok({"192.0.2.1"}), 10s));

  clock.now += 9999ms;
  auto hit = cache.get("example.test");
  REQUIRE(hit);
  CHECK(hit->status == ResolveStatus::kOk);
  CHECK(hit->from_cache);
  CHECK(texts(hit->addresses) == std::vector<std::string>{"192.0.2.1"});

  clock.now += 1ms;  // exactly the TTL: expired
  CHECK_FALSE(cache.get("example.test"));
  CHECK(cache.size() == 0);
}

TEST_CASE("dns cache caps the TTL at max_ttl", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 60s, 30s, clock.fn());
  CHECK(cache.lifetime(ResolveStatus::kOk, 86400s) == 60s);
  REQUIRE(cache.put("long.test", ok({"192.0.2.1"}), 86400s));
  clock.now += 59s;
  CHECK(cache.get("long.test"));
  clock.now += 1s;
  CHECK_FALSE(cache.get("long.test"));
}

TEST_CASE("dns cache does not keep TTL 0 or empty answers", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 5min, 30s, clock.fn());
  CHECK_FALSE(cache.put("zero.test", ok({"192.0.2.1"}), 0s));
  CHECK_FALSE(cache.get("zero.test"));
  CHECK_FALSE(cache.put("empty.test", ok({}), 60s));
  CHECK(cache.size() == 0);
}

TEST_CASE("dns cache keeps negative answers for negative_ttl", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 5min, 30s, clock.fn());
  const std::vector<std::pair<ResolveStatus, std::string>> negatives = {
      {ResolveStatus::kNxDomain, "NXDOMAIN"},
      {ResolveStatus::kNoData, "NOERROR"},
      {ResolveStatus::kServFail, "SERVFAIL"},
      {ResolveStatus::kRefused, "REFUSED"},
  };
  for (const auto& [status, rcode] : negatives) {
    std::string name = rcode + ".test";
    // The TTL argument does not matter for negative answers.
    REQUIRE(cache.put(name, failed(status, rcode), 3600s));
  }
  clock.now += 29s;
  for (const auto& [status, rcode] : negatives) {
    auto hit = cache.get(rcode + ".test");
    REQUIRE(hit);
    CHECK(hit->status == status);
    CHECK(hit->rcode == rcode);
    CHECK(hit->detail == "detail");
    CHECK(hit->from_cache);
  }
  clock.now += 1s;
  for (const auto& [status, rcode] : negatives) CHECK_FALSE(cache.get(rcode + ".test"));
}

TEST_CASE("dns cache never keeps timeouts or other errors", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 5min, 30s, clock.fn());
  CHECK_FALSE(cache.put("slow.test", failed(ResolveStatus::kTimeout, ""), 60s));
  CHECK_FALSE(cache.put("broken.test", failed(ResolveStatus::kError, ""), 60s));
  CHECK(cache.size() == 0);

  // ... and such an answer does not wipe a good entry that arrived meanwhile.
  REQUIRE(cache.put("race.test", ok({"192.0.2.7"}), 60s));
  CHECK_FALSE(cache.put("race.test", failed(ResolveStatus::kTimeout, ""), 60s));
  CHECK(cache.get("race.test"));
}

TEST_CASE("dns cache replaces an entry and restarts its lifetime", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 5min, 30s, clock.fn());
  REQUIRE(cache.put("a.test", ok({"192.0.2.1"}), 10s));
  clock.now += 8s;
  REQUIRE(cache.put("a.test", failed(ResolveStatus::kNxDomain, "NXDOMAIN"), 0s));
  CHECK(cache.size() == 1);
  clock.now += 8s;
  auto hit = cache.get("a.test");
  REQUIRE(hit);
  CHECK(hit->status == ResolveStatus::kNxDomain);
}

TEST_CASE("dns cache names are case-insensitive and ignore a trailing dot", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(100, 5min, 30s, clock.fn());
  REQUIRE(cache.put("Example.TEST.", ok({"192.0.2.1"}), 60s));
  CHECK(cache.get("example.test"));
  CHECK(cache.get("EXAMPLE.test."));
  CHECK(DnsCache::normalize("WWW.Example.Org.") == "www.example.org");
  CHECK(cache.size() == 1);
}

TEST_CASE("dns cache evicts the least recently used entry", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(2, 5min, 30s, clock.fn());
  REQUIRE(cache.put("a.test", ok({"192.0.2.1"}), 60s));
  REQUIRE(cache.put("b.test", ok({"192.0.2.2"}), 60s));
  REQUIRE(cache.get("a.test"));  // a is now more recent than b
  REQUIRE(cache.put("c.test", ok({"192.0.2.3"}), 60s));
  CHECK(cache.size() == 2);
  CHECK(cache.get("a.test"));
  CHECK_FALSE(cache.get("b.test"));
  CHECK(cache.get("c.test"));

  // Replacing an entry counts as a use too.
  REQUIRE(cache.put("a.test", ok({"192.0.2.9"}), 60s));
  REQUIRE(cache.put("d.test", ok({"192.0.2.4"}), 60s));
  CHECK_FALSE(cache.get("c.test"));
  auto a = cache.get("a.test");
  REQUIRE(a);
  CHECK(texts(a->addresses) == std::vector<std::string>{"192.0.2.9"});
}

TEST_CASE("dns cache with capacity 0 keeps nothing", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(0, 5min, 30s, clock.fn());
  CHECK_FALSE(cache.put("a.test", ok({"192.0.2.1"}), 60s));
  CHECK_FALSE(cache.get("a.test"));
}

TEST_CASE("dns cache erase and clear", "[unit][dns_cache]") {
  FakeClock clock;
  DnsCache cache(10, 5min, 30s, clock.fn());
  REQUIRE(cache.put("a.test", ok({"192.0.2.1"}), 60s));
  REQUIRE(cache.put("b.test", ok({"192.0.2.2"}), 60s));
  cache.erase("A.test");
  CHECK_FALSE(cache.get("a.test"));
  CHECK(cache.size() == 1);
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK_FALSE(cache.get("b.test"));
}

TEST_CASE("address order alternates families starting with the first", "[unit][dns_cache]") {
  SECTION("IPv6 first") {
    auto out = interleave_families(
        {addr("2001:db8::1"), addr("2001:db8::2"), addr("192.0.2.1"), addr("192.0.2.2")});
    CHECK(texts(out) ==
          std::vector<std::string>{"2001:db8::1", "192.0.2.1", "2001:db8::2", "192.0.2.2"});
  }
  SECTION("IPv4 first, uneven counts keep the rest in order") {
    auto out = interleave_families(
        {addr("192.0.2.1"), addr("192.0.2.2"), addr("192.0.2.3"), addr("2001:db8::1")});
    CHECK(texts(out) ==
          std::vector<std::string>{"192.0.2.1", "2001:db8::1", "192.0.2.2", "192.0.2.3"});
  }
  SECTION("mixed input order, relative order per family kept") {
    auto out = interleave_families({addr("192.0.2.1"), addr("192.0.2.2"), addr("2001:db8::1"),
                                    addr("192.0.2.3"), addr("2001:db8::2")});
    CHECK(texts(out) == std::vector<std::string>{"192.0.2.1", "2001:db8::1", "192.0.2.2",
                                                 "2001:db8::2", "192.0.2.3"});
  }
  SECTION("one family only is unchanged") {
    auto out = interleave_families({addr("2001:db8::2"), addr("2001:db8::1")});
    CHECK(texts(out) == std::vector<std::string>{"2001:db8::2", "2001:db8::1"});
  }
  SECTION("empty and unknown families") {
    CHECK(interleave_families({}).empty());
    sockaddr_storage unix_addr{};
    unix_addr.ss_family = AF_UNIX;
    auto out = interleave_families({unix_addr, addr("192.0.2.1")});
    CHECK(texts(out) == std::vector<std::string>{"192.0.2.1"});
  }
}

}  // namespace gatehouse
