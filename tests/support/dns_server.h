// TestDnsServer: an in-process, scriptable DNS server on 127.0.0.1 UDP, port 0.
//
// Serves on its own thread (poll() on the socket and a wake pipe; no sleeps). Every query
// is counted, then answered from the script: A/AAAA records with their TTL, an rcode, a
// delay (the answer is sent late without holding up other names) or no answer at all.
// Names are matched case-insensitively and a trailing dot is ignored. An unknown name
// answers NXDOMAIN; a known name queried for a type it has no records of answers NOERROR
// with no answers (NODATA). Answers are proper DNS wire format: the header with the query's
// id, the question echoed, answer RRs pointing at the question name. UDP only: an answer
// over 512 bytes is sent truncated (TC set, no answers), and there is no TCP listener.
//
// The script may be changed at any time from any thread; it applies to later queries.
// The destructor stops the thread; answers still waiting on a delay are dropped.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gatehouse::test {

class TestDnsServer {
 public:
  static constexpr uint16_t kTypeA = 1;
  static constexpr uint16_t kTypeAaaa = 28;
  static constexpr int kNoError = 0;
  static constexpr int kFormErr = 1;
  static constexpr int kServFail = 2;
  static constexpr int kNxDomain = 3;
  static constexpr int kRefused = 5;

  TestDnsServer();
  ~TestDnsServer();
  TestDnsServer(const TestDnsServer&) = delete;
  TestDnsServer& operator=(const TestDnsServer&) = delete;

  uint16_t port() const;

  // Replaces the A (or AAAA) records of `name`; an empty list makes the name exist with
  // no records of that type (NODATA). Invalid address text aborts the test program.
  void set_a(const std::string& name, std::vector<std::string> ipv4s, uint32_t ttl = 60);
  void set_aaaa(const std::string& name, std::vector<std::string> ipv6s, uint32_t ttl = 60);
  // Every query for `name` answers this rcode (3 NXDOMAIN, 2 SERVFAIL, 5 REFUSED) with no
  // answers, whatever records it has. kNoError clears it again.
  void set_rcode(const std::string& name, int rcode);
  // Queries for `name` are counted but never answered.
  void set_drop(const std::string& name, bool drop = true);
  // Answers for `name` are sent this long after the query arrived.
  void set_delay(const std::string& name, std::chrono::milliseconds delay);
  // Forgets everything about `name` (it answers NXDOMAIN again). Counts are kept.
  void remove(const std::string& name);

  // Queries received for `name` (any type), or for `name` with this query type.
  size_t query_count(const std::string& name) const;
  size_t query_count(const std::string& name, uint16_t qtype) const;
  // Every query received, for any name.
  size_t total_queries() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse::test
