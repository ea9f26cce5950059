// Config: the immutable, validated configuration of one Gatehouse process.
//
// Built once by load_config() / parse_config() and then only read; a reload builds a
// new Config and swaps it whole (workers hold a std::shared_ptr<const Config>). Every
// key is optional: a default-constructed Config is the built-in default configuration,
// and equals the shipped gatehouse.toml.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/cidr.h"

namespace gatehouse {

using Duration = std::chrono::milliseconds;

// "127.0.0.1:3128", "[::1]:3128", "localhost:53" split into host and port. The host of
// a bracketed IPv6 literal is stored without brackets.
struct HostPort {
  std::string host;
  uint16_t port = 0;
  std::string to_string() const;  // re-adds brackets around IPv6 literals
  bool operator==(const HostPort&) const = default;
};

// An inclusive range of TCP ports, lo <= hi; a single port is the range of itself. The
// one-port constructor is implicit so `connect_ports.push_back(8080)` and
// `connect_ports = {443}` keep reading naturally.
struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 0;

  constexpr PortRange() = default;
  constexpr PortRange(uint16_t port) : lo(port), hi(port) {}
  constexpr PortRange(uint16_t first, uint16_t last) : lo(first), hi(last) {}

  constexpr bool contains(uint16_t port) const { return lo <= port && port <= hi; }
  std::string to_string() const;  // "443" or "8000-9000"
  bool operator==(const PortRange&) const = default;
};

enum class LogFormat { kJson, kCombined };
enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct Config {
  struct Server {
    std::vector<HostPort> listen{{"127.0.0.1", 3128}};
    unsigned workers = 0;  // 0 = one per CPU core
    std::string name = "gatehouse";
    Duration drain_timeout = std::chrono::seconds(30);
    bool maintenance = false;
    // false: refuse to start on a port another process already listens on (SO_REUSEPORT
    // would otherwise let a second instance silently take half the connections).
    bool allow_shared_port = false;

    bool operator==(const Server&) const = default;
  } server;

  struct Timeouts {
    Duration client_header = std::chrono::seconds(30);
    Duration client_idle = std::chrono::seconds(120);
    Duration dns = std::chrono::seconds(5);
    Duration connect = std::chrono::seconds(10);
    Duration response_header = std::chrono::seconds(60);
    Duration idle = std::chrono::seconds(300);

    bool operator==(const Timeouts&) const = default;
  } timeouts;

  struct Limits {
    uint64_t max_connections = 10000;
    uint64_t max_uri_bytes = 8192;
    uint64_t max_header_bytes = 65536;
    uint64_t max_request_body_bytes = 0;  // 0 = unlimited

    bool operator==(const Limits&) const = default;
  } limits;

  struct Resolver {
    std::vector<HostPort> servers;  // empty = /etc/resolv.conf; port defaults to 53
    Duration max_ttl = std::chrono::minutes(5);
    Duration negative_ttl = std::chrono::seconds(30);

    bool operator==(const Resolver&) const = default;
  } resolver;

  struct Access {
    std::vector<Cidr> allow_clients = default_allow_clients();
    std::vector<std::string> allow_destinations;  // host names, "*.example.com", CIDRs
    std::vector<std::string> deny_destinations;
    std::vector<Cidr> deny_destination_ips = default_deny_destination_ips();
    std::vector<PortRange> connect_ports{443, 80};       // CONNECT targets; empty = none
    std::vector<std::string> disabled_methods{"TRACE"};  // upper-cased
    // Who may read /metrics (operator data); loopback only by default. Checked after
    // allow_clients; /healthz, /readyz and /proxy.pac stay open to every allowed client.
    std::vector<Cidr> allow_metrics = default_allow_metrics();

    bool connect_port_allowed(uint16_t port) const {
      for (const PortRange& r : connect_ports) {
        if (r.contains(port)) return true;
      }
      return false;
    }
    static std::vector<Cidr> default_allow_metrics();

    static std::vector<Cidr> default_allow_clients();
    static std::vector<Cidr> default_deny_destination_ips();

    bool operator==(const Access&) const = default;
  } access;

  struct Auth {
    std::string htpasswd;  // empty = no proxy authentication
    std::string realm = "gatehouse";

    bool operator==(const Auth&) const = default;
  } auth;

  struct Mime {
    std::vector<std::string> deny_responses;  // lower-cased media types, "type/*" allowed
    std::vector<std::string> allow_responses;
    std::vector<std::string> deny_requests;

    bool operator==(const Mime&) const = default;
  } mime;

  struct Redirects {
    uint64_t max_chain = 20;  // 0 = do not track
    Duration remember = std::chrono::minutes(2);

    bool operator==(const Redirects&) const = default;
  } redirects;

  struct Errors {
    std::string templates_dir;
    std::string contact;

    bool operator==(const Errors&) const = default;
  } errors;

  struct Log {
    std::string access = "stdout";  // stdout | stderr | off | a path
    LogFormat format = LogFormat::kJson;
    LogLevel level = LogLevel::kInfo;

    bool operator==(const Log&) const = default;
  } log;

  bool operator==(const Config&) const = default;
};

// A configuration problem, reported as "file:line: message" (line 0 = no line, e.g. an
// environment variable or an unreadable file; then "source: message").
struct ConfigError {
  std::string source;  // file path, or "GATEHOUSE_SERVER_LISTEN" for an env override
  int line = 0;
  int column = 0;
  std::string message;
  std::string to_string() const;
};

using ConfigResult = std::variant<Config, ConfigError>;

// Environment used for GATEHOUSE_<SECTION>_<KEY> overrides; injectable for tests.
using Environment = std::map<std::string, std::string>;
Environment process_environment();

// Parses TOML text. `source` names it in errors. Env overrides apply after the file.
ConfigResult parse_config(std::string_view text, std::string_view source,
                          const Environment& env = {});
// Reads and parses a file; an unreadable file is an error naming the path.
ConfigResult load_config(const std::string& path, const Environment& env = {});
// Built-in defaults plus env overrides (used when no --config is given).
ConfigResult default_config(const Environment& env = {});

// "250ms", "30s", "5m", "1h", "1500us" is an error. Whole numbers only.
std::optional<Duration> parse_duration(std::string_view text);
// "127.0.0.1:3128", "[::1]:3128", "host:53"; default_port used when the port is absent
// (0 = the port is required).
std::optional<HostPort> parse_host_port(std::string_view text, uint16_t default_port = 0);

}  // namespace gatehouse
