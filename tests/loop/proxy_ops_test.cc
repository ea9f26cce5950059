// Operations through a real loop: local endpoints, metrics, access log, connection
// limit, maintenance, drain and reload.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "tests/loop/proxy_harness.h"
#include "tests/support/process.h"

using namespace gatehouse;
using namespace gatehouse::test;

namespace {

std::optional<TestResponse> local_get(uint16_t port, const std::string& path) {
  TestClient client(port);
  client.send("GET " + path + " HTTP/1.1\r\nHost: proxy.example:3128\r\n\r\n");
  return client.read_response();
}

// The value of an unlabelled or labelled series in Prometheus text, or -1.
long long metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stoll(line.substr(series.size() + 1));
  }
  return -1;
}

}  // namespace

TEST_CASE("/readyz, /proxy.pac and /metrics are served on the proxy port", "[loop][ops]") {
  ProxyHarness h;
  auto ready = local_get(h.port(), "/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  auto pac = local_get(h.port(), "/proxy.pac");
  REQUIRE(pac);
  CHECK(pac->status == 200);
  CHECK(pac->header("Content-Type") == "application/x-ns-proxy-autoconfig");
  CHECK_THAT(pac->body, Catch::Contains("function FindProxyForURL(url, host)"));
  CHECK_THAT(pac->body, Catch::Contains("PROXY proxy.example:3128"));
  CHECK_THAT(pac->body, Catch::Contains("DIRECT"));
  auto m = local_get(h.port(), "/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK_THAT(m->header("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));
  CHECK_THAT(m->body, Catch::Contains("# TYPE gatehouse_requests_total counter"));
}

TEST_CASE("metrics counters move with traffic", "[loop][ops]") {
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write(TestOrigin::response(200, "hello"));
  });
  ProxyHarness h;
  h.dns.set_rcode("nx.test", TestDnsServer::kNxDomain);
  auto before = local_get(h.port(), "/metrics");
  REQUIRE(before);
  TestClient client(h.port());
  for (int i = 0; i < 3; ++i) {
    client.send(get_request(origin.port()));
    REQUIRE(client.read_response());
  }
  client.send("GET http://nx.test/ HTTP/1.1\r\nHost: nx.test\r\n\r\n");
  auto nx = client.read_response();
  REQUIRE(nx);
  REQUIRE(nx->status == 502);
  auto after = local_get(h.port(), "/metrics");
  REQUIRE(after);
  const std::string& t = after->body;
  CHECK(metric(t, "gatehouse_responses_total{code=\"200\"}") >= 4);  // 3 + the first /metrics
  CHECK(metric(t, "gatehouse_responses_total{code=\"502\"}") == 1);
  CHECK(metric(t, "gatehouse_errors_total{type=\"dns_error\"}") == 1);
  CHECK(metric(t, "gatehouse_upstream_connects_total") == 1);
  CHECK(metric(t, "gatehouse_upstream_reuses_total") == 2);
  CHECK(metric(t, "gatehouse_dns_cache_hits_total") +
            metric(t, "gatehouse_dns_cache_misses_total") ==
        2);
  CHECK(metric(t, "gatehouse_dns_lookup_seconds_count") == 2);
  CHECK(metric(t, "gatehouse_upstream_connect_seconds_count") == 1);
  CHECK(metric(t, "gatehouse_client_sent_bytes_total") > 0);
  CHECK(metric(t, "gatehouse_client_received_bytes_total") > 0);
  CHECK(metric(t, "gatehouse_connections_active") >= 1);
}

TEST_CASE("the access log has one JSON line per exchange with every field", "[loop][ops]") {
  TempFile log("", ".log");
  TestOrigin origin([](const OriginRequest&, OriginConnection& c) {
    c.write(TestOrigin::response(201, "made"));
  });
  ProxyHarness h([&](Config& c) { c.log.access = log.path(); });
  TestClient client(h.port());
  std::string authority = "origin.test:" + std::to_string(origin.port());
  client.send("POST http://" + authority + "/thing?x=1 HTTP/1.1\r\nHost: " + authority +
              "\r\nContent-Length: 4\r\n\r\nbody");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 201);
  client.send("GET http://nowhere.test/ HTTP/1.1\r\nHost: nowhere.test\r\n\r\n");
  REQUIRE(client.read_response());
  // Userinfo in the target is refused (400), and the credentials never reach the log.
  client.send("GET http://user:secret@nowhere.test/ HTTP/1.1\r\nHost: nowhere.test\r\n\r\n");
  auto refused = client.read_response();
  REQUIRE(refused);
  CHECK(refused->status == 400);
  h.server->stop();  // every exchange is over and logged
  h.server->access_log().flush();
  std::ifstream in(log.path());
  std::string first, second, third, extra;
  REQUIRE(std::getline(in, first));
  REQUIRE(std::getline(in, second));
  REQUIRE(std::getline(in, third));
  CHECK_FALSE(std::getline(in, extra));
  CHECK_THAT(third, Catch::Contains("\"status\":400"));
  CHECK_THAT(third, Catch::Contains("\"url\":\"http://nowhere.test/\""));
  CHECK_THAT(third, !Catch::Contains("secret"));
  for (const char* key :
       {"\"time\":", "\"client\":\"127.0.0.1\"", "\"user\":", "\"method\":\"POST\"",
        "\"status\":201", "\"proxy_status\":\"\"",
        "\"bytes_in\":", "\"bytes_out\":", "\"duration_ms\":", "\"request_id\":\""}) {
    INFO(key);
    CHECK_THAT(first, Catch::Contains(key));
  }
  CHECK_THAT(first, Catch::Contains("\"url\":\"http://" + authority + "/thing?x=1\""));
  CHECK_THAT(first, Catch::Contains("\"upstream\":\"" + authority + "\""));
  CHECK_THAT(second, Catch::Contains("\"status\":502"));
  CHECK_THAT(second, Catch::Contains("\"proxy_status\":\"dns_error\""));
}

