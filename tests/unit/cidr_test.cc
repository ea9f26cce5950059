// Cidr parsing and matching: IPv4, IPv6, IPv4-mapped IPv6, prefix edges.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "base/cidr.h"

namespace gatehouse {
namespace {

Cidr cidr(const char* text) {
  auto c = Cidr::parse(text);
  INFO("parsing " << text);
  REQUIRE(c.has_value());
  return *c;
}

sockaddr_in v4(const char* ip) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(80);
  REQUIRE(inet_pton(AF_INET, ip, &sa.sin_addr) == 1);
  return sa;
}

sockaddr_in6 v6(const char* ip) {
  sockaddr_in6 sa{};
  sa.sin6_family = AF_INET6;
  sa.sin6_port = htons(80);
  REQUIRE(inet_pton(AF_INET6, ip, &sa.sin6_addr) == 1);
  return sa;
}

bool contains(const Cidr& c, const sockaddr_in& sa) {
  return c.contains(reinterpret_cast<const sockaddr*>(&sa));
}
bool contains(const Cidr& c, const sockaddr_in6& sa) {
  return c.contains(reinterpret_cast<const sockaddr*>(&sa));
}

}  // namespace

TEST_CASE("Cidr parses prefixes and bare addresses", "[unit][cidr]") {
  auto a = cidr("10.0.0.0/8");
  CHECK_FALSE(a.is_v6());
  CHECK(a.prefix_len() == 8);
  CHECK(a.to_string() == "10.0.0.0/8");

  auto b = cidr("::1/128");
  CHECK(b.is_v6());
  CHECK(b.prefix_len() == 128);
  CHECK(b.to_string() == "::1/128");

  auto c = cidr("fc00::/7");
  CHECK(c.is_v6());
  CHECK(c.prefix_len() == 7);
  CHECK(c.to_string() == "fc00::/7");

  CHECK(cidr("192.0.2.1").prefix_len() == 32);
  CHECK(cidr("192.0.2.1").to_string() == "192.0.2.1/32");
  CHECK(cidr("2001:db8::1").prefix_len() == 128);
  CHECK(cidr("0.0.0.0/0").prefix_len() == 0);
  CHECK(cidr("::/0").to_string() == "::/0");
}

TEST_CASE("Cidr normalises host bits below the prefix", "[unit][cidr]") {
  CHECK(cidr("10.1.2.3/8") == cidr("10.0.0.0/8"));
  CHECK(cidr("10.1.2.3/8").to_string() == "10.0.0.0/8");
  CHECK(cidr("192.168.1.77/20").to_string() == "192.168.0.0/20");
  CHECK(cidr("fdff:1::1/7").to_string() == "fc00::/7");
  CHECK(cidr("1.2.3.4/0").to_string() == "0.0.0.0/0");
  CHECK_FALSE(cidr("10.0.0.0/8") == cidr("10.0.0.0/9"));
  CHECK_FALSE(cidr("10.0.0.0/8") == cidr("::a00:0/8"));
}

TEST_CASE("Cidr rejects malformed text", "[unit][cidr]") {
  for (const char* bad : {"",
                          "/8",
                          "10.0.0.0/",
                          "10.0.0.0/33",
                          "::/129",
                          "10.0.0.0/-1",
                          "10.0.0.0/+8",
                          "10.0.0.0/8/9",
                          "10.0.0.0/ 8",
                          " 10.0.0.0/8",
                          "10.0.0/8",
                          "10.0.0.256",
                          "010.0.0.1",
                          "[::1]/128",
                          "::1%lo/128",
                          "fe80::1%eth0",
                          "example.com",
                          "10.0.0.0/1000",
                          "1.2.3.4/8x",
                          "gggg::/16",
                          "1:2:3:4:5:6:7:8:9"}) {
    INFO("text '" << bad << "'");
    CHECK_FALSE(Cidr::parse(bad).has_value());
  }
}

