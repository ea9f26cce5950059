// Fuzzes the configuration loader: parse_config(text, "fuzz.toml", env).
//
// Input: TOML text, optionally followed by a NUL byte and environment overrides, one
// "NAME=VALUE" per line (names not starting with GATEHOUSE_ are ignored by the loader, as
// in a real environment).
//
// Invariants:
//  - never crashes, leaks or hits UB, whatever the bytes;
//  - an error names its source ("fuzz.toml" or the variable), has a non-empty message
//    without control characters (it is printed as one "file:line: message" line), and
//    to_string() is non-empty and starts with the source;
//  - the same input gives the same result (no hidden state between loads, as reload needs);
//  - an accepted Config holds only values its documentation allows (config/config.h and
//    the schema in config/config.cc): every later consumer relies on these.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>

#include "config/config.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using gatehouse::Config;
using gatehouse::ConfigError;
using gatehouse::Duration;
using gatehouse::Environment;

constexpr Duration kMaxDuration = std::chrono::hours(24 * 24);

void check_duration(Duration d, bool allow_zero, const char* name) {
  FUZZ_CHECK(d.count() >= 0 && d <= kMaxDuration, name);
  if (!allow_zero) FUZZ_CHECK(d.count() > 0, name);
}

void check_media_list(const std::vector<std::string>& list) {
  for (const auto& m : list) {
    size_t slash = m.find('/');
    FUZZ_CHECK(slash != std::string::npos, m);
    FUZZ_CHECK(gatehouse::fuzz::is_lower(m), m);
    FUZZ_CHECK(gatehouse::fuzz::is_token(m.substr(0, slash)) && m.substr(0, slash) != "*", m);
    FUZZ_CHECK(gatehouse::fuzz::is_token(m.substr(slash + 1)), m);
  }
}

void check_cidrs(const std::vector<gatehouse::Cidr>& list) {
  for (const auto& c : list) {
    auto again = gatehouse::Cidr::parse(c.to_string());
    FUZZ_CHECK(again && *again == c, c.to_string());
  }
}

void check_host_ports(const std::vector<gatehouse::HostPort>& list) {
  for (const auto& hp : list) {
    FUZZ_CHECK(!hp.host.empty(), hp.to_string());
    if (hp.port == 0) continue;  // listen may use port 0; parse_host_port refuses it
    auto again = gatehouse::parse_host_port(hp.to_string());
    FUZZ_CHECK(again && *again == hp, hp.to_string());
  }
}

