// Config: TOML parsing, validation errors with their exact lines, environment overrides,
// durations, host:port forms, and the shipped gatehouse.toml.
#include <stdlib.h>

#include <toml++/toml.h>
#include <catch2/catch.hpp>
#include <string>

#include "config/config.h"

namespace Catch {
template <>
struct StringMaker<gatehouse::PortRange> {
  static std::string convert(const gatehouse::PortRange& r) { return r.to_string(); }
};
}  // namespace Catch

namespace gatehouse {
namespace {

using namespace std::chrono_literals;

Config parse_ok(std::string_view text, const Environment& env = {}) {
  auto r = parse_config(text, "test.toml", env);
  if (auto* err = std::get_if<ConfigError>(&r)) FAIL("unexpected error: " << err->to_string());
  return std::get<Config>(std::move(r));
}

ConfigError parse_err(std::string_view text, const Environment& env = {}) {
  auto r = parse_config(text, "test.toml", env);
  REQUIRE(std::holds_alternative<ConfigError>(r));
  return std::get<ConfigError>(std::move(r));
}

// Checks an error's position and message, showing the whole error when they differ.
void check_error(const ConfigError& e, int line, const std::string& message) {
  INFO("error: " << e.to_string());
  CHECK(e.source == "test.toml");
  CHECK(e.line == line);
  CHECK(e.message == message);
}

}  // namespace

TEST_CASE("empty config is the built-in default", "[unit][config]") {
  Config c = parse_ok("");
  CHECK(c == Config{});
  CHECK(c.server.listen == std::vector<HostPort>{{"127.0.0.1", 3128}});
  CHECK(c.server.workers == 0);
  CHECK(c.timeouts.dns == 5s);
  CHECK(c.access.allow_clients.size() == 6);
  CHECK(parse_ok("# only a comment\n\n[server]\n") == Config{});
}

TEST_CASE("defaults hold the documented access lists", "[unit][config]") {
  std::vector<std::string> allow, deny, metrics;
  for (const auto& c : Config::Access::default_allow_clients()) allow.push_back(c.to_string());
  for (const auto& c : Config::Access::default_deny_destination_ips()) {
    deny.push_back(c.to_string());
  }
  for (const auto& c : Config::Access::default_allow_metrics()) metrics.push_back(c.to_string());
  CHECK(allow == std::vector<std::string>{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12",
                                          "192.168.0.0/16", "fc00::/7"});
  CHECK(deny == std::vector<std::string>{"127.0.0.0/8", "::1/128", "0.0.0.0/8", "::/128",
                                         "169.254.0.0/16", "fe80::/10", "100.100.100.200/32",
                                         "fd00:ec2::254/128"});
  CHECK(metrics == std::vector<std::string>{"127.0.0.0/8", "::1/128"});
  const Config d;
  CHECK(d.access.allow_metrics == Config::Access::default_allow_metrics());
  CHECK(d.access.deny_destination_ips == Config::Access::default_deny_destination_ips());
  CHECK(d.access.connect_ports == std::vector<PortRange>{443, 80});
  CHECK_FALSE(d.server.allow_shared_port);
}

TEST_CASE("every key is read from TOML", "[unit][config]") {
  Config c = parse_ok(R"([server]
listen = ["0.0.0.0:8080", "[::1]:3129", "[::]:0"]
workers = 4
name = "edge-1.example_proxy"
drain_timeout = "0s"
maintenance = true
allow_shared_port = true

[timeouts]
client_header = "250ms"
client_idle = "1m"
dns = "2s"
connect = "3s"
response_header = "1h"
idle = "45s"

[limits]
max_connections = 1
max_uri_bytes = 1024
max_header_bytes = 2048
max_request_body_bytes = 1048576

[resolver]
servers = ["127.0.0.1:5353", "192.0.2.53", "[2001:db8::53]:5300", "2001:db8::54"]
max_ttl = "0s"
negative_ttl = "0ms"

[access]
allow_clients = ["0.0.0.0/0", "::/0"]
allow_destinations = ["Example.COM", "*.Example.org.", "10.1.2.3/8", "192.0.2.1"]
deny_destinations = ["bad.example.com"]
deny_destination_ips = []
connect_ports = [443, 8443, 65535, 1, "22", "8000-9000", "10-10", "1-65535"]
disabled_methods = ["trace", "Connect", "PROPFIND"]
allow_metrics = ["10.0.0.0/8", "2001:db8::1"]

[auth]
htpasswd = "/etc/gatehouse/htpasswd"
realm = "Corporate proxy"

[mime]
deny_responses = ["Application/X-MSDownload", "video/*"]
allow_responses = ["text/html"]
deny_requests = ["multipart/form-data"]

[redirects]
max_chain = 0
remember = "10m"

[errors]
templates_dir = "/etc/gatehouse/errors"
contact = "helpdesk@example.com, ext. 42"

[log]
access = "/var/log/gatehouse/access.log"
format = "combined"
level = "debug"
)");
  CHECK(c.server.listen == std::vector<HostPort>{{"0.0.0.0", 8080}, {"::1", 3129}, {"::", 0}});
  CHECK(c.server.workers == 4);
  CHECK(c.server.name == "edge-1.example_proxy");
  CHECK(c.server.drain_timeout == 0ms);
  CHECK(c.server.maintenance);
  CHECK(c.server.allow_shared_port);

  CHECK(c.timeouts.client_header == 250ms);
  CHECK(c.timeouts.client_idle == 60s);
  CHECK(c.timeouts.dns == 2s);
  CHECK(c.timeouts.connect == 3s);
  CHECK(c.timeouts.response_header == 1h);
  CHECK(c.timeouts.idle == 45s);

  CHECK(c.limits.max_connections == 1);
  CHECK(c.limits.max_uri_bytes == 1024);
  CHECK(c.limits.max_header_bytes == 2048);
  CHECK(c.limits.max_request_body_bytes == 1048576);

  CHECK(c.resolver.servers ==
        std::vector<HostPort>{
            {"127.0.0.1", 5353}, {"192.0.2.53", 53}, {"2001:db8::53", 5300}, {"2001:db8::54", 53}});
  CHECK(c.resolver.max_ttl == 0ms);
  CHECK(c.resolver.negative_ttl == 0ms);

  CHECK(c.access.allow_clients ==
        std::vector<Cidr>{*Cidr::parse("0.0.0.0/0"), *Cidr::parse("::/0")});
  CHECK(c.access.allow_destinations ==
        std::vector<std::string>{"example.com", "*.example.org", "10.0.0.0/8", "192.0.2.1/32"});
  CHECK(c.access.deny_destinations == std::vector<std::string>{"bad.example.com"});
  CHECK(c.access.deny_destination_ips.empty());
  CHECK(c.access.connect_ports ==
        std::vector<PortRange>{443, 8443, 65535, 1, 22, {8000, 9000}, 10, {1, 65535}});
  CHECK(c.access.disabled_methods == std::vector<std::string>{"TRACE", "CONNECT", "PROPFIND"});
  CHECK(c.access.allow_metrics ==
        std::vector<Cidr>{*Cidr::parse("10.0.0.0/8"), *Cidr::parse("2001:db8::1/128")});

  CHECK(c.auth.htpasswd == "/etc/gatehouse/htpasswd");
  CHECK(c.auth.realm == "Corporate proxy");

  CHECK(c.mime.deny_responses == std::vector<std::string>{"application/x-msdownload", "video/*"});
  CHECK(c.mime.allow_responses == std::vector<std::string>{"text/html"});
  CHECK(c.mime.deny_requests == std::vector<std::string>{"multipart/form-data"});

  CHECK(c.redirects.max_chain == 0);
  CHECK(c.redirects.remember == 10min);

  CHECK(c.errors.templates_dir == "/etc/gatehouse/errors");
  CHECK(c.errors.contact == "helpdesk@example.com, ext. 42");

  CHECK(c.log.access == "/var/log/gatehouse/access.log");
  CHECK(c.log.format == LogFormat::kCombined);
  CHECK(c.log.level == LogLevel::kDebug);
}

TEST_CASE("dotted keys and inline tables are ordinary TOML", "[unit][config]") {
  Config c = parse_ok("server.workers = 3\ntimeouts = { dns = \"1s\", connect = \"2s\" }\n");
  CHECK(c.server.workers == 3);
  CHECK(c.timeouts.dns == 1s);
  CHECK(c.timeouts.connect == 2s);
}

TEST_CASE("TOML syntax errors carry toml++'s line", "[unit][config]") {
  auto e = parse_err(R"([server]
workers = 2

name = "unterminated
)");
  INFO(e.to_string());
  CHECK(e.source == "test.toml");
  CHECK(e.line == 4);
  CHECK(e.column > 0);
  CHECK(e.message.rfind("invalid TOML: ", 0) == 0);
  CHECK(e.to_string().rfind("test.toml:4: invalid TOML: ", 0) == 0);

  auto dup = parse_err("[log]\nlevel = \"info\"\nlevel = \"debug\"\n");
  CHECK(dup.line == 3);
  auto garbage = parse_err("[server]\nworkers = = 3\n");
  CHECK(garbage.line == 2);
}

TEST_CASE("unknown sections and keys are errors at their line", "[unit][config]") {
  SECTION("unknown section") {
    auto e = parse_err(R"([server]
workers = 1

[sever]
listen = ["127.0.0.1:3128"]
)");
    check_error(e, 4, "unknown section [sever]; did you mean [server]?");
    CHECK(e.to_string() == "test.toml:4: unknown section [sever]; did you mean [server]?");
  }
  SECTION("unknown key, the design's example") {
    auto e = parse_err(R"(# proxy
[server]
lisen = ["127.0.0.1:3128"]
)");
    check_error(e, 3, "unknown key 'lisen' in [server]; did you mean 'listen'?");
    CHECK(e.to_string() == "test.toml:3: unknown key 'lisen' in [server]; did you mean 'listen'?");
  }
  SECTION("unknown key in every section") {
    for (const char* section : {"server", "timeouts", "limits", "resolver", "access", "auth",
                                "mime", "redirects", "errors", "log"}) {
      std::string text = std::string("\n[") + section + "]\n\n\nbogus_key = 1\n";
      auto e = parse_err(text);
      check_error(e, 5, std::string("unknown key 'bogus_key' in [") + section + "]");
    }
  }
  SECTION("a sub-table of a known section is an unknown key") {
    check_error(parse_err("[server]\nworkers = 1\n[server.tls]\ncert = \"x\"\n"), 3,
                "unknown key 'tls' in [server]");
  }
  SECTION("a key outside every section") {
    check_error(parse_err("\nworkers = 4\n"), 2,
                "unknown key 'workers' outside any section (settings belong in a section such "
                "as [server])");
  }
  SECTION("a section that is not a table") {
    check_error(parse_err("[log]\nlevel = \"info\"\n\nserver = 3\n"), 4,
                "unknown key 'server' in [log]");
    check_error(parse_err("server = 3\n"), 1,
                "server: expected a table ([server]), got an integer");
    check_error(parse_err("[[server]]\nworkers = 1\n"), 1,
                "server: expected a table ([server]), got an array");
  }
  SECTION("the first problem in the file is reported, not the first alphabetically") {
    auto e = parse_err(R"([timeouts]
dns = "soon"

[access]
connect_ports = [0]
)");
    CHECK(e.line == 2);
    CHECK(e.message.rfind("timeouts.dns:", 0) == 0);
  }
}

TEST_CASE("wrong value types name the key and both types", "[unit][config]") {
  check_error(parse_err("[server]\nworkers = \"4\"\n"), 2,
              "server.workers: expected an integer, got a string");
  check_error(parse_err("[server]\n\nworkers = 4.0\n"), 3,
              "server.workers: expected an integer, got a floating-point number");
  check_error(parse_err("[server]\nmaintenance = \"yes\"\n"), 2,
              "server.maintenance: expected a boolean (true or false), got a string");
  check_error(parse_err("[server]\nlisten = \"127.0.0.1:3128\"\n"), 2,
              "server.listen: expected an array of strings, got a string");
  check_error(parse_err("[server]\nname = 7\n"), 2,
              "server.name: expected a string, got an integer");
  check_error(parse_err("[timeouts]\ndns = 5\n"), 2,
              "timeouts.dns: expected a duration string such as \"30s\", got an integer");
  check_error(parse_err("[timeouts]\ndns = 1979-05-27\n"), 2,
              "timeouts.dns: expected a duration string such as \"30s\", got a date");
  check_error(parse_err("[access]\nconnect_ports = \"443\"\n"), 2,
              "access.connect_ports: expected an array of ports and port ranges, e.g. [443, "
              "\"8000-9000\"], got a string");
  check_error(parse_err(R"([access]
connect_ports = [
  443,
  8443.0,
]
)"),
              4,
              "access.connect_ports[1]: expected a port such as 443 or \"443\", or an inclusive "
              "range such as \"8000-9000\", got a floating-point number");
  check_error(parse_err(R"([mime]
deny_responses = [
  "video/*",
  { type = "audio" },
]
)"),
              4, "mime.deny_responses[1]: expected a string, got a table");
}

TEST_CASE("durations are validated", "[unit][config][duration]") {
  check_error(parse_err(R"([timeouts]
client_header = "30s"
dns = "5 seconds"
)"),
              3,
              "timeouts.dns: invalid duration '5 seconds' (use e.g. \"250ms\", \"30s\", \"5m\")");
  check_error(
      parse_err("[server]\ndrain_timeout = \"1.5s\"\n"), 2,
      "server.drain_timeout: invalid duration '1.5s' (use e.g. \"250ms\", \"30s\", \"5m\")");
  check_error(parse_err("[resolver]\nmax_ttl = \"-1s\"\n"), 2,
              "resolver.max_ttl: invalid duration '-1s' (use e.g. \"250ms\", \"30s\", \"5m\")");
  SECTION("zero is refused for timeouts and redirects.remember") {
    for (const char* key :
         {"client_header", "client_idle", "dns", "connect", "response_header", "idle"}) {
      check_error(parse_err(std::string("[timeouts]\n") + key + " = \"0s\"\n"), 2,
                  std::string("timeouts.") + key + ": must be longer than zero (got '0s')");
    }
    check_error(parse_err("[redirects]\nremember = \"0ms\"\n"), 2,
                "redirects.remember: must be longer than zero (got '0ms')");
  }
  SECTION("at most 24 days") {
    CHECK(parse_ok("[timeouts]\nidle = \"576h\"\n").timeouts.idle == 576h);
    CHECK(parse_ok("[timeouts]\nidle = \"2073600000ms\"\n").timeouts.idle == 576h);
    check_error(parse_err("[timeouts]\nidle = \"2073600001ms\"\n"), 2,
                "timeouts.idle: must not exceed 576h, 24 days (got '2073600001ms')");
    check_error(parse_err("[server]\ndrain_timeout = \"9999999h\"\n"), 2,
                "server.drain_timeout: must not exceed 576h, 24 days (got '9999999h')");
  }
  SECTION("zero is allowed where it means 'none'") {
    Config c = parse_ok(
        "[server]\ndrain_timeout = \"0s\"\n[resolver]\nmax_ttl = \"0s\"\nnegative_ttl = "
        "\"0m\"\n");
    CHECK(c.server.drain_timeout == 0ms);
    CHECK(c.resolver.max_ttl == 0ms);
    CHECK(c.resolver.negative_ttl == 0ms);
  }
}

TEST_CASE("parse_duration accepts whole numbers with ms, s, m, h", "[unit][config][duration]") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("5m") == 5min);
  CHECK(parse_duration("1h") == 1h);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration("0ms") == 0ms);
  CHECK(parse_duration("007s") == 7s);
  CHECK(parse_duration("86400s") == 24h);
  CHECK(parse_duration("2562047788015h") == 2562047788015h);       // the largest in int64 ms
  CHECK(parse_duration("2562047788016h") == std::nullopt);         // would overflow int64 ms
  CHECK(parse_duration("9223372036854775807ms") == std::nullopt);  // more than 18 digits
  CHECK(parse_duration("999999999999999999ms") == Duration(999999999999999999));
  for (const char* bad :
       {"",     "s",   "30", "0",  "1500us", "1.5s", "-1s",   "+1s", " 30s",  "30s ",
        "30 s", "30S", "5M", "1d", "30sec",  "5min", "1h30m", "ms",  "0x10s", "1e3ms"}) {
    INFO("text '" << bad << "'");
    CHECK_FALSE(parse_duration(bad).has_value());
  }
}

