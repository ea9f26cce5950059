#include "resolver/address_order.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>

namespace gatehouse {

std::vector<sockaddr_storage> interleave_families(const std::vector<sockaddr_storage>& addresses) {
  std::vector<const sockaddr_storage*> first;
  std::vector<const sockaddr_storage*> second;
  int first_family = AF_UNSPEC;
  for (const sockaddr_storage& a : addresses) {
    if (a.ss_family != AF_INET && a.ss_family != AF_INET6) continue;
    if (first_family == AF_UNSPEC) first_family = a.ss_family;
    (a.ss_family == first_family ? first : second).push_back(&a);
  }
  std::vector<sockaddr_storage> out;
  out.reserve(first.size() + second.size());
  for (size_t i = 0; i < first.size() || i < second.size(); ++i) {
    if (i < first.size()) out.push_back(*first[i]);
    if (i < second.size()) out.push_back(*second[i]);
  }
  return out;
}

std::string address_to_string(const sockaddr_storage& address) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&address);
    if (inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof buf)) return buf;
  } else if (address.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&address);
    if (inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof buf)) return buf;
  }
  return "";
}

}  // namespace gatehouse
