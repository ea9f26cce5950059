// Counters of one worker, and their Prometheus text rendering.
//
// Each Worker owns one WorkerStats and is its only writer; every field is a relaxed
// atomic so that any thread (the one answering /metrics, a test) may read it. Rendering
// sums the workers' values; no locking anywhere on the request path.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace gatehouse {

// Latency histogram with fixed bucket bounds (milliseconds).
class LatencyHistogram {
 public:
  static constexpr std::array<uint64_t, 12> kBoundsMs = {1,   5,   10,   25,   50,   100,
                                                         250, 500, 1000, 2500, 5000, 10000};
  void observe(uint64_t ms);
  uint64_t bucket(size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  uint64_t sum_ms() const { return sum_.load(std::memory_order_relaxed); }

 private:
  std::array<std::atomic<uint64_t>, kBoundsMs.size()> buckets_{};  // cumulative at render
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_{0};
};

struct WorkerStats {
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_active{0};
  std::atomic<uint64_t> connections_refused_limit{0};  // over limits.max_connections
  std::atomic<uint64_t> requests{0};
  std::array<std::atomic<uint64_t>, 600> responses_by_status{};  // status codes 0..599
  std::array<std::atomic<uint64_t>, 64> errors_by_cause{};       // indexed by Cause
  std::atomic<uint64_t> upstream_connects{0};
  std::atomic<uint64_t> upstream_reuses{0};
  std::atomic<uint64_t> upstream_retries{0};
  std::atomic<uint64_t> upstream_open{0};  // upstream sockets open now (in use or pooled)
  std::atomic<uint64_t> tunnels_active{0};
  std::atomic<uint64_t> tunnels_total{0};
  std::atomic<uint64_t> bytes_from_clients{0};
  std::atomic<uint64_t> bytes_to_clients{0};
  std::atomic<uint64_t> backpressure_pauses{0};  // times a reader was stopped for a full peer
  std::atomic<uint64_t> dns_cache_hits{0};
  std::atomic<uint64_t> dns_cache_misses{0};
  std::atomic<uint64_t> auth_failures{0};
  std::atomic<uint64_t> redirects_seen{0};
  std::atomic<uint64_t> redirect_chains_cut{0};
  std::atomic<uint64_t> mime_blocked{0};
  std::atomic<uint64_t> chunks_outstanding{0};
  std::atomic<uint64_t> chunks_peak{0};
  LatencyHistogram dns_latency;
  LatencyHistogram connect_latency;
};

// Process-wide values that do not belong to one worker.
struct ProcessInfo {
  bool draining = false;
  unsigned workers = 0;
  uint64_t config_reloads = 0;
  uint64_t config_reload_failures = 0;
  uint64_t access_log_dropped = 0;
  int64_t open_fds = -1;  // descriptors open in this process; -1 = unknown
};

// Descriptors open in this process (entries of /proc/self/fd), or -1 when unreadable.
int64_t count_open_fds();

// Prometheus text exposition format 0.0.4 of the sum over `workers`.
std::string render_metrics(const std::vector<const WorkerStats*>& workers, const ProcessInfo& info);

}  // namespace gatehouse
