#include "base/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace gatehouse {
namespace {

// ::ffff:0:0/96, the IPv4-mapped IPv6 prefix (RFC 4291 section 2.5.5.2).
constexpr std::array<uint8_t, 12> kV4MappedPrefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Parses a decimal prefix length: digits only, no sign, no spaces, at most `max`.
std::optional<int> parse_prefix(std::string_view text, int max) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value > max) return std::nullopt;
  return value;
}

// True when the first `prefix` bits of `a` and `b` are equal.
bool prefix_equal(const uint8_t* a, const uint8_t* b, int prefix) {
  int full = prefix / 8;
  if (std::memcmp(a, b, full) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

std::optional<Cidr> Cidr::parse(std::string_view text) {
  std::string_view ip = text;
  std::optional<std::string_view> prefix_text;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    ip = text.substr(0, slash);
    prefix_text = text.substr(slash + 1);
  }
  // inet_pton needs a NUL-terminated string; the longest IPv6 text form is 45 chars.
  if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';

  Cidr cidr;
  if (inet_pton(AF_INET, buf, cidr.bytes_.data()) == 1) {
    cidr.v6_ = false;
  } else if (inet_pton(AF_INET6, buf, cidr.bytes_.data()) == 1) {
    cidr.v6_ = true;
  } else {
    return std::nullopt;
  }
  int max = cidr.v6_ ? 128 : 32;
  cidr.prefix_ = max;
  if (prefix_text) {
    auto prefix = parse_prefix(*prefix_text, max);
    if (!prefix) return std::nullopt;
    cidr.prefix_ = *prefix;
  }
  // Normalise: clear the host bits, so "10.1.2.3/8" is stored (and printed) as 10.0.0.0/8.
  int bytes = max / 8;
  for (int i = 0; i < bytes; ++i) {
    int bit = i * 8;
    if (bit >= cidr.prefix_) {
      cidr.bytes_[i] = 0;
    } else if (cidr.prefix_ - bit < 8) {
      cidr.bytes_[i] &= static_cast<uint8_t>(0xff << (8 - (cidr.prefix_ - bit)));
    }
  }
  return cidr;
}

bool Cidr::contains(const sockaddr* addr) const {
  if (addr == nullptr) return false;
  if (addr->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(addr);
    const auto* b = reinterpret_cast<const uint8_t*>(&in->sin_addr);
    if (!v6_) return prefix_equal(b, bytes_.data(), prefix_);
    // An IPv4 address also matches IPv6 prefixes through its mapped form ::ffff:a.b.c.d.
    std::array<uint8_t, 16> mapped{};
    std::memcpy(mapped.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size());
    std::memcpy(mapped.data() + 12, b, 4);
    return prefix_equal(mapped.data(), bytes_.data(), prefix_);
  }
  if (addr->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(addr);
    const auto* b = reinterpret_cast<const uint8_t*>(&in6->sin6_addr);
    if (v6_) return prefix_equal(b, bytes_.data(), prefix_);
    // An IPv4-mapped IPv6 address (a dual-stack socket's view of an IPv4 peer) is IPv4.
    if (std::memcmp(b, kV4MappedPrefix.data(), kV4MappedPrefix.size()) != 0) return false;
    return prefix_equal(b + 12, bytes_.data(), prefix_);
  }
  return false;
}

bool Cidr::contains_ip(std::string_view ip) const {
  if (ip.empty() || ip.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  std::memcpy(buf, ip.data(), ip.size());
  buf[ip.size()] = '\0';
  sockaddr_storage ss{};
  auto* in = reinterpret_cast<sockaddr_in*>(&ss);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
  } else if (inet_pton(AF_INET6, buf, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
  } else {
    return false;
  }
  return contains(reinterpret_cast<const sockaddr*>(&ss));
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), buf, sizeof buf) == nullptr) return {};
  return std::string(buf) + "/" + std::to_string(prefix_);
}

std::optional<sockaddr_storage> embedded_ipv4(const sockaddr* addr) {
  if (addr->sa_family != AF_INET6) return std::nullopt;
  const auto* a6 = reinterpret_cast<const sockaddr_in6*>(addr);
  const uint8_t* b = a6->sin6_addr.s6_addr;
  const uint8_t* v4 = nullptr;
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static const uint8_t kZero[12] = {};
  if (std::memcmp(b, kMapped, 12) == 0 || std::memcmp(b, kNat64, 12) == 0) {
    v4 = b + 12;
  } else if (std::memcmp(b, kZero, 12) == 0) {
    uint32_t tail =
        (uint32_t{b[12]} << 24) | (uint32_t{b[13]} << 16) | (uint32_t{b[14]} << 8) | b[15];
    if (tail > 1) v4 = b + 12;  // :: and ::1 are IPv6's own
  } else if (b[0] == 0x20 && b[1] == 0x02) {
    v4 = b + 2;
  }
  if (!v4) return std::nullopt;
  sockaddr_storage out{};
  auto* a4 = reinterpret_cast<sockaddr_in*>(&out);
  a4->sin_family = AF_INET;
  a4->sin_port = a6->sin6_port;
  std::memcpy(&a4->sin_addr, v4, 4);
  return out;
}

bool is_unspecified_address(const sockaddr* addr) {
  if (addr->sa_family == AF_INET) {
    const auto* a4 = reinterpret_cast<const sockaddr_in*>(addr);
    return (ntohl(a4->sin_addr.s_addr) >> 24) == 0;
  }
  if (addr->sa_family == AF_INET6) {
    return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr);
  }
  return false;
}

}  // namespace gatehouse
