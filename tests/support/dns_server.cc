#include "tests/support/dns_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

namespace gatehouse::test {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxUdpAnswer = 512;  // no EDNS support: classic UDP limit

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "TestDnsServer: %s: %s\n", what, std::strerror(errno));
  std::abort();
}

std::string normalize(const std::string& name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

void put16(std::string& out, uint16_t v) {
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v & 0xff);
}

void put32(std::string& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}

struct Record {
  std::vector<std::array<uint8_t, 4>> a;
  uint32_t a_ttl = 60;
  std::vector<std::array<uint8_t, 16>> aaaa;
  uint32_t aaaa_ttl = 60;
  int rcode = 0;
  bool drop = false;
  std::chrono::milliseconds delay{0};
};

struct Query {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::string name;      // normalized
  std::string question;  // raw question section bytes (name, type, class)
  uint16_t qtype = 0;
};

// Parses the header and the first question. nullopt for anything that is not a query we
// can answer (a response, a truncated packet, a compressed name in a question).
std::optional<Query> parse_query(const uint8_t* buf, size_t len) {
  if (len < kHeaderSize) return std::nullopt;
  Query q;
  q.id = get16(buf);
  q.flags = get16(buf + 2);
  if (q.flags & 0x8000) return std::nullopt;  // a response, not a query
  if (get16(buf + 4) == 0) return std::nullopt;
  size_t pos = kHeaderSize;
  std::string name;
  for (;;) {
    if (pos >= len) return std::nullopt;
    uint8_t label = buf[pos++];
    if (label == 0) break;
    if (label & 0xc0) return std::nullopt;
    if (pos + label > len) return std::nullopt;
    if (!name.empty()) name += '.';
    name.append(reinterpret_cast<const char*>(buf + pos), label);
    pos += label;
  }
  if (pos + 4 > len) return std::nullopt;
  q.qtype = get16(buf + pos);
  pos += 4;
  q.name = normalize(name);
  q.question.assign(reinterpret_cast<const char*>(buf + kHeaderSize), pos - kHeaderSize);
  return q;
}

std::string build_answer(const Query& q, int rcode, const std::vector<std::string>& rdatas,
                         uint16_t type, uint32_t ttl) {
  std::string out;
  put16(out, q.id);
  uint16_t flags = 0x8000;    // QR
  flags |= q.flags & 0x7800;  // opcode
  flags |= 0x0400;            // AA
  flags |= q.flags & 0x0100;  // RD
  flags |= 0x0080;            // RA
  flags |= static_cast<uint16_t>(rcode & 0xf);
  put16(out, flags);
  put16(out, 1);  // QDCOUNT
  put16(out, static_cast<uint16_t>(rdatas.size()));
  put16(out, 0);  // NSCOUNT
  put16(out, 0);  // ARCOUNT
  out += q.question;
  for (const std::string& rdata : rdatas) {
    put16(out, 0xc000 | kHeaderSize);  // pointer to the question name
    put16(out, type);
    put16(out, 1);  // class IN
    put32(out, ttl);
    put16(out, static_cast<uint16_t>(rdata.size()));
    out += rdata;
  }
  if (out.size() > kMaxUdpAnswer) {
    out.resize(kHeaderSize);
    out += q.question;
    out[2] = static_cast<char>(out[2] | 0x02);  // TC
    out[6] = 0;                                 // ANCOUNT = 0
    out[7] = 0;
  }
  return out;
}

}  // namespace

struct TestDnsServer::Impl {
  struct Pending {
    Clock::time_point due;
    sockaddr_storage peer{};
    socklen_t peer_len = 0;
    std::string bytes;
  };

  int fd = -1;
  int wake[2] = {-1, -1};
  uint16_t port = 0;
  std::thread thread;
  std::atomic<bool> stop{false};

  mutable std::mutex mu;
  std::map<std::string, Record> records;                     // guarded by mu
  std::map<std::string, std::map<uint16_t, size_t>> counts;  // guarded by mu
  size_t total = 0;                                          // guarded by mu

  std::vector<Pending> pending;  // server thread only

  Record& record(const std::string& name) { return records[normalize(name)]; }

  void run();
  void handle_packet(const uint8_t* buf, size_t len, const sockaddr_storage& peer,
                     socklen_t peer_len);
  void send_due(Clock::time_point now);
};

void TestDnsServer::Impl::run() {
  uint8_t buf[4096];
  while (!stop.load()) {
    int timeout_ms = -1;
    if (!pending.empty()) {
      auto next =
          std::min_element(pending.begin(), pending.end(),
                           [](const Pending& a, const Pending& b) { return a.due < b.due; });
      auto left = next->due - Clock::now();
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
      timeout_ms = ms < 0 ? 0 : static_cast<int>(ms);
    }
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
    int n = ::poll(fds, 2, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (fds[1].revents) {
      char drain[64];
      while (::read(wake[0], drain, sizeof drain) > 0) {
      }
    }
    if (fds[0].revents & POLLIN) {
      for (;;) {
        sockaddr_storage peer{};
        socklen_t peer_len = sizeof peer;
        ssize_t got =
            ::recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&peer), &peer_len);
        if (got < 0) break;  // EAGAIN: drained
        handle_packet(buf, static_cast<size_t>(got), peer, peer_len);
      }
    }
    send_due(Clock::now());
  }
}