TEST_CASE("parse_host_port accepts IPv4, bracketed IPv6 and names", "[unit][config]") {
  CHECK(parse_host_port("127.0.0.1:3128") == HostPort{"127.0.0.1", 3128});
  CHECK(parse_host_port("[::1]:3128") == HostPort{"::1", 3128});
  CHECK(parse_host_port("localhost:3128") == HostPort{"localhost", 3128});
  CHECK(parse_host_port("dns.example.com:53") == HostPort{"dns.example.com", 53});
  CHECK(parse_host_port("[2001:db8::1]:65535") == HostPort{"2001:db8::1", 65535});
  CHECK(parse_host_port("[::ffff:192.0.2.1]:1") == HostPort{"::ffff:192.0.2.1", 1});

  SECTION("default port") {
    CHECK(parse_host_port("192.0.2.53", 53) == HostPort{"192.0.2.53", 53});
    CHECK(parse_host_port("[::1]", 53) == HostPort{"::1", 53});
    CHECK(parse_host_port("::1", 53) == HostPort{"::1", 53});
    CHECK(parse_host_port("2001:db8::53", 53) == HostPort{"2001:db8::53", 53});
    CHECK(parse_host_port("resolver", 53) == HostPort{"resolver", 53});
    CHECK(parse_host_port("192.0.2.53:5353", 53) == HostPort{"192.0.2.53", 5353});
  }
  SECTION("port required when default_port is 0") {
    CHECK_FALSE(parse_host_port("127.0.0.1").has_value());
    CHECK_FALSE(parse_host_port("[::1]").has_value());
    CHECK_FALSE(parse_host_port("::1").has_value());
    CHECK_FALSE(parse_host_port("localhost").has_value());
  }
  SECTION("malformed") {
    for (const char* bad : {"",
                            ":3128",
                            "127.0.0.1:",
                            "127.0.0.1:0",
                            "127.0.0.1:65536",
                            "127.0.0.1:99999999999",
                            "127.0.0.1:-1",
                            "127.0.0.1:+80",
                            "127.0.0.1:80x",
                            "127.0.0.1: 80",
                            "::1:3128x",
                            "[::1:3128",
                            "[::1]3128",
                            "[::1]:",
                            "[127.0.0.1]:80",
                            "[example.com]:80",
                            "10.0.0:80",
                            "300.1.1.1:80",
                            "exa mple.com:80",
                            "-bad.example:80",
                            "a..b:80",
                            "http://x:80",
                            "host:80:90"}) {
      INFO("text '" << bad << "'");
      CHECK_FALSE(parse_host_port(bad).has_value());
      CHECK_FALSE(parse_host_port(bad, 53).has_value());
    }
  }
  SECTION("to_string re-brackets IPv6") {
    CHECK(HostPort{"127.0.0.1", 3128}.to_string() == "127.0.0.1:3128");
    CHECK(HostPort{"::1", 3128}.to_string() == "[::1]:3128");
    CHECK(HostPort{"localhost", 53}.to_string() == "localhost:53");
    for (const char* text : {"127.0.0.1:3128", "[::1]:3128", "[2001:db8::1]:80", "name:1"}) {
      CHECK(parse_host_port(text)->to_string() == text);
    }
  }
}

