// Desync and conformance suite ([desync]): table-driven over raw bytes.
//
// Each case is one raw request sent by a client over a plain socket, one raw answer the
// origin (RawOrigin) gives to it, and expectations on three things:
//   (a) what the origin received: the forwarded framing exactly (one Host, at most one of
//       Content-Length / Transfer-Encoding, the body as sent, nothing smuggled into a
//       request of its own, a clean head: no bare CR/LF, no obs-fold, no space before ':');
//   (b) what the client got back: status, framing, a clean head, and that a SECOND request
//       on the same client connection gets ITS OWN answer (the desync check), plus
//       whether the pooled upstream connection was (or must not be) reused for it;
//   (c) when the proxy refuses a request, that the origin received nothing of it.
// Case names cite RFC 9112 (HTTP/1.1) or RFC 9110 (HTTP semantics) sections. Where the
// RFCs allow more than one behaviour, a case accepts each allowed one (kEither) and says
// so; where the right answer is a judgment call, the comment says which was chosen.
//
// The second TEST_CASE splits the requests of a few key cases at every byte offset across
// two writes. After the first write it waits, with a deadline, until the proxy has read
// those bytes (the in-process server's gatehouse_client_received_bytes_total counter) or
// has answered already, so the two parts reach the parser in separate reads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/loop/proxy_harness.h"
#include "tests/support/raw_origin.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

const std::string kDate = "Date: Mon, 01 Jan 2024 00:00:00 GMT\r\n";
const std::string kFirst = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n" + kDate + "\r\nfirst";
const std::string kSecondResponse =
    "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n" + kDate + "\r\nsecond";

// Printable form of raw bytes for failure messages.
std::string show(std::string_view s, size_t max = 600) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    unsigned char ch = static_cast<unsigned char>(s[i]);
    if (ch == '\r') {
      out += "\\r";
    } else if (ch == '\n') {
      out += "\\n";
    } else if (ch == '\t') {
      out += "\\t";
    } else if (ch < 0x20 || ch >= 0x7f) {
      char b[8];
      snprintf(b, sizeof b, "\\x%02x", ch);
      out += b;
    } else {
      out += static_cast<char>(ch);
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

std::string expand(std::string s, const std::string& authority) {
  for (size_t at = s.find("{A}"); at != std::string::npos; at = s.find("{A}", at)) {
    s.replace(at, 3, authority);
    at += authority.size();
  }
  return s;
}

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

bool has_token(std::string_view list, std::string_view token) {
  return lower(std::string(list)).find(lower(std::string(token))) != std::string::npos;
}

// The head of a raw message: up to the first blank line.
std::string head_of(std::string_view raw) {
  size_t a = raw.find("\r\n\r\n");
  size_t b = raw.find("\n\n");
  size_t end = std::string::npos;
  if (a != std::string::npos) end = a + 4;
  if (b != std::string::npos && (end == std::string::npos || b + 2 < end)) end = b + 2;
  return std::string(end == std::string::npos ? raw : raw.substr(0, end));
}

// What is wrong with a head as it went over the wire; "" when it is clean HTTP/1.1
// syntax as a sender must generate it (RFC 9112 §2.2, §5.1, §5.2; RFC 9110 §5.5).
std::string head_problems(std::string_view head) {
  for (size_t i = 0; i < head.size(); ++i) {
    if (head[i] == '\r' && (i + 1 >= head.size() || head[i + 1] != '\n')) return "bare CR";
    if (head[i] == '\n' && (i == 0 || head[i - 1] != '\r')) return "bare LF";
    if (head[i] == '\0') return "NUL";
  }
  size_t pos = head.find("\r\n");
  if (pos == std::string_view::npos) return "no CRLF";
  pos += 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) return "unterminated line";
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') return "obs-fold line: " + std::string(line);
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return "no field name";
    char before = line[colon - 1];
    if (before == ' ' || before == '\t') return "whitespace before colon";
  }
  return "";
}

// Set by the test thread, awaited (with a deadline) by an origin script.
struct Latch {
  std::mutex mu;
  std::condition_variable cv;
  bool set = false;
  void open() {
    {
      std::lock_guard<std::mutex> lock(mu);
      set = true;
    }
    cv.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return set; });
  }
};

enum class Expect { kForward, kRefuse, kEither };
enum class Reuse { kAny, kSame, kNew };

struct Seen {
  bool refused = false;
  const RawRead* first = nullptr;
  const std::vector<RawResponse>* interim = nullptr;
  std::vector<RawRequest> up;  // origin requests of this case, in order
  std::string authority;
};

struct Case {
  Case(std::string n, std::string r) : name(std::move(n)), request(std::move(r)) {}

  std::string name;
  std::string request;  // "{A}" is replaced by origin.test:<port>
  Expect expect = Expect::kForward;
  std::vector<int> refuse_status;
  bool must_close = false;             // a refusal must close the client connection
  bool head_may_reach_origin = false;  // refused inside the body: no COMPLETE request upstream
  // Forwarded: what the origin must get.
  std::string up_method;  // "" = the method sent
  std::string up_target = "/";
  std::string up_body;
  std::vector<std::pair<std::string, std::string>> up_has;  // exact values; "*" = present
  std::vector<std::string> up_lacks;
  // The origin's answer to the first request, one send() per piece.
  std::vector<std::string> response{kFirst};
  bool close_after_response = false;
  // Written once the client has read the first answer (the proxy has pooled the
  // connection by then); the test then waits for the proxy to drop that connection.
  std::string late;
  bool head = false;  // the first request is HEAD: its answer has no body
  std::vector<int> client_status{200};
  std::optional<std::string> client_body = std::string("first");  // for client_status[0]
  int interim = 0;                                                // -1 = any number
  std::function<void(const Seen&)> check;
  bool second = true;
  bool keepalive_required = true;  // the first answer must keep the client connection
  Reuse reuse = Reuse::kAny;

  Case& refuse(std::vector<int> s, bool close) {
    expect = Expect::kRefuse;
    refuse_status = std::move(s);
    must_close = close;
    return *this;
  }
  // RFC allows refusing or forwarding: either refused with `s`, or forwarded as described.
  Case& either(std::vector<int> s, bool close) {
    refuse(std::move(s), close);
    expect = Expect::kEither;
    return *this;
  }
  Case& body_error() {
    head_may_reach_origin = true;
    return *this;
  }
  Case& up(std::string target, std::string body = "") {
    up_target = std::move(target);
    up_body = std::move(body);
    return *this;
  }
  Case& method(std::string m) {
    up_method = std::move(m);
    return *this;
  }
  Case& has(std::string n, std::string v) {
    up_has.emplace_back(std::move(n), std::move(v));
    return *this;
  }
  Case& lacks(std::string n) {
    up_lacks.push_back(std::move(n));
    return *this;
  }
  Case& respond(std::string r) {
    response = {std::move(r)};
    return *this;
  }
  Case& pieces(std::vector<std::string> p) {
    response = std::move(p);
    return *this;
  }
  Case& later(std::string bytes) {
    late = std::move(bytes);
    return *this;
  }
  Case& closing() {
    close_after_response = true;
    return *this;
  }
  Case& client(std::vector<int> s, std::optional<std::string> body) {
    client_status = std::move(s);
    client_body = std::move(body);
    return *this;
  }
  Case& interims(int n) {
    interim = n;
    return *this;
  }
  Case& extra(std::function<void(const Seen&)> f) {
    check = std::move(f);
    return *this;
  }
  Case& no_second() {
    second = false;
    keepalive_required = false;
    return *this;
  }
  Case& may_close() {
    keepalive_required = false;
    return *this;
  }
  Case& same() {
    reuse = Reuse::kSame;
    return *this;
  }
  Case& fresh() {
    reuse = Reuse::kNew;
    return *this;
  }
  Case& head_request() {
    head = true;
    return *this;
  }
};

