// Config loading: TOML text (toml++) and GATEHOUSE_<SECTION>_<KEY> environment overrides
// turned into a validated Config. One schema table lists every section and key; the TOML
// walker and the environment reader both go through it, so a value is checked the same
// way whichever way it arrives. Nothing here throws past the public functions.
#include "config/config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <tuple>
#include <utility>

namespace gatehouse {
namespace {

constexpr std::string_view kEnvPrefix = "GATEHOUSE_";
constexpr size_t kMaxConfigFileBytes = 16 * 1024 * 1024;
constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
// Longest duration a key accepts: 24 days still fits a signed 32-bit millisecond count
// (c-ares and poll() take int milliseconds), and adding it to a steady_clock time point
// in nanoseconds cannot overflow.
constexpr Duration kMaxDuration = std::chrono::hours(24 * 24);

// ---------------------------------------------------------------------------------------
// Small text helpers.

bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 section 5.6.2: token = 1*tchar.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// 'value' for messages, with control bytes shown as \xNN so they cannot corrupt a log line.
std::string quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

bool parse_ip(std::string_view text, int family, void* out) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof buf) return false;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return inet_pton(family, buf, out) == 1;
}

bool is_ipv4_literal(std::string_view text) {
  in_addr a;
  return parse_ip(text, AF_INET, &a);
}

bool is_ipv6_literal(std::string_view text) {
  in6_addr a;
  return parse_ip(text, AF_INET6, &a);
}