TEST_CASE("listen addresses are validated", "[unit][config]") {
  check_error(parse_err(R"([server]
listen = [
  "127.0.0.1:3128",
  "127.0.0.1:70000",
]
)"),
              4,
              "server.listen[1]: invalid listen address '127.0.0.1:70000': port 70000 is out of "
              "range (0..65535)");
  check_error(parse_err("[server]\nlisten = [\"localhost:3128\"]\n"), 2,
              "server.listen[0]: invalid listen address 'localhost:3128': the host must be an IP "
              "address such as 127.0.0.1, 0.0.0.0 or [::1], not a name");
  check_error(parse_err("[server]\nlisten = [\"::1:3128\"]\n"), 2,
              "server.listen[0]: invalid listen address '::1:3128': an IPv6 address with a port "
              "needs brackets: write '[::1]:3128'");
  check_error(parse_err("[server]\nlisten = [\"2001:db8::1\"]\n"), 2,
              "server.listen[0]: invalid listen address '2001:db8::1': the port is missing; an "
              "IPv6 address with a port is written in brackets, e.g. '[2001:db8::1]:3128'");
  check_error(parse_err("[server]\nlisten = [\"127.0.0.1\"]\n"), 2,
              "server.listen[0]: invalid listen address '127.0.0.1': the port is missing (e.g. "
              "':3128')");
  check_error(parse_err("[server]\nlisten = [\"127.0.0.1:http\"]\n"), 2,
              "server.listen[0]: invalid listen address '127.0.0.1:http': port 'http' is not a "
              "number");
  check_error(parse_err("[server]\nworkers = 1\nlisten = []\n"), 3,
              "server.listen: must list at least one address");
  check_error(parse_err("[server]\nlisten = [\"[::1]:3128\", \"[::1]:3128\"]\n"), 2,
              "server.listen[1]: '[::1]:3128' is listed twice");
  CHECK(parse_ok("[server]\nlisten = [\"127.0.0.1:0\"]\n").server.listen ==
        std::vector<HostPort>{{"127.0.0.1", 0}});
}