// Request builders; "{A}" is the origin authority.
std::string req(const std::string& method, const std::string& fields, const std::string& body = "",
                const std::string& path = "/") {
  return method + " http://{A}" + path + " HTTP/1.1\r\nHost: {A}\r\n" + fields + "\r\n" + body;
}
std::string post(const std::string& fields, const std::string& body) {
  return req("POST", fields, body);
}
std::string get(const std::string& fields = "") {
  return req("GET", fields);
}
const std::string kChunkedHello = "5\r\nhello\r\n0\r\n\r\n";
const std::string kTeChunked = "Transfer-Encoding: chunked\r\n";

std::string second_request() {
  return "GET http://{A}/second HTTP/1.1\r\nHost: {A}\r\n\r\n";
}

ProxyHarness make_harness() {
  return ProxyHarness([](Config& c) {
    c.timeouts.client_header = std::chrono::seconds(2);
    c.timeouts.client_idle = std::chrono::seconds(2);
    c.timeouts.response_header = std::chrono::seconds(2);
    c.timeouts.idle = std::chrono::seconds(2);
    c.timeouts.connect = std::chrono::seconds(2);
  });
}

RawScript script_for(const Case& c, std::shared_ptr<Latch> latch = nullptr) {
  auto pieces = c.response;
  bool close_after = c.close_after_response;
  std::string late = c.late;
  RawScript s;
  s.on_request = [pieces, close_after, late, latch](RawConn& conn, const RawRequest& r) {
    if (ends_with(r.target, "/second")) {
      conn.write(kSecondResponse);
      return;
    }
    conn.write_pieces(pieces);
    if (!late.empty() && latch && latch->wait(3s)) conn.write(late);
    if (close_after) conn.close();
  };
  return s;
}

uint64_t client_bytes_read(ProxyHarness& h) {
  auto m = parse_metrics(h.server->render_metrics());
  return static_cast<uint64_t>(m["gatehouse_client_received_bytes_total"]);
}

// Sends `bytes` in two writes split at `at`: the second only once the proxy has read the
// first (or already answered / closed).
void send_split(ProxyHarness& h, RawClient& client, const std::string& bytes, size_t at) {
  uint64_t before = client_bytes_read(h);
  client.send(std::string_view(bytes).substr(0, at));
  bool seen =
      eventually([&] { return client_bytes_read(h) >= before + at || client.readable(0ms); }, 2s);
  INFO("split at " << at << ": the proxy did not read the first part in time");
  CHECK(seen);
  client.send(std::string_view(bytes).substr(at));
}

size_t raw_total(const std::vector<RawRequest>& rs) {
  size_t n = 0;
  for (const auto& r : rs) n += r.raw.size();
  return n;
}

std::string describe_up(const RawOrigin& origin, size_t base_bytes) {
  std::string all;
  for (size_t i = 0; i < origin.connections_accepted(); ++i) all += origin.received(i);
  return show(std::string_view(all).substr(std::min(base_bytes, all.size())));
}

void check_forwarded_request(const Case& c, const RawRequest& u, const std::string& sent,
                             const std::string& authority) {
  INFO("origin received: " << show(u.raw));
  size_t m0 = sent.find_first_not_of("\r\n");
  std::string method = c.up_method.empty() ? sent.substr(m0, sent.find(' ') - m0) : c.up_method;
  CHECK(u.method == method);
  CHECK(u.target == c.up_target);
  CHECK(u.version == "HTTP/1.1");  // RFC 9110 §2.5: an intermediary sends its own version
  CHECK(u.body == c.up_body);
  CHECK(u.count("Host") == 1);
  CHECK(u.header("Host") == authority);  // RFC 9112 §3.2.2
  // One framing, consistent with the body (RFC 9112 §6.1-§6.3).
  CHECK(u.count("Content-Length") <= 1);
  CHECK_FALSE((u.count("Content-Length") > 0 && u.count("Transfer-Encoding") > 0));
  if (u.count("Transfer-Encoding") > 0) {
    CHECK(lower(u.header("Transfer-Encoding")) == "chunked");
    CHECK(u.chunked);
  } else if (!u.body.empty()) {
    CHECK(u.header("Content-Length") == std::to_string(u.body.size()));
  }
  CHECK(head_problems(head_of(u.raw)) == "");
  for (const auto& [name, value] : c.up_has) {
    INFO("forwarded field " << name);
    if (value == "*") {
      CHECK(u.count(name) > 0);
    } else {
      CHECK(u.count(name) == 1);
      CHECK(u.header(name) == value);
    }
  }
  for (const auto& name : c.up_lacks) {
    INFO("field that must not be forwarded: " << name);
    CHECK(u.count(name) == 0);
  }
}

// Runs one case on `origin` and `h` (which may have served earlier cases: everything is
// measured relative to what the origin had seen before). split = 0: one write.
void run_case(const Case& c, RawOrigin& origin, ProxyHarness& h, size_t split = 0,
              Latch* latch = nullptr) {
  const std::string authority = origin.authority();
  const std::string sent = expand(c.request, authority);
  const size_t base_reqs = origin.requests().size();
  const size_t base_bytes = origin.total_received();
  auto new_requests = [&] {
    auto all = origin.requests();
    return std::vector<RawRequest>(all.begin() + static_cast<long>(base_reqs), all.end());
  };
  INFO("request: " << show(sent));

  RawClient client(h.port(), 3s);
  REQUIRE(client.connected());
  if (split == 0) {
    client.send(sent);
  } else {
    send_split(h, client, sent, split);
  }
  std::vector<RawResponse> interim;
  RawRead first = client.read_final(&interim, c.head);
  INFO("client read: " << to_string(first.outcome) << " " << first.error << " "
                       << show(first.response.raw));

  const bool in_refuse_set =
      first.ok() && std::find(c.refuse_status.begin(), c.refuse_status.end(),
                              first.response.status) != c.refuse_status.end();
  const bool refused = c.expect != Expect::kForward && in_refuse_set;
  if (c.expect == Expect::kRefuse) {
    INFO("the proxy had to refuse this request; origin got: " << describe_up(origin, base_bytes));
    REQUIRE(first.ok());
    REQUIRE(refused);
  }

  Seen seen;
  seen.refused = refused;
  seen.first = &first;
  seen.interim = &interim;
  seen.authority = authority;

  if (refused) {
    // RFC 9209 / DESIGN: every locally made answer explains itself.
    CHECK_THAT(first.response.header("Proxy-Status"), Catch::Contains("error="));
    CHECK(head_problems(first.response.raw_head()) == "");
    if (c.must_close) {
      // Framing is in doubt: the next bytes cannot be trusted to start a request.
      CHECK(has_token(first.response.header("Connection"), "close"));
      CHECK(client.wait_closed(2s));
    } else if (first.response.keep_alive) {
      client.send(expand(second_request(), authority));
      RawRead next = client.read();
      INFO("second read: " << to_string(next.outcome) << " " << show(next.response.raw));
      CHECK(next.ok());
      CHECK(next.response.status == 200);
      CHECK(next.response.body == "second");
    } else {
      CHECK(client.wait_closed(2s));
    }
    // (c) nothing of the refused request reached the origin.
    auto up = new_requests();
    INFO("origin got: " << describe_up(origin, base_bytes));
    for (const auto& r : up) CHECK(ends_with(r.target, "/second"));
    if (!c.head_may_reach_origin) {
      CHECK(origin.total_received() - base_bytes == raw_total(up));
    }
    seen.up = up;
    if (c.check) c.check(seen);
    return;
  }

  // Forwarded.
  origin.wait_requests(base_reqs + 1, 2s);
  auto up = new_requests();
  {
    INFO("origin got: " << describe_up(origin, base_bytes));
    REQUIRE(up.size() >= 1);
  }
  check_forwarded_request(c, up[0], sent, authority);
  CHECK(origin.parse_error(up[0].connection) == "");

  REQUIRE(first.ok());
  {
    INFO("status " << first.response.status);
    CHECK(std::find(c.client_status.begin(), c.client_status.end(), first.response.status) !=
          c.client_status.end());
  }
  if (c.client_body && first.response.status == c.client_status.front()) {
    CHECK(first.response.body == *c.client_body);
  }
  if (c.interim >= 0) CHECK(interim.size() == static_cast<size_t>(c.interim));
  CHECK(head_problems(first.response.raw_head()) == "");
  for (const auto& i : interim) CHECK(head_problems(i.raw_head()) == "");
  CHECK(first.response.version == "HTTP/1.1");

  if (!c.late.empty() && latch) {
    latch->open();
    // Unsolicited bytes on an idle pooled connection poison it: the proxy must drop it
    // before another request can be sent there (RFC 9112 §9.3 / DESIGN "poisoned").
    INFO("the proxy did not close the pooled connection that received late bytes");
    CHECK(origin.wait_peer_closed(up[0].connection, 1s));
  }

  size_t expected_requests = 1;
  if (c.second) {
    if (c.keepalive_required) CHECK(first.response.keep_alive);
    if (first.response.keep_alive) {
      client.send(expand(second_request(), authority));
      RawRead next = client.read();
      INFO("second read: " << to_string(next.outcome) << " " << next.error << " "
                           << show(next.response.raw));
      CHECK(next.ok());
      CHECK(next.response.status == 200);
      CHECK(next.response.body == "second");
      if (next.ok() && next.response.status == 200) {
        expected_requests = 2;
        origin.wait_requests(base_reqs + 2, 2s);
        up = new_requests();
        INFO("origin got: " << describe_up(origin, base_bytes));
        REQUIRE(up.size() >= 2);
        CHECK(up[1].target == "/second");  // nothing smuggled in between
        if (c.reuse == Reuse::kSame) CHECK(up[1].connection == up[0].connection);
        if (c.reuse == Reuse::kNew) CHECK(up[1].connection != up[0].connection);
        CHECK(origin.parse_error(up[1].connection) == "");
      }
    } else {
      CHECK(client.wait_closed(2s));
    }
  }
  up = new_requests();
  {
    INFO("origin got: " << describe_up(origin, base_bytes));
    CHECK(up.size() == expected_requests);
  }
  seen.up = up;
  if (c.check) c.check(seen);
}

