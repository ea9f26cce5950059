#include <catch2/catch.hpp>

#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "proxy/error_catalog.h"
#include "proxy/error_page.h"

using namespace gatehouse;

namespace {

constexpr long kNow = 1700000000;  // Tue, 14 Nov 2023 22:13:20 GMT

// ---- A small, strict JSON parser, independent of the code under test -------------------

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;

  const Json* get(const std::string& key) const {
    for (const auto& [k, v] : obj) {
      if (k == key) return &v;
    }
    return nullptr;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  std::optional<Json> parse() {
    Json v;
    ws();
    if (!value(v, 0)) return std::nullopt;
    ws();
    if (i_ != s_.size()) return std::nullopt;
    return v;
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t'))
      ++i_;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool word(const char* w, size_t n) {
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  bool value(Json& v, int depth) {
    if (depth > 32 || i_ >= s_.size()) return false;
    char c = s_[i_];
    if (c == '{') {
      v.kind = Json::kObject;
      ++i_;
      ws();
      if (eat('}')) return true;
      for (;;) {
        ws();
        std::string key;
        if (!string(key)) return false;
        ws();
        if (!eat(':')) return false;
        ws();
        Json member;
        if (!value(member, depth + 1)) return false;
        for (const auto& kv : v.obj) {
          if (kv.first == key) return false;  // duplicate names: reject
        }
        v.obj.emplace_back(key, std::move(member));
        ws();
        if (eat(',')) continue;
        return eat('}');
      }
    }
    if (c == '[') {
      v.kind = Json::kArray;
      ++i_;
      ws();
      if (eat(']')) return true;
      for (;;) {
        ws();
        Json item;
        if (!value(item, depth + 1)) return false;
        v.arr.push_back(std::move(item));
        ws();
        if (eat(',')) continue;
        return eat(']');
      }
    }
    if (c == '"') {
      v.kind = Json::kString;
      return string(v.str);
    }
    if (word("true", 4)) {
      v.kind = Json::kBool;
      v.b = true;
      return true;
    }
    if (word("false", 5)) {
      v.kind = Json::kBool;
      return true;
    }
    if (word("null", 4)) return true;
    size_t start = i_;
    eat('-');
    if (i_ >= s_.size() || !isdigit(static_cast<unsigned char>(s_[i_]))) return false;
    if (s_[i_] == '0') {
      ++i_;
    } else {
      while (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    if (eat('.')) {
      if (i_ >= s_.size() || !isdigit(static_cast<unsigned char>(s_[i_]))) return false;
      while (i_ < s_.size() && isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    v.kind = Json::kNumber;
    v.num = std::stod(s_.substr(start, i_ - start));
    return true;
  }
  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  bool string(std::string& out) {
    if (!eat('"')) return false;
    while (i_ < s_.size()) {
      auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (i_ >= s_.size()) return false;
      char e = s_[i_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out += e;
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          unsigned cp = static_cast<unsigned>(std::stoul(s_.substr(i_, 4), nullptr, 16));
          i_ += 4;
          put_utf8(out, cp);
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }

  const std::string& s_;
  size_t i_ = 0;
};

std::optional<Json> parse_json(const std::string& s) {
  return JsonParser(s).parse();
}

// ---- Helpers ----------------------------------------------------------------------------

struct Response {
  std::string head;  // status line and fields, CRLF-separated, without the blank line
  std::string body;
  std::vector<std::string> lines;

  std::optional<std::string> field(const std::string& name) const {
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      if (iequals(lines[i].substr(0, colon), name)) return lines[i].substr(colon + 2);
    }
    return std::nullopt;
  }
};

Response respond(const ErrorDetails& e, std::string_view name = "gatehouse") {
  std::string out;
  build_error_response(e, name, kNow, out);
  Response r;
  size_t end = out.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  r.head = out.substr(0, end);
  r.body = out.substr(end + 4);
  size_t start = 0;
  while (start <= r.head.size()) {
    size_t crlf = r.head.find("\r\n", start);
    if (crlf == std::string::npos) crlf = r.head.size();
    r.lines.push_back(r.head.substr(start, crlf - start));
    start = crlf + 2;
  }
  return r;
}

bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80             ? 1
               : (c & 0xE0) == 0xC0 ? 2
               : (c & 0xF0) == 0xE0 ? 3
               : (c & 0xF8) == 0xF0 ? 4
                                    : 0;
    if (n == 0 || i + n > s.size()) return false;
    if (n == 2 && c < 0xC2) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

constexpr const char* kFirefox =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";
constexpr const char* kChrome =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/"
    "*;q=0.8,application/signed-exchange;v=b3;q=0.7";

ErrorDetails dns_error(const std::string& accept) {
  ErrorDetails e;
  e.cause = Cause::kDnsError;
  e.details = "The DNS server says nx.example does not exist.";
  e.rcode = "NXDOMAIN";
  e.next_hop = "nx.example:80";
  e.method = "GET";
  e.url = "http://nx.example/page";
  e.request_id = "req-0001";
  e.accept = accept;
  return e;
}

// A temporary directory removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gh-errpages-XXXXXX").string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream f(path / name, std::ios::binary);
    f << text;
  }
};

std::string html_escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

bool has_warning(const std::vector<std::string>& warnings, const std::string& file,
                 const std::string& part) {
  for (const auto& w : warnings) {
    if (w.find(file) != std::string::npos && w.find(part) != std::string::npos) return true;
  }
  return false;
}

const Cause kAllCauses[] = {
    Cause::kBadRequest,
    Cause::kMissingHost,
    Cause::kNotProxyRequest,
    Cause::kUnsupportedScheme,
    Cause::kClientDenied,
    Cause::kDestinationDenied,
    Cause::kConnectPortDenied,
    Cause::kProxyAuthRequired,
    Cause::kMethodDisabled,
    Cause::kRequestTimeout,
    Cause::kBodyTooLarge,
    Cause::kUriTooLong,
    Cause::kHeadersTooLarge,
    Cause::kRequestTypeBlocked,
    Cause::kExpectationFailed,
    Cause::kNotImplemented,
    Cause::kVersionNotSupported,
    Cause::kDnsError,
    Cause::kDnsTimeout,
    Cause::kConnectionRefused,
    Cause::kDestinationUnroutable,
    Cause::kConnectTimeout,
    Cause::kDestinationProhibited,
    Cause::kConnectionTerminated,
    Cause::kResponseTimeout,
    Cause::kResponseProtocolError,
    Cause::kResponseHeadersTooLarge,
    Cause::kLoopDetected,
    Cause::kResponseTypeBlocked,
    Cause::kRedirectLoop,
    Cause::kConnectionLimit,
    Cause::kMaintenance,
    Cause::kRequestBodyTimeout,
    Cause::kEndpointDenied,
    Cause::kInternal,
};
static_assert(std::size(kAllCauses) == static_cast<size_t>(Cause::kInternal) + 1);

}  // namespace

// ---- Accept negotiation -------------------------------------------------------------------

TEST_CASE("Accept picks the body format", "[unit][error_page]") {
  struct Row {
    const char* accept;
    BodyFormat want;
  };
  const Row rows[] = {
      {"", BodyFormat::kText},
      {"*/*", BodyFormat::kText},  // curl, wget, python requests
      {kFirefox, BodyFormat::kHtml},
      {kChrome, BodyFormat::kHtml},
      {"text/html", BodyFormat::kHtml},
      {"application/json", BodyFormat::kJson},
      {"application/problem+json", BodyFormat::kJson},
      {"application/json, text/plain, */*", BodyFormat::kJson},  // axios
      {"application/json, */*;q=0.5", BodyFormat::kJson},        // httpie
      {"text/plain", BodyFormat::kText},
      {"text/plain;q=0, */*", BodyFormat::kHtml},
      {"text/plain;q=0, text/html;q=0, */*", BodyFormat::kJson},
      {"text/*", BodyFormat::kText},
      {"application/*", BodyFormat::kJson},
      {"text/html;q=0.4, application/json;q=0.5", BodyFormat::kJson},
      {"TEXT/HTML", BodyFormat::kHtml},
      {"text/html ; q=1 , text/plain ; q=0.9", BodyFormat::kHtml},
      {"image/png", BodyFormat::kText},                            // nothing we have: plain text
      {"text/html;q=0, application/json;q=0", BodyFormat::kText},  // idem
      {"garbage", BodyFormat::kText},
      {";;;,,,", BodyFormat::kText},
      {"text/html;q=2", BodyFormat::kText},  // invalid qvalue: range ignored
      {"text/html;q=0.5x, */*;q=0.1", BodyFormat::kText},
      {"*/html", BodyFormat::kText},  // not a valid media range
      {"text/html;level=\"a,b\";q=0.9, text/plain;q=0.8", BodyFormat::kHtml},
  };
  for (const auto& r : rows) {
    INFO("Accept: " << r.accept);
    CHECK(negotiate_format(r.accept) == r.want);
  }
  CHECK(content_type(BodyFormat::kHtml) == "text/html; charset=utf-8");
  CHECK(content_type(BodyFormat::kText) == "text/plain; charset=utf-8");
  CHECK(content_type(BodyFormat::kJson) == "application/problem+json");
}

// ---- The catalogue's words ----------------------------------------------------------------

TEST_CASE("every cause has a name, hints, and a meaning for its status", "[unit][error_page]") {
  std::set<std::string_view> names;
  for (Cause c : kAllCauses) {
    const CauseInfo& info = cause_info(c);
    INFO(info.status << " " << info.name);
    CHECK(!info.title.empty());
    CHECK(!info.name.empty());
    CHECK(info.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz_") == std::string_view::npos);
    CHECK(names.insert(info.name).second);  // unique: it ends the problem type URI
    CHECK(info.user_hint.size() > 20);
    CHECK(info.admin_hint.size() > 20);
    CHECK(info.user_hint != info.admin_hint);
    CHECK(info.limit_setting.empty() == (info.limit_unit == LimitUnit::kNone));
  }
  // Every generated status has its own sentence, not the class fallback.
  const std::vector<int> want = {400, 403, 405, 407, 408, 413, 414, 415, 417,
                                 431, 500, 501, 502, 503, 504, 505, 508};
  CHECK(generated_statuses() == want);
  for (int status : want) {
    INFO(status);
    CHECK(status_meaning(status).size() > 30);
    CHECK(status_meaning(status) != status_meaning(status / 100 * 100 + 99));
    CHECK(reason_phrase(status) != reason_phrase(status / 100 * 100 + 99));
  }
  CHECK(rcode_meaning("NXDOMAIN") == "the name does not exist");
  CHECK(rcode_meaning("servfail").find("could not") != std::string_view::npos);
  CHECK(rcode_meaning("BOGUS").empty());
}

// ---- Each format --------------------------------------------------------------------------

TEST_CASE("the text body explains status, case and next steps", "[unit][error_page]") {
  Response r = respond(dns_error("*/*"));
  CHECK(r.lines[0] == "HTTP/1.1 502 Bad Gateway");
  CHECK(r.field("Content-Type") == "text/plain; charset=utf-8");
  CHECK(r.field("Content-Length") == std::to_string(r.body.size()));
  CHECK(r.field("Date") == "Tue, 14 Nov 2023 22:13:20 GMT");
  CHECK(r.field("Cache-Control") == "no-store");
  CHECK(r.field("Vary") == "Accept");
  CHECK(r.field("X-Request-Id") == "req-0001");
  CHECK(r.field("Proxy-Status") ==
        "gatehouse; error=dns_error; rcode=\"NXDOMAIN\"; next-hop=\"nx.example:80\"; "
        "details=\"The DNS server says nx.example does not exist.\"");
  CHECK_FALSE(r.field("Content-Security-Policy"));
  CHECK_FALSE(r.field("Connection"));

  const std::string& b = r.body;
  CHECK(b.rfind("502 Bad Gateway: The destination name could not be resolved\n", 0) == 0);
  CHECK(b.find("What happened\n  The DNS server says nx.example does not exist.\n") !=
        std::string::npos);
  CHECK(b.find("Request:    GET http://nx.example/page\n") != std::string::npos);
  CHECK(b.find("Next hop:   nx.example:80\n") != std::string::npos);
  CHECK(b.find("DNS answer: NXDOMAIN (the name does not exist)\n") != std::string::npos);
  CHECK(b.find("What you can do\n  Check the spelling") != std::string::npos);
  CHECK(b.find("For the administrator\n  The rcode") != std::string::npos);
  CHECK(b.find("-- gatehouse | request req-0001 | Tue, 14 Nov 2023 22:13:20 GMT\n") !=
        std::string::npos);
  CHECK(b.back() == '\n');
  // Readable in an 80-column terminal: our own prose is wrapped.
  size_t start = 0;
  while (start < b.size()) {
    size_t nl = b.find('\n', start);
    INFO(b.substr(start, nl - start));
    CHECK(nl - start <= 80);
    start = nl + 1;
  }
}

TEST_CASE("the HTML body is a self-contained page", "[unit][error_page]") {
  for (const char* accept : {kFirefox, kChrome}) {
    ErrorDetails e = dns_error(accept);
    e.contact = "helpdesk@example.com";
    Response r = respond(e);
    CHECK(r.field("Content-Type") == "text/html; charset=utf-8");
    CHECK(r.field("Content-Length") == std::to_string(r.body.size()));
    auto csp = r.field("Content-Security-Policy");
    REQUIRE(csp);
    CHECK(csp->find("default-src 'none'") != std::string::npos);
    const std::string& b = r.body;
    CHECK(b.rfind("<!doctype html>\n<html lang=\"en\">", 0) == 0);
    CHECK(b.find("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">") !=
          std::string::npos);
    CHECK(b.find("<meta charset=\"utf-8\">") != std::string::npos);
    CHECK(b.find("<title>502 Bad Gateway: The destination name could not be resolved</title>") !=
          std::string::npos);
    CHECK(b.find("<h1>The destination name could not be resolved</h1>") != std::string::npos);
    CHECK(b.find("The DNS server says nx.example does not exist.") != std::string::npos);
    CHECK(b.find("<dt>DNS answer</dt><dd>NXDOMAIN (the name does not exist)</dd>") !=
          std::string::npos);
    CHECK(b.find("<h2>What you can do</h2>\n<p>Check the spelling") != std::string::npos);
    CHECK(b.find("<h2>For the administrator</h2>\n<p>The rcode") != std::string::npos);
    CHECK(b.find("request <code>req-0001</code>") != std::string::npos);
    CHECK(b.find("<a href=\"mailto:helpdesk@example.com\">helpdesk@example.com</a>") !=
          std::string::npos);
    // No external assets, no scripts.
    CHECK(b.find("<script") == std::string::npos);
    CHECK(b.find("src=") == std::string::npos);
    CHECK(b.find("<link") == std::string::npos);
    CHECK(b.find("@import") == std::string::npos);
    CHECK(b.find("url(") == std::string::npos);
    CHECK(b.substr(b.size() - 8) == "</html>\n");
  }
}

TEST_CASE("the JSON body is RFC 9457 problem details", "[unit][error_page]") {
  ErrorDetails e = dns_error("application/json");
  e.type_base = "http://127.0.0.1:3128";
  e.contact = "ops@example.com";
  Response r = respond(e);
  CHECK(r.field("Content-Type") == "application/problem+json");
  CHECK(r.field("Vary") == "Accept");
  auto j = parse_json(r.body);  // the parser rejects duplicate member names
  REQUIRE(j);
  REQUIRE(j->kind == Json::kObject);
  // Each fact once: the RFC 9457 members, then the extensions (docs/errors.md lists them).
  std::vector<std::string> members;
  for (const auto& kv : j->obj) members.push_back(kv.first);
  CHECK(members == std::vector<std::string>{"type", "title", "status", "detail", "cause", "summary",
                                            "method", "url", "next_hop", "rcode", "request_id",
                                            "hints", "contact"});
  CHECK(j->get("type")->str == "http://127.0.0.1:3128/gatehouse/errors/dns_error");
  CHECK(j->get("title")->str == "The destination name could not be resolved");
  REQUIRE(j->get("status")->kind == Json::kNumber);
  CHECK(j->get("status")->num == 502);
  CHECK(j->get("detail")->str == "The DNS server says nx.example does not exist.");
  CHECK(j->get("cause")->str == "dns_error");
  CHECK(j->get("summary")->str == cause_info(Cause::kDnsError).summary);
  CHECK(j->get("rcode")->str == "NXDOMAIN");
  CHECK(j->get("next_hop")->str == "nx.example:80");
  CHECK(j->get("request_id")->str == "req-0001");
  CHECK(j->get("method")->str == "GET");
  CHECK(j->get("url")->str == "http://nx.example/page");
  const Json* hints = j->get("hints");
  REQUIRE(hints);
  CHECK(hints->get("user")->str == cause_info(Cause::kDnsError).user_hint);
  CHECK(hints->get("admin")->str == cause_info(Cause::kDnsError).admin_hint);
  CHECK(j->get("received_status") == nullptr);
  CHECK(j->get("chain") == nullptr);
  CHECK(j->get("limit") == nullptr);
}

TEST_CASE("a 508 lists the redirect chain in every format", "[unit][error_page]") {
  ErrorDetails e;
  e.cause = Cause::kRedirectLoop;
  e.details = "The redirect chain went past redirects.max_chain.";
  e.received_status = 302;
  e.limit = 2;
  e.chain = {"http://a.example/1", "http://b.example/2", "http://alice:pw@a.example/1"};

  e.accept = "application/problem+json";
  Response r = respond(e);
  CHECK(r.lines[0] == "HTTP/1.1 508 Loop Detected");
  CHECK(r.field("Proxy-Status")->find("received-status=302") != std::string::npos);
  auto j = parse_json(r.body);
  REQUIRE(j);
  CHECK(j->get("status")->num == 508);
  CHECK(j->get("received_status")->num == 302);
  const Json* chain = j->get("chain");
  REQUIRE(chain);
  REQUIRE(chain->kind == Json::kArray);
  REQUIRE(chain->arr.size() == 3);
  CHECK(chain->arr[0].str == "http://a.example/1");
  CHECK(chain->arr[2].str == "http://a.example/1");  // userinfo gone
  const Json* limit = j->get("limit");
  REQUIRE(limit);
  CHECK(limit->get("setting")->str == "redirects.max_chain");
  CHECK(limit->get("value")->num == 2);
  CHECK(limit->get("unit")->str == "redirects");
  CHECK(j->get("cause")->str == "redirect_loop");
  CHECK(j->get("detail")->str == "The redirect chain went past redirects.max_chain.");

  e.accept = "";
  r = respond(e);
  CHECK(r.body.find("Destination answered: 302 Found\n") != std::string::npos);
  CHECK(r.body.find("Limit:                redirects.max_chain = 2 redirects\n") !=
        std::string::npos);
  CHECK(r.body.find("  Redirect chain:\n    1. http://a.example/1\n    2. http://b.example/2\n"
                    "    3. http://a.example/1\n") != std::string::npos);
  CHECK(r.body.find("alice") == std::string::npos);

  e.accept = "text/html";
  r = respond(e);
  CHECK(r.body.find("<ol>\n<li>http://a.example/1</li>\n<li>http://b.example/2</li>\n") !=
        std::string::npos);
}

TEST_CASE("limits are reported with their setting and unit", "[unit][error_page]") {
  ErrorDetails e;
  e.cause = Cause::kUriTooLong;
  e.limit = 8192;
  CHECK(respond(e).body.find("Limit: limits.max_uri_bytes = 8192 bytes (8 KiB)\n") !=
        std::string::npos);
  e.cause = Cause::kDnsTimeout;
  e.limit = 5000;
  CHECK(respond(e).body.find("Limit: timeouts.dns = 5s\n") != std::string::npos);
  e.limit = 250;
  CHECK(respond(e).body.find("Limit: timeouts.dns = 250ms\n") != std::string::npos);
  e.cause = Cause::kConnectionLimit;
  e.limit = 10000;
  e.extra.push_back({"Retry-After", "5"});
  Response r = respond(e);
  CHECK(r.lines[0] == "HTTP/1.1 503 Service Unavailable");
  CHECK(r.field("Retry-After") == "5");
  CHECK(r.body.find("limits.max_connections = 10000 connections\n") != std::string::npos);
  CHECK(r.body.find("Retry after: 5 seconds\n") != std::string::npos);
}

TEST_CASE("request facts: userinfo is never shown, the client address only where it matters",
          "[unit][error_page]") {
  CHECK(display_url("http://user:secret@example.com:8080/p?q=1") ==
        "http://example.com:8080/p?q=1");
  CHECK(display_url("http://example.com/a@b") == "http://example.com/a@b");
  CHECK(display_url("http://u@x.example") == "http://x.example");
  CHECK(display_url("u:p@x.example:443") == "x.example:443");  // authority-form
  CHECK(display_url("/local/path@x") == "/local/path@x");
  CHECK(display_url("http://a:b@c@host/") == "http://host/");
  std::string long_url = "http://example.com/" + std::string(5000, 'a');
  CHECK(display_url(long_url).size() == 2048 + 3);
  // 19 + 2028 bytes, then a two-byte character across the 2048-byte mark: cut before it.
  std::string utf8_url = "http://example.com/" + std::string(2028, 'a') + "\xC3\xA9\xC3\xA9";
  CHECK(display_url(utf8_url) == utf8_url.substr(0, 2047) + "...");

  ErrorDetails e;
  e.cause = Cause::kClientDenied;
  e.client_address = "203.0.113.9";
  e.url = "http://user:secret@example.com/";
  e.method = "GET";
  for (const char* accept : {"", "text/html", "application/json"}) {
    e.accept = accept;
    Response r = respond(e);
    INFO(accept);
    CHECK(r.body.find("secret") == std::string::npos);
    CHECK(r.body.find("203.0.113.9") != std::string::npos);
  }
  e.cause = Cause::kDnsError;
  e.accept = "";
  CHECK(respond(e).body.find("203.0.113.9") == std::string::npos);
}

// ---- Hostile values -------------------------------------------------------------------------

TEST_CASE("hostile values are escaped in every format and never reach the head",
          "[unit][error_page]") {
  const std::string evil =
      std::string("<script>alert(1)</script> \"q\" 'a' & \\back\r\nSet-Cookie: x\0nul", 60) +
      " \x1b[31m \xC3\xA9 \xFF\xFE end";
  ErrorDetails e;
  e.cause = Cause::kBadRequest;
  e.details = evil;
  e.url = "http://example.com/" + evil;
  e.method = "GE\r\nT";
  e.next_hop = evil;
  e.rcode = evil;
  e.client_address = evil;
  e.contact = "javascript:alert(1)";
  e.request_id = "id\r\nSet-Cookie: y";
  e.extra.push_back({"Retry-After", "1\r\nSet-Cookie: z"});
  e.extra.push_back({"Bad Name", "v"});
  e.extra.push_back({"Content-Length", "0"});

  for (const char* accept : {"", "text/html", "application/json"}) {
    e.accept = accept;
    Response r = respond(e, "gate\r\nhouse");
    INFO("Accept: " << accept << "\n" << r.head << "\n\n" << r.body);
    // The head: every line is a status line or "Name: value"; nothing was injected.
    for (size_t i = 1; i < r.lines.size(); ++i) {
      CHECK(r.lines[i].find(": ") != std::string::npos);
      CHECK(r.lines[i].rfind("Set-Cookie", 0) == std::string::npos);
      CHECK(r.lines[i].find('\r') == std::string::npos);
      CHECK(r.lines[i].find('\n') == std::string::npos);
    }
    CHECK(r.head.find(std::string(1, '\0')) == std::string::npos);
    CHECK(r.field("X-Request-Id") == "idSet-Cookie:y");
    CHECK(r.field("Retry-After") == "1Set-Cookie: z");
    CHECK(r.field("Content-Length") == std::to_string(r.body.size()));
    CHECK_FALSE(r.field("Bad Name"));
    CHECK(r.field("Proxy-Status")->rfind("gatehouse; error=http_request_error", 0) == 0);
    // The body never carries raw control bytes (other than its own line breaks).
    CHECK(r.body.find('\r') == std::string::npos);
    CHECK(r.body.find('\0') == std::string::npos);
    CHECK(r.body.find('\x1b') == std::string::npos);
    CHECK(r.body.find("\nSet-Cookie") == std::string::npos);
    CHECK(valid_utf8(r.body));
  }

  e.accept = "text/html";
  std::string html = respond(e).body;
  CHECK(html.find("<script>") == std::string::npos);
  CHECK(html.find("&lt;script&gt;alert(1)&lt;/script&gt; &quot;q&quot; &#39;a&#39; &amp; "
                  "\\back\xEF\xBF\xBD\xEF\xBF\xBDSet-Cookie: x\xEF\xBF\xBDnul") !=
        std::string::npos);
  CHECK(html.find("href=\"javascript") == std::string::npos);  // only http(s) and mail links
  CHECK(html.find("Contact: javascript:alert(1)") != std::string::npos);

  e.accept = "application/json";
  std::string body = respond(e).body;
  auto j = parse_json(body);
  REQUIRE(j);
  std::string want =
      std::string("<script>alert(1)</script> \"q\" 'a' & \\back\r\nSet-Cookie: x", 56) +
      std::string("\0nul", 4) + " \x1b[31m \xC3\xA9 \xEF\xBF\xBD\xEF\xBF\xBD end";
  CHECK(j->get("detail")->str == want);  // decodes back to the value (bad UTF-8 replaced)
  CHECK(j->get("method")->str == "GE\r\nT");
  CHECK(body.find("\\u0000nul") != std::string::npos);
  CHECK(body.find("\\u001b[31m") != std::string::npos);

  e.accept = "";
  std::string text = respond(e).body;
  CHECK(text.find("\\back\xEF\xBF\xBD\xEF\xBF\xBDSet-Cookie: x\xEF\xBF\xBDnul") !=
        std::string::npos);
  CHECK(text.find("Request:     GE\xEF\xBF\xBD\xEF\xBF\xBDT http://example.com/<script>") !=
        std::string::npos);
}

// ---- HEAD and the existing contract ---------------------------------------------------------

TEST_CASE("HEAD gets the headers of the GET answer and no body", "[unit][error_page]") {
  for (const char* accept : {"", kFirefox, "application/json"}) {
    ErrorDetails e = dns_error(accept);
    e.close = true;
    e.extra.push_back({"Proxy-Authenticate", "Basic realm=\"gh\", charset=\"UTF-8\""});
    std::string get;
    build_error_response(e, "gatehouse", kNow, get);
    e.head = true;
    std::string head;
    build_error_response(e, "gatehouse", kNow, head);
    INFO(accept);
    size_t end = get.find("\r\n\r\n");
    REQUIRE(end != std::string::npos);
    CHECK(head == get.substr(0, end + 4));  // identical head, nothing after it
    CHECK(get.size() > end + 4);
    CHECK(head.find("\r\nContent-Length: " + std::to_string(get.size() - end - 4) + "\r\n") !=
          std::string::npos);
    CHECK(head.find("\r\nConnection: close\r\n") != std::string::npos);
    CHECK(head.find("\r\nProxy-Authenticate: Basic realm=\"gh\", charset=\"UTF-8\"\r\n") !=
          std::string::npos);
  }
}

TEST_CASE("every cause renders valid bodies in all three formats", "[unit][error_page]") {
  for (Cause c : kAllCauses) {
    const CauseInfo& info = cause_info(c);
    ErrorDetails e;
    e.cause = c;
    e.type_base = "http://127.0.0.1:3128";
    INFO(info.name);
    for (BodyFormat f : {BodyFormat::kText, BodyFormat::kHtml, BodyFormat::kJson}) {
      std::string body = render_error_body(e, "gatehouse", f, kNow);
      auto shown = [&](std::string_view s) {
        return f == BodyFormat::kHtml ? html_escaped(s) : std::string(s);
      };
      CHECK(body.find(shown(info.title)) != std::string::npos);
      CHECK(body.find(std::to_string(info.status)) != std::string::npos);
      CHECK(valid_utf8(body));
      if (f == BodyFormat::kJson) {
        auto j = parse_json(body);
        REQUIRE(j);
        CHECK(j->get("type")->str == problem_type(c, e.type_base));
        CHECK(j->get("status")->num == info.status);
        CHECK(j->get("detail") == nullptr);  // nothing specific to say: omitted
        CHECK(j->get("hints")->get("user")->str == info.user_hint);
      } else {
        // Hints are plain sentences, so they show verbatim (wrapped in text).
        CHECK(body.find(shown(info.user_hint.substr(0, 20))) != std::string::npos);
        CHECK(body.find(shown(info.summary.substr(0, 20))) != std::string::npos);
      }
    }
  }
}

// ---- Each page reads true for its cause ---------------------------------------------------

namespace {

// Phrases that belong to other situations. A page that contains one says something about
// its cause that is not so (the generic 502 text once told users the proxy "could not reach"
// a destination it had refused to contact). Matched case-insensitively.
using Phrases = std::vector<std::string_view>;
// The proxy tried the destination and the attempt failed.
const Phrases kUnreached = {"could not find it",
                            "reach it",
                            "hung up",
                            "refused the connection",
                            "timed out",
                            "destination cannot be reached",
                            "no network path",
                            "destination did not answer",
                            "turned the connection attempt down"};
// The request went to the destination, which answered or was at least sent something.
const Phrases kAnswered = {"sent back",     "destination answered",   "site answered",
                           "response head", "proxy sent the request", "got the request"};
// The destination's server is at fault.
const Phrases kServerFault = {"the site's server", "site's side"};
// The request's syntax is broken.
const Phrases kMalformed = {
    "framing", "syntax", "malformed", "breaks the", "could not be parsed", "not valid http"};
// A policy decision refused it.
const Phrases kPolicy = {"policy", "blocked", "off limits", "not allowed", "denied"};
// The proxy is paused, or busy.
const Phrases kMaintenance = {"maintenance"};
const Phrases kOverloaded = {"connection limit", "as many client connections", "overloaded"};
// Waiting and retrying would help.
const Phrases kRetryHelps = {
    "try again",       "wait a moment",    "wait a few seconds",    "is temporary",
    "often temporary", "expected to pass", "send the request again"};
// Retrying cannot help.
const Phrases kNoRetry = {"retrying will not help", "will fail the same way", "same answer",
                          "repeating it"};
// Nothing reached the destination.
const Phrases kNotSent = {"not forwarded", "was not sent", "no connection attempt",
                          "did not contact", "nothing was forwarded"};

struct Forbidden {
  Cause cause;
  std::vector<const Phrases*> groups;
};

const Forbidden kForbidden[] = {
    {Cause::kBadRequest,
     {&kUnreached, &kAnswered, &kServerFault, &kPolicy, &kMaintenance, &kOverloaded, &kRetryHelps}},
    {Cause::kMissingHost,
     {&kUnreached, &kAnswered, &kServerFault, &kPolicy, &kMaintenance, &kOverloaded, &kRetryHelps}},
    {Cause::kNotProxyRequest,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kUnsupportedScheme,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kClientDenied,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kDestinationDenied,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kConnectPortDenied,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kProxyAuthRequired,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kMethodDisabled,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kRequestTimeout,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kNoRetry}},
    {Cause::kBodyTooLarge,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kUriTooLong,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kHeadersTooLarge,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kRequestTypeBlocked,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kExpectationFailed,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kNotImplemented,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kVersionNotSupported,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kDnsError,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded}},
    {Cause::kDnsTimeout,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kNoRetry}},
    {Cause::kConnectionRefused,
     {&kAnswered, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded, &kNoRetry}},
    {Cause::kDestinationUnroutable,
     {&kAnswered, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded, &kNoRetry}},
    {Cause::kConnectTimeout, {&kAnswered, &kMalformed, &kPolicy, &kMaintenance, &kNoRetry}},
    {Cause::kDestinationProhibited,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kConnectionTerminated,
     {&kNotSent, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded, &kNoRetry}},
    {Cause::kResponseTimeout,
     {&kNotSent, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded, &kNoRetry}},
    {Cause::kResponseProtocolError, {&kNotSent, &kPolicy, &kMaintenance, &kOverloaded}},
    {Cause::kResponseHeadersTooLarge, {&kNotSent, &kPolicy, &kMaintenance, &kOverloaded}},
    {Cause::kLoopDetected,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kResponseTypeBlocked,
     {&kUnreached, &kNotSent, &kMalformed, &kMaintenance, &kOverloaded, &kRetryHelps}},
    {Cause::kRedirectLoop,
     {&kUnreached, &kNotSent, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded}},
    {Cause::kConnectionLimit,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kNoRetry}},
    {Cause::kMaintenance,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kOverloaded, &kNoRetry}},
    {Cause::kRequestBodyTimeout,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kNoRetry, &kNotSent}},
    {Cause::kEndpointDenied,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kMaintenance, &kOverloaded,
      &kRetryHelps}},
    {Cause::kInternal,
     {&kUnreached, &kAnswered, &kServerFault, &kMalformed, &kPolicy, &kMaintenance, &kOverloaded,
      &kNoRetry}},
};
static_assert(std::size(kForbidden) == std::size(kAllCauses));

std::string lowered(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Checks that `text` (all of one cause's words, or a page rendered for it) says nothing
// from the situations its row forbids.
void check_reads_true(const Forbidden& row, const std::string& text) {
  std::string lower = lowered(text);
  for (const Phrases* group : row.groups) {
    for (std::string_view phrase : *group) {
      INFO("forbidden phrase: \"" << phrase << "\"");
      CHECK(lower.find(phrase) == std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("each cause's words say only what happened in that cause", "[unit][error_page]") {
  for (size_t i = 0; i < std::size(kForbidden); ++i) {
    const Forbidden& row = kForbidden[i];
    REQUIRE(row.cause == kAllCauses[i]);
    const CauseInfo& info = cause_info(row.cause);
    INFO(info.name);
    // The catalogue's words, and the status meaning shown on the cause's type page.
    std::string words = std::string(info.title) + "\n" + std::string(info.summary) + "\n" +
                        std::string(info.user_hint) + "\n" + std::string(info.admin_hint) + "\n" +
                        std::string(status_meaning(info.status));
    check_reads_true(row, words);
    // Everything a reader sees: each body format without case details (so only our own
    // text is on the page), and the type page.
    ErrorDetails e;
    e.cause = row.cause;
    e.type_base = "http://127.0.0.1:3128";
    for (BodyFormat f : {BodyFormat::kText, BodyFormat::kHtml, BodyFormat::kJson}) {
      INFO(format_extension(f));
      check_reads_true(row, render_error_body(e, "gatehouse", f, kNow));
      std::optional<std::string> type_page = render_error_type_page(info.name, f, "gatehouse");
      REQUIRE(type_page);
      check_reads_true(row, *type_page);
    }
  }
}

TEST_CASE("each cause has its own lead text", "[unit][error_page]") {
  std::set<std::string_view> summaries;
  for (Cause c : kAllCauses) {
    const CauseInfo& info = cause_info(c);
    INFO(info.name);
    CHECK(info.summary.size() > 40);
    CHECK(info.summary.back() == '.');
    CHECK(summaries.insert(info.summary).second);
    CHECK(info.summary != status_meaning(info.status));
    // The lead paragraph of the text and HTML pages is the summary, not the status meaning.
    ErrorDetails e;
    e.cause = c;
    std::string text = render_error_body(e, "gatehouse", BodyFormat::kText, kNow);
    size_t lead = text.find("\n\n");
    REQUIRE(lead != std::string::npos);
    std::string first_words(info.summary.substr(0, info.summary.find(' ', 20)));
    CHECK(text.compare(lead + 2, first_words.size(), first_words) == 0);
    std::string html = render_error_body(e, "gatehouse", BodyFormat::kHtml, kNow);
    CHECK(html.find("<p class=\"summary\">" + html_escaped(info.summary) + "</p>") !=
          std::string::npos);
  }
}

// ---- Problem type URIs and the pages behind them ------------------------------------------

TEST_CASE("problem type URIs point at the proxy's own pages", "[unit][error_page]") {
  for (Cause c : kAllCauses) {
    std::string name(cause_info(c).name);
    INFO(name);
    CHECK(problem_type(c, "http://127.0.0.1:3128") ==
          "http://127.0.0.1:3128/gatehouse/errors/" + name);
    CHECK(problem_type(c, "http://127.0.0.1:3128/") ==
          "http://127.0.0.1:3128/gatehouse/errors/" + name);
    CHECK(problem_type(c, "http://[::1]:3128") == "http://[::1]:3128/gatehouse/errors/" + name);
    CHECK(problem_type(c, "https://proxy.example.com") ==
          "https://proxy.example.com/gatehouse/errors/" + name);
    CHECK(problem_type(c, "") == "about:blank");
  }
  // Anything but scheme and authority is not trusted to make a URI: about:blank.
  for (const char* bad :
       {"", "/", "127.0.0.1:3128", "ftp://proxy", "javascript:alert(1)", "http://", "https://",
        "http://a/b", "http://a?b", "http://a#b", "http://user@a", "http://a b", "http://a\"b",
        "http://a'b", "http://<a>", "http://a&b", "http://a\r\nX: y", "HTTP://a", "http://a//"}) {
    INFO(bad);
    CHECK(problem_type(Cause::kDnsError, bad) == "about:blank");
  }
}

TEST_CASE("bodies link to the problem type page, or use about:blank", "[unit][error_page]") {
  ErrorDetails e = dns_error("");
  e.type_base = "http://127.0.0.1:3128";
  const std::string uri = "http://127.0.0.1:3128/gatehouse/errors/dns_error";

  std::string text = respond(e).body;
  CHECK(text.find("\nMore: " + uri + "\n") != std::string::npos);
  e.accept = "text/html";
  std::string html = respond(e).body;
  CHECK(html.find("<a href=\"" + uri + "\">" + uri + "</a>") != std::string::npos);
  e.accept = "application/json";
  auto j = parse_json(respond(e).body);
  REQUIRE(j);
  CHECK(j->get("type")->str == uri);
  CHECK(j->get("title")->str == cause_info(Cause::kDnsError).title);

  // No usable base (a hostile one included): no link anywhere, and RFC 9457 section 4.2.1's
  // about:blank, whose title is the status's reason phrase.
  for (const char* base : {"", "http://a\"><script>x</script>"}) {
    INFO(base);
    e.type_base = base;
    e.accept = "";
    text = respond(e).body;
    CHECK(text.find("More:") == std::string::npos);
    CHECK(text.find("about:blank") == std::string::npos);
    e.accept = "text/html";
    html = respond(e).body;
    CHECK(html.find("<a href") == std::string::npos);
    CHECK(html.find("<script>") == std::string::npos);
    e.accept = "application/json";
    j = parse_json(respond(e).body);
    REQUIRE(j);
    CHECK(j->get("type")->str == "about:blank");
    CHECK(j->get("title")->str == "Bad Gateway");
    CHECK(j->get("cause")->str == "dns_error");  // programs still learn the precise cause
  }
}

TEST_CASE("every problem type has a page in each format", "[unit][error_page]") {
  const std::vector<std::string_view>& names = error_type_names();
  REQUIRE(names.size() == std::size(kAllCauses));
  for (size_t i = 0; i < names.size(); ++i) {
    Cause c = kAllCauses[i];
    const CauseInfo& info = cause_info(c);
    CHECK(names[i] == info.name);
    CHECK(cause_by_name(names[i]) == c);
    INFO(info.name);
    const std::string status =
        std::to_string(info.status) + " " + std::string(reason_phrase(info.status));

    // A hostile proxy name (it comes from configuration) is escaped like any value.
    const std::string evil_name = "<b>gate\"house'</b>\r\n&";
    auto text = render_error_type_page(info.name, BodyFormat::kText, evil_name);
    REQUIRE(text);
    CHECK(text->rfind("Gatehouse error type: " + std::string(info.name) + "\n", 0) == 0);
    CHECK(text->find(std::string(info.title) + "\n") != std::string::npos);
    CHECK(text->find("Status\n  " + status + "\n") != std::string::npos);
    CHECK(text->find(info.summary.substr(0, 30)) != std::string::npos);
    CHECK(text->find(info.user_hint.substr(0, 20)) != std::string::npos);
    CHECK(text->find(info.admin_hint.substr(0, 20)) != std::string::npos);
    CHECK(text->find(info.proxy_status.empty()
                         ? std::string("No error parameter")
                         : "error=" + std::string(info.proxy_status)) != std::string::npos);
    CHECK(text->find('\r') == std::string::npos);
    CHECK(text->find("\n-- <b>gate\"house'</b>\xEF\xBF\xBD\xEF\xBF\xBD&\n") != std::string::npos);
    CHECK(valid_utf8(*text));

    auto html = render_error_type_page(info.name, BodyFormat::kHtml, evil_name);
    REQUIRE(html);
    CHECK(html->rfind("<!doctype html>\n<html lang=\"en\">", 0) == 0);
    CHECK(html->find("<h1>" + html_escaped(info.title) + "</h1>") != std::string::npos);
    CHECK(html->find(html_escaped(info.summary)) != std::string::npos);
    CHECK(html->find(html_escaped(info.user_hint)) != std::string::npos);
    CHECK(html->find(html_escaped(info.admin_hint)) != std::string::npos);
    CHECK(html->find(html_escaped(status_meaning(info.status))) != std::string::npos);
    CHECK(html->find("<dt>Status</dt><dd>" + status) != std::string::npos);
    CHECK(html->find("<b>") == std::string::npos);
    CHECK(html->find("&lt;b&gt;gate&quot;house&#39;&lt;/b&gt;\xEF\xBF\xBD\xEF\xBF\xBD&amp;") !=
          std::string::npos);
    CHECK(html->find("<script") == std::string::npos);
    CHECK(html->find("src=") == std::string::npos);
    CHECK(html->substr(html->size() - 8) == "</html>\n");

    auto json = render_error_type_page(info.name, BodyFormat::kJson, evil_name);
    REQUIRE(json);
    auto j = parse_json(*json);
    REQUIRE(j);
    CHECK(j->get("name")->str == info.name);
    CHECK(j->get("title")->str == info.title);
    CHECK(j->get("summary")->str == info.summary);
    CHECK(j->get("status")->num == info.status);
    CHECK(j->get("reason")->str == reason_phrase(info.status));
    CHECK(j->get("status_meaning")->str == status_meaning(info.status));
    const Json* ps = j->get("proxy_status_error");
    REQUIRE(ps);
    if (info.proxy_status.empty()) {
      CHECK(ps->kind == Json::kNull);
    } else {
      CHECK(ps->str == info.proxy_status);
    }
    if (info.limit_setting.empty()) {
      CHECK(j->get("limit") == nullptr);
    } else {
      CHECK(j->get("limit")->get("setting")->str == info.limit_setting);
    }
    CHECK(j->get("hints")->get("user")->str == info.user_hint);
    CHECK(j->get("hints")->get("admin")->str == info.admin_hint);
  }
  CHECK(type_page_content_type(BodyFormat::kJson) == "application/json");
  CHECK(type_page_content_type(BodyFormat::kHtml) == "text/html; charset=utf-8");
  CHECK(type_page_content_type(BodyFormat::kText) == "text/plain; charset=utf-8");
}

TEST_CASE("unknown problem type names have no page", "[unit][error_page]") {
  for (const char* name : {"", "nope", "DNS_ERROR", "dns_error/", "dns_error ", "../dns_error",
                           "dns_error%00", "gatehouse/errors/dns_error"}) {
    INFO(name);
    CHECK_FALSE(cause_by_name(name));
    for (BodyFormat f : {BodyFormat::kText, BodyFormat::kHtml, BodyFormat::kJson}) {
      CHECK_FALSE(render_error_type_page(name, f, "gatehouse"));
    }
  }
  CHECK_FALSE(render_error_type_page(std::string_view("dns_error\0x", 11), BodyFormat::kText, "g"));
}

// ---- Operator templates ---------------------------------------------------------------------

TEST_CASE("operator templates replace built-in pages, with escaped values", "[unit][error_page]") {
  TempDir dir;
  dir.write("502.html",
            "<!doctype html><title>{{status}} {{ reason }}</title><p>{{details}}</p>"
            "<p>{{url}} via {{proxy_name}} at {{time}}</p><pre>{{chain}}</pre>");
  dir.write("502.txt", "{{status}} {{title}}\n{{details}}\n{{user_hint}}\n");
  dir.write("502.json",
            "{\"status\": {{status}}, \"type\": \"{{type}}\", \"detail\": \"{{details}}\", "
            "\"rcode\": \"{{rcode}}\", \"host\": \"{{host}}\", \"chain\": \"{{chain}}\"}\n");
  dir.write("README.md", "not a template: ignored silently");
  std::vector<std::string> warnings;
  auto pages = ErrorPages::load(dir.path.string(), &warnings);
  REQUIRE(pages);
  CHECK(warnings.empty());
  CHECK(pages->size() == 3);
  CHECK(pages->find(502, BodyFormat::kHtml) != nullptr);
  CHECK(pages->find(504, BodyFormat::kHtml) == nullptr);

  ErrorDetails e = dns_error("text/html");
  e.pages = pages.get();
  e.type_base = "http://proxy.test:3128";
  e.details = "<b>\"bad\"</b> & \r\n";
  e.url = "http://u:p@nx.example/<x>";
  Response r = respond(e);
  CHECK(r.body ==
        "<!doctype html><title>502 Bad Gateway</title><p>&lt;b&gt;&quot;bad&quot;&lt;/b&gt; "
        "&amp; \xEF\xBF\xBD\xEF\xBF\xBD</p><p>http://nx.example/&lt;x&gt; via gatehouse at "
        "Tue, 14 Nov 2023 22:13:20 GMT</p><pre></pre>");
  CHECK(r.field("Content-Type") == "text/html; charset=utf-8");
  CHECK(r.field("Content-Length") == std::to_string(r.body.size()));

  e.accept = "";
  r = respond(e);
  CHECK(r.body ==
        "502 The destination name could not be resolved\n<b>\"bad\"</b> & "
        "\xEF\xBF\xBD\xEF\xBF\xBD\n" +
            std::string(cause_info(Cause::kDnsError).user_hint) + "\n");

  e.accept = "application/json";
  e.chain = {"http://a/\"1\"", "http://b/2"};
  r = respond(e);
  CHECK(r.field("Content-Type") == "application/problem+json");
  auto j = parse_json(r.body);
  REQUIRE(j);
  CHECK(j->get("status")->num == 502);
  CHECK(j->get("type")->str == "http://proxy.test:3128/gatehouse/errors/dns_error");
  CHECK(j->get("detail")->str == "<b>\"bad\"</b> & \r\n");
  CHECK(j->get("host")->str == "nx.example");
  CHECK(j->get("chain")->str == "http://a/\"1\"\nhttp://b/2");

  // Other statuses keep the built-in pages.
  e.cause = Cause::kDnsTimeout;
  e.accept = "text/html";
  CHECK(respond(e).body.rfind("<!doctype html>\n<html lang=\"en\">", 0) == 0);
}

TEST_CASE("bad templates are skipped with a warning and the built-in page is used",
          "[unit][error_page]") {
  TempDir dir;
  dir.write("502.html", "<p>{{unknown}}</p>");
  dir.write("503.txt", "retry {{status");
  dir.write("504.json", "{\"status\": {{status}}, \"detail\": {{details}}}");  // unquoted
  dir.write("500.json", "{\"limit\": {{limit}}}");  // empty when no limit fired
  dir.write("404.html", "<p>{{status}}</p>");       // never generated
  dir.write("502.htm", "<p>{{status}}</p>");        // wrong extension
  dir.write("400.txt", "bad\xFF utf-8");
  dir.write("403.txt", "{{ title }} ok");  // the only good one
  dir.write("503.t\nxt", "x");             // a file name that would break a log line
  std::filesystem::create_directory(dir.path / "405.html");  // not a file
  std::vector<std::string> warnings;
  auto pages = ErrorPages::load(dir.path.string(), &warnings);
  REQUIRE(pages);
  CHECK(pages->size() == 1);
  CHECK(pages->find(403, BodyFormat::kText) != nullptr);
  CHECK(warnings.size() == 9);
  std::string p = dir.path.string() + "/";
  CHECK(has_warning(warnings, p + "502.html: ", "unknown variable '{{unknown}}'"));
  CHECK(has_warning(warnings, p + "503.txt: ", "never closed"));
  CHECK(has_warning(warnings, p + "504.json: ", "valid JSON"));
  CHECK(has_warning(warnings, p + "500.json: ", "valid JSON"));
  CHECK(has_warning(warnings, p + "404.html: ", "never generates status 404"));
  CHECK(has_warning(warnings, p + "502.htm: ", ".html, .txt or .json"));
  CHECK(has_warning(warnings, p + "400.txt: ", "UTF-8"));
  CHECK(has_warning(warnings, p + "405.html: ", "not a regular file"));
  CHECK(has_warning(warnings, p + "503.t?xt: ", ".html, .txt or .json"));
  for (const auto& w : warnings) {
    CHECK(w.find('\n') == std::string::npos);
  }

  ErrorDetails e = dns_error("text/html");
  e.pages = pages.get();
  Response r = respond(e);  // 502.html was rejected: the user sees the built-in page
  CHECK(r.body.rfind("<!doctype html>\n<html lang=\"en\">", 0) == 0);
  CHECK(r.body.find("{{") == std::string::npos);

  CHECK(ErrorPages::check_template("{{status}} {{ reason }}", BodyFormat::kText).empty());
  CHECK(ErrorPages::check_template("}} alone is text", BodyFormat::kText).empty());
  CHECK(ErrorPages::check_template("{{}}", BodyFormat::kText).find("empty") != std::string::npos);
  CHECK(ErrorPages::check_template("a\nb\n{{nope\nc}}", BodyFormat::kHtml).rfind("line 3: ", 0) ==
        0);
  CHECK(ErrorPages::check_template("{\"s\": {{status}}, \"u\": \"{{url}}\"}", BodyFormat::kJson)
            .empty());
  CHECK(!ErrorPages::check_template("{\"u\": {{url}}}", BodyFormat::kJson).empty());
  for (std::string_view name : template_variables()) {
    INFO(name);
    CHECK(ErrorPages::check_template("{{" + std::string(name) + "}}", BodyFormat::kHtml).empty());
  }
}

TEST_CASE("template directories: none, missing, not a directory", "[unit][error_page]") {
  std::vector<std::string> warnings;
  auto none = ErrorPages::load("", &warnings);
  REQUIRE(none);
  CHECK(none->size() == 0);
  CHECK(warnings.empty());

  TempDir dir;
  std::string missing = (dir.path / "nope").string();
  auto pages = ErrorPages::load(missing, &warnings);
  REQUIRE(pages);
  CHECK(pages->size() == 0);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] == missing + ": no such directory; the built-in error pages are used");

  dir.write("file", "x");
  warnings.clear();
  pages = ErrorPages::load((dir.path / "file").string(), &warnings);
  REQUIRE(pages);
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("not a directory") != std::string::npos);

  CHECK(ErrorPages::load(missing, nullptr)->size() == 0);  // warnings are optional
}