// A DNS host name (RFC 1123 labels, '_' tolerated as real zones contain it). The last
// label must not be all digits, so a mistyped IPv4 address ("10.0.0") is not a name.
bool is_host_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  std::string_view last;
  while (true) {
    size_t dot = name.find('.', start);
    std::string_view label = name.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_';
      if (!ok) return false;
    }
    last = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return !std::all_of(last.begin(), last.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Why a value was refused: the text that follows "path: " in the message.
struct Reason {
  std::string text;
};

// ---------------------------------------------------------------------------------------
// host:port with a reason on failure.

std::variant<HostPort, Reason> split_host_port(std::string_view text, uint16_t default_port,
                                               bool allow_port_zero) {
  if (text.empty()) return Reason{std::string("the address is empty")};
  HostPort hp;
  std::optional<std::string_view> port_text;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos)
      return Reason{std::string("missing ']' after the IPv6 address")};
    std::string_view host = text.substr(1, close - 1);
    if (!is_ipv6_literal(host)) {
      return Reason{quote(host) + " inside brackets is not an IPv6 address"};
    }
    hp.host = std::string(host);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return Reason{std::string("expected ':' and a port after ']'")};
      port_text = rest.substr(1);
    }
  } else {
    size_t colons = std::count(text.begin(), text.end(), ':');
    if (colons > 1) {
      // Unbracketed IPv6: only a bare address (with a default port) is unambiguous.
      if (is_ipv6_literal(text) && default_port != 0) {
        hp.host = std::string(text);
        hp.port = default_port;
        return hp;
      }
      size_t last = text.rfind(':');
      std::string_view head = text.substr(0, last);
      std::string_view tail = text.substr(last + 1);
      bool tail_is_port =
          !tail.empty() && tail.size() <= 5 &&
          std::all_of(tail.begin(), tail.end(), [](char c) { return c >= '0' && c <= '9'; });
      if (tail_is_port && is_ipv6_literal(head)) {
        return Reason{"an IPv6 address with a port needs brackets: write '[" + std::string(head) +
                      "]:" + std::string(tail) + "'"};
      }
      if (is_ipv6_literal(text)) {
        return Reason{
            "the port is missing; an IPv6 address with a port is written in brackets, "
            "e.g. '[" +
            std::string(text) + "]:3128'"};
      }
      return Reason{std::string("not a valid host:port or IPv6 address")};
    }
    std::string_view host = text;
    if (colons == 1) {
      size_t colon = text.find(':');
      host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
    }
    if (host.empty()) return Reason{std::string("the host is missing")};
    bool numeric = std::all_of(host.begin(), host.end(),
                               [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (numeric ? !is_ipv4_literal(host) : !is_host_name(host)) {
      return Reason{quote(host) + " is not a valid IP address or host name"};
    }
    hp.host = std::string(host);
  }
  if (!port_text) {
    if (default_port == 0) return Reason{std::string("the port is missing (e.g. ':3128')")};
    hp.port = default_port;
    return hp;
  }
  std::string_view range = allow_port_zero ? "0..65535" : "1..65535";
  if (port_text->empty()) return Reason{std::string("the port is missing after ':'")};
  if (!std::all_of(port_text->begin(), port_text->end(),
                   [](char c) { return c >= '0' && c <= '9'; }) ||
      port_text->size() > 10) {
    return Reason{"port " + quote(*port_text) + " is not a number"};
  }
  uint64_t port = 0;
  for (char c : *port_text) port = port * 10 + static_cast<uint64_t>(c - '0');
  if (port > 65535 || (port == 0 && !allow_port_zero)) {
    return Reason{"port " + std::to_string(port) + " is out of range (" + std::string(range) + ")"};
  }
  hp.port = static_cast<uint16_t>(port);
  return hp;
}

// ---------------------------------------------------------------------------------------
// Schema: how each key is read and checked.

// One problem found while reading; line/column 0 when the value has no position (env).
struct Failure {
  std::string message;
  int line = 0;
  int column = 0;
};
using Status = std::optional<Failure>;

Failure failure_at(const toml::source_region& where, std::string message) {
  return {std::move(message), static_cast<int>(where.begin.line),
          static_cast<int>(where.begin.column)};
}

Failure failure_at(const toml::node& node, std::string message) {
  return failure_at(node.source(), std::move(message));
}

std::string_view type_phrase(toml::node_type t) {
  switch (t) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a floating-point number";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown type";
}

Failure type_error(const toml::node& node, const std::string& path, std::string_view expected) {
  return failure_at(node, path + ": expected " + std::string(expected) + ", got " +
                              std::string(type_phrase(node.type())));
}

std::string range_message(int64_t v, int64_t min, int64_t max) {
  std::string got = " (got " + std::to_string(v) + ")";
  if (v < 0 && min >= 0) return "must not be negative" + got;
  if (max == kNoMax) return "must be at least " + std::to_string(min) + got;
  return "must be between " + std::to_string(min) + " and " + std::to_string(max) + got;
}

// What shape an environment value is split into before the key's own check runs.
enum class EnvShape { kString, kInteger, kBoolean, kStringList };

using Apply = std::function<Status(Config&, const toml::node&, const std::string& path)>;

struct KeyDef {
  std::string_view name;
  EnvShape shape;
  Apply apply;
};

struct SectionDef {
  std::string_view name;
  std::vector<KeyDef> keys;
};

// A converter turns one string into a value, or returns the reason it cannot
// (a message that follows "path: ").
template <class T>
using Convert = std::function<std::variant<T, Reason>(std::string_view)>;

template <class S>
Apply bool_key(S Config::*section, bool S::*field) {
  return [=](Config& c, const toml::node& n, const std::string& path) -> Status {
    const auto* v = n.as_boolean();
    if (v == nullptr) return type_error(n, path, "a boolean (true or false)");
    c.*section.*field = v->get();
    return std::nullopt;
  };
}

template <class S, class T>
Apply integer_key(S Config::*section, T S::*field, int64_t min, int64_t max) {
  return [=](Config& c, const toml::node& n, const std::string& path) -> Status {
    const auto* v = n.as_integer();
    if (v == nullptr) return type_error(n, path, "an integer");
    int64_t value = v->get();
    if (value < min || value > max) {
      return failure_at(n, path + ": " + range_message(value, min, max));
    }
    c.*section.*field = static_cast<T>(value);
    return std::nullopt;
  };
}

template <class S>
Apply duration_key(S Config::*section, Duration S::*field, bool allow_zero) {
  return [=](Config& c, const toml::node& n, const std::string& path) -> Status {
    const auto* v = n.as_string();
    if (v == nullptr) return type_error(n, path, "a duration string such as \"30s\"");
    auto d = parse_duration(v->get());
    if (!d) {
      return failure_at(n, path + ": invalid duration " + quote(v->get()) +
                               R"( (use e.g. "250ms", "30s", "5m"))");
    }
    if (d->count() == 0 && !allow_zero) {
      return failure_at(n, path + ": must be longer than zero (got " + quote(v->get()) + ")");
    }
    if (*d > kMaxDuration) {
      return failure_at(n, path + ": must not exceed 576h, 24 days (got " + quote(v->get()) + ")");
    }
    c.*section.*field = *d;
    return std::nullopt;
  };
}

template <class S, class T>
Apply string_key(S Config::*section, T S::*field, Convert<T> convert) {
  return [=](Config& c, const toml::node& n, const std::string& path) -> Status {
    const auto* v = n.as_string();
    if (v == nullptr) return type_error(n, path, "a string");
    auto result = convert(v->get());
    if (auto* err = std::get_if<Reason>(&result)) return failure_at(n, path + ": " + err->text);
    c.*section.*field = std::get<T>(std::move(result));
    return std::nullopt;
  };
}

struct ListRules {
  std::string_view empty_error;  // non-empty: an empty list is an error with this reason
  bool unique = false;           // duplicates are an error
};

template <class S, class T>
Apply string_list_key(S Config::*section, std::vector<T> S::*field, Convert<T> convert,
                      ListRules rules = {}) {
  return [=](Config& c, const toml::node& n, const std::string& path) -> Status {
    const auto* arr = n.as_array();
    if (arr == nullptr) return type_error(n, path, "an array of strings");
    if (arr->empty() && !rules.empty_error.empty()) {
      return failure_at(n, path + ": " + std::string(rules.empty_error));
    }
    std::vector<T> values;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      std::string epath = path + "[" + std::to_string(i) + "]";
      const auto* s = e.as_string();
      if (s == nullptr) return type_error(e, epath, "a string");
      auto result = convert(s->get());
      if (auto* err = std::get_if<Reason>(&result)) return failure_at(e, epath + ": " + err->text);
      T value = std::get<T>(std::move(result));
      if (rules.unique && std::find(values.begin(), values.end(), value) != values.end()) {
        return failure_at(e, epath + ": " + quote(s->get()) + " is listed twice");
      }
      values.push_back(std::move(value));
    }
    c.*section.*field = std::move(values);
    return std::nullopt;
  };
}