bool is_imf_fixdate(const std::string& d) {
  // "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 §5.6.7)
  if (d.size() != 29) return false;
  return d[3] == ',' && d[4] == ' ' && d[7] == ' ' && d[11] == ' ' && d[16] == ' ' &&
         d[19] == ':' && d[22] == ':' && d[25] == ' ' && d.substr(26) == "GMT";
}

std::vector<Case> request_cases() {
  std::vector<Case> v;
  const std::string hello = "hello";
  // ---- Content-Length: RFC 9112 §6.2, §6.3; RFC 9110 §8.6 ----------------------------
  v.push_back(
      Case("9112 6.2: Content-Length 5 is forwarded exactly", post("Content-Length: 5\r\n", hello))
          .up("/", hello)
          .has("Content-Length", "5")
          .lacks("Transfer-Encoding")
          .same());
  // RFC 9110 §8.6: identical repeated values MAY be rejected or collapsed into one.
  v.push_back(Case("9110 8.6: two Content-Length fields with the same value",
                   post("Content-Length: 5\r\nContent-Length: 5\r\n", hello))
                  .either({400}, true)
                  .up("/", hello)
                  .has("Content-Length", "5"));
  v.push_back(Case("9112 6.3(5): two Content-Length fields with different values",
                   post("Content-Length: 5\r\nContent-Length: 6\r\n", hello + "!"))
                  .refuse({400}, true));
  v.push_back(Case("9110 8.6: Content-Length list '5, 5'", post("Content-Length: 5, 5\r\n", hello))
                  .either({400}, true)
                  .up("/", hello)
                  .has("Content-Length", "5"));
  v.push_back(
      Case("9112 6.3(5): Content-Length list '5, 6'", post("Content-Length: 5, 6\r\n", hello + "!"))
          .refuse({400}, true));
  v.push_back(
      Case("9112 6.2: Content-Length with a sign '+5'", post("Content-Length: +5\r\n", hello))
          .refuse({400}, true));
  v.push_back(Case("9112 6.2: negative Content-Length '-5'", post("Content-Length: -5\r\n", hello))
                  .refuse({400}, true));
  v.push_back(
      Case("9112 6.2: hexadecimal Content-Length '0x5'", post("Content-Length: 0x5\r\n", hello))
          .refuse({400}, true));
  v.push_back(Case("9112 6.2: Content-Length with an inner space '5 5'",
                   post("Content-Length: 5 5\r\n", hello))
                  .refuse({400}, true));
  v.push_back(Case("9112 6.2: empty Content-Length", post("Content-Length: \r\n", hello))
                  .refuse({400}, true));
  v.push_back(Case("9110 5.5: Content-Length surrounded by spaces is valid",
                   post("Content-Length:  5 \r\n", hello))
                  .up("/", hello)
                  .has("Content-Length", "5")
                  .same());
  // llhttp 8.1 (strict) refuses a trailing HTAB in Content-Length although RFC 9110 5.5
  // makes it OWS. Refusing valid framing is the safe side of a disagreement: the client
  // is told 400 and nothing reaches the origin (docs/proxy.md lists the limitation).
  v.push_back(Case("9110 5.5: Content-Length with a trailing HTAB is refused, never forwarded",
                   post("Content-Length:  5 \t\r\n", hello))
                  .refuse({400}, true));
  v.push_back(Case("9112 6.2: Content-Length with leading zeros '005'",
                   post("Content-Length: 005\r\n", hello))
                  .up("/", hello)
                  .same());
  v.push_back(Case("9112 6.3: Content-Length overflowing 64 bits",
                   post("Content-Length: 18446744073709551621\r\n", hello))
                  .refuse({400}, true));
  // A GET body has no defined semantics (RFC 9110 §9.3.1) but its framing does: dropping
  // it would turn "hello" into the start of the next request. Forward or refuse+close.
  v.push_back(
      Case("9112 6.3: GET with a Content-Length body", req("GET", "Content-Length: 5\r\n", hello))
          .either({400}, true)
          .up("/", hello));
  {
    std::string inner = "GET http://{A}/smuggled HTTP/1.1\r\nHost: {A}\r\n\r\n";
    v.push_back(Case("9112 6.2: a body that looks like a request stays a body",
                     post("Content-Length: {N}\r\n", inner))
                    .up("/", inner)
                    .same());
  }

  // ---- Transfer-Encoding: RFC 9112 §6.1, §6.3, §7 -----------------------------------
  v.push_back(Case("9112 7.1: chunked body is forwarded", post(kTeChunked, kChunkedHello))
                  .up("/", hello)
                  .lacks("Content-Length")
                  .same());
  // §6.1: a server MAY reject CL+TE and MUST close after responding; this project rejects.
  v.push_back(Case("9112 6.1: Content-Length and Transfer-Encoding together",
                   post("Content-Length: 5\r\n" + kTeChunked, kChunkedHello))
                  .refuse({400}, true));
  v.push_back(Case("9112 6.1: Transfer-Encoding before Content-Length",
                   post(kTeChunked + "Content-Length: 5\r\n", kChunkedHello))
                  .refuse({400}, true));
  v.push_back(Case("9112 6.3: CL.TE smuggling classic",
                   post("Content-Length: 6\r\n" + kTeChunked, "0\r\n\r\nG"))
                  .refuse({400}, true));
  v.push_back(Case("9110 5.5: 'chunked' followed by HTAB (OWS) is chunked",
                   post("Transfer-Encoding: chunked\t\r\n", kChunkedHello))
                  .up("/", hello));
  v.push_back(Case("9110 5.5: 'chunked' with leading OWS",
                   post("Transfer-Encoding: \t chunked\r\n", kChunkedHello))
                  .up("/", hello));
  v.push_back(Case("9112 7: transfer coding names are case-insensitive ('Chunked')",
                   post("Transfer-Encoding: Chunked\r\n", kChunkedHello))
                  .up("/", hello));
  v.push_back(Case("9112 6.3: 'chunked, gzip' (chunked not final) is 400 and close",
                   post("Transfer-Encoding: chunked, gzip\r\n", kChunkedHello))
                  .refuse({400}, true));
  // §6.1: an unknown coding SHOULD get 501; the body is still chunked-framed.
  v.push_back(Case("9112 6.1: 'gzip, chunked' (unknown coding) is 501",
                   post("Transfer-Encoding: gzip, chunked\r\n", kChunkedHello))
                  .refuse({501}, false));
  // §6.3 says 400+close (chunked is not final); §6.1 says 501 for an unknown coding. Both
  // statuses are accepted; the close is not negotiable, the body length is unknown.
  v.push_back(Case("9112 6.3: 'gzip' alone", post("Transfer-Encoding: gzip\r\n", hello))
                  .refuse({400, 501}, true));
  v.push_back(Case("9112 6.3: 'identity' (no longer a coding)",
                   post("Transfer-Encoding: identity\r\n", hello))
                  .refuse({400, 501}, true));
  v.push_back(Case("9112 6.3: 'xchunked' is not chunked",
                   post("Transfer-Encoding: xchunked\r\n", kChunkedHello))
                  .refuse({400, 501}, true));
  v.push_back(Case("9112 7: chunked applied twice (two fields)",
                   post(kTeChunked + kTeChunked, kChunkedHello))
                  .refuse({400}, true));
  v.push_back(Case("9112 6.1: TE split over fields 'gzip' then 'chunked'",
                   post("Transfer-Encoding: gzip\r\n" + kTeChunked, kChunkedHello))
                  .refuse({501}, false));
  v.push_back(Case("9112 6.3: TE split over fields 'chunked' then 'gzip'",
                   post(kTeChunked + "Transfer-Encoding: gzip\r\n", kChunkedHello))
                  .refuse({400}, true));
  // §6.1: TE in an HTTP/1.0 message means faulty framing: refuse and close.
  v.push_back(
      Case("9112 6.1: Transfer-Encoding on HTTP/1.0",
           "POST http://{A}/ HTTP/1.0\r\nHost: {A}\r\n" + kTeChunked + "\r\n" + kChunkedHello)
          .refuse({400}, true));
  // Judgment: the field is present and chunked is not its final coding (§6.3).
  v.push_back(Case("9112 6.3: empty Transfer-Encoding value",
                   post("Transfer-Encoding: \r\n", kChunkedHello))
                  .refuse({400, 501}, true));
  v.push_back(Case("9112 6.3: quoted '\"chunked\"' is not chunked",
                   post("Transfer-Encoding: \"chunked\"\r\n", kChunkedHello))
                  .refuse({400, 501}, true));
  v.push_back(
      Case("9110 5.5: 'chunked' preceded by a VT is not chunked", post("Transfer-Encoding: \x0b"
                                                                       "chunked\r\n",
                                                                       kChunkedHello))
          .refuse({400, 501}, true));
  v.push_back(Case("9112 5.1: 'Transfer-Encoding : chunked' next to Content-Length",
                   post("Content-Length: 5\r\nTransfer-Encoding : chunked\r\n", kChunkedHello))
                  .refuse({400}, true));
  // §5.2: obs-fold is refused (400) or replaced by SP; then the value is " chunked".
  v.push_back(Case("9112 5.2: Transfer-Encoding value on an obs-fold line",
                   post("Transfer-Encoding:\r\n chunked\r\n", kChunkedHello))
                  .either({400}, true)
                  .up("/", hello));
  {
    std::string inner = "GET http://{A}/smuggled HTTP/1.1\r\nHost: {A}\r\n\r\n";
    v.push_back(Case("9112 7.1: a chunked body that looks like a request stays a body",
                     post(kTeChunked, "{X}\r\n" + inner + "\r\n0\r\n\r\n"))
                    .up("/", inner)
                    .same());
  }

  // ---- chunk sizes and extensions: RFC 9112 §7.1, §7.1.1 ----------------------------
  v.push_back(Case("9112 7.1: upper-case hex chunk size 'A'",
                   post(kTeChunked, "A\r\n0123456789\r\n0\r\n\r\n"))
                  .up("/", "0123456789")
                  .same());
  v.push_back(Case("9112 7.1: lower-case hex chunk size 'a'",
                   post(kTeChunked, "a\r\n0123456789\r\n0\r\n\r\n"))
                  .up("/", "0123456789"));
  v.push_back(Case("9112 7.1: chunk size with leading zeros '0005'",
                   post(kTeChunked, "0005\r\nhello\r\n0\r\n\r\n"))
                  .up("/", hello));
  v.push_back(Case("9112 7.1: chunk size overflowing 64 bits",
                   post(kTeChunked, "10000000000000005\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(Case("9112 7.1: chunk size '0x5'", post(kTeChunked, "0x5\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(Case("9112 7.1: negative chunk size", post(kTeChunked, "-5\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(Case("9112 7.1: chunk size missing before an extension",
                   post(kTeChunked, ";a=b\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(Case("9112 7.1: empty chunk-size line", post(kTeChunked, "\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  // Judgment: chunk-size is 1*HEXDIG and BWS is only allowed before ';' (§7.1.1), so
  // "5 " with no extension does not match the grammar and is refused.
  v.push_back(Case("9112 7.1: chunk size with trailing space and no extension",
                   post(kTeChunked, "5 \r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(
      Case("9112 7.1.1: chunk extension '5;a=b'", post(kTeChunked, "5;a=b\r\nhello\r\n0\r\n\r\n"))
          .up("/", hello)
          .same());
  v.push_back(Case("9112 7.1.1: chunk extension with BWS '5 ; a = b'",
                   post(kTeChunked, "5 ; a = b\r\nhello\r\n0\r\n\r\n"))
                  .up("/", hello)
                  .same());
  v.push_back(Case("9112 7.1.1: quoted chunk extension value '5;a=\"d e\"'",
                   post(kTeChunked, "5;a=\"d e\"\r\nhello\r\n0\r\n\r\n"))
                  .up("/", hello));
  v.push_back(Case("9112 7.1.1: quoted-pair in a chunk extension value",
                   post(kTeChunked, "5;a=\"d\\\"e\\\\\"\r\nhello\r\n0\r\n\r\n"))
                  .up("/", hello));
  v.push_back(Case("9112 7.1.1: chunk extension without a value '5;a'",
                   post(kTeChunked, "5;a\r\nhello\r\n0\r\n\r\n"))
                  .up("/", hello));
  v.push_back(Case("9112 7.1.1: several chunk extensions '5;a=b;c=d'",
                   post(kTeChunked, "5;a=b;c=d\r\nhello\r\n0\r\n\r\n"))
                  .up("/", hello));
  v.push_back(Case("9112 7.1.1: extension on the last chunk '0;a=b'",
                   post(kTeChunked, "5\r\nhello\r\n0;a=b\r\n\r\n"))
                  .up("/", hello)
                  .same());
  v.push_back(Case("9112 7.1.1: chunk extension with an empty name '5;'",
                   post(kTeChunked, "5;\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(
      Case("9112 7.1.1: chunk extension '5;=b'", post(kTeChunked, "5;=b\r\nhello\r\n0\r\n\r\n"))
          .refuse({400}, true)
          .body_error());
  v.push_back(Case("9112 7.1.1: unterminated quoted extension value",
                   post(kTeChunked, "5;a=\"b\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(
      Case("9112 7.1.1: control character in a chunk extension", post(kTeChunked,
                                                                      "5;a=\x01"
                                                                      "b\r\nhello\r\n0\r\n\r\n"))
          .refuse({400}, true)
          .body_error());
  // §7.1.1: a server ought to limit chunk extensions and answer a 4xx beyond that.
  v.push_back(Case("9112 7.1.1: 5000 bytes of chunk extension",
                   post(kTeChunked, "5;a=" + std::string(5000, 'x') + "\r\nhello\r\n0\r\n\r\n"))
                  .refuse({400, 413, 431}, true)
                  .body_error());
  v.push_back(Case("9112 7.1: chunk data longer than its size",
                   post(kTeChunked, "5\r\nhelloXX\r\n0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(Case("9112 7.1: chunk data without its CRLF", post(kTeChunked, "5\r\nhello0\r\n\r\n"))
                  .refuse({400}, true)
                  .body_error());
  v.push_back(
      Case("9112 7.1: bare LF after the chunk size", post(kTeChunked, "5\nhello\r\n0\r\n\r\n"))
          .refuse({400}, true)
          .body_error());
  v.push_back(Case("9112 7.1.2: trailer section after the last chunk",
                   post(kTeChunked, "5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"))
                  .up("/", hello)
                  .same());

  // ---- the head: RFC 9112 §2.2, §5.1, §5.2; RFC 9110 §5.5 ----------------------------
  // §2.2: a bare CR MUST make the element invalid, or be replaced by SP.
  v.push_back(Case("9112 2.2: bare CR in a field value", get("X-A: a\rb\r\n"))
                  .either({400}, true)
                  .has("X-A", "a b"));
  v.push_back(Case("9112 2.2: bare CR in the request line",
                   "GET http://{A}/\r HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .refuse({400}, true));
  // §2.2: a recipient MAY accept a bare LF as a line terminator; if it does, what it
  // forwards must use CRLF (checked on every forwarded head).
  v.push_back(Case("9112 2.2: bare LF ending a field line", get("X-A: 1\nX-B: 2\r\n"))
                  .either({400}, true)
                  .has("X-A", "1")
                  .has("X-B", "2"));
  v.push_back(Case("9112 2.2: bare LF ending the request line",
                   "GET http://{A}/ HTTP/1.1\nHost: {A}\r\nX-A: 1\r\n\r\n")
                  .either({400}, true)
                  .has("X-A", "1"));
  v.push_back(
      Case("9112 2.2: bare LF ending the head", "GET http://{A}/ HTTP/1.1\r\nHost: {A}\r\n\n")
          .either({400}, true));
  // §2.2: whitespace between the start-line and the first field: reject, or consume the
  // whitespace-preceded line without processing it.
  v.push_back(Case("9112 2.2: whitespace line before the first field",
                   "GET http://{A}/ HTTP/1.1\r\n X-A: 1\r\nHost: {A}\r\n\r\n")
                  .either({400}, true)
                  .lacks("X-A"));
  // §5.2: a server MUST reject obs-fold with 400 or replace it with SP before forwarding.
  auto folded = [](const Seen& s) {
    if (s.refused || s.up.empty()) return;
    std::string v = s.up[0].header("X-A");
    INFO("X-A forwarded as '" << show(v) << "'");
    CHECK((v.rfind("1 ", 0) == 0 && ends_with(v, " folded") &&
           v.find_first_not_of(' ', 1) == v.size() - 6));
  };
  v.push_back(Case("9112 5.2: obs-fold on the first field",
                   "GET http://{A}/ HTTP/1.1\r\nX-A: 1\r\n folded\r\nHost: {A}\r\nX-B: 2\r\n\r\n")
                  .either({400}, true)
                  .extra(folded));
  v.push_back(
      Case("9112 5.2: obs-fold on a middle field", get("X-B: 2\r\nX-A: 1\r\n folded\r\nX-C: 3\r\n"))
          .either({400}, true)
          .extra(folded));
  v.push_back(Case("9112 5.2: obs-fold on the last field", get("X-B: 2\r\nX-A: 1\r\n folded\r\n"))
                  .either({400}, true)
                  .extra(folded));
  v.push_back(Case("9112 5.2: obs-fold with HTAB", get("X-A: 1\r\n\tfolded\r\n"))
                  .either({400}, true)
                  .extra(folded));
  // RFC 9110 §5.5: field-value = *field-content, so an empty value is valid.
  v.push_back(Case("9110 5.5: empty field value on the first field",
                   "GET http://{A}/ HTTP/1.1\r\nX-Empty:\r\nHost: {A}\r\n\r\n")
                  .has("X-Empty", "")
                  .same());
  v.push_back(
      Case("9110 5.5: empty field value on a middle field", get("X-B: 2\r\nX-Empty:\r\nX-C: 3\r\n"))
          .has("X-Empty", "")
          .has("X-C", "3"));
  v.push_back(Case("9110 5.5: empty field value on the last field", get("X-B: 2\r\nX-Empty:\r\n"))
                  .has("X-Empty", "")
                  .has("X-B", "2"));
  v.push_back(Case("9110 5.5: field value of OWS only", get("X-Empty:  \t \r\nX-B: 2\r\n"))
                  .has("X-Empty", "")
                  .has("X-B", "2"));
  v.push_back(Case("9112 5.1: space before the colon in a request is 400", get("X-A : 1\r\n"))
                  .refuse({400}, true));
  v.push_back(Case("9112 5.1: HTAB before the colon in a request is 400", get("X-A\t: 1\r\n"))
                  .refuse({400}, true));
  v.push_back(
      Case("9110 5.1: space inside a field name", get("Bad Name: x\r\n")).refuse({400}, true));
  v.push_back(Case("9110 5.1: empty field name", get(": x\r\n")).refuse({400}, true));
  v.push_back(Case("9112 5: field line without a colon", get("X-A\r\n")).refuse({400}, true));
  // §5.5: NUL (like CR and LF) in a value: reject, or replace with SP.
  v.push_back(Case("9110 5.5: NUL in a field value", get(std::string("X-A: a\0b\r\n", 10)))
                  .either({400}, true)
                  .has("X-A", "a b"));
  v.push_back(Case("9110 5.5: obs-text in a field value is valid", get("X-A: \xff\xfe\r\n"))
                  .has("X-A", "\xff\xfe"));
  // §5.5: other CTLs are invalid, but MAY be retained in a safe context.
  v.push_back(Case("9110 5.5: a control character in a field value", get("X-A: a\x01"
                                                                         "b\r\n"))
                  .either({400}, true));
  v.push_back(
      Case("9112 3.2: two Host fields with different values", get("Host: other.example\r\n"))
          .refuse({400}, false));
  v.push_back(Case("9112 3.2: two Host fields with the same value", get("Host: {A}\r\n"))
                  .refuse({400}, false));
  v.push_back(Case("9112 3.2: no Host in HTTP/1.1", "GET http://{A}/ HTTP/1.1\r\n\r\n")
                  .refuse({400}, false));
  v.push_back(Case("9112 3.2.2: a Host unlike the authority is replaced",
                   "GET http://{A}/ HTTP/1.1\r\nHost: other.example\r\n\r\n"));
  // Judgment: an empty Host is syntactically valid (reg-name may be empty) and §3.2.2
  // tells the proxy to ignore the received Host for absolute-form anyway.
  v.push_back(Case("9112 3.2.2: an empty Host with absolute-form",
                   "GET http://{A}/ HTTP/1.1\r\nHost:\r\n\r\n"));
  v.push_back(Case("9112 2.2: an empty line before the request line is ignored",
                   "\r\nGET http://{A}/ HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .same());

  // ---- the request line: RFC 9112 §2.3, §3; RFC 9110 §2.5, §4.2 ----------------------
  v.push_back(
      Case("9112 3: garbage after the version", "GET http://{A}/ HTTP/1.1 x\r\nHost: {A}\r\n\r\n")
          .refuse({400}, true));
  v.push_back(
      Case("9112 3: no version", "GET http://{A}/\r\nHost: {A}\r\n\r\n").refuse({400}, true));
  v.push_back(Case("9110 15.6.6: well-formed HTTP/2.0 is 505",
                   "GET http://{A}/ HTTP/2.0\r\nHost: {A}\r\n\r\n")
                  .refuse({505}, false));
  v.push_back(Case("9110 15.6.6: HTTP/3.0 is 505", "GET http://{A}/ HTTP/3.0\r\nHost: {A}\r\n\r\n")
                  .refuse({505}, false));
  // Judgment: §2.3 says a recipient SHOULD process a higher minor version as the highest
  // it supports; refusing 1.2 would be defensible but is not what the RFC recommends.
  // RFC 9112 2.3 says a recipient SHOULD process HTTP/1.2 as 1.1; llhttp 8.1 refuses any
  // minor version but 0 and 1, so Gatehouse answers 400 saying so (docs/proxy.md).
  v.push_back(Case("9112 2.3: HTTP/1.2 is refused with 400, never forwarded",
                   "GET http://{A}/ HTTP/1.2\r\nHost: {A}\r\n\r\n")
                  .refuse({400}, true));
  v.push_back(Case("9112 2.3: the version name is case-sensitive ('http/1.1')",
                   "GET http://{A}/ http/1.1\r\nHost: {A}\r\n\r\n")
                  .refuse({400}, true));
  v.push_back(
      Case("9112 3: a space inside the target", "GET http://{A}/a b HTTP/1.1\r\nHost: {A}\r\n\r\n")
          .refuse({400}, true));
  // RFC 9110 §4.2.4: a recipient SHOULD treat userinfo as an error.
  v.push_back(Case("9110 4.2.4: userinfo in the target",
                   "GET http://user:pw@{A}/ HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .refuse({400}, false));
  v.push_back(Case("9110 4.2.4: empty userinfo in the target",
                   "GET http://@{A}/ HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .refuse({400}, false));
  // absolute-form = absolute-URI, which has no fragment.
  v.push_back(Case("9112 3.2.2: a fragment in an absolute-form target",
                   "GET http://{A}/p#frag HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .refuse({400}, false));
  v.push_back(Case("9112 3.2.2: a port out of range",
                   "GET http://origin.test:99999/ HTTP/1.1\r\nHost: origin.test:99999\r\n\r\n")
                  .refuse({400}, false));
  v.push_back(Case("9112 3.2.4: OPTIONS with an empty path goes upstream as '*'",
                   "OPTIONS http://{A} HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .up("*")
                  .same());
  v.push_back(Case("9112 3.2.4: OPTIONS with path '/' stays '/'",
                   "OPTIONS http://{A}/ HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .up("/"));
  v.push_back(Case("9112 3.2.4: OPTIONS with a query is not '*'",
                   "OPTIONS http://{A}?x=1 HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .up("/?x=1"));
  v.push_back(Case("9112 3.2.1: an empty path is sent as '/'",
                   "GET http://{A} HTTP/1.1\r\nHost: {A}\r\n\r\n")
                  .up("/"));
  v.push_back(Case("RFC 3986 3.1: the scheme is case-insensitive ('HTTP://')",
                   "GET HTTP://{A}/ HTTP/1.1\r\nHost: {A}\r\n\r\n"));
  // RFC 9110 §10.1.1 / §15.2: the origin's 100 is forwarded (the proxy may also have sent
  // its own, so the number of interim responses is not fixed).
  v.push_back(Case("9110 10.1.1: Expect: 100-continue with the body already sent",
                   post("Expect: 100-continue\r\nContent-Length: 5\r\n", hello))
                  .up("/", hello)
                  .respond("HTTP/1.1 100 Continue\r\n\r\n" + kFirst)
                  .interims(-1));
  v.push_back(Case("9110 2.5: an HTTP/1.0 request goes upstream as HTTP/1.1",
                   "GET http://{A}/ HTTP/1.0\r\nHost: {A}\r\n\r\n")
                  .no_second());
  return v;
}

std::vector<Case> response_cases() {
  std::vector<Case> v;
  const std::string ok5 = "HTTP/1.1 200 OK\r\n" + kDate;
  // ---- pooled reuse after every well-framed kind of response (RFC 9112 §6.3, §9.3) ----
  // Judgment: pooling is this project's design (#8), so after a response framed beyond
  // doubt the next request must reuse the connection (kSame); after one with bytes left
  // over it must not (kNew: "a pooled connection with unread bytes is a poisoned one").
  v.push_back(Case("9112 6.2: Content-Length response, then reuse", get()).same());
  v.push_back(
      Case("9112 7.1: chunked response, then reuse", get())
          .respond(ok5 + "Transfer-Encoding: chunked\r\n\r\n2\r\nfi\r\n3\r\nrst\r\n0\r\n\r\n")
          .same());
  v.push_back(Case("9112 7.1.1: chunked response with extensions and a trailer, then reuse", get())
                  .respond(ok5 + "Transfer-Encoding: chunked\r\n\r\n5;a=b;c=\"d e\"\r\nfirst\r\n"
                                 "0;z\r\nX-T: 1\r\n\r\n")
                  .same());
  v.push_back(Case("9112 7.1: chunked response in awkward pieces, then reuse", get())
                  .pieces({"HTTP/1.1 200 OK\r\nTransfer-Encoding: chu", "nked\r\n" + kDate + "\r",
                           "\n3\r", "\nfir\r\n2", "\r\nst", "\r\n0\r\n", "\r\n"})
                  .same());
  v.push_back(Case("9112 6.3(1): 204, then reuse", get())
                  .respond("HTTP/1.1 204 No Content\r\n" + kDate + "\r\n")
                  .client({204}, "")
                  .same());
  v.push_back(Case("9112 6.3(1): 304, then reuse", get("If-None-Match: \"x\"\r\n"))
                  .respond("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n" + kDate + "\r\n")
                  .client({304}, "")
                  .same());
  // A bodiless response (HEAD, 204, 304) that carries body framing is never pooled: a
  // broken origin may send a body after it that would answer the next client's request
  // (issue 8, item 4). The next request gets a fresh upstream connection.
  v.push_back(
      Case("9112 6.3(1): HEAD with Content-Length, then a fresh connection", req("HEAD", ""))
          .respond(ok5 + "Content-Length: 5\r\n\r\n")
          .head_request()
          .client({200}, "")
          .extra([](const Seen& s) {
            if (s.first->ok()) CHECK(s.first->response.header("Content-Length") == "5");
          })
          .fresh());
  v.push_back(Case("9112 6.3(1): HEAD with Transfer-Encoding chunked, then a fresh connection",
                   req("HEAD", ""))
                  .respond(ok5 + "Transfer-Encoding: chunked\r\n\r\n")
                  .head_request()
                  .client({200}, "")
                  .fresh());
  // RFC 9112 §6.3(1): these bytes are not a body; the connection has unread bytes.
  v.push_back(Case("9112 6.3(1): 204 with Content-Length and late body bytes", get())
                  .respond("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n" + kDate + "\r\nhello")
                  .client({204}, "")
                  .fresh());
  v.push_back(Case("9112 6.3(1): 204 followed by an unsolicited response", get())
                  .respond("HTTP/1.1 204 No Content\r\n" + kDate +
                           "\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
                  .client({204}, "")
                  .fresh());
  v.push_back(Case("9112 6.3(1): 204 with Transfer-Encoding and a last-chunk", get())
                  .respond("HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n" + kDate +
                           "\r\n0\r\n\r\n")
                  .client({204}, "")
                  .extra([](const Seen& s) {
                    // RFC 9112 §6.1: no Transfer-Encoding in a 204.
                    if (s.first->ok()) CHECK(s.first->response.count("Transfer-Encoding") == 0);
                  })
                  .fresh());
  v.push_back(
      Case("9112 6.3(1): 304 with Content-Length and late body bytes",
           get("If-None-Match: \"x\"\r\n"))
          .respond("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n" + kDate + "\r\nhello")
          .client({304}, "")
          .fresh());
  v.push_back(Case("9112 6.3(1): HEAD answered with a body anyway", req("HEAD", ""))
                  .respond(ok5 + "Content-Length: 4\r\n\r\nevil")
                  .head_request()
                  .client({200}, "")
                  .fresh());
  v.push_back(Case("9112 6.2: bytes after a complete response poison the connection", get())
                  .respond(kFirst + "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
                  .fresh());
  v.push_back(Case("9112 6.3(1): late body bytes after a pooled 204", get())
                  .respond("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n" + kDate + "\r\n")
                  .later("hello")
                  .client({204}, "")
                  .fresh());
  v.push_back(Case("9112 6.3(1): late unsolicited response after a pooled 204", get())
                  .respond("HTTP/1.1 204 No Content\r\n" + kDate + "\r\n")
                  .later("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
                  .client({204}, "")
                  .fresh());
  v.push_back(
      Case("9112 6.3(1): late body bytes after a pooled 304", get("If-None-Match: \"x\"\r\n"))
          .respond("HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n" + kDate + "\r\n")
          .later("hello")
          .client({304}, "")
          .fresh());
  v.push_back(Case("9112 6.3(1): late body bytes after a pooled HEAD answer", req("HEAD", ""))
                  .respond(ok5 + "Content-Length: 4\r\n\r\n")
                  .later("evil")
                  .head_request()
                  .client({200}, "")
                  .fresh());
  v.push_back(Case("9112 6.2: late unsolicited response after a pooled 200", get())
                  .respond(kFirst)
                  .later("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
                  .fresh());
  v.push_back(Case("9112 9.6: Connection: close response is not reused", get())
                  .respond(ok5 + "Content-Length: 5\r\nConnection: close\r\n\r\nfirst")
                  .fresh());
  v.push_back(Case("9112 9.3: HTTP/1.0 response without keep-alive is not reused", get())
                  .respond("HTTP/1.0 200 OK\r\nContent-Length: 5\r\n" + kDate + "\r\nfirst")
                  .fresh());
  // A close-delimited body may reach a 1.1 client re-framed as chunked (keep-alive) or
  // close-delimited (then the client connection closes too).
  v.push_back(Case("9112 6.3(8): close-delimited response", get())
                  .respond("HTTP/1.1 200 OK\r\n" + kDate + "\r\nfirst")
                  .closing()
                  .may_close()
                  .fresh());
  // §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing: the connection
  // MUST be closed after it; what the client gets is 502 or a 200 (as framed by the proxy).
  v.push_back(Case("9112 6.1: chunked HTTP/1.0 response is never reused", get())
                  .respond("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n" + kDate +
                           "\r\n5\r\nfirst\r\n0\r\n\r\n")
                  .closing()
                  .client({200, 502}, std::nullopt)
                  .may_close()
                  .fresh());
  v.push_back(Case("9110 2.5: HTTP/1.0 response reaches the client as HTTP/1.1", get())
                  .respond("HTTP/1.0 200 OK\r\n" + kDate + "\r\nfirst")
                  .closing()
                  .may_close()
                  .fresh());

  // ---- 1xx: RFC 9110 §15.2, RFC 9112 §6.3(1) -----------------------------------------
  v.push_back(Case("9112 6.3(1): 100 with Content-Length is not followed by a body", get())
                  .respond("HTTP/1.1 100 Continue\r\nContent-Length: 4\r\n\r\n" + kFirst)
                  .interims(1)
                  .extra([](const Seen& s) {
                    // RFC 9110 §8.6: a server MUST NOT send Content-Length in a 1xx.
                    if (!s.interim->empty()) CHECK(s.interim->front().count("Content-Length") == 0);
                  })
                  .same());
  {
    std::string many;
    for (int i = 0; i < 10; ++i) many += "HTTP/1.1 100 Continue\r\n\r\n";
    many += "HTTP/1.1 102 Processing\r\n\r\n";
    many += "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
    v.push_back(Case("9110 15.2: twelve 1xx in a row are all forwarded", get())
                    .respond(many + kFirst)
                    .interims(12)
                    .extra([](const Seen& s) {
                      if (s.interim->size() == 12)
                        CHECK(s.interim->back().header("Link") == "</s.css>; rel=preload");
                    })
                    .same());
  }
  v.push_back(Case("9110 15.2: no 1xx to an HTTP/1.0 client",
                   "GET http://{A}/ HTTP/1.0\r\nHost: {A}\r\n\r\n")
                  .respond("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n\r\n" + kFirst)
                  .interims(0)
                  .no_second());
  // RFC 9110 §15.2.2 / §7.8: a server MUST NOT switch to a protocol the client did not ask
  // for; a proxy cannot turn such a connection into a tunnel. Judgment: 502.
  v.push_back(Case("9110 7.8: 101 to a request without Upgrade is 502", get())
                  .respond("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                           "Upgrade: websocket\r\n\r\n")
                  .client({502}, std::nullopt)
                  .fresh());

  // ---- status lines: RFC 9112 §4, RFC 9110 §15 ---------------------------------------
  auto bad_status = [&](const std::string& name, const std::string& line) {
    v.push_back(Case(name, get())
                    .respond(line + "\r\nContent-Length: 5\r\n" + kDate + "\r\nfirst")
                    .client({502}, std::nullopt)
                    .fresh());
  };
  bad_status("9112 4: two-digit status 'HTTP/1.1 20 OK' is 502", "HTTP/1.1 20 OK");
  bad_status("9110 15: status 000 is 502", "HTTP/1.1 000 Zero");
  bad_status("9112 4: four-digit status 0200 is 502", "HTTP/1.1 0200 OK");
  // Judgment: 999 matches 3DIGIT but lies outside 100..599 (RFC 9110 §15: invalid; treat
  // as 5xx). A proxy cannot relay a code its client cannot interpret: 502.
  bad_status("9110 15: status 999 is 502", "HTTP/1.1 999 Nine");
  bad_status("9112 4: control character in the reason is 502", "HTTP/1.1 200 O\x01K");
  bad_status("9112 4: NUL in the reason is 502", std::string("HTTP/1.1 200 O\0K", 16));
  bad_status("9112 4: DEL in the reason is 502", "HTTP/1.1 200 O\x7fK");
  bad_status("9110 2.5: HTTP/2.0 status line is 502", "HTTP/2.0 200 OK");
  v.push_back(Case("9112 4: HTAB and obs-text in the reason are valid", get())
                  .respond("HTTP/1.1 200 O\tK \xe9\r\nContent-Length: 5\r\n" + kDate + "\r\nfirst")
                  .same());
  v.push_back(Case("9112 4: empty reason is valid", get())
                  .respond("HTTP/1.1 200 \r\nContent-Length: 5\r\n" + kDate + "\r\nfirst")
                  .same());

  // ---- response fields: RFC 9112 §5.1, §5.2; RFC 9110 §5.5, §6.6.1 ------------------
  // RFC 9112 5.1 has a proxy remove such whitespace. llhttp 8.1 in strict mode (needed so
  // that a lone CR cannot end a line) refuses the field name instead, so Gatehouse answers
  // 502: never relayed with the whitespace, never a different field than the origin sent.
  v.push_back(Case("9112 5.1: whitespace before the colon is never relayed (502)", get())
                  .respond(ok5 + "X-Sp : v\r\nContent-Length: 5\r\n\r\nfirst")
                  .client({502}, std::nullopt)
                  .fresh());
  v.push_back(Case("9112 5.1: HTAB before the colon is never relayed (502)", get())
                  .respond(ok5 + "X-Sp\t: v\r\nContent-Length: 5\r\n\r\nfirst")
                  .client({502}, std::nullopt)
                  .fresh());
  v.push_back(Case("9112 5.2: obs-fold in a response: 502 or replaced by SP", get())
                  .respond(ok5 + "X-F: a\r\n b\r\nContent-Length: 5\r\n\r\nfirst")
                  .client({200, 502}, "first")
                  .extra([](const Seen& s) {
                    if (!s.first->ok() || s.first->response.status != 200) return;
                    std::string v = s.first->response.header("X-F");
                    INFO("X-F forwarded as '" << show(v) << "'");
                    CHECK((v.size() >= 3 && v.front() == 'a' && v.back() == 'b' &&
                           v.find_first_not_of(' ', 1) == v.size() - 1));
                  }));
  v.push_back(Case("9110 5.5: empty field value in a response is kept", get())
                  .respond(ok5 + "X-Empty:\r\nContent-Length: 5\r\n\r\nfirst")
                  .extra([](const Seen& s) {
                    if (!s.first->ok()) return;
                    CHECK(s.first->response.count("X-Empty") == 1);
                    CHECK(s.first->response.header("X-Empty") == "");
                  })
                  .same());
  v.push_back(Case("9112 2.2: bare CR in a response field: 502 or SP", get())
                  .respond(ok5 + "X-A: a\rb\r\nContent-Length: 5\r\n\r\nfirst")
                  .client({200, 502}, "first")
                  .extra([](const Seen& s) {
                    if (s.first->ok() && s.first->response.status == 200)
                      CHECK(s.first->response.header("X-A") == "a b");
                  }));
  v.push_back(
      Case("9110 5.5: NUL in a response field: 502 or SP", get())
          .respond(ok5 + std::string("X-A: a\0b\r\n", 10) + "Content-Length: 5\r\n\r\nfirst")
          .client({200, 502}, "first")
          .extra([](const Seen& s) {
            if (s.first->ok() && s.first->response.status == 200)
              CHECK(s.first->response.header("X-A") == "a b");
          }));
  v.push_back(Case("9112 2.2: bare LF line ends in a response: 502 or CRLF", get())
                  .respond("HTTP/1.1 200 OK\nContent-Length: 5\nX-A: 1\n" + kDate + "\nfirst")
                  .client({200, 502}, "first")
                  .extra([](const Seen& s) {
                    if (s.first->ok() && s.first->response.status == 200)
                      CHECK(s.first->response.header("X-A") == "1");
                  }));
  v.push_back(Case("9110 6.6.1: a response without Date gets one", get())
                  .respond("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
                  .extra([](const Seen& s) {
                    if (!s.first->ok()) return;
                    CHECK(s.first->response.count("Date") == 1);
                    CHECK(is_imf_fixdate(s.first->response.header("Date")));
                  }));

  // ---- response framing: RFC 9112 §6.1, §6.3 -----------------------------------------
  v.push_back(Case("9112 6.3(5): two different Content-Length values is 502", get())
                  .respond(ok5 + "Content-Length: 5\r\nContent-Length: 4\r\n\r\nfirst")
                  .client({502}, std::nullopt)
                  .fresh());
  v.push_back(Case("9112 6.3(5): Content-Length list '5, 5' is 5 or 502", get())
                  .respond(ok5 + "Content-Length: 5, 5\r\n\r\nfirst")
                  .client({200, 502}, "first")
                  .extra([](const Seen& s) {
                    if (!s.first->ok() || s.first->response.status != 200) return;
                    CHECK(s.first->response.count("Content-Length") <= 1);
                    if (s.first->response.count("Content-Length"))
                      CHECK(s.first->response.header("Content-Length") == "5");
                  }));
  v.push_back(Case("9112 6.3(5): Content-Length 'abc' is 502", get())
                  .respond(ok5 + "Content-Length: abc\r\n\r\nfirst")
                  .client({502}, std::nullopt)
                  .fresh());
  v.push_back(Case("9112 6.3(5): Content-Length '+5' is 502", get())
                  .respond(ok5 + "Content-Length: +5\r\n\r\nfirst")
                  .client({502}, std::nullopt)
                  .fresh());
  v.push_back(Case("9112 6.3(5): Content-Length overflowing 64 bits is 502", get())
                  .respond(ok5 + "Content-Length: 18446744073709551621\r\n\r\nfirst")
                  .client({502}, std::nullopt)
                  .fresh());
  // §6.3(3): TE overrides CL; an intermediary that forwards MUST remove the CL first.
  v.push_back(Case("9112 6.3(3): chunked response with a Content-Length too", get())
                  .respond(ok5 + "Content-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "5\r\nfirst\r\n0\r\n\r\n")
                  .client({200, 502}, "first")
                  .extra([](const Seen& s) {
                    if (s.first->ok() && s.first->response.status == 200)
                      CHECK(s.first->response.count("Content-Length") == 0);
                  }));
  // §6.1/§6.3(4): gzip without chunked is close-delimited. A proxy may pass it on with
  // its coding label (adding chunked on top or closing), or refuse with 502; it must
  // never deliver the coded bytes under a different label (relabelling as identity).
  const std::string gz =
      std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", 10) + "xyz\x01\x02";
  auto keeps_gzip = [gz](const Seen& s) {
    if (!s.first->ok() || s.first->response.status != 200) return;
    INFO("client got " << show(s.first->response.raw));
    CHECK(has_token(s.first->response.header("Transfer-Encoding"), "gzip"));
    CHECK(s.first->response.body == gz);
    CHECK(s.first->response.count("Content-Length") == 0);
  };
  v.push_back(Case("9112 6.1: 'Transfer-Encoding: gzip' response keeps its label or is 502", get())
                  .respond(ok5 + "Transfer-Encoding: gzip\r\n\r\n" + gz)
                  .closing()
                  .client({200, 502}, std::nullopt)
                  .extra(keeps_gzip)
                  .may_close()
                  .fresh());
  {
    char size[8];
    snprintf(size, sizeof size, "%zx", gz.size());
    v.push_back(Case("9112 6.1: 'gzip, chunked' response keeps the gzip label or is 502", get())
                    .respond(ok5 + "Transfer-Encoding: gzip, chunked\r\n\r\n" + size + "\r\n" + gz +
                             "\r\n0\r\n\r\n")
                    .client({200, 502}, std::nullopt)
                    .extra(keeps_gzip));
  }
  v.push_back(Case("9112 6.3(4): 'chunked, gzip' response is close-delimited", get())
                  .respond(ok5 + "Transfer-Encoding: chunked, gzip\r\n\r\n" + gz)
                  .closing()
                  .client({200, 502}, std::nullopt)
                  .extra(keeps_gzip)
                  .may_close()
                  .fresh());
  return v;
}

// {N} in the head: the decimal length of the body (after expansion); {X} at the start of
// the body: the hex length of what follows "{X}\r\n" up to the next "\r\n0\r\n\r\n".
std::string fill_lengths(std::string request, const std::string& authority) {
  request = expand(std::move(request), authority);
  size_t n = request.find("{N}");
  if (n != std::string::npos) {
    size_t body = request.find("\r\n\r\n") + 4;
    request.replace(n, 3, std::to_string(request.size() - body));
  }
  size_t x = request.find("{X}");
  if (x != std::string::npos) {
    size_t start = x + 5;
    size_t end = request.find("\r\n0\r\n\r\n", start);
    char hex[24];
    snprintf(hex, sizeof hex, "%zx", end - start);
    request.replace(x, 3, hex);
  }
  return request;
}

void run_table(const std::vector<Case>& cases) {
  for (const auto& c0 : cases) {
    DYNAMIC_SECTION(c0.name) {
      auto latch = std::make_shared<Latch>();
      RawOrigin origin(script_for(c0, latch));
      ProxyHarness h = make_harness();
      Case c = c0;
      c.request = fill_lengths(c.request, origin.authority());
      c.up_body = expand(c.up_body, origin.authority());
      run_case(c, origin, h, 0, latch.get());
    }
  }
}

}  // namespace

TEST_CASE("desync requests: framing / head syntax / request line (RFC 9112 & 9110)", "[desync]") {
  run_table(request_cases());
}

TEST_CASE("desync responses: framing / status lines / 1xx / pooled reuse", "[desync]") {
  run_table(response_cases());
}

// Obs-fold and empty-value detection (and a few framing verdicts) must not depend on where
// the head is split across reads: every split offset gives the unsplit outcome.
TEST_CASE("desync split: key requests split at every byte offset", "[desync][split]") {
  std::vector<std::string> names = {
      "9112 5.2: obs-fold on the first field",
      "9112 5.2: obs-fold on a middle field",
      "9112 5.2: obs-fold on the last field",
      "9110 5.5: empty field value on the first field",
      "9110 5.5: empty field value on a middle field",
      "9110 5.5: empty field value on the last field",
      "9112 5.1: space before the colon in a request is 400",
      "9112 2.2: bare CR in a field value",
      "9110 5.5: 'chunked' followed by HTAB (OWS) is chunked",
      "9112 6.1: Content-Length and Transfer-Encoding together",
      "9112 7.1.1: chunk extension with BWS '5 ; a = b'",
      "9112 7.1.1: quoted-pair in a chunk extension value",
  };
  auto all = request_cases();
  for (const auto& name : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const Case& c) { return c.name == name; });
    REQUIRE(it != all.end());
    DYNAMIC_SECTION("split: " << name) {
      RawOrigin origin(script_for(*it));
      ProxyHarness h = make_harness();
      Case c = *it;
      c.request = fill_lengths(c.request, origin.authority());
      // Reuse across splits is measured per split, so only the framing matters here.
      c.reuse = Reuse::kAny;
      // An obs-fold refusal may also be an obs-fold SP replacement: which one must not
      // change with the split. Remember the first outcome and require it every time.
      std::optional<bool> refused_first;
      c.check = [&, inner = it->check](const Seen& s) {
        if (inner) inner(s);
        if (!refused_first) refused_first = s.refused;
        CHECK(s.refused == *refused_first);
      };
      for (size_t at = 1; at < c.request.size(); ++at) {
        INFO("split at byte " << at << " of " << c.request.size());
        run_case(c, origin, h, at);
      }
    }
  }
}
