// Cidr: an IPv4 or IPv6 network prefix ("10.0.0.0/8", "::1/128", "192.0.2.1" = /32).
// Plain value type; matching treats IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as IPv4.
//
// parse() accepts an inet_pton() literal (dotted-quad IPv4 or any RFC 4291 IPv6 text,
// no brackets, no zone id) with an optional "/N" (decimal, 0..32 or 0..128). Host bits
// set below the prefix are accepted and cleared: "10.1.2.3/8" parses as 10.0.0.0/8 and
// to_string() prints the normalised form. Matching is symmetric for mapped addresses:
// an IPv4 CIDR matches ::ffff:a.b.c.d, and an IPv6 CIDR such as ::ffff:0:0/96 matches
// plain IPv4 addresses through their mapped form. Other embeddings (NAT64 64:ff9b::/96,
// 6to4, IPv4-compatible ::a.b.c.d) are plain IPv6 here.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

// The IPv4 address inside an IPv6 one, where the kernel or a translator on the path would
// reach that IPv4 address: IPv4-mapped ::ffff:a.b.c.d (Linux dual-stack sockets connect
// these to the IPv4 host), IPv4-compatible ::a.b.c.d (deprecated, excluding :: and ::1),
// NAT64 64:ff9b::a.b.c.d (RFC 6052) and 6to4 2002:AABB:CCDD::/48 (RFC 3056).
std::optional<sockaddr_storage> embedded_ipv4(const sockaddr* addr);
// 0.0.0.0/8 or ::, which connect() takes to mean this host.
bool is_unspecified_address(const sockaddr* addr);

class Cidr {
 public:
  static std::optional<Cidr> parse(std::string_view text);

  bool contains(const sockaddr* addr) const;
  // Parses `ip` as an IPv4 or IPv6 literal (no brackets); false when not an IP.
  bool contains_ip(std::string_view ip) const;

  bool is_v6() const { return v6_; }
  int prefix_len() const { return prefix_; }
  std::string to_string() const;
  bool operator==(const Cidr&) const = default;

 private:
  bool v6_ = false;
  int prefix_ = 0;
  std::array<uint8_t, 16> bytes_{};  // network address, host bits zeroed
};

}  // namespace gatehouse