TEST_CASE("resolver servers must be IP addresses", "[unit][config]") {
  check_error(parse_err("[resolver]\nservers = [\"dns.example.com\"]\n"), 2,
              "resolver.servers[0]: invalid DNS server 'dns.example.com': the host must be an IP "
              "address such as 127.0.0.1 or [::1]");
  check_error(parse_err("[resolver]\nservers = [\"127.0.0.1:0\"]\n"), 2,
              "resolver.servers[0]: invalid DNS server '127.0.0.1:0': port 0 is out of range "
              "(1..65535)");
}

TEST_CASE("integers are range-checked", "[unit][config]") {
  check_error(parse_err("[server]\nworkers = 1025\n"), 2,
              "server.workers: must be between 0 and 1024 (got 1025)");
  check_error(parse_err("[server]\nworkers = -1\n"), 2,
              "server.workers: must not be negative (got -1)");
  CHECK(parse_ok("[server]\nworkers = 1024\n").server.workers == 1024);
  check_error(parse_err("[limits]\nmax_request_body_bytes = -1\n"), 2,
              "limits.max_request_body_bytes: must not be negative (got -1)");
  check_error(parse_err("[limits]\nmax_connections = -5\n"), 2,
              "limits.max_connections: must not be negative (got -5)");
  check_error(parse_err("[limits]\nmax_connections = 0\n"), 2,
              "limits.max_connections: must be at least 1 (got 0)");
  check_error(parse_err("[limits]\n\nmax_header_bytes = 1023\n"), 3,
              "limits.max_header_bytes: must be at least 1024 (got 1023)");
  check_error(parse_err("[limits]\nmax_uri_bytes = 100\n"), 2,
              "limits.max_uri_bytes: must be at least 1024 (got 100)");
  check_error(parse_err("[redirects]\nmax_chain = -1\n"), 2,
              "redirects.max_chain: must not be negative (got -1)");
  Config c = parse_ok("[limits]\nmax_header_bytes = 1024\nmax_uri_bytes = 1024\n");
  CHECK(c.limits.max_header_bytes == 1024);
  CHECK(c.limits.max_uri_bytes == 1024);
  check_error(parse_err(R"([access]
connect_ports = [443,
                 0]
)"),
              3, "access.connect_ports[1]: must be between 1 and 65535 (got 0)");
  check_error(parse_err("[access]\nconnect_ports = [65536]\n"), 2,
              "access.connect_ports[0]: must be between 1 and 65535 (got 65536)");
  CHECK(parse_ok("[access]\nconnect_ports = []\n").access.connect_ports.empty());
}

TEST_CASE("connect_ports takes ports and quoted inclusive ranges", "[unit][config]") {
  Config c = parse_ok(R"([access]
connect_ports = [443, "8000-9000", "22", "0080", "1-1"]
)");
  CHECK(c.access.connect_ports == std::vector<PortRange>{443, {8000, 9000}, 22, 80, 1});
  CHECK(c.access.connect_port_allowed(443));
  CHECK(c.access.connect_port_allowed(22));
  CHECK(c.access.connect_port_allowed(80));
  CHECK(c.access.connect_port_allowed(1));
  CHECK(c.access.connect_port_allowed(8000));
  CHECK(c.access.connect_port_allowed(8500));
  CHECK(c.access.connect_port_allowed(9000));
  CHECK_FALSE(c.access.connect_port_allowed(7999));
  CHECK_FALSE(c.access.connect_port_allowed(9001));
  CHECK_FALSE(c.access.connect_port_allowed(2));
  CHECK_FALSE(c.access.connect_port_allowed(0));

  Config all = parse_ok("[access]\nconnect_ports = [\"1-65535\"]\n");
  CHECK(all.access.connect_port_allowed(1));
  CHECK(all.access.connect_port_allowed(65535));
  CHECK_FALSE(parse_ok("[access]\nconnect_ports = []\n").access.connect_port_allowed(443));

  CHECK(PortRange(443).to_string() == "443");
  CHECK(PortRange(8000, 9000).to_string() == "8000-9000");
  CHECK(PortRange(443) == PortRange(443, 443));
  CHECK_FALSE(PortRange(443) == PortRange(443, 444));

  SECTION("strings that are neither a port nor a range") {
    for (const char* bad : {"https", "", "8000-", "-9000", "8000-9000-10000", " 443", "443 ",
                            "8000 - 9000", "+443", "0x1bb", "443.0", "8000..9000", "-"}) {
      INFO("text '" << bad << "'");
      auto e = parse_err(std::string("[access]\n\nconnect_ports = [\"") + bad + "\"]\n");
      CHECK(e.line == 3);
      CHECK(e.message == std::string("access.connect_ports[0]: invalid port or port range '") +
                             bad +
                             "' (use a port such as 443 or \"443\", or an inclusive range such "
                             "as \"8000-9000\")");
    }
  }
  SECTION("ports out of range, in strings and in ranges") {
    check_error(parse_err("[access]\nconnect_ports = [\"0\"]\n"), 2,
                "access.connect_ports[0]: must be between 1 and 65535 (got 0)");
    check_error(parse_err("[access]\nconnect_ports = [\"65536\"]\n"), 2,
                "access.connect_ports[0]: must be between 1 and 65535 (got 65536)");
    check_error(parse_err("[access]\nconnect_ports = [\"99999999999999999999\"]\n"), 2,
                "access.connect_ports[0]: must be between 1 and 65535 (got "
                "99999999999999999999)");
    check_error(parse_err("[access]\nconnect_ports = [443, \"0-100\"]\n"), 2,
                "access.connect_ports[1]: port range '0-100': ports must be between 1 and 65535 "
                "(got 0)");
    check_error(parse_err("[access]\nconnect_ports = [\"1-70000\"]\n"), 2,
                "access.connect_ports[0]: port range '1-70000': ports must be between 1 and 65535 "
                "(got 70000)");
    check_error(parse_err("[access]\nconnect_ports = [-443]\n"), 2,
                "access.connect_ports[0]: must not be negative (got -443)");
  }
  SECTION("a range written high to low") {
    check_error(parse_err("[access]\nconnect_ports = [\"9000-8000\"]\n"), 2,
                "access.connect_ports[0]: port range '9000-8000' runs backwards; write the lower "
                "port first: \"8000-9000\"");
  }
  SECTION("other TOML types") {
    check_error(parse_err("[access]\nconnect_ports = [443, true]\n"), 2,
                "access.connect_ports[1]: expected a port such as 443 or \"443\", or an "
                "inclusive range such as \"8000-9000\", got a boolean");
    check_error(parse_err("[access]\nconnect_ports = [[443]]\n"), 2,
                "access.connect_ports[0]: expected a port such as 443 or \"443\", or an "
                "inclusive range such as \"8000-9000\", got an array");
    check_error(parse_err("[access]\nconnect_ports = 443\n"), 2,
                "access.connect_ports: expected an array of ports and port ranges, e.g. [443, "
                "\"8000-9000\"], got an integer");
  }
}

