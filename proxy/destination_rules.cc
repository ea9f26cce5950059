#include "proxy/destination_rules.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <optional>

namespace gatehouse {
namespace {

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// The canonical text of an IP literal host (what inet_ntop prints), or nullopt for a name.
std::optional<std::string> ip_literal(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host.size() >= 64) return std::nullopt;
  char buf[64];
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';

  char text[INET6_ADDRSTRLEN];
  in6_addr a6{};
  if (host.find(':') != std::string_view::npos) {
    // IPv6; a zone id ("fe80::1%eth0", "%25eth0" as in URIs) does not change the address.
    if (char* pct = std::strchr(buf, '%')) *pct = '\0';
    if (inet_pton(AF_INET6, buf, &a6) != 1) return std::nullopt;
    inet_ntop(AF_INET6, &a6, text, sizeof text);
    return std::string(text);
  }
  // IPv4, including the inet_aton forms: 1 to 4 parts, each decimal, octal (leading 0)
  // or hex (0x). Only hand it to inet_aton when it is made of those characters, since
  // glibc's inet_aton ignores anything after a space.
  for (char c : host) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == 'x' || c == 'X' || c == '.';
    if (!ok) return std::nullopt;
  }
  in_addr a4{};
  if (inet_aton(buf, &a4) == 0) return std::nullopt;
  inet_ntop(AF_INET, &a4, text, sizeof text);
  return std::string(text);
}

}  // namespace

void DestinationRules::List::add(std::string_view raw) {
  if (raw.empty()) return;
  if (auto c = Cidr::parse(raw)) {
    cidrs.emplace_back(*c, c->to_string());
    return;
  }
  std::string entry = to_lower(raw);
  if (entry.size() > 1 && entry.back() == '.') entry.pop_back();
  if (entry.starts_with("*.")) {
    std::string suffix = entry.substr(2);
    wildcards.emplace(std::move(suffix), std::move(entry));
  } else {
    names.insert(std::move(entry));
  }
}

const std::string* DestinationRules::List::match(const std::string& name,
                                                 const std::string* ip_text) const {
  if (ip_text != nullptr) {
    for (const auto& [cidr, entry] : cidrs) {
      if (cidr.contains_ip(*ip_text)) return &entry;
    }
    return nullptr;
  }
  if (auto it = names.find(name); it != names.end()) return &*it;
  // Walk the proper suffixes from the longest: "a.b.example.com" tries "b.example.com",
  // "example.com", "com". The bare name itself is never looked up among wildcards.
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    if (dot + 1 >= name.size()) break;
    if (auto it = wildcards.find(name.substr(dot + 1)); it != wildcards.end()) {
      return &it->second;
    }
  }
  return nullptr;
}

DestinationRules DestinationRules::build(const Config::Access& access) {
  return build(access.allow_destinations, access.deny_destinations);
}

DestinationRules DestinationRules::build(const std::vector<std::string>& allow,
                                         const std::vector<std::string>& deny) {
  DestinationRules rules;
  for (const auto& e : allow) rules.allow_.add(e);
  for (const auto& e : deny) rules.deny_.add(e);
  return rules;
}

RuleDecision DestinationRules::check(std::string_view host) const {
  if (empty()) return {true, ""};
  std::string name = to_lower(host);
  if (name.size() > 1 && name.back() == '.') name.pop_back();
  std::optional<std::string> ip = ip_literal(name);
  const std::string* ip_text = ip ? &*ip : nullptr;

  if (const std::string* entry = deny_.match(name, ip_text)) {
    return {false, "deny_destinations entry " + quoted(*entry)};
  }
  if (allow_.empty()) return {true, ""};
  if (const std::string* entry = allow_.match(name, ip_text)) {
    return {true, "allow_destinations entry " + quoted(*entry)};
  }
  return {false, "not in allow_destinations"};
}

}  // namespace gatehouse