void TestDnsServer::Impl::handle_packet(const uint8_t* buf, size_t len,
                                        const sockaddr_storage& peer, socklen_t peer_len) {
  std::optional<Query> q = parse_query(buf, len);
  if (!q) return;

  std::string answer;
  std::chrono::milliseconds delay{0};
  {
    std::lock_guard<std::mutex> lock(mu);
    ++counts[q->name][q->qtype];
    ++total;
    auto it = records.find(q->name);
    if (it == records.end()) {
      answer = build_answer(*q, kNxDomain, {}, q->qtype, 0);
    } else {
      const Record& r = it->second;
      if (r.drop) return;
      delay = r.delay;
      std::vector<std::string> rdatas;
      uint32_t ttl = 0;
      if (r.rcode == kNoError && q->qtype == kTypeA) {
        for (const auto& a : r.a) rdatas.emplace_back(reinterpret_cast<const char*>(a.data()), 4);
        ttl = r.a_ttl;
      } else if (r.rcode == kNoError && q->qtype == kTypeAaaa) {
        for (const auto& a : r.aaaa) {
          rdatas.emplace_back(reinterpret_cast<const char*>(a.data()), 16);
        }
        ttl = r.aaaa_ttl;
      }
      answer = build_answer(*q, r.rcode, rdatas, q->qtype, ttl);
    }
  }
  Pending p;
  p.due = Clock::now() + delay;
  p.peer = peer;
  p.peer_len = peer_len;
  p.bytes = std::move(answer);
  pending.push_back(std::move(p));
}

void TestDnsServer::Impl::send_due(Clock::time_point now) {
  auto due = std::stable_partition(pending.begin(), pending.end(),
                                   [now](const Pending& p) { return p.due > now; });
  for (auto it = due; it != pending.end(); ++it) {
    // A lost datagram is what UDP does; the client retries or times out.
    (void)::sendto(fd, it->bytes.data(), it->bytes.size(), 0,
                   reinterpret_cast<const sockaddr*>(&it->peer), it->peer_len);
  }
  pending.erase(due, pending.end());
}

TestDnsServer::TestDnsServer() : impl_(std::make_unique<Impl>()) {
  impl_->fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (impl_->fd < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(impl_->fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("bind");
  socklen_t len = sizeof addr;
  if (::getsockname(impl_->fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    die("getsockname");
  }
  impl_->port = ntohs(addr.sin_port);
  if (::pipe2(impl_->wake, O_NONBLOCK | O_CLOEXEC) != 0) die("pipe2");
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

TestDnsServer::~TestDnsServer() {
  impl_->stop.store(true);
  char c = 1;
  while (::write(impl_->wake[1], &c, 1) < 0 && errno == EINTR) {
  }
  impl_->thread.join();
  ::close(impl_->fd);
  ::close(impl_->wake[0]);
  ::close(impl_->wake[1]);
}

uint16_t TestDnsServer::port() const {
  return impl_->port;
}

void TestDnsServer::set_a(const std::string& name, std::vector<std::string> ipv4s, uint32_t ttl) {
  std::vector<std::array<uint8_t, 4>> addrs;
  for (const std::string& text : ipv4s) {
    std::array<uint8_t, 4> a{};
    if (::inet_pton(AF_INET, text.c_str(), a.data()) != 1) {
      std::fprintf(stderr, "TestDnsServer::set_a: bad IPv4 address '%s'\n", text.c_str());
      std::abort();
    }
    addrs.push_back(a);
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  Record& r = impl_->record(name);
  r.a = std::move(addrs);
  r.a_ttl = ttl;
}

void TestDnsServer::set_aaaa(const std::string& name, std::vector<std::string> ipv6s,
                             uint32_t ttl) {
  std::vector<std::array<uint8_t, 16>> addrs;
  for (const std::string& text : ipv6s) {
    std::array<uint8_t, 16> a{};
    if (::inet_pton(AF_INET6, text.c_str(), a.data()) != 1) {
      std::fprintf(stderr, "TestDnsServer::set_aaaa: bad IPv6 address '%s'\n", text.c_str());
      std::abort();
    }
    addrs.push_back(a);
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  Record& r = impl_->record(name);
  r.aaaa = std::move(addrs);
  r.aaaa_ttl = ttl;
}

void TestDnsServer::set_rcode(const std::string& name, int rcode) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->record(name).rcode = rcode;
}

void TestDnsServer::set_drop(const std::string& name, bool drop) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->record(name).drop = drop;
}

void TestDnsServer::set_delay(const std::string& name, std::chrono::milliseconds delay) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->record(name).delay = delay;
}

void TestDnsServer::remove(const std::string& name) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->records.erase(normalize(name));
}

size_t TestDnsServer::query_count(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->counts.find(normalize(name));
  if (it == impl_->counts.end()) return 0;
  size_t n = 0;
  for (const auto& [type, count] : it->second) n += count;
  return n;
}

size_t TestDnsServer::query_count(const std::string& name, uint16_t qtype) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->counts.find(normalize(name));
  if (it == impl_->counts.end()) return 0;
  auto t = it->second.find(qtype);
  return t == it->second.end() ? 0 : t->second;
}

size_t TestDnsServer::total_queries() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->total;
}

}  // namespace gatehouse::test