TEST_CASE("Cidr matches IPv4 addresses", "[unit][cidr]") {
  auto ten = cidr("10.0.0.0/8");
  CHECK(contains(ten, v4("10.0.0.0")));
  CHECK(contains(ten, v4("10.255.255.255")));
  CHECK_FALSE(contains(ten, v4("11.0.0.0")));
  CHECK_FALSE(contains(ten, v4("9.255.255.255")));

  auto rfc1918 = cidr("172.16.0.0/12");
  CHECK(contains(rfc1918, v4("172.16.0.1")));
  CHECK(contains(rfc1918, v4("172.31.255.255")));
  CHECK_FALSE(contains(rfc1918, v4("172.32.0.0")));
  CHECK_FALSE(contains(rfc1918, v4("172.15.255.255")));

  auto host = cidr("192.0.2.7/32");
  CHECK(contains(host, v4("192.0.2.7")));
  CHECK_FALSE(contains(host, v4("192.0.2.6")));
  CHECK_FALSE(contains(host, v4("192.0.2.8")));

  auto all = cidr("0.0.0.0/0");
  CHECK(contains(all, v4("0.0.0.0")));
  CHECK(contains(all, v4("255.255.255.255")));
  CHECK_FALSE(contains(all, v6("2001:db8::1")));  // a v4 prefix never matches real IPv6

  auto odd = cidr("169.254.0.0/16");
  CHECK(odd.contains_ip("169.254.169.254"));
  CHECK_FALSE(odd.contains_ip("169.255.0.1"));
}

TEST_CASE("Cidr matches IPv6 addresses", "[unit][cidr]") {
  auto ula = cidr("fc00::/7");
  CHECK(contains(ula, v6("fc00::")));
  CHECK(contains(ula, v6("fd12:3456::1")));
  CHECK(contains(ula, v6("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
  CHECK_FALSE(contains(ula, v6("fe00::")));
  CHECK_FALSE(contains(ula, v6("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));

  auto lo = cidr("::1/128");
  CHECK(contains(lo, v6("::1")));
  CHECK_FALSE(contains(lo, v6("::2")));
  CHECK_FALSE(contains(lo, v6("::")));
  CHECK_FALSE(contains(lo, v4("127.0.0.1")));  // ::1 is not 127.0.0.1

  auto ll = cidr("fe80::/10");
  CHECK(contains(ll, v6("fe80::1")));
  CHECK(contains(ll, v6("febf:ffff::1")));
  CHECK_FALSE(contains(ll, v6("fec0::1")));

  auto all = cidr("::/0");
  CHECK(contains(all, v6("2001:db8::1")));
  CHECK(contains(all, v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));

  auto doc = cidr("2001:db8::/32");
  CHECK(doc.contains_ip("2001:db8:ffff::1"));
  CHECK_FALSE(doc.contains_ip("2001:db9::1"));
}

TEST_CASE("Cidr treats IPv4-mapped IPv6 addresses as IPv4", "[unit][cidr]") {
  auto loopback = cidr("127.0.0.0/8");
  CHECK(contains(loopback, v6("::ffff:127.0.0.1")));
  CHECK(contains(loopback, v6("::ffff:7f12:3456")));
  CHECK_FALSE(contains(loopback, v6("::ffff:128.0.0.1")));
  CHECK(loopback.contains_ip("::ffff:127.1.2.3"));
  // Only the ::ffff:0:0/96 form is IPv4; IPv4-compatible and NAT64 forms are IPv6.
  CHECK_FALSE(contains(loopback, v6("::127.0.0.1")));
  CHECK_FALSE(contains(loopback, v6("64:ff9b::127.0.0.1")));

  auto metadata = cidr("169.254.169.254/32");
  CHECK(contains(metadata, v6("::ffff:169.254.169.254")));
  CHECK_FALSE(contains(metadata, v6("::ffff:169.254.169.253")));

  // And the other way: a mapped IPv6 prefix matches plain IPv4 addresses.
  auto mapped = cidr("::ffff:0:0/96");
  CHECK(contains(mapped, v4("8.8.8.8")));
  CHECK_FALSE(contains(mapped, v6("::8.8.8.8")));
  auto mapped_net = cidr("::ffff:10.0.0.0/104");
  CHECK(contains(mapped_net, v4("10.20.30.40")));
  CHECK_FALSE(contains(mapped_net, v4("11.0.0.1")));
  CHECK(cidr("::/0").contains_ip("10.0.0.1"));
}

TEST_CASE("Cidr rejects non-IP input to contains", "[unit][cidr]") {
  auto all = cidr("0.0.0.0/0");
  CHECK_FALSE(all.contains(nullptr));
  CHECK_FALSE(all.contains_ip(""));
  CHECK_FALSE(all.contains_ip("localhost"));
  CHECK_FALSE(all.contains_ip("[::1]"));
  CHECK_FALSE(all.contains_ip("1.2.3.4:80"));
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  CHECK_FALSE(all.contains(reinterpret_cast<const sockaddr*>(&un)));
}

}  // namespace gatehouse