TEST_CASE("an unquoted port range, which TOML reads as a date, gets a hint", "[unit][config]") {
  const std::string toml_says =
      "error while parsing date: expected month between 1 and 12 (inclusive), saw 90";
  check_error(parse_err("[access]\nconnect_ports = [443, 8000-9000]\n"), 2,
              "invalid TOML: port ranges must be quoted strings, e.g. \"8000-9000\" (unquoted, "
              "TOML reads 8000-9000 as a date: " +
                  toml_says + ")");
  check_error(parse_err("[access]\nconnect_ports = 8000-9000\n"), 2,
              "invalid TOML: port ranges must be quoted strings, e.g. \"8000-9000\" (unquoted, "
              "TOML reads 8000-9000 as a date: " +
                  toml_says + ")");
  SECTION("other shapes of range fail differently inside toml++, and still get the hint") {
    for (const char* range : {"80-90", "1-65535", "1000-1010", "10000-20000", "0443-0450"}) {
      INFO(range);
      auto e = parse_err(std::string("[access]\nconnect_ports = [\n  443,\n  ") + range + ",\n]\n");
      CHECK(e.line == 4);
      CHECK(e.message.rfind(std::string("invalid TOML: port ranges must be quoted strings, e.g. "
                                        "\"") +
                                range + "\" (unquoted, TOML reads " + range +
                                " as a date: error while parsing date: ",
                            0) == 0);
    }
  }
  SECTION("the unquoted range is named, not a quoted one before it") {
    auto e = parse_err("[access]\nconnect_ports = [\"1000-2000\", 7000-8000]\n");
    CHECK(e.message.rfind("invalid TOML: port ranges must be quoted strings, e.g. \"7000-8000\"",
                          0) == 0);
  }
  SECTION("a real date error keeps toml++'s message alone") {
    check_error(parse_err("[timeouts]\ndns = 1979-13-27\n"), 2,
                "invalid TOML: error while parsing date: expected month between 1 and 12 "
                "(inclusive), saw 13");
  }
}

TEST_CASE("unknown names get a suggestion when a known one is close", "[unit][config]") {
  SECTION("sections") {
    check_error(parse_err("[timeout]\ndns = \"1s\"\n"), 1,
                "unknown section [timeout]; did you mean [timeouts]?");
    check_error(parse_err("[server]\n[Server]\n"), 2,
                "unknown section [Server]; did you mean [server]?");
    check_error(parse_err("\n[acess]\n"), 2, "unknown section [acess]; did you mean [access]?");
    check_error(parse_err("[redirect]\n"), 1,
                "unknown section [redirect]; did you mean [redirects]?");
    check_error(parse_err("[proxy]\n"), 1, "unknown section [proxy]");
    check_error(parse_err("[tls]\n"), 1, "unknown section [tls]");
    check_error(parse_err("[\"a\\tb\"]\n"), 1, "unknown section [a\\x09b]");
  }
  SECTION("keys") {
    auto key_error = [](const std::string& section, const std::string& key) {
      auto e = parse_err("[" + section + "]\n" + key + " = 1\n");
      CHECK(e.line == 2);
      return e.message;
    };
    CHECK(key_error("server", "Listen") ==
          "unknown key 'Listen' in [server]; did you mean 'listen'?");
    CHECK(key_error("server", "lsiten") ==
          "unknown key 'lsiten' in [server]; did you mean 'listen'?");
    CHECK(key_error("server", "wokers") ==
          "unknown key 'wokers' in [server]; did you mean 'workers'?");
    CHECK(key_error("server", "drain-timeout") ==
          "unknown key 'drain-timeout' in [server]; did you mean 'drain_timeout'?");
    CHECK(key_error("server", "allowSharedPort") ==
          "unknown key 'allowSharedPort' in [server]; did you mean 'allow_shared_port'?");
    CHECK(key_error("timeouts", "dsn") == "unknown key 'dsn' in [timeouts]; did you mean 'dns'?");
    CHECK(key_error("timeouts", "tls") == "unknown key 'tls' in [timeouts]");
    CHECK(key_error("access", "connect_port") ==
          "unknown key 'connect_port' in [access]; did you mean 'connect_ports'?");
    CHECK(key_error("access", "allow_metric") ==
          "unknown key 'allow_metric' in [access]; did you mean 'allow_metrics'?");
    CHECK(key_error("access", "deny_destination_ip") ==
          "unknown key 'deny_destination_ip' in [access]; did you mean 'deny_destination_ips'?");
    CHECK(key_error("server", "lxstxx") == "unknown key 'lxstxx' in [server]");  // 3 edits
    CHECK(key_error("log", "levl") == "unknown key 'levl' in [log]; did you mean 'level'?");
    const std::string huge(100000, 'x');
    CHECK(key_error("server", huge) == "unknown key '" + huge + "' in [server]");
  }
}

TEST_CASE("server.name must be an RFC 9110 token", "[unit][config]") {
  check_error(parse_err("[server]\nname = \"\"\n"), 2, "server.name: must not be empty");
  const std::string rule =
      " is not a valid name: use only letters, digits and !#$%&'*+-.^_`|~ (an RFC 9110 token, as "
      "sent in Via and Proxy-Status)";
  check_error(parse_err("[server]\nname = \"gate house\"\n"), 2,
              "server.name: 'gate house'" + rule);
  check_error(parse_err("[server]\nname = \"proxy/1\"\n"), 2, "server.name: 'proxy/1'" + rule);
  check_error(parse_err("[server]\nname = \"a,b\"\n"), 2, "server.name: 'a,b'" + rule);
  check_error(parse_err("[server]\nname = \"caf\u00e9\"\n"), 2, "server.name: 'caf\u00e9'" + rule);
  check_error(parse_err("[server]\nname = \"a\\tb\"\n"), 2, "server.name: 'a\\x09b'" + rule);
  CHECK(parse_ok("[server]\nname = \"Proxy-1.example~x\"\n").server.name == "Proxy-1.example~x");
}