TEST_CASE("over limits.max_connections a connection gets 503 with Retry-After", "[loop][ops]") {
  ProxyHarness h([](Config& c) { c.limits.max_connections = 1; });
  TestClient first(h.port());
  first.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(first.read_response());  // the first connection is surely accepted and counted
  TestClient second(h.port());
  auto r = second.read_response();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK_FALSE(r->header("Retry-After").empty());
  CHECK_THAT(r->header("Proxy-Status"), Catch::Contains("error=connection_limit_reached"));
  CHECK(second.wait_closed());
}

TEST_CASE("maintenance mode answers proxied requests with 503 but keeps /healthz", "[loop][ops]") {
  ProxyHarness h([](Config& c) { c.server.maintenance = true; });
  TestClient client(h.port());
  client.send("GET http://origin.test/ HTTP/1.1\r\nHost: origin.test\r\n\r\n");
  auto r = client.read_response();
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK_FALSE(r->header("Retry-After").empty());
  auto health = local_get(h.port(), "/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
}

TEST_CASE("drain finishes a slow in-flight response and refuses new connections", "[loop][ops]") {
  std::atomic<bool> release{false};
  TestOrigin origin([&](const OriginRequest&, OriginConnection& c) {
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst");
    // The rest comes once the test has started the drain.
    while (!release) std::this_thread::yield();
    c.write("-half");
  });
  ProxyHarness h;
  TestClient client(h.port());
  TestClient idle(h.port());
  idle.send("GET /healthz HTTP/1.1\r\nHost: p\r\n\r\n");
  REQUIRE(idle.read_response());
  TestClient halfway(h.port());
  halfway.send("GET /healthz HTTP/1.1\r\nHo");  // a request head under way
  client.send(get_request(origin.port()));
  auto start = client.read_response(true);  // wait until the response is under way
  REQUIRE(start);
  REQUIRE(start->status == 200);
  h.server->drain();
  CHECK(idle.wait_closed());  // idle keep-alive connections go at once
  TestClient late(h.port());
  CHECK_FALSE(late.read_response());  // nobody accepts any more
  // The request that was arriving is answered, and told the connection closes.
  halfway.send("st: p\r\n\r\n");
  auto answered = halfway.read_response();
  REQUIRE(answered);
  CHECK(answered->status == 200);
  CHECK(answered->header("Connection") == "close");
  release = true;
  std::string rest = client.read_until_close();
  CHECK(rest == "first-half");
  h.server->wait();
}

TEST_CASE("a reload applies to new connections while an open tunnel survives", "[loop][ops]") {
  TestOrigin origin([](const OriginRequest& r, OriginConnection& c) {
    c.write(TestOrigin::response(200, "tunnel " + r.target));
  });
  uint16_t port = origin.port();
  Config base;
  ProxyHarness h([&](Config& c) {
    c.access.connect_ports.push_back(port);
    base = c;
  });
  TestClient tunnel(h.port());
  std::string authority = "origin.test:" + std::to_string(port);
  tunnel.send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
  auto est = tunnel.read_response(true);
  REQUIRE(est);
  REQUIRE(est->status == 200);

  Config next = base;
  next.access.connect_ports = {443};
  std::vector<std::string> warnings;
  std::string error;
  CHECK(h.server->reload(std::make_shared<const Config>(next), &warnings, &error));
  CHECK(warnings.empty());

  // New tunnels to that port are refused now ...
  bool refused = false;
  for (int attempt = 0; attempt < 50 && !refused; ++attempt) {  // the reload lands asynchronously
    TestClient probe(h.port());
    probe.send("CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n");
    auto r = probe.read_response(true);
    REQUIRE(r);
    refused = r->status == 403;
  }
  CHECK(refused);
  // ... while the open one still works.
  tunnel.send("GET /still HTTP/1.1\r\nHost: x\r\n\r\n");
  auto inner = tunnel.read_response();
  REQUIRE(inner);
  CHECK(inner->body == "tunnel /still");
}
