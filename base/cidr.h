// Cidr: an IPv4 or IPv6 network prefix ("10.0.0.0/8", "::1/128", "192.0.2.1" = /32).
// Plain value type; matching treats IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) as IPv4.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace gatehouse {

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