TEST_CASE("CIDR lists are validated at the element's line", "[unit][config]") {
  check_error(parse_err(R"([access]
allow_clients = [
  "127.0.0.0/8",
  "10.0.0.0/33",
]
)"),
              4,
              "access.allow_clients[1]: invalid CIDR '10.0.0.0/33' (use e.g. \"10.0.0.0/8\", "
              "\"fc00::/7\" or a single address)");
  check_error(parse_err("[access]\ndeny_destination_ips = [\"169.254.0.0/16\", \"localhost\"]\n"),
              2,
              "access.deny_destination_ips[1]: invalid CIDR 'localhost' (use e.g. "
              "\"10.0.0.0/8\", \"fc00::/7\" or a single address)");
  check_error(parse_err("[access]\nallow_clients = []\n"), 2,
              "access.allow_clients: an empty list would refuse every client; to allow any "
              "address list \"0.0.0.0/0\" and \"::/0\"");
  Config c = parse_ok("[access]\nallow_clients = [\"192.168.1.10/24\", \"2001:db8::1\"]\n");
  CHECK(c.access.allow_clients[0].to_string() == "192.168.1.0/24");
  CHECK(c.access.allow_clients[1].to_string() == "2001:db8::1/128");
}

TEST_CASE("destination patterns are validated and lower-cased", "[unit][config]") {
  for (const char* bad : {"exa mple.com", "*", "*.", "**.example.com", "foo.*.com", "10.0.0",
                          "[::1]", "http://example.com", "example.com:443", "", "-x.com"}) {
    INFO("text '" << bad << "'");
    auto e = parse_err(std::string("[access]\n\ndeny_destinations = [\"") + bad + "\"]\n");
    CHECK(e.line == 3);
    CHECK(e.message == std::string("access.deny_destinations[0]: invalid destination '") + bad +
                           "' (use a host name, \"*.example.com\" or a CIDR such as "
                           "\"10.0.0.0/8\")");
  }
  Config c = parse_ok(
      "[access]\nallow_destinations = [\"*.EXAMPLE.com\", \"Intranet\", \"fd00::/8\", "
      "\"a_b.example.\"]\n");
  CHECK(c.access.allow_destinations ==
        std::vector<std::string>{"*.example.com", "intranet", "fd00::/8", "a_b.example"});
}

TEST_CASE("methods are tokens and upper-cased", "[unit][config]") {
  check_error(parse_err("[access]\ndisabled_methods = [\"TRACE\", \"GE T\"]\n"), 2,
              "access.disabled_methods[1]: invalid method 'GE T' (a method name is an RFC 9110 "
              "token, e.g. \"TRACE\")");
  check_error(parse_err("[access]\ndisabled_methods = [\"\"]\n"), 2,
              "access.disabled_methods[0]: invalid method '' (a method name is an RFC 9110 "
              "token, e.g. \"TRACE\")");
  CHECK(parse_ok("[access]\ndisabled_methods = [\"trace\", \"m-search\"]\n")
            .access.disabled_methods == std::vector<std::string>{"TRACE", "M-SEARCH"});
  CHECK(parse_ok("[access]\ndisabled_methods = []\n").access.disabled_methods.empty());
}

TEST_CASE("media types are type/subtype or type/*, lower-cased", "[unit][config]") {
  for (const char* bad : {"text", "*/*", "*/html", "text/", "/html", "text/html; charset=utf-8",
                          "text/html/x", "te xt/html", ""}) {
    INFO("text '" << bad << "'");
    auto e = parse_err(std::string("[mime]\nallow_responses = [\n\"") + bad + "\"]\n");
    CHECK(e.line == 3);
    CHECK(e.message == std::string("mime.allow_responses[0]: invalid media type '") + bad +
                           "' (use \"type/subtype\" or \"type/*\", without parameters)");
  }
  Config c = parse_ok(
      "[mime]\ndeny_requests = [\"Application/JSON\", \"Image/*\", "
      "\"application/vnd.ms-excel\"]\n");
  CHECK(c.mime.deny_requests ==
        std::vector<std::string>{"application/json", "image/*", "application/vnd.ms-excel"});
}

TEST_CASE("log, auth and errors strings are validated", "[unit][config]") {
  check_error(parse_err("[log]\nformat = \"text\"\n"), 2,
              "log.format: invalid value 'text' (expected one of: json, combined)");
  check_error(parse_err("[log]\nlevel = \"verbose\"\n"), 2,
              "log.level: invalid value 'verbose' (expected one of: debug, info, warn, error)");
  check_error(parse_err("[log]\nlevel = \"INFO\"\n"), 2,
              "log.level: invalid value 'INFO' (expected one of: debug, info, warn, error)");
  check_error(parse_err("[log]\naccess = \"\"\n"), 2,
              "log.access: must not be empty (use \"off\" to disable the access log)");
  CHECK(parse_ok("[log]\nlevel = \"warn\"\n").log.level == LogLevel::kWarn);
  CHECK(parse_ok("[log]\nlevel = \"error\"\n").log.level == LogLevel::kError);
  CHECK(parse_ok("[log]\naccess = \"off\"\n").log.access == "off");
  check_error(parse_err("[auth]\nrealm = \"\"\n"), 2, "auth.realm: must not be empty");
  check_error(parse_err("[auth]\nrealm = 'say \"hi\"'\n"), 2,
              "auth.realm: 'say \"hi\"' must not contain control characters, '\"' or '\\'");
  check_error(parse_err("[auth]\nhtpasswd = \"/etc/x\\ny\"\n"), 2,
              "auth.htpasswd: '/etc/x\\x0ay' must not contain control characters");
  check_error(parse_err("[errors]\ncontact = \"a\\u007fb\"\n"), 2,
              "errors.contact: 'a\\x7fb' must not contain control characters");
}

