// Hostile-peer suite ([hostile]): origins and clients that misbehave on purpose.
//
// Each case drives the proxy with a hostile origin (RawOrigin: trickling, lying about
// lengths, flooding 1xx, an endless reason phrase, resetting mid-body, never answering)
// or a hostile client (never reading, abandoning at every stage of an exchange), checks
// the answer (or the close) the proxy gives, and then checks that nothing is left behind:
// through the proxy's own /metrics (origin-form GET to the proxy port) it waits, with a
// deadline, until gatehouse_connections_active is back to 1 (the /metrics connection
// itself), gatehouse_upstream_connections_open and gatehouse_tunnels_active are 0, and
// process_open_fds is back to the baseline sampled before the case. The proxy runs in
// this process, so the test's own sockets count too: every case closes its clients before
// the final check, and the origin closes its side as soon as the proxy closes its own.
//
// Timeouts are configured small (about a second) for the cases that need one to fire;
// the cases that check that the proxy reacts to a peer going away configure the
// matching timeout large and require the clean-up well before it, so a proxy that only
// cleans up when a timer fires fails them.
#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/loop/proxy_harness.h"
#include "tests/support/raw_origin.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

using Clock = std::chrono::steady_clock;
using Metrics = std::map<std::string, double>;

const std::string kClose = "Connection: close\r\n";

std::string metric_summary(const std::optional<Metrics>& m) {
  if (!m) return "(no /metrics answer)";
  auto get = [&](const char* k) {
    auto it = m->find(k);
    return it == m->end() ? std::string("?") : std::to_string(static_cast<long>(it->second));
  };
  return "connections_active=" + get("gatehouse_connections_active") +
         " upstream_open=" + get("gatehouse_upstream_connections_open") +
         " tunnels_active=" + get("gatehouse_tunnels_active") +
         " open_fds=" + get("process_open_fds") +
         " chunks_in_use=" + get("gatehouse_buffer_chunks_in_use");
}

double value(const Metrics& m, const char* k) {
  auto it = m.find(k);
  return it == m.end() ? -1 : it->second;
}

bool quiet(const Metrics& m) {
  return value(m, "gatehouse_connections_active") == 1 &&
         value(m, "gatehouse_upstream_connections_open") == 0 &&
         value(m, "gatehouse_tunnels_active") == 0;
}

struct Env {
  RawOrigin& origin;
  ProxyHarness& h;
  StuckListener& stuck;
  std::string authority() const { return origin.authority(); }
  std::string get(const std::string& path = "/", const std::string& extra = "") const {
    return "GET http://" + authority() + path + " HTTP/1.1\r\nHost: " + authority() + "\r\n" +
           extra + "\r\n";
  }
};

struct HostileCase {
  std::string name;
  std::function<void(Config&)> tweak;
  std::function<RawScript()> script;
  // Drives the clients and checks the answers; closes every client before returning.
  std::function<void(Env&)> run;
  // Everything must be released within this long after run() returned.
  std::chrono::milliseconds release_within = std::chrono::milliseconds(3000);
};

// Answers every request with a short, closing response.
RawScript polite() {
  return RawOrigin::respond([](const RawRequest&) {
    return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + kClose + "\r\nok";
  });
}

// A request that makes the resolver and its sockets exist before the baseline: a name
// that resolves to a closed port is refused at once and leaves no upstream connection.
void warm_up(ProxyHarness& h) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  std::string authority = "warm.test:" + std::to_string(ntohs(a.sin_port));
  h.dns.set_a("warm.test", {"127.0.0.1"});
  RawClient c(h.port(), 3s);
  c.send("GET http://" + authority + "/ HTTP/1.1\r\nHost: " + authority + "\r\n" + kClose + "\r\n");
  RawRead r = c.read();
  INFO("warm-up: " << to_string(r.outcome) << " " << r.response.status);
  REQUIRE(r.ok());
  c.wait_closed(2s);
}