// A port list: each element is a TOML integer (443) or a string holding one port ("443")
// or an inclusive range ("8000-9000"). An unquoted 8000-9000 never gets here: TOML reads
// it as a date and fails, which syntax_error() explains.
constexpr std::string_view kPortForms =
    R"(a port such as 443 or "443", or an inclusive range such as "8000-9000")";

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal digits -> a port, or nullopt when outside 1..65535 (any number of digits).
std::optional<uint16_t> port_number(std::string_view digits) {
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  if (digits.size() > 5) return std::nullopt;
  uint32_t v = 0;
  for (char c : digits) v = v * 10 + static_cast<uint32_t>(c - '0');
  if (v < 1 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::variant<PortRange, Reason> port_range(std::string_view text) {
  size_t dash = text.find('-');
  std::string_view first = text.substr(0, dash);
  std::string_view last = dash == std::string_view::npos ? first : text.substr(dash + 1);
  if (!all_digits(first) || !all_digits(last)) {
    return Reason{"invalid port or port range " + quote(text) + " (use " + std::string(kPortForms) +
                  ")"};
  }
  auto lo = port_number(first);
  auto hi = port_number(last);
  if (dash == std::string_view::npos) {
    if (!lo) return Reason{"must be between 1 and 65535 (got " + std::string(text) + ")"};
    return PortRange(*lo);
  }
  if (!lo || !hi) {
    return Reason{"port range " + quote(text) + ": ports must be between 1 and 65535 (got " +
                  std::string(lo ? last : first) + ")"};
  }
  if (*lo > *hi) {
    return Reason{"port range " + quote(text) + " runs backwards; write the lower port first: \"" +
                  std::string(last) + "-" + std::string(first) + "\""};
  }
  return PortRange(*lo, *hi);
}

template <class S>
Apply port_list_key(S Config::*section, std::vector<PortRange> S::*field) {
  return [=](Config& c, const toml::node& n, const std::string& path) -> Status {
    const auto* arr = n.as_array();
    if (arr == nullptr) {
      return type_error(n, path, R"(an array of ports and port ranges, e.g. [443, "8000-9000"])");
    }
    std::vector<PortRange> values;
    for (size_t i = 0; i < arr->size(); ++i) {
      const toml::node& e = *arr->get(i);
      std::string epath = path + "[" + std::to_string(i) + "]";
      if (const auto* v = e.as_integer()) {
        if (v->get() < 1 || v->get() > 65535) {
          return failure_at(e, epath + ": " + range_message(v->get(), 1, 65535));
        }
        values.emplace_back(static_cast<uint16_t>(v->get()));
        continue;
      }
      const auto* s = e.as_string();
      if (s == nullptr) return type_error(e, epath, kPortForms);
      auto result = port_range(s->get());
      if (auto* err = std::get_if<Reason>(&result)) return failure_at(e, epath + ": " + err->text);
      values.push_back(std::get<PortRange>(result));
    }
    c.*section.*field = std::move(values);
    return std::nullopt;
  };
}

// --- converters ------------------------------------------------------------------------

std::variant<HostPort, Reason> listen_address(std::string_view text) {
  auto r = split_host_port(text, 0, /*allow_port_zero=*/true);
  if (auto* err = std::get_if<Reason>(&r)) {
    return Reason{"invalid listen address " + quote(text) + ": " + err->text};
  }
  auto& hp = std::get<HostPort>(r);
  if (!is_ipv4_literal(hp.host) && !is_ipv6_literal(hp.host)) {
    return Reason{
        "invalid listen address " + quote(text) +
        ": the host must be an IP address such as 127.0.0.1, 0.0.0.0 or [::1], not a name"};
  }
  return hp;
}

std::variant<HostPort, Reason> resolver_server(std::string_view text) {
  auto r = split_host_port(text, 53, /*allow_port_zero=*/false);
  if (auto* err = std::get_if<Reason>(&r)) {
    return Reason{"invalid DNS server " + quote(text) + ": " + err->text};
  }
  auto& hp = std::get<HostPort>(r);
  if (!is_ipv4_literal(hp.host) && !is_ipv6_literal(hp.host)) {
    return Reason{"invalid DNS server " + quote(text) +
                  ": the host must be an IP address such as 127.0.0.1 or [::1]"};
  }
  return hp;
}

std::variant<Cidr, Reason> cidr_value(std::string_view text) {
  if (auto c = Cidr::parse(text)) return *c;
  return Reason{"invalid CIDR " + quote(text) +
                R"( (use e.g. "10.0.0.0/8", "fc00::/7" or a single address))"};
}

std::variant<std::string, Reason> destination(std::string_view text) {
  if (auto c = Cidr::parse(text)) return c->to_string();
  std::string lower = to_lower(text);
  if (lower.size() > 1 && lower.back() == '.') lower.pop_back();
  std::string_view name = lower;
  if (name.starts_with("*.")) name.remove_prefix(2);
  if (is_host_name(name)) return lower;
  return Reason{"invalid destination " + quote(text) +
                R"( (use a host name, "*.example.com" or a CIDR such as "10.0.0.0/8"))"};
}

std::variant<std::string, Reason> method_name(std::string_view text) {
  if (is_token(text)) return to_upper(text);
  return Reason{"invalid method " + quote(text) +
                R"( (a method name is an RFC 9110 token, e.g. "TRACE"))"};
}

std::variant<std::string, Reason> media_type(std::string_view text) {
  std::string lower = to_lower(text);
  size_t slash = lower.find('/');
  if (slash != std::string::npos) {
    std::string_view type = std::string_view(lower).substr(0, slash);
    std::string_view subtype = std::string_view(lower).substr(slash + 1);
    if (is_token(type) && type != "*" && is_token(subtype)) return lower;
  }
  return Reason{"invalid media type " + quote(text) +
                R"( (use "type/subtype" or "type/*", without parameters))"};
}

std::variant<std::string, Reason> server_name(std::string_view text) {
  if (text.empty()) return Reason{std::string("must not be empty")};
  if (!is_token(text)) {
    return Reason{quote(text) +
                  " is not a valid name: use only letters, digits and !#$%&'*+-.^_`|~ (an RFC "
                  "9110 token, as sent in Via and Proxy-Status)"};
  }
  // Proxy-Status is a structured field (RFC 9209): the name is an sf-token there, which
  // must start with a letter or '*' (RFC 8941 section 3.3.4).
  unsigned char first = static_cast<unsigned char>(text.front());
  if (!std::isalpha(first) && first != '*') {
    return Reason{quote(text) +
                  " must start with a letter (it is sent as a structured-field token in "
                  "Proxy-Status)"};
  }
  return std::string(text);
}

std::variant<std::string, Reason> realm(std::string_view text) {
  if (text.empty()) return Reason{std::string("must not be empty")};
  if (has_control_char(text) || text.find_first_of("\"\\") != std::string_view::npos) {
    return Reason{quote(text) + " must not contain control characters, '\"' or '\\'"};
  }
  return std::string(text);
}

// Free text (a path, a contact line): anything but control characters.
std::variant<std::string, Reason> plain_text(std::string_view text) {
  if (has_control_char(text)) return Reason{quote(text) + " must not contain control characters"};
  return std::string(text);
}

std::variant<std::string, Reason> access_log(std::string_view text) {
  if (text.empty())
    return Reason{std::string(R"(must not be empty (use "off" to disable the access log))")};
  return plain_text(text);
}

template <class E>
Convert<E> one_of(std::vector<std::pair<std::string_view, E>> choices) {
  return [choices](std::string_view text) -> std::variant<E, Reason> {
    std::string names;
    for (const auto& [name, value] : choices) {
      if (text == name) return value;
      names += names.empty() ? "" : ", ";
      names += name;
    }
    return Reason{"invalid value " + quote(text) + " (expected one of: " + names + ")"};
  };
}

std::vector<SectionDef> schema() {
  using C = Config;
  using Shape = EnvShape;
  return {
      {"server",
       {
           {"listen", Shape::kStringList,
            string_list_key<C::Server, HostPort>(
                &C::server, &C::Server::listen, listen_address,
                {.empty_error = "must list at least one address", .unique = true})},
           {"workers", Shape::kInteger, integer_key(&C::server, &C::Server::workers, 0, 1024)},
           {"name", Shape::kString,
            string_key<C::Server, std::string>(&C::server, &C::Server::name, server_name)},
           {"drain_timeout", Shape::kString,
            duration_key(&C::server, &C::Server::drain_timeout, true)},
           {"maintenance", Shape::kBoolean, bool_key(&C::server, &C::Server::maintenance)},
           {"allow_shared_port", Shape::kBoolean,
            bool_key(&C::server, &C::Server::allow_shared_port)},
       }},
      {"timeouts",
       {
           {"client_header", Shape::kString,
            duration_key(&C::timeouts, &C::Timeouts::client_header, false)},
           {"client_idle", Shape::kString,
            duration_key(&C::timeouts, &C::Timeouts::client_idle, false)},
           {"dns", Shape::kString, duration_key(&C::timeouts, &C::Timeouts::dns, false)},
           {"connect", Shape::kString, duration_key(&C::timeouts, &C::Timeouts::connect, false)},
           {"response_header", Shape::kString,
            duration_key(&C::timeouts, &C::Timeouts::response_header, false)},
           {"idle", Shape::kString, duration_key(&C::timeouts, &C::Timeouts::idle, false)},
       }},
      {"limits",
       {
           {"max_connections", Shape::kInteger,
            integer_key(&C::limits, &C::Limits::max_connections, 1, kNoMax)},
           {"max_uri_bytes", Shape::kInteger,
            integer_key(&C::limits, &C::Limits::max_uri_bytes, 1024, kNoMax)},
           {"max_header_bytes", Shape::kInteger,
            integer_key(&C::limits, &C::Limits::max_header_bytes, 1024, kNoMax)},
           {"max_request_body_bytes", Shape::kInteger,
            integer_key(&C::limits, &C::Limits::max_request_body_bytes, 0, kNoMax)},
       }},
      {"resolver",
       {
           {"servers", Shape::kStringList,
            string_list_key<C::Resolver, HostPort>(&C::resolver, &C::Resolver::servers,
                                                   resolver_server)},
           {"max_ttl", Shape::kString, duration_key(&C::resolver, &C::Resolver::max_ttl, true)},
           {"negative_ttl", Shape::kString,
            duration_key(&C::resolver, &C::Resolver::negative_ttl, true)},
       }},
      {"access",
       {
           {"allow_clients", Shape::kStringList,
            string_list_key<C::Access, Cidr>(
                &C::access, &C::Access::allow_clients, cidr_value,
                {.empty_error = R"(an empty list would refuse every client; to allow any )"
                                R"(address list "0.0.0.0/0" and "::/0")"})},
           {"allow_destinations", Shape::kStringList,
            string_list_key<C::Access, std::string>(&C::access, &C::Access::allow_destinations,
                                                    destination)},
           {"deny_destinations", Shape::kStringList,
            string_list_key<C::Access, std::string>(&C::access, &C::Access::deny_destinations,
                                                    destination)},
           {"deny_destination_ips", Shape::kStringList,
            string_list_key<C::Access, Cidr>(&C::access, &C::Access::deny_destination_ips,
                                             cidr_value)},
           {"connect_ports", Shape::kStringList,
            port_list_key(&C::access, &C::Access::connect_ports)},
           {"disabled_methods", Shape::kStringList,
            string_list_key<C::Access, std::string>(&C::access, &C::Access::disabled_methods,
                                                    method_name)},
           {"allow_metrics", Shape::kStringList,
            string_list_key<C::Access, Cidr>(&C::access, &C::Access::allow_metrics, cidr_value)},
       }},
      {"auth",
       {
           {"htpasswd", Shape::kString,
            string_key<C::Auth, std::string>(&C::auth, &C::Auth::htpasswd, plain_text)},
           {"realm", Shape::kString,
            string_key<C::Auth, std::string>(&C::auth, &C::Auth::realm, realm)},
       }},
      {"mime",
       {
           {"deny_responses", Shape::kStringList,
            string_list_key<C::Mime, std::string>(&C::mime, &C::Mime::deny_responses, media_type)},
           {"allow_responses", Shape::kStringList,
            string_list_key<C::Mime, std::string>(&C::mime, &C::Mime::allow_responses, media_type)},
           {"deny_requests", Shape::kStringList,
            string_list_key<C::Mime, std::string>(&C::mime, &C::Mime::deny_requests, media_type)},
       }},
      {"redirects",
       {
           {"max_chain", Shape::kInteger,
            integer_key(&C::redirects, &C::Redirects::max_chain, 0, kNoMax)},
           {"remember", Shape::kString,
            duration_key(&C::redirects, &C::Redirects::remember, false)},
       }},
      {"errors",
       {
           {"templates_dir", Shape::kString,
            string_key<C::Errors, std::string>(&C::errors, &C::Errors::templates_dir, plain_text)},
           {"contact", Shape::kString,
            string_key<C::Errors, std::string>(&C::errors, &C::Errors::contact, plain_text)},
       }},
      {"log",
       {
           {"access", Shape::kString,
            string_key<C::Log, std::string>(&C::log, &C::Log::access, access_log)},
           {"format", Shape::kString,
            string_key<C::Log, LogFormat>(&C::log, &C::Log::format,
                                          one_of<LogFormat>({{"json", LogFormat::kJson},
                                                             {"combined", LogFormat::kCombined}}))},
           {"level", Shape::kString,
            string_key<C::Log, LogLevel>(&C::log, &C::Log::level,
                                         one_of<LogLevel>({{"debug", LogLevel::kDebug},
                                                           {"info", LogLevel::kInfo},
                                                           {"warn", LogLevel::kWarn},
                                                           {"error", LogLevel::kError}}))},
       }},
  };
}

const SectionDef* find_section(const std::vector<SectionDef>& defs, std::string_view name) {
  for (const auto& s : defs) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

const KeyDef* find_key(const SectionDef& section, std::string_view name) {
  for (const auto& k : section.keys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------
// "Did you mean": the known name closest to a misspelt one.

// Lower case without '_' and '-': "Drain-Timeout", "drainTimeout" and "drain_timeout"
// are the same name to a reader.
std::string loose_form(std::string_view s) {
  std::string out;
  for (char c : to_lower(s)) {
    if (c != '_' && c != '-') out += c;
  }
  return out;
}

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
// two neighbours ("lsiten") each cost 1.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

// The candidate `name` most probably meant: one that differs only in case, '_' or '-',
// else the nearest within two edits. Short names get one edit at most, so 'tls' does not
// turn into 'dns'. Ties go to the first candidate in schema order.
std::optional<std::string_view> closest_name(std::string_view name,
                                             const std::vector<std::string_view>& candidates) {
  std::string loose = loose_form(name);
  if (loose.empty()) return std::nullopt;
  for (std::string_view c : candidates) {
    if (loose_form(c) == loose) return c;
  }
  std::string lower = to_lower(name);
  std::optional<std::string_view> best;
  size_t best_distance = 0;
  for (std::string_view c : candidates) {
    size_t limit = std::min<size_t>(2, std::max(lower.size(), c.size()) / 3);
    // Lengths further apart than the limit cannot be within it; skipping them also keeps
    // a huge quoted key from costing a huge distance table.
    if (lower.size() > c.size() + limit || c.size() > lower.size() + limit) continue;
    size_t distance = edit_distance(lower, c);
    if (distance <= limit && (!best || distance < best_distance)) {
      best = c;
      best_distance = distance;
    }
  }
  return best;
}

std::optional<std::string_view> closest_section(std::string_view name,
                                                const std::vector<SectionDef>& defs) {
  std::vector<std::string_view> names;
  for (const auto& s : defs) names.push_back(s.name);
  return closest_name(name, names);
}

std::optional<std::string_view> closest_key(std::string_view name, const SectionDef& section) {
  std::vector<std::string_view> names;
  for (const auto& k : section.keys) names.push_back(k.name);
  return closest_name(name, names);
}

// [name] for messages, escaped like quote() but in brackets, as the reader wrote it.
std::string bracketed(std::string_view name) {
  std::string q = quote(name);
  return "[" + q.substr(1, q.size() - 2) + "]";
}

// ---------------------------------------------------------------------------------------
// TOML document -> Config.

void apply_document(const toml::table& root, const std::vector<SectionDef>& defs, Config& cfg,
                    std::vector<Failure>& failures) {
  for (auto&& [key, node] : root) {
    const SectionDef* section = find_section(defs, key.str());
    if (section == nullptr) {
      if (node.is_table()) {
        std::string message = "unknown section " + bracketed(key.str());
        if (auto near = closest_section(key.str(), defs)) {
          message += "; did you mean " + bracketed(*near) + "?";
        }
        failures.push_back(failure_at(key.source(), std::move(message)));
      } else {
        failures.push_back(failure_at(
            key.source(), "unknown key " + quote(key.str()) +
                              " outside any section (settings belong in a section such as "
                              "[server])"));
      }
      continue;
    }
    const auto* table = node.as_table();
    if (table == nullptr) {
      failures.push_back(
          type_error(node, std::string(key.str()), "a table ([" + std::string(key.str()) + "])"));
      continue;
    }
    for (auto&& [k, v] : *table) {
      const KeyDef* def = find_key(*section, k.str());
      if (def == nullptr) {
        std::string message =
            "unknown key " + quote(k.str()) + " in [" + std::string(section->name) + "]";
        if (auto near = closest_key(k.str(), *section)) {
          message += "; did you mean " + quote(*near) + "?";
        }
        failures.push_back(failure_at(k.source(), std::move(message)));
        continue;
      }
      std::string path = std::string(section->name) + "." + std::string(k.str());
      if (auto f = def->apply(cfg, v, path)) failures.push_back(std::move(*f));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Environment overrides.

std::variant<int64_t, std::string> env_integer(std::string_view text) {
  text = trim(text);
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end) {
    return "expected an integer, got " + quote(text);
  }
  if (ec == std::errc::result_out_of_range) return "integer " + quote(text) + " is out of range";
  return value;
}

std::vector<std::string_view> split_list(std::string_view text) {
  std::vector<std::string_view> items;
  if (trim(text).empty()) return items;
  while (true) {
    size_t comma = text.find(',');
    items.push_back(trim(text.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return items;
}

// Builds the TOML node an environment value stands for; a reason string when the text
// does not have the key's shape at all.
std::variant<std::unique_ptr<toml::node>, std::string> env_node(EnvShape shape,
                                                                std::string_view text,
                                                                const std::string& path) {
  switch (shape) {
    case EnvShape::kString:
      return std::make_unique<toml::value<std::string>>(std::string(text));
    case EnvShape::kBoolean: {
      std::string_view t = trim(text);
      if (t == "true") return std::make_unique<toml::value<bool>>(true);
      if (t == "false") return std::make_unique<toml::value<bool>>(false);
      return path + ": expected true or false, got " + quote(text);
    }
    case EnvShape::kInteger: {
      auto v = env_integer(text);
      if (auto* err = std::get_if<std::string>(&v)) return path + ": " + *err;
      return std::make_unique<toml::value<int64_t>>(std::get<int64_t>(v));
    }
    case EnvShape::kStringList: {
      auto arr = std::make_unique<toml::array>();
      for (auto item : split_list(text)) arr->push_back(std::string(item));
      return arr;
    }
  }
  return path + ": unsupported value";
}

std::optional<ConfigError> apply_environment(const Environment& env,
                                             const std::vector<SectionDef>& defs, Config& cfg) {
  for (const auto& [name, value] : env) {
    if (!std::string_view(name).starts_with(kEnvPrefix)) continue;
    auto env_error = [&name = name](std::string message) {
      return ConfigError{.source = name, .line = 0, .column = 0, .message = std::move(message)};
    };
    // GATEHOUSE_<SECTION>_<KEY>: section names have no '_', key names may.
    std::string rest = to_lower(std::string_view(name).substr(kEnvPrefix.size()));
    size_t sep = rest.find('_');
    std::string section_name = rest.substr(0, sep);
    std::string key_name = sep == std::string::npos ? "" : rest.substr(sep + 1);
    const SectionDef* section = find_section(defs, section_name);
    const KeyDef* key = section != nullptr ? find_key(*section, key_name) : nullptr;
    std::string expected_name = "GATEHOUSE_" + to_upper(section_name) + "_" + to_upper(key_name);
    // Variables that name no section are not ours: Kubernetes, for one, injects
    // GATEHOUSE_PORT, GATEHOUSE_SERVICE_HOST, ... for a Service called "gatehouse".
    // A known section with an unknown key is a typo, and an error.
    if (section == nullptr) continue;
    if (key == nullptr || expected_name != name) {
      std::string message = "unknown key " + quote(key_name) + " in [" + section_name + "]";
      std::optional<std::string_view> near =
          key != nullptr ? std::optional(key->name) : closest_key(key_name, *section);
      if (near) {
        return env_error(message + "; did you mean GATEHOUSE_" + to_upper(section_name) + "_" +
                         to_upper(*near) + "?");
      }
      return env_error(message +
                       " (override variables are named GATEHOUSE_<SECTION>_<KEY>, in upper "
                       "case)");
    }
    std::string path = section_name + "." + key_name;
    auto node = env_node(key->shape, value, path);
    if (auto* err = std::get_if<std::string>(&node)) return env_error(*err);
    if (auto f = key->apply(cfg, *std::get<std::unique_ptr<toml::node>>(node), path)) {
      return env_error(std::move(f->message));
    }
  }
  return std::nullopt;
}

// The first problem in document order: a reader fixes the file from the top.
ConfigError first_failure(std::vector<Failure>& failures, std::string_view source) {
  auto it = std::min_element(failures.begin(), failures.end(), [](const auto& a, const auto& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return ConfigError{.source = std::string(source),
                     .line = it->line,
                     .column = it->column,
                     .message = std::move(it->message)};
}

// Line `number` (from 1) of `text`, without its line break; empty past the end.
std::string_view line_of(std::string_view text, size_t number) {
  for (size_t n = 1; n < number; ++n) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return {};
    text.remove_prefix(nl + 1);
  }
  std::string_view line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// An unquoted port range (connect_ports = [8000-9000]) is a TOML date to toml++, which
// then fails with a message about months. Finds the "digits-digits" word the error is in
// (the last one that starts at or before the error column), so the message can say what
// was meant; a real date (1979-05-27) has three parts and is not mistaken for one.
std::optional<std::string> unquoted_port_range(std::string_view line, size_t column) {
  auto is_word_char = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
           c == '_' || c == ':' || c == '.' || c == '+';
  };
  std::optional<std::string> found;
  size_t i = 0;
  while (i < line.size() && i < column) {
    if (!is_word_char(line[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    while (i < line.size() && is_word_char(line[i])) ++i;
    std::string_view word = line.substr(start, i - start);
    size_t dash = word.find('-');
    if (dash != std::string_view::npos && all_digits(word.substr(0, dash)) &&
        all_digits(word.substr(dash + 1))) {
      found = std::string(word);
    }
  }
  return found;
}

// toml::parse_error is the thrown exception type with TOML_EXCEPTIONS and the error held
// by parse_result without; both have description() and source().
ConfigError syntax_error(const toml::parse_error& e, std::string_view text,
                         std::string_view source) {
  std::string description(e.description());
  if (!description.empty() && description.front() >= 'A' && description.front() <= 'Z') {
    description.front() = static_cast<char>(description.front() - 'A' + 'a');
  }
  // toml++ quotes what it saw, raw: control bytes would break the one-line message (or
  // reach a terminal), so they are shown escaped.
  std::string clean;
  for (unsigned char c : description) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      clean += buf;
    } else {
      clean += static_cast<char>(c);
    }
  }
  description = std::move(clean);
  std::string message = "invalid TOML: " + description;
  if (description.find("date") != std::string::npos) {
    std::string_view line = line_of(text, e.source().begin.line);
    if (auto range = unquoted_port_range(line, e.source().begin.column)) {
      message = "invalid TOML: port ranges must be quoted strings, e.g. \"" + *range +
                "\" (unquoted, TOML reads " + *range + " as a date: " + description + ")";
    }
  }
  return ConfigError{.source = std::string(source),
                     .line = static_cast<int>(e.source().begin.line),
                     .column = static_cast<int>(e.source().begin.column),
                     .message = std::move(message)};
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Public API.

std::vector<Cidr> Config::Access::default_allow_clients() {
  std::vector<Cidr> out;
  for (const char* text :
       {"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}) {
    out.push_back(*Cidr::parse(text));
  }
  return out;
}

std::vector<Cidr> Config::Access::default_allow_metrics() {
  return {*Cidr::parse("127.0.0.0/8"), *Cidr::parse("::1/128")};
}

std::vector<Cidr> Config::Access::default_deny_destination_ips() {
  std::vector<Cidr> out;
  // Loopback, "this host" (0.0.0.0/8, ::), link-local (which holds most clouds' metadata
  // service at 169.254.169.254), Alibaba Cloud's metadata address and AWS's IPv6 one.
  for (const char* text : {"127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128", "169.254.0.0/16",
                           "fe80::/10", "100.100.100.200/32", "fd00:ec2::254/128"}) {
    out.push_back(*Cidr::parse(text));
  }
  return out;
}

std::string PortRange::to_string() const {
  if (lo == hi) return std::to_string(lo);
  return std::to_string(lo) + "-" + std::to_string(hi);
}

std::string HostPort::to_string() const {
  std::string port_text = std::to_string(port);
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_text;
  return host + ":" + port_text;
}

std::string ConfigError::to_string() const {
  if (line <= 0) return source + ": " + message;
  return source + ":" + std::to_string(line) + ": " + message;
}

std::optional<Duration> parse_duration(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 18) return std::nullopt;
  std::string_view unit = text.substr(digits);
  int64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 60 * 60 * 1000;
  } else {
    return std::nullopt;
  }
  int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) value = value * 10 + (text[i] - '0');
  if (value > std::numeric_limits<int64_t>::max() / factor) return std::nullopt;
  return Duration(value * factor);
}

std::optional<HostPort> parse_host_port(std::string_view text, uint16_t default_port) {
  auto r = split_host_port(text, default_port, /*allow_port_zero=*/false);
  if (auto* hp = std::get_if<HostPort>(&r)) return std::move(*hp);
  return std::nullopt;
}

Environment process_environment() {
  Environment env;
  for (char** e = ::environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    if (!entry.starts_with(kEnvPrefix)) continue;
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

ConfigResult parse_config(std::string_view text, std::string_view source, const Environment& env) {
  std::string source_name = source.empty() ? std::string("<config>") : std::string(source);
  try {
    toml::table root;
#if TOML_EXCEPTIONS
    try {
      root = toml::parse(text, std::string_view(source_name));
    } catch (const toml::parse_error& e) {
      return syntax_error(e, text, source_name);
    }
#else
    toml::parse_result parsed = toml::parse(text, std::string_view(source_name));
    if (!parsed) return syntax_error(parsed.error(), text, source_name);
    root = std::move(parsed).table();
#endif
    auto defs = schema();
    Config cfg;
    std::vector<Failure> failures;
    apply_document(root, defs, cfg, failures);
    if (!failures.empty()) return first_failure(failures, source_name);
    if (auto err = apply_environment(env, defs, cfg)) return *err;
    return cfg;
  } catch (const std::exception& e) {
    return ConfigError{.source = source_name,
                       .message = std::string("internal error: ") + e.what()};
  }
}

ConfigResult load_config(const std::string& path, const Environment& env) {
  auto read_error = [&path](int err) {
    return ConfigError{.source = path,
                       .message = std::string("cannot read: ") + std::strerror(err)};
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return read_error(errno);
  std::string text;
  char buf[65536];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return read_error(err);
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      ::close(fd);
      return ConfigError{.source = path,
                         .message = "file is larger than 16 MiB; is it the right file?"};
    }
  }
  ::close(fd);
  return parse_config(text, path, env);
}

ConfigResult default_config(const Environment& env) {
  try {
    Config cfg;
    if (auto err = apply_environment(env, schema(), cfg)) return *err;
    return cfg;
  } catch (const std::exception& e) {
    return ConfigError{.source = "<defaults>",
                       .message = std::string("internal error: ") + e.what()};
  }
}

}  // namespace gatehouse