TEST_CASE("environment overrides apply after the file", "[unit][config]") {
  Environment env{
      {"GATEHOUSE_SERVER_LISTEN", "0.0.0.0:3128, [::]:3128"},
      {"GATEHOUSE_SERVER_WORKERS", "8"},
      {"GATEHOUSE_SERVER_MAINTENANCE", "true"},
      {"GATEHOUSE_TIMEOUTS_DNS", "2s"},
      {"GATEHOUSE_ACCESS_CONNECT_PORTS", "443, 8443,8000-9000 ,22"},
      {"GATEHOUSE_ACCESS_ALLOW_METRICS", "10.0.0.0/8"},
      {"GATEHOUSE_SERVER_ALLOW_SHARED_PORT", "true"},
      {"GATEHOUSE_ACCESS_DISABLED_METHODS", "trace,connect"},
      {"GATEHOUSE_ACCESS_DENY_DESTINATION_IPS", ""},
      {"GATEHOUSE_AUTH_HTPASSWD", "/run/secrets/htpasswd"},
      {"GATEHOUSE_LOG_FORMAT", "combined"},
      {"GATEHOUSE_LIMITS_MAX_REQUEST_BODY_BYTES", "1000000"},
      {"PATH", "/usr/bin"},               // not ours: ignored
      {"gatehouse_server_workers", "x"},  // no GATEHOUSE_ prefix: ignored
  };
  Config c =
      parse_ok("[server]\nworkers = 2\nname = \"from-file\"\n[timeouts]\ndns = \"9s\"\n", env);
  CHECK(c.server.listen == std::vector<HostPort>{{"0.0.0.0", 3128}, {"::", 3128}});
  CHECK(c.server.workers == 8);
  CHECK(c.server.name == "from-file");
  CHECK(c.server.maintenance);
  CHECK(c.timeouts.dns == 2s);
  CHECK(c.access.connect_ports == std::vector<PortRange>{443, 8443, {8000, 9000}, 22});
  CHECK(c.access.allow_metrics == std::vector<Cidr>{*Cidr::parse("10.0.0.0/8")});
  CHECK(c.server.allow_shared_port);
  CHECK(c.access.disabled_methods == std::vector<std::string>{"TRACE", "CONNECT"});
  CHECK(c.access.deny_destination_ips.empty());
  CHECK(c.auth.htpasswd == "/run/secrets/htpasswd");
  CHECK(c.log.format == LogFormat::kCombined);
  CHECK(c.limits.max_request_body_bytes == 1000000);

  SECTION("default_config applies them too") {
    auto r = default_config(
        {{"GATEHOUSE_SERVER_MAINTENANCE", "false"}, {"GATEHOUSE_REDIRECTS_REMEMBER", "1h"}});
    REQUIRE(std::holds_alternative<Config>(r));
    Config expected;
    expected.redirects.remember = 1h;
    CHECK(std::get<Config>(r) == expected);
    auto plain = default_config();
    REQUIRE(std::holds_alternative<Config>(plain));
    CHECK(std::get<Config>(plain) == Config{});
  }
}

TEST_CASE("bad environment overrides name the variable", "[unit][config]") {
  auto env_err = [](const std::string& name, const std::string& value) {
    auto r = parse_config("", "test.toml", {{name, value}});
    REQUIRE(std::holds_alternative<ConfigError>(r));
    auto e = std::get<ConfigError>(r);
    CHECK(e.source == name);
    CHECK(e.line == 0);
    CHECK(e.column == 0);
    // default_config reports the same problem.
    auto d = default_config({{name, value}});
    REQUIRE(std::holds_alternative<ConfigError>(d));
    CHECK(std::get<ConfigError>(d).to_string() == e.to_string());
    return e.to_string();
  };
  CHECK(env_err("GATEHOUSE_TIMEOUTS_DNS", "5 seconds") ==
        "GATEHOUSE_TIMEOUTS_DNS: timeouts.dns: invalid duration '5 seconds' (use e.g. \"250ms\", "
        "\"30s\", \"5m\")");
  CHECK(env_err("GATEHOUSE_SERVER_WORKERS", "four") ==
        "GATEHOUSE_SERVER_WORKERS: server.workers: expected an integer, got 'four'");
  CHECK(env_err("GATEHOUSE_SERVER_WORKERS", "2000") ==
        "GATEHOUSE_SERVER_WORKERS: server.workers: must be between 0 and 1024 (got 2000)");
  CHECK(env_err("GATEHOUSE_SERVER_WORKERS", "99999999999999999999") ==
        "GATEHOUSE_SERVER_WORKERS: server.workers: integer '99999999999999999999' is out of range");
  CHECK(env_err("GATEHOUSE_SERVER_MAINTENANCE", "yes") ==
        "GATEHOUSE_SERVER_MAINTENANCE: server.maintenance: expected true or false, got 'yes'");
  CHECK(env_err("GATEHOUSE_ACCESS_CONNECT_PORTS", "443,https") ==
        "GATEHOUSE_ACCESS_CONNECT_PORTS: access.connect_ports[1]: invalid port or port range "
        "'https' (use a port such as 443 or \"443\", or an inclusive range such as "
        "\"8000-9000\")");
  CHECK(env_err("GATEHOUSE_ACCESS_CONNECT_PORTS", "443, 9000-8000") ==
        "GATEHOUSE_ACCESS_CONNECT_PORTS: access.connect_ports[1]: port range '9000-8000' runs "
        "backwards; write the lower port first: \"8000-9000\"");
  CHECK(env_err("GATEHOUSE_SERVER_ALLOW_SHARED_PORT", "1") ==
        "GATEHOUSE_SERVER_ALLOW_SHARED_PORT: server.allow_shared_port: expected true or false, "
        "got '1'");
  CHECK(env_err("GATEHOUSE_ACCESS_ALLOW_METRICS", "127.0.0.1,localhost") ==
        "GATEHOUSE_ACCESS_ALLOW_METRICS: access.allow_metrics[1]: invalid CIDR 'localhost' (use "
        "e.g. \"10.0.0.0/8\", \"fc00::/7\" or a single address)");
  CHECK(env_err("GATEHOUSE_ACCESS_CONNECT_PORTS", "443,70000") ==
        "GATEHOUSE_ACCESS_CONNECT_PORTS: access.connect_ports[1]: must be between 1 and 65535 "
        "(got 70000)");
  CHECK(env_err("GATEHOUSE_SERVER_LISTEN", "") ==
        "GATEHOUSE_SERVER_LISTEN: server.listen: must list at least one address");
  CHECK(env_err("GATEHOUSE_SERVER_LISTEN", "127.0.0.1:3128,,[::1]:3128") ==
        "GATEHOUSE_SERVER_LISTEN: server.listen[1]: invalid listen address '': the address is "
        "empty");
  CHECK(env_err("GATEHOUSE_ACCESS_ALLOW_CLIENTS", "10.0.0.0/8,bogus") ==
        "GATEHOUSE_ACCESS_ALLOW_CLIENTS: access.allow_clients[1]: invalid CIDR 'bogus' (use e.g. "
        "\"10.0.0.0/8\", \"fc00::/7\" or a single address)");
  CHECK(env_err("GATEHOUSE_LOG_LEVEL", "loud") ==
        "GATEHOUSE_LOG_LEVEL: log.level: invalid value 'loud' (expected one of: debug, info, "
        "warn, error)");
  SECTION("names that match no key") {
    CHECK(env_err("GATEHOUSE_SERVER_LISEN", "x") ==
          "GATEHOUSE_SERVER_LISEN: unknown key 'lisen' in [server]; did you mean "
          "GATEHOUSE_SERVER_LISTEN?");
    CHECK(env_err("GATEHOUSE_SERVER_BOGUS", "x") ==
          "GATEHOUSE_SERVER_BOGUS: unknown key 'bogus' in [server] (override variables are named "
          "GATEHOUSE_<SECTION>_<KEY>, in upper case)");
    CHECK(env_err("GATEHOUSE_SERVER_DRAINTIMEOUT", "1s") ==
          "GATEHOUSE_SERVER_DRAINTIMEOUT: unknown key 'draintimeout' in [server]; did you mean "
          "GATEHOUSE_SERVER_DRAIN_TIMEOUT?");
    CHECK(env_err("GATEHOUSE_ACCESS_CONECT_PORT", "443") ==
          "GATEHOUSE_ACCESS_CONECT_PORT: unknown key 'conect_port' in [access]; did you mean "
          "GATEHOUSE_ACCESS_CONNECT_PORTS?");
    CHECK(env_err("GATEHOUSE_SERVER", "x") ==
          "GATEHOUSE_SERVER: unknown key '' in [server] (override variables are named "
          "GATEHOUSE_<SECTION>_<KEY>, in upper case)");
    CHECK(env_err("GATEHOUSE_server_workers", "2") ==
          "GATEHOUSE_server_workers: unknown key 'workers' in [server]; did you mean "
          "GATEHOUSE_SERVER_WORKERS?");
  }
  SECTION("variables naming no section are left alone (Kubernetes service variables)") {
    for (const char* name : {"GATEHOUSE_PORT", "GATEHOUSE_SERVICE_HOST", "GATEHOUSE_PORT_3128_TCP",
                             "GATEHOUSE_SEVER_LISTEN", "GATEHOUSE_"}) {
      INFO(name);
      auto r = parse_config("", "test.toml", {{name, "tcp://10.0.0.1:3128"}});
      CHECK(std::holds_alternative<Config>(r));
    }
  }
  SECTION("file errors come before environment errors") {
    auto r =
        parse_config("[server]\nworkers = -1\n", "test.toml", {{"GATEHOUSE_TIMEOUTS_DNS", "bad"}});
    REQUIRE(std::holds_alternative<ConfigError>(r));
    CHECK(std::get<ConfigError>(r).source == "test.toml");
    CHECK(std::get<ConfigError>(r).line == 2);
  }
}