void check_config(const Config& c) {
  FUZZ_CHECK(!c.server.listen.empty(), "server.listen is empty");
  for (size_t i = 0; i < c.server.listen.size(); ++i) {
    for (size_t j = i + 1; j < c.server.listen.size(); ++j) {
      FUZZ_CHECK(!(c.server.listen[i] == c.server.listen[j]), c.server.listen[i].to_string());
    }
  }
  check_host_ports(c.server.listen);
  check_host_ports(c.resolver.servers);
  for (const auto& s : c.resolver.servers) FUZZ_CHECK(s.port != 0, s.to_string());
  FUZZ_CHECK(c.server.workers <= 1024, std::to_string(c.server.workers));
  FUZZ_CHECK(gatehouse::fuzz::is_token(c.server.name), c.server.name);
  check_duration(c.server.drain_timeout, true, "server.drain_timeout");
  check_duration(c.timeouts.client_header, false, "timeouts.client_header");
  check_duration(c.timeouts.client_idle, false, "timeouts.client_idle");
  check_duration(c.timeouts.dns, false, "timeouts.dns");
  check_duration(c.timeouts.connect, false, "timeouts.connect");
  check_duration(c.timeouts.response_header, false, "timeouts.response_header");
  check_duration(c.timeouts.idle, false, "timeouts.idle");
  check_duration(c.resolver.max_ttl, true, "resolver.max_ttl");
  check_duration(c.resolver.negative_ttl, true, "resolver.negative_ttl");
  check_duration(c.redirects.remember, false, "redirects.remember");
  FUZZ_CHECK(c.limits.max_connections >= 1, "limits.max_connections");
  FUZZ_CHECK(c.limits.max_uri_bytes >= 1024, "limits.max_uri_bytes");
  FUZZ_CHECK(c.limits.max_header_bytes >= 1024, "limits.max_header_bytes");
  FUZZ_CHECK(!c.access.allow_clients.empty(), "access.allow_clients is empty");
  check_cidrs(c.access.allow_clients);
  check_cidrs(c.access.deny_destination_ips);
  check_cidrs(c.access.allow_metrics);
  for (const auto& p : c.access.connect_ports) {
    // A plain port, or (since connect_ports took ranges) a PortRange lo..hi.
    if constexpr (requires { p.lo; }) {
      FUZZ_CHECK(p.lo != 0 && p.lo <= p.hi, p.to_string());
    } else {
      FUZZ_CHECK(p != 0, "access.connect_ports has 0");
    }
  }
  for (const auto& m : c.access.disabled_methods) {
    FUZZ_CHECK(gatehouse::fuzz::is_token(m), m);
    FUZZ_CHECK(std::none_of(m.begin(), m.end(), [](char ch) { return ch >= 'a' && ch <= 'z'; }), m);
  }
  for (const auto* list : {&c.access.allow_destinations, &c.access.deny_destinations}) {
    for (const auto& d : *list) {
      FUZZ_CHECK(!d.empty() && !gatehouse::fuzz::has_control(d), d);
      // Either a normalised CIDR or a lower-case host name pattern.
      auto cidr = gatehouse::Cidr::parse(d);
      FUZZ_CHECK(cidr ? cidr->to_string() == d : gatehouse::fuzz::is_lower(d), d);
    }
  }
  FUZZ_CHECK(!c.auth.realm.empty() && !gatehouse::fuzz::has_control(c.auth.realm) &&
                 c.auth.realm.find_first_of("\"\\") == std::string::npos,
             c.auth.realm);
  FUZZ_CHECK(!gatehouse::fuzz::has_control(c.auth.htpasswd), c.auth.htpasswd);
  check_media_list(c.mime.deny_responses);
  check_media_list(c.mime.allow_responses);
  check_media_list(c.mime.deny_requests);
  FUZZ_CHECK(!gatehouse::fuzz::has_control(c.errors.templates_dir), c.errors.templates_dir);
  FUZZ_CHECK(!gatehouse::fuzz::has_control(c.errors.contact), c.errors.contact);
  FUZZ_CHECK(!c.log.access.empty() && !gatehouse::fuzz::has_control(c.log.access), c.log.access);
}

void check_error(const ConfigError& e, const Environment& env) {
  bool from_env = e.source != "fuzz.toml";
  if (from_env) FUZZ_CHECK(env.count(e.source) != 0, e.source);
  FUZZ_CHECK(!e.message.empty(), e.to_string());
  // One line, safe on a terminal: values are quoted with \xNN, toml++ escapes what it
  // shows. (The source is the file name given, or the variable's own name.)
  // Known finding 5 (docs/fuzzing.md): toml++'s own descriptions can quote raw bytes
  // ("expected 'true', saw 'tru\x1b'"), and syntax_error() passes them through.
  if (gatehouse::fuzz::strict() || e.message.rfind("invalid TOML: ", 0) != 0) {
    FUZZ_CHECK(!gatehouse::fuzz::has_control(e.message), e.message);
  }
  FUZZ_CHECK(e.line >= 0 && e.column >= 0, e.to_string());
  if (from_env) FUZZ_CHECK(e.line == 0, e.to_string());
  std::string s = e.to_string();
  FUZZ_CHECK(!s.empty(), "empty ConfigError::to_string()");
  FUZZ_CHECK(s.rfind(e.source, 0) == 0, s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t nul = all.find('\0');
  std::string_view text = all.substr(0, nul);
  Environment env;
  if (nul != std::string_view::npos) {
    std::string_view rest = all.substr(nul + 1);
    while (!rest.empty()) {
      size_t nl = rest.find('\n');
      std::string_view line = rest.substr(0, nl);
      rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
      size_t eq = line.find('=');
      if (eq == std::string_view::npos || eq == 0) continue;
      env.emplace(std::string(line.substr(0, eq)), std::string(line.substr(eq + 1)));
    }
  }

  gatehouse::ConfigResult r = gatehouse::parse_config(text, "fuzz.toml", env);
  gatehouse::ConfigResult again = gatehouse::parse_config(text, "fuzz.toml", env);
  FUZZ_CHECK(r.index() == again.index(), "parse_config is not deterministic");
  if (const auto* e = std::get_if<ConfigError>(&r)) {
    check_error(*e, env);
    FUZZ_CHECK(e->to_string() == std::get<ConfigError>(again).to_string(), e->to_string());
  } else {
    const Config& c = std::get<Config>(r);
    check_config(c);
    FUZZ_CHECK(c == std::get<Config>(again), "parse_config is not deterministic");
  }
  return 0;
}
