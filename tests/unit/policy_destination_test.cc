// Destination rules: exact names, "*.suffix" wildcards (subdomains only), CIDRs against
// IP-literal targets (IPv4, IPv6, v4-mapped, legacy inet_aton forms), case, trailing
// dots, allow/deny precedence and the rule named in each decision.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/config.h"
#include "proxy/destination_rules.h"

namespace gatehouse {
namespace {

DestinationRules rules(std::vector<std::string> allow, std::vector<std::string> deny) {
  return DestinationRules::build(allow, deny);
}

bool allowed(const DestinationRules& r, std::string_view host) {
  INFO("host: " << host);
  return r.check(host).allowed;
}

}  // namespace

TEST_CASE("no lists allow everything", "[unit][policy][destination]") {
  auto r = rules({}, {});
  CHECK(r.empty());
  for (const char* host : {"example.com", "10.0.0.1", "::1", "", "localhost"}) {
    auto d = r.check(host);
    CHECK(d.allowed);
    CHECK(d.rule.empty());
  }
}

TEST_CASE("a wildcard matches subdomains but not the bare suffix", "[unit][policy][destination]") {
  auto r = rules({}, {"*.example.com"});
  CHECK_FALSE(allowed(r, "www.example.com"));
  CHECK_FALSE(allowed(r, "a.b.c.example.com"));
  CHECK(allowed(r, "example.com"));
  CHECK(allowed(r, "badexample.com"));    // not a label boundary
  CHECK(allowed(r, "example.com.evil"));  // suffix must be at the end
  CHECK(allowed(r, "wwwexample.com"));
  CHECK(allowed(r, ".example.com.x"));
  auto d = r.check("www.example.com");
  CHECK(d.rule == "deny_destinations entry \"*.example.com\"");
}

TEST_CASE("an exact name matches only itself", "[unit][policy][destination]") {
  auto r = rules({}, {"example.com"});
  CHECK_FALSE(allowed(r, "example.com"));
  CHECK(allowed(r, "www.example.com"));
  CHECK(allowed(r, "example.co"));
  CHECK(allowed(r, "xexample.com"));
  CHECK(r.check("example.com").rule == "deny_destinations entry \"example.com\"");
}

TEST_CASE("names match case-insensitively, trailing dot ignored", "[unit][policy][destination]") {
  auto r = rules({}, {"example.com", "*.example.org"});
  for (const char* host :
       {"EXAMPLE.COM", "Example.Com.", "example.com.", "WWW.Example.ORG", "www.example.org."}) {
    CHECK_FALSE(allowed(r, host));
  }
  CHECK(allowed(r, "example.org."));  // bare suffix, even with the dot
  CHECK(allowed(r, "example.com.."));
  // Unnormalised entries (as a caller other than the config loader might pass) work too.
  auto raw = rules({}, {"Example.NET.", "*.Example.Edu"});
  CHECK_FALSE(allowed(raw, "example.net"));
  CHECK_FALSE(allowed(raw, "a.example.edu"));
  CHECK(raw.check("example.net").rule == "deny_destinations entry \"example.net\"");
}

TEST_CASE("the most specific wildcard is reported", "[unit][policy][destination]") {
  auto r = rules({}, {"*.com", "*.example.com"});
  CHECK(r.check("a.example.com").rule == "deny_destinations entry \"*.example.com\"");
  CHECK(r.check("a.other.com").rule == "deny_destinations entry \"*.com\"");
  CHECK(r.check("example.com").rule == "deny_destinations entry \"*.com\"");
  CHECK(allowed(r, "com"));
}

TEST_CASE("IPv4 CIDRs match IPv4 literal targets", "[unit][policy][destination]") {
  auto r = rules({}, {"10.0.0.0/8", "192.0.2.7"});
  CHECK_FALSE(allowed(r, "10.0.0.1"));
  CHECK_FALSE(allowed(r, "10.255.255.255"));
  CHECK(allowed(r, "11.0.0.0"));
  CHECK(allowed(r, "9.255.255.255"));
  CHECK_FALSE(allowed(r, "192.0.2.7"));
  CHECK(allowed(r, "192.0.2.8"));
  CHECK(r.check("10.1.2.3").rule == "deny_destinations entry \"10.0.0.0/8\"");
  CHECK(r.check("192.0.2.7").rule ==
        "deny_destinations entry \"" + Cidr::parse("192.0.2.7")->to_string() + "\"");
  CHECK_FALSE(allowed(r, "10.0.0.1."));  // trailing dot on a literal
}

TEST_CASE("legacy IPv4 spellings cannot slip past a CIDR", "[unit][policy][destination]") {
  auto r = rules({}, {"10.0.0.0/8", "127.0.0.0/8"});
  for (const char* host : {"10.1", "167772161", "0xa000001", "012.0.0.1", "0x0a.0.0.1", "127.1",
                           "0177.0.0.1", "2130706433", "0x7f000001", "0X7F.1"}) {
    CHECK_FALSE(allowed(r, host));
  }
  CHECK(allowed(r, "11.1"));
  CHECK(allowed(r, "1.2.3.4.5"));  // not an address at all: a (strange) name
  CHECK(allowed(r, "0x"));
}

TEST_CASE("IPv6 CIDRs match IPv6 literal targets", "[unit][policy][destination]") {
  auto r = rules({}, {"2001:db8::/32", "fe80::/10", "::1/128"});
  CHECK_FALSE(allowed(r, "2001:db8::1"));
  CHECK_FALSE(allowed(r, "[2001:db8::1]"));
  CHECK_FALSE(allowed(r, "2001:DB8:0:0:0:0:0:1"));
  CHECK_FALSE(allowed(r, "2001:0db8:ffff::"));
  CHECK(allowed(r, "2001:db9::1"));
  CHECK_FALSE(allowed(r, "::1"));
  CHECK_FALSE(allowed(r, "[::1]"));
  CHECK_FALSE(allowed(r, "0:0:0:0:0:0:0:1"));
  CHECK(allowed(r, "::2"));
  // A zone id does not change the address.
  CHECK_FALSE(allowed(r, "fe80::1%eth0"));
  CHECK_FALSE(allowed(r, "[fe80::1%25eth0]"));
  CHECK(r.check("[2001:db8::1]").rule == "deny_destinations entry \"2001:db8::/32\"");
  // An IPv6 CIDR never matches an IPv4 target outside ::ffff:0:0/96.
  CHECK(allowed(r, "10.0.0.1"));
}

TEST_CASE("v4-mapped IPv6 targets match IPv4 CIDRs", "[unit][policy][destination]") {
  auto r = rules({}, {"169.254.0.0/16"});
  CHECK_FALSE(allowed(r, "::ffff:169.254.169.254"));
  CHECK_FALSE(allowed(r, "[::ffff:169.254.169.254]"));
  CHECK_FALSE(allowed(r, "::FFFF:a9fe:a9fe"));
  CHECK(allowed(r, "::ffff:169.255.0.1"));
  // NAT64 and IPv4-compatible forms are plain IPv6 (documented).
  CHECK(allowed(r, "64:ff9b::a9fe:a9fe"));
  // The reverse: an IPv6 mapped-prefix CIDR matches IPv4 literals.
  auto mapped = rules({}, {"::ffff:0:0/96"});
  CHECK_FALSE(allowed(mapped, "8.8.8.8"));
  CHECK(allowed(mapped, "2001:db8::1"));
}

TEST_CASE("names never match CIDRs and literals never match names", "[unit][policy][destination]") {
  auto r = rules({}, {"10.0.0.0/8", "*.0.0.1", "1.2.3.4.example"});
  CHECK(allowed(r, "ten.example"));
  CHECK(allowed(r, "10.0.0.1.nip.io"));  // a name that embeds an address
  CHECK_FALSE(allowed(r, "10.0.0.1"));   // by the CIDR only
  CHECK(r.check("10.0.0.1").rule == "deny_destinations entry \"10.0.0.0/8\"");
  CHECK(allowed(r, "127.0.0.1"));      // "*.0.0.1" is a name pattern
  CHECK_FALSE(allowed(r, "x.0.0.1"));  // ... which matches names
}

TEST_CASE("a non-empty allow list denies everything else", "[unit][policy][destination]") {
  auto r = rules({"example.com", "*.example.com", "192.0.2.0/24"}, {});
  auto ok = r.check("example.com");
  CHECK(ok.allowed);
  CHECK(ok.rule == "allow_destinations entry \"example.com\"");
  auto sub = r.check("API.Example.com.");
  CHECK(sub.allowed);
  CHECK(sub.rule == "allow_destinations entry \"*.example.com\"");
  CHECK(r.check("192.0.2.200").allowed);
  auto no = r.check("example.net");
  CHECK_FALSE(no.allowed);
  CHECK(no.rule == "not in allow_destinations");
  CHECK_FALSE(r.check("198.51.100.1").allowed);
  CHECK_FALSE(r.check("").allowed);
  CHECK_FALSE(r.check("notexample.com").allowed);
}

TEST_CASE("deny wins over allow", "[unit][policy][destination]") {
  auto r = rules({"*.example.com"}, {"secret.example.com"});
  CHECK(r.check("www.example.com").allowed);
  auto d = r.check("secret.example.com");
  CHECK_FALSE(d.allowed);
  CHECK(d.rule == "deny_destinations entry \"secret.example.com\"");
  CHECK(r.check("a.secret.example.com").allowed);  // exact entry: not its subdomains
}

TEST_CASE("rules build from a loaded Config", "[unit][policy][destination]") {
  auto parsed = parse_config(R"([access]
allow_destinations = ["*.Example.COM.", "10.1.2.3/8"]
deny_destinations = ["bad.example.com"]
)",
                             "t.toml");
  REQUIRE(std::holds_alternative<Config>(parsed));
  auto r = DestinationRules::build(std::get<Config>(parsed).access);
  CHECK(r.check("www.example.com").allowed);
  CHECK_FALSE(r.check("example.com").allowed);
  CHECK(r.check("10.200.0.1").allowed);
  CHECK(r.check("10.200.0.1").rule == "allow_destinations entry \"10.0.0.0/8\"");
  CHECK_FALSE(r.check("bad.example.com").allowed);
  CHECK(DestinationRules::build(Config{}.access).empty());
}

}  // namespace gatehouse