TEST_CASE("process_environment reads only GATEHOUSE_ variables", "[unit][config]") {
  REQUIRE(setenv("GATEHOUSE_CFGTEST_PROBE", "a=b,c", 1) == 0);
  REQUIRE(setenv("GATEHOUSEX_CFGTEST_PROBE", "no", 1) == 0);
  Environment env = process_environment();
  unsetenv("GATEHOUSE_CFGTEST_PROBE");
  unsetenv("GATEHOUSEX_CFGTEST_PROBE");
  REQUIRE(env.count("GATEHOUSE_CFGTEST_PROBE") == 1);
  CHECK(env.at("GATEHOUSE_CFGTEST_PROBE") == "a=b,c");
  CHECK(env.count("GATEHOUSEX_CFGTEST_PROBE") == 0);
  CHECK(env.count("PATH") == 0);
  for (const auto& [name, value] : env) CHECK(name.rfind("GATEHOUSE_", 0) == 0);
}

TEST_CASE("ConfigError formats file:line or source alone", "[unit][config]") {
  CHECK(ConfigError{.source = "a.toml", .line = 7, .column = 3, .message = "boom"}.to_string() ==
        "a.toml:7: boom");
  CHECK(
      ConfigError{.source = "GATEHOUSE_X", .line = 0, .column = 0, .message = "boom"}.to_string() ==
      "GATEHOUSE_X: boom");
}

TEST_CASE("load_config reads files and reports unreadable ones", "[unit][config]") {
  auto missing = load_config("/nonexistent/gatehouse.toml");
  REQUIRE(std::holds_alternative<ConfigError>(missing));
  CHECK(std::get<ConfigError>(missing).to_string() ==
        "/nonexistent/gatehouse.toml: cannot read: No such file or directory");
  auto dir = load_config(GATEHOUSE_SOURCE_DIR);
  REQUIRE(std::holds_alternative<ConfigError>(dir));
  CHECK(std::get<ConfigError>(dir).to_string() ==
        std::string(GATEHOUSE_SOURCE_DIR) + ": cannot read: Is a directory");
}

TEST_CASE("the shipped gatehouse.toml parses and equals the defaults", "[unit][config]") {
  const std::string path = std::string(GATEHOUSE_SOURCE_DIR) + "/gatehouse.toml";
  auto r = load_config(path);
  if (auto* err = std::get_if<ConfigError>(&r)) FAIL(err->to_string());
  const Config& c = std::get<Config>(r);
  const Config d;
  CHECK(c.server == d.server);
  CHECK(c.timeouts == d.timeouts);
  CHECK(c.limits == d.limits);
  CHECK(c.resolver == d.resolver);
  CHECK(c.access == d.access);
  CHECK(c.auth == d.auth);
  CHECK(c.mime == d.mime);
  CHECK(c.redirects == d.redirects);
  CHECK(c.errors == d.errors);
  CHECK(c.log == d.log);
  CHECK(c == d);

  // The keys added later are spelt out in the file too, not left to the defaults.
  auto shipped = toml::parse_file(path);
  CHECK(shipped["server"]["allow_shared_port"].value<bool>() == false);
  CHECK(shipped["access"]["allow_metrics"].as_array() != nullptr);
  CHECK(shipped["access"]["connect_ports"].as_array() != nullptr);
  CHECK(shipped["access"]["deny_destination_ips"].as_array()->size() == 8);

  // Its errors point into the file: a bad override still names the variable.
  auto bad = load_config(path, {{"GATEHOUSE_SERVER_NAME", "a b"}});
  REQUIRE(std::holds_alternative<ConfigError>(bad));
  CHECK(std::get<ConfigError>(bad).source == "GATEHOUSE_SERVER_NAME");
}

TEST_CASE("server.name must start with a letter (an sf-token in Proxy-Status)", "[unit][config]") {
  CHECK(parse_ok("[server]\nname = \"gw-1\"\n").server.name == "gw-1");
  CHECK(parse_ok("[server]\nname = \"*proxy\"\n").server.name == "*proxy");
  ConfigError e = parse_err("[server]\nname = \"1proxy\"\n");
  CHECK(e.line == 2);
  CHECK_THAT(e.message, Catch::Contains("must start with a letter"));
}

TEST_CASE("TOML syntax errors show control bytes escaped, on one line", "[unit][config]") {
  ConfigError e = parse_err("a = tru\x1b\n");
  INFO(e.to_string());
  CHECK(e.message.find('\x1b') == std::string::npos);
  ConfigError nl = parse_err("a = fals\n");
  for (char c : nl.to_string()) CHECK((static_cast<unsigned char>(c) >= 0x20 || c == '\t'));
}

}  // namespace gatehouse