double baseline_fds(ProxyHarness& h) {
  std::optional<Metrics> m;
  bool ok = eventually(
      [&] {
        m = read_metrics(h.port());
        return m && quiet(*m) && value(*m, "process_open_fds") > 0;
      },
      3s);
  INFO("before the case: " << metric_summary(m));
  REQUIRE(ok);
  return value(*m, "process_open_fds");
}

void expect_released(ProxyHarness& h, RawOrigin& origin, double fds,
                     std::chrono::milliseconds within) {
  std::optional<Metrics> m;
  bool ok = eventually(
      [&] {
        m = read_metrics(h.port());
        return m && quiet(*m) && value(*m, "process_open_fds") <= fds &&
               origin.open_connections() == 0;
      },
      within);
  INFO("after the case: " << metric_summary(m) << " (baseline open_fds=" << fds
                          << "); origin connections still open: " << origin.open_connections());
  CHECK(ok);
}

// Samples gatehouse_buffer_chunks_in_use for `window` and returns the largest value: an
// observation window (how much the proxy holds while a peer stalls), not a wait.
double max_chunks_over(ProxyHarness& h, std::chrono::milliseconds window) {
  double peak = 0;
  auto end = Clock::now() + window;
  eventually(
      [&] {
        auto m = parse_metrics(h.server->render_metrics());
        peak = std::max(peak, value(m, "gatehouse_buffer_chunks_in_use"));
        return Clock::now() >= end;
      },
      window + 1s);
  return peak;
}

// Reads until `n` bytes arrived (or the peer closed / timeout); returns what was read.
std::string read_some_bytes(RawClient& c, size_t n, std::chrono::milliseconds timeout) {
  std::string got;
  auto deadline = Clock::now() + timeout;
  while (got.size() < n && Clock::now() < deadline) {
    if (!c.readable(std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()))) break;
    char buf[65536];
    ssize_t r = ::recv(c.fd(), buf, sizeof buf, 0);
    if (r <= 0) break;
    got.append(buf, static_cast<size_t>(r));
  }
  return got;
}

void base_tweak(Config& c) {
  c.timeouts.client_header = std::chrono::seconds(1);
  c.timeouts.client_idle = std::chrono::seconds(1);
  c.timeouts.response_header = std::chrono::seconds(1);
  c.timeouts.idle = std::chrono::seconds(1);
  c.timeouts.connect = std::chrono::seconds(1);
  c.timeouts.dns = std::chrono::seconds(2);
}

