// DestinationRules: access.allow_destinations / access.deny_destinations, applied to the
// host of a request target before any DNS lookup (the resolved addresses are checked
// separately against access.deny_destination_ips).
//
// Immutable after build(); check() is const and touches no shared state, so one
// instance may be shared by every worker thread (build it next to the Config and swap
// it with the Config on reload).
//
// Entries come from the config loader already normalised: lower-cased names without a
// trailing dot, "*.suffix" wildcards, CIDRs in Cidr::to_string() form. build() accepts
// unnormalised text too (it applies the same normalisation) and ignores empty entries.
//
// Matching (docs/configuration.md, "Destination patterns"):
//  - "example.com" matches that name only;
//  - "*.example.com" matches names below it ("a.example.com", "a.b.example.com") but
//    NOT "example.com" itself;
//  - a CIDR matches a target that is an IP literal inside it: IPv4, IPv6 ("[::1]" with
//    or without brackets, a zone id "%eth0" ignored), IPv4-mapped IPv6 against IPv4
//    CIDRs (and the reverse, as Cidr does), and the legacy IPv4 forms that inet_aton(3)
//    and so many resolvers accept ("127.1", "0x7f000001", "2130706433", "0177.0.0.1") —
//    so "10.1" cannot slip past a "10.0.0.0/8" rule. Names never match CIDRs and IP
//    literals never match name patterns.
//  - the queried host is compared case-insensitively and a trailing dot is ignored.
// Decision: denied if any deny entry matches; otherwise, when the allow list is not
// empty, denied unless an allow entry matches; otherwise allowed.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "base/cidr.h"
#include "config/config.h"

namespace gatehouse {

struct RuleDecision {
  bool allowed = true;
  // Which rule decided, for logs and the 403 body:
  //   denied:  deny_destinations entry "*.example.com"  |  not in allow_destinations
  //   allowed: allow_destinations entry "example.com"   |  "" (no lists configured)
  std::string rule;
};

class DestinationRules {
 public:
  static DestinationRules build(const Config::Access& access);
  static DestinationRules build(const std::vector<std::string>& allow,
                                const std::vector<std::string>& deny);

  // `host` as in the request target: a name, an IPv4 literal, or an IPv6 literal with
  // or without brackets. No port.
  RuleDecision check(std::string_view host) const;

  bool empty() const { return allow_.empty() && deny_.empty(); }

 private:
  struct List {
    std::unordered_set<std::string> names;                   // exact names
    std::unordered_map<std::string, std::string> wildcards;  // "example.com" -> entry
    std::vector<std::pair<Cidr, std::string>> cidrs;         // cidr, entry as written
    bool empty() const { return names.empty() && wildcards.empty() && cidrs.empty(); }
    void add(std::string_view entry);
    // The matching entry, or nullptr. `ip_text` is set when the host is an IP literal.
    const std::string* match(const std::string& name, const std::string* ip_text) const;
  };

  List allow_;
  List deny_;
};

}  // namespace gatehouse
