// Address ordering for connection attempts (RFC 8305 section 4, "Happy Eyeballs").
//
// The resolver asks c-ares to sort the answer by RFC 6724 destination address selection
// (usable, matching-scope, preferred-family addresses first), then interleaves the
// families here so that a connector that starts the next attempt after a short delay
// alternates between IPv6 and IPv4 instead of exhausting one family first.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

namespace gatehouse {

// Reorders `addresses` so that families alternate: the family of the first address, then
// the other family, then the first again, ...; once one family runs out the rest of the
// other follows. The relative order within each family is kept. Entries of any family
// other than AF_INET/AF_INET6 are dropped.
std::vector<sockaddr_storage> interleave_families(const std::vector<sockaddr_storage>& addresses);

// "192.0.2.1" or "2001:db8::1" (no brackets, no port); "" for other families.
std::string address_to_string(const sockaddr_storage& address);

}  // namespace gatehouse