std::vector<HostileCase> cases() {
  std::vector<HostileCase> v;

  // ---- hostile origins ----------------------------------------------------------------
  v.push_back({"origin trickles its response one byte at a time", nullptr,
               [] {
                 return RawScript{.on_accept = nullptr,
                                  .on_request =
                                      [](RawConn& c, const RawRequest&) {
                                        c.trickle("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n" +
                                                      kClose + "\r\n0123456789",
                                                  std::chrono::microseconds(300));
                                        c.close();
                                      },
                                  .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 for (int i = 0; i < 2; ++i) {  // the client connection stays usable
                   c.send(e.get("/t" + std::to_string(i)));
                   RawRead r = c.read();
                   INFO("read " << i << ": " << to_string(r.outcome) << " " << r.response.raw);
                   REQUIRE(r.ok());
                   CHECK(r.response.status == 200);
                   CHECK(r.response.body == "0123456789");
                 }
               }});

  // RFC 9112 §8: a message shorter than its Content-Length is incomplete; the proxy can
  // only close, and the client must not see a complete response.
  v.push_back({"origin's Content-Length is larger than the body, then it closes", nullptr,
               [] {
                 return RawOrigin::respond(
                     [](const RawRequest&) {
                       return std::string(
                           "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten-b");
                     },
                     [](const RawRequest&) { return true; });
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 RawRead r = c.read();
                 INFO(to_string(r.outcome) << " " << r.response.raw);
                 CHECK(r.outcome == ReadOutcome::kTruncated);
                 CHECK(r.response.status == 200);
                 CHECK(c.wait_closed(2s));
               }});

  // The bytes beyond Content-Length are not part of the response and poison the
  // connection: the next request must get its own answer, on a new upstream connection.
  v.push_back({"origin sends more than its Content-Length", nullptr,
               [] {
                 return RawOrigin::respond([](const RawRequest& r) {
                   if (r.target == "/second")
                     return "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n" + kClose + "\r\nsecond";
                   return std::string(
                       "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst"
                       "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil");
                 });
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get("/first"));
                 RawRead r = c.read();
                 REQUIRE(r.ok());
                 CHECK(r.response.body == "first");
                 c.send(e.get("/second"));
                 RawRead s = c.read();
                 INFO(to_string(s.outcome) << " " << s.response.raw);
                 REQUIRE(s.ok());
                 CHECK(s.response.body == "second");
                 auto reqs = e.origin.requests();
                 REQUIRE(reqs.size() == 2);
                 CHECK(reqs[1].connection != reqs[0].connection);
                 CHECK(e.origin.wait_peer_closed(0, 2s));
               }});

  // Interim responses are forwarded (RFC 9110 §15.2) but nothing a peer sends is
  // unbounded: an endless run of them must end in a 502 or a close, not be relayed
  // forever. 20000 is far beyond any legitimate use.
  v.push_back({"origin floods 20000 100-continue responses", nullptr,
               [] {
                 return RawScript{
                     .on_accept = nullptr,
                     .on_request =
                         [](RawConn& c, const RawRequest&) {
                           std::string batch;
                           for (int i = 0; i < 100; ++i) batch += "HTTP/1.1 100 Continue\r\n\r\n";
                           for (int i = 0; i < 200 && c.running(); ++i) {
                             if (!c.write(batch)) return;
                           }
                           c.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + kClose + "\r\nok");
                           c.close();
                         },
                     .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 5s);
                 c.send(e.get());
                 std::vector<RawResponse> interim;
                 RawRead r = c.read_final(&interim);
                 INFO("interim forwarded: " << interim.size() << "; final: " << to_string(r.outcome)
                                            << " " << r.response.status);
                 CHECK(interim.size() < 20000);
                 bool answered_502 = r.ok() && r.response.status == 502;
                 bool closed =
                     r.outcome == ReadOutcome::kClosed || r.outcome == ReadOutcome::kTruncated;
                 CHECK((answered_502 || closed));
                 if (answered_502)
                   CHECK_THAT(r.response.header("Proxy-Status"), Catch::Contains("error=http_"));
               }});

  // The status line counts towards the head limit (DESIGN: "every byte of a head").
  v.push_back({"origin sends a reason phrase of megabytes", nullptr,
               [] {
                 return RawScript{.on_accept = nullptr,
                                  .on_request =
                                      [](RawConn& c, const RawRequest&) {
                                        if (!c.write("HTTP/1.1 200 ")) return;
                                        std::string a(65536, 'A');
                                        for (int i = 0; i < 64 && c.running(); ++i) {
                                          if (!c.write(a)) return;
                                        }
                                      },
                                  .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 RawRead r = c.read();
                 INFO(to_string(r.outcome) << " " << r.response.raw.substr(0, 400));
                 REQUIRE(r.ok());
                 CHECK(r.response.status == 502);
                 CHECK_THAT(r.response.header("Proxy-Status"),
                            Catch::Contains("error=http_response_header_section_size"));
               }});

  v.push_back({"origin resets the connection in the middle of the body", nullptr,
               [] {
                 return RawScript{
                     .on_accept = nullptr,
                     .on_request =
                         [](RawConn& c, const RawRequest&) {
                           c.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" +
                                   std::string(1000, 'b'));
                           c.reset();
                         },
                     .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 RawRead r = c.read();
                 INFO(to_string(r.outcome));
                 CHECK(r.outcome == ReadOutcome::kTruncated);
                 CHECK(c.wait_closed(2s));
               }});

  v.push_back({"origin accepts the request and never answers", nullptr, [] { return RawScript{}; },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 RawRead r = c.read();
                 INFO(to_string(r.outcome) << " " << r.response.raw.substr(0, 300));
                 REQUIRE(r.ok());
                 CHECK(r.response.status == 504);
                 CHECK_THAT(r.response.header("Proxy-Status"),
                            Catch::Contains("error=http_response_timeout"));
               }});

  v.push_back({"origin sends the head, then goes silent in the body", nullptr,
               [] {
                 return RawScript{.on_accept = nullptr,
                                  .on_request =
                                      [](RawConn& c, const RawRequest&) {
                                        c.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" +
                                                std::string(100, 'b'));
                                      },
                                  .on_data = nullptr};
               },
               [](Env& e) {
                 // timeouts.idle (1 s) ends it: the response already started, so a close.
                 RawClient c(e.h.port(), 4s);
                 c.send(e.get());
                 RawRead r = c.read();
                 INFO(to_string(r.outcome));
                 CHECK(r.outcome == ReadOutcome::kTruncated);
                 CHECK(c.wait_closed(3s));
               }});

  // Once the head went out a broken body can only end in a close (or, if the proxy held
  // the head back, a 502); the client must never see a complete response.
  v.push_back({"origin sends a broken chunk after the head", nullptr,
               [] {
                 return RawScript{.on_accept = nullptr,
                                  .on_request =
                                      [](RawConn& c, const RawRequest&) {
                                        c.write(
                                            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                            "5\r\nfirst\r\nzz\r\n");
                                      },
                                  .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 RawRead r = c.read();
                 INFO(to_string(r.outcome) << " " << r.response.raw.substr(0, 300));
                 if (r.ok()) {
                   CHECK(r.response.status == 502);
                 } else {
                   CHECK(r.outcome == ReadOutcome::kTruncated);
                   CHECK(c.wait_closed(2s));
                 }
               }});

  // No final response was started, so the proxy can still answer (RFC 9110 §15.2: 1xx
  // are interim); the DESIGN row is 502 connection_terminated.
  v.push_back({"origin sends 100 Continue and closes", nullptr,
               [] {
                 return RawOrigin::respond(
                     [](const RawRequest&) { return std::string("HTTP/1.1 100 Continue\r\n\r\n"); },
                     [](const RawRequest&) { return true; });
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 std::vector<RawResponse> interim;
                 RawRead r = c.read_final(&interim);
                 INFO(to_string(r.outcome) << " " << r.response.raw.substr(0, 300));
                 REQUIRE(r.ok());
                 CHECK(r.response.status == 502);
                 CHECK_THAT(r.response.header("Proxy-Status"),
                            Catch::Contains("error=connection_terminated"));
               }});

  // ---- hostile clients ----------------------------------------------------------------
  v.push_back({"client never reads a large response", nullptr,
               [] {
                 return RawScript{
                     .on_accept = nullptr,
                     .on_request =
                         [](RawConn& c, const RawRequest&) {
                           if (!c.write("HTTP/1.1 200 OK\r\nContent-Length: 67108864\r\n\r\n"))
                             return;
                           std::string chunk(65536, 'x');
                           for (int i = 0; i < 1024 && c.running(); ++i) {
                             if (!c.write(chunk)) return;
                           }
                         },
                     .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s, 16384);
                 c.send(e.get());
                 // Back-pressure: while the client does not read, the proxy holds a
                 // bounded amount (high-water mark plus a read chunk per direction).
                 double peak = max_chunks_over(e.h, std::chrono::milliseconds(400));
                 INFO("64 KiB chunks in use while stalled: " << peak);
                 CHECK(peak <= 16);
                 // timeouts.idle (1 s): no byte moves either way, so the proxy gives up.
                 std::optional<Metrics> m;
                 bool gone = eventually(
                     [&] {
                       m = read_metrics(e.h.port());
                       return m && quiet(*m);
                     },
                     3s);
                 INFO(metric_summary(m));
                 CHECK(gone);
                 c.close();
               }});

  // The proxy learns of the close from its read; it must not wait for client_header.
  v.push_back({"client abandons in the middle of the head",
               [](Config& c) { c.timeouts.client_header = std::chrono::seconds(10); }, polite,
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send("GET http://" + e.authority() + "/ HTTP/1.1\r\nHo");
                 c.close();
                 CHECK(e.origin.connections_accepted() == 0);
               },
               std::chrono::milliseconds(1500)});

  // A request head is complete and the proxy is resolving when the client leaves.
  v.push_back(
      {"client abandons a GET while its DNS answer is delayed", nullptr, polite, [](Env& e) {
         e.h.dns.set_a("slow.test", {"127.0.0.1"});
         e.h.dns.set_delay("slow.test", std::chrono::milliseconds(600));
         std::string a = "slow.test:" + std::to_string(e.origin.port());
         auto t0 = Clock::now();
         {
           RawClient c(e.h.port(), 3s);
           c.send("GET http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
           // Wait until the query is out, so the client leaves mid-lookup.
           CHECK(eventually([&] { return e.h.dns.query_count("slow.test") > 0; }, 2s));
           c.close();
         }
         // Observation window: let the delayed answer arrive before judging, so a
         // connect started by it after the client left is seen (and must be undone).
         eventually([&] { return Clock::now() > t0 + std::chrono::milliseconds(800); }, 2s);
       }});

  v.push_back({"client resets a CONNECT while its DNS answer is delayed",
               nullptr,  // the origin port is in connect_ports for every case
               polite, [](Env& e) {
                 e.h.dns.set_a("slow.test", {"127.0.0.1"});
                 e.h.dns.set_delay("slow.test", std::chrono::milliseconds(600));
                 std::string a = "slow.test:" + std::to_string(e.origin.port());
                 auto t0 = Clock::now();
                 {
                   RawClient c(e.h.port(), 3s);
                   c.send("CONNECT " + a + " HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
                   CHECK(eventually([&] { return e.h.dns.query_count("slow.test") > 0; }, 2s));
                   c.reset();
                 }
                 eventually([&] { return Clock::now() > t0 + std::chrono::milliseconds(800); }, 2s);
               }});

  // The reset arrives while the connect hangs (StuckListener): the proxy must notice it
  // and give the connect up, well before timeouts.connect (5 s here) would.
  v.push_back({"client resets a GET while the upstream connect hangs",
               [](Config& c) { c.timeouts.connect = std::chrono::seconds(5); }, polite,
               [](Env& e) {
                 std::string a = "origin.test:" + std::to_string(e.stuck.port());
                 RawClient c(e.h.port(), 3s);
                 c.send("GET http://" + a + "/ HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
                 // Wait until the proxy is connecting: an upstream connection exists.
                 CHECK(eventually(
                     [&] {
                       auto m = parse_metrics(e.h.server->render_metrics());
                       return value(m, "gatehouse_upstream_connections_open") > 0;
                     },
                     2s));
                 c.reset();
               },
               std::chrono::milliseconds(2000)});

  // DESIGN: "a connect that finishes after the client left" has a timer; a CONNECT client
  // that closes before the tunnel is up is gone (there is nothing to half-close yet).
  v.push_back({"client closes a CONNECT while the upstream connect hangs",
               [](Config& c) { c.timeouts.connect = std::chrono::seconds(5); }, polite,
               [](Env& e) {
                 std::string a = "origin.test:" + std::to_string(e.stuck.port());
                 RawClient c(e.h.port(), 3s);
                 c.send("CONNECT " + a + " HTTP/1.1\r\nHost: " + a + "\r\n\r\n");
                 CHECK(eventually(
                     [&] {
                       auto m = parse_metrics(e.h.server->render_metrics());
                       return value(m, "gatehouse_upstream_connections_open") > 0;
                     },
                     2s));
                 c.close();
               },
               std::chrono::milliseconds(2000)});

  // Content-Length: 100, 10 bytes, then silence: the body stalls. DESIGN: every waiting
  // state has a timer (timeouts.idle here, 1 s). Judgment: any 4xx/5xx with
  // Connection: close (408 is the natural one) or a plain close is accepted; the origin
  // must have received exactly the head and those 10 bytes, and then a close.
  v.push_back({"client sends 10 of 100 body bytes and goes silent", nullptr,
               [] { return RawScript{}; },
               [](Env& e) {
                 RawClient c(e.h.port(), 4s);
                 std::string head = "POST http://" + e.authority() +
                                    "/up HTTP/1.1\r\nHost: " + e.authority() +
                                    "\r\nContent-Length: 100\r\n\r\n";
                 c.send(head + "0123456789");
                 RawRead r = c.read();
                 INFO(to_string(r.outcome) << " " << r.response.raw.substr(0, 300));
                 if (r.ok()) {
                   CHECK(r.response.status >= 400);
                   CHECK(r.response.header("Connection") == "close");
                 } else {
                   CHECK(r.outcome == ReadOutcome::kClosed);
                 }
                 CHECK(c.wait_closed(3s));
                 REQUIRE(e.origin.connections_accepted() == 1);
                 CHECK(e.origin.wait_peer_closed(0, 2s));
                 std::string got = e.origin.received(0);
                 INFO("origin got " << got.size() << " bytes");
                 CHECK(got.size() > 10);
                 CHECK(got.substr(got.size() >= 10 ? got.size() - 10 : 0) == "0123456789");
                 CHECK(got.find("\r\n\r\n") == got.size() - 14);
               }});

  v.push_back({"client resets after 10 of 100 body bytes",
               [](Config& c) { c.timeouts.idle = std::chrono::seconds(10); },
               [] { return RawScript{}; },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send("POST http://" + e.authority() + "/up HTTP/1.1\r\nHost: " + e.authority() +
                        "\r\nContent-Length: 100\r\n\r\n0123456789");
                 REQUIRE(e.origin.wait_received(
                     0, [](std::string_view s) { return s.find("0123456789") != s.npos; }, 2s));
                 c.reset();
                 // The upload cannot complete: the upstream connection must go at once.
                 CHECK(e.origin.wait_peer_closed(0, 1500ms));
               },
               std::chrono::milliseconds(1500)});

  v.push_back({"client resets right after the response head",
               [](Config& c) { c.timeouts.idle = std::chrono::seconds(10); },
               [] {
                 return RawScript{
                     .on_accept = nullptr,
                     .on_request =
                         [](RawConn& c, const RawRequest&) {
                           c.write("HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" +
                                   std::string(1000, 'b'));
                         },
                     .on_data = nullptr};
               },
               [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get());
                 std::string got = read_some_bytes(c, 100, 2s);
                 INFO(got.substr(0, 100));
                 CHECK(got.rfind("HTTP/1.1 200", 0) == 0);
                 c.reset();
                 // The body can never be delivered: the upstream connection must go at once.
                 CHECK(e.origin.wait_peer_closed(0, 1500ms));
               },
               std::chrono::milliseconds(1500)});

  v.push_back({"client closes after a complete exchange without reading the answer", nullptr,
               polite, [](Env& e) {
                 RawClient c(e.h.port(), 3s);
                 c.send(e.get("/", "Connection: keep-alive\r\n"));
                 REQUIRE(e.origin.wait_requests(1, 2s) == 1);
                 c.close();
               }});
  return v;
}

}  // namespace

TEST_CASE("hostile peers: answers and no leaked connection or descriptor", "[hostile]") {
  for (const auto& c : cases()) {
    DYNAMIC_SECTION(c.name) {
      RawOrigin origin(c.script ? c.script() : RawScript{});
      StuckListener stuck;  // always present, so the descriptor baseline includes it
      uint16_t origin_port = origin.port();
      ProxyHarness h([&](Config& cfg) {
        base_tweak(cfg);
        cfg.access.connect_ports.push_back(origin_port);
        cfg.access.connect_ports.push_back(stuck.port());
        if (c.tweak) c.tweak(cfg);
      });
      warm_up(h);
      double fds = baseline_fds(h);
      Env env{origin, h, stuck};
      c.run(env);
      expect_released(h, origin, fds, c.release_within);
    }
  }
}
