#include "proxy/metrics.h"

#include <dirent.h>

#include <map>

#include "proxy/error_catalog.h"

namespace gatehouse {
namespace {

using Getter = uint64_t (*)(const WorkerStats&);

uint64_t sum(const std::vector<const WorkerStats*>& ws, Getter g) {
  uint64_t total = 0;
  for (const WorkerStats* w : ws) total += g(*w);
  return total;
}

void family(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void sample(std::string& out, const std::string& name, uint64_t v) {
  out += name;
  out += ' ';
  out += std::to_string(v);
  out += '\n';
}

void scalar(std::string& out, const std::vector<const WorkerStats*>& ws, const char* name,
            const char* type, const char* help, Getter g) {
  family(out, name, type, help);
  sample(out, name, sum(ws, g));
}

void histogram(std::string& out, const std::vector<const WorkerStats*>& ws, const char* name,
               const char* help, const LatencyHistogram WorkerStats::*member) {
  family(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i < LatencyHistogram::kBoundsMs.size(); ++i) {
    for (const WorkerStats* w : ws) cumulative += (w->*member).bucket(i);
    char le[32];
    snprintf(le, sizeof le, "%g", static_cast<double>(LatencyHistogram::kBoundsMs[i]) / 1000.0);
    sample(out, std::string(name) + "_bucket{le=\"" + le + "\"}", cumulative);
  }
  uint64_t count = 0, sum_ms = 0;
  for (const WorkerStats* w : ws) {
    count += (w->*member).count();
    sum_ms += (w->*member).sum_ms();
  }
  sample(out, std::string(name) + "_bucket{le=\"+Inf\"}", count);
  char s[32];
  snprintf(s, sizeof s, "%.3f", static_cast<double>(sum_ms) / 1000.0);
  out += std::string(name) + "_sum " + s + "\n";
  sample(out, std::string(name) + "_count", count);
}

}  // namespace

int64_t count_open_fds() {
  DIR* d = opendir("/proc/self/fd");
  if (!d) return -1;
  int64_t n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

void LatencyHistogram::observe(uint64_t ms) {
  for (size_t i = 0; i < kBoundsMs.size(); ++i) {
    if (ms <= kBoundsMs[i]) {
      buckets_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(ms, std::memory_order_relaxed);
}

std::string render_metrics(const std::vector<const WorkerStats*>& ws, const ProcessInfo& info) {
  std::string out;
  out.reserve(8192);
  family(out, "gatehouse_up", "gauge", "1 while the proxy runs; 0 is never reported.");
  sample(out, "gatehouse_up", 1);
  family(out, "gatehouse_draining", "gauge", "1 while the proxy drains before exiting.");
  sample(out, "gatehouse_draining", info.draining ? 1 : 0);
  family(out, "gatehouse_workers", "gauge", "Event-loop worker threads.");
  sample(out, "gatehouse_workers", info.workers);
  scalar(out, ws, "gatehouse_connections_accepted_total", "counter", "Client connections accepted.",
         [](const WorkerStats& w) { return w.connections_accepted.load(); });
  scalar(out, ws, "gatehouse_connections_active", "gauge", "Client connections open now.",
         [](const WorkerStats& w) { return w.connections_active.load(); });
  scalar(out, ws, "gatehouse_connections_refused_total", "counter",
         "Client connections answered 503 because limits.max_connections was reached.",
         [](const WorkerStats& w) { return w.connections_refused_limit.load(); });
  scalar(out, ws, "gatehouse_requests_total", "counter", "Request heads received.",
         [](const WorkerStats& w) { return w.requests.load(); });

  family(out, "gatehouse_responses_total", "counter",
         "Responses sent to clients, by status code (forwarded and synthesized).");
  for (size_t code = 0; code < 600; ++code) {
    uint64_t v = 0;
    for (const WorkerStats* w : ws)
      v += w->responses_by_status[code].load(std::memory_order_relaxed);
    if (v) sample(out, "gatehouse_responses_total{code=\"" + std::to_string(code) + "\"}", v);
  }

  family(out, "gatehouse_errors_total", "counter",
         "Responses synthesized by the proxy, by RFC 9209 Proxy-Status error type.");
  std::map<std::string, uint64_t> by_type;
  for (size_t i = 0; i <= static_cast<size_t>(Cause::kInternal) && i < 64; ++i) {
    uint64_t v = 0;
    for (const WorkerStats* w : ws) v += w->errors_by_cause[i].load(std::memory_order_relaxed);
    if (!v) continue;
    std::string_view type = cause_info(static_cast<Cause>(i)).proxy_status;
    by_type[type.empty() ? std::string("none") : std::string(type)] += v;
  }
  for (const auto& [type, v] : by_type)
    sample(out, "gatehouse_errors_total{type=\"" + type + "\"}", v);

  scalar(out, ws, "gatehouse_upstream_connects_total", "counter",
         "New upstream connections opened.",
         [](const WorkerStats& w) { return w.upstream_connects.load(); });
  scalar(out, ws, "gatehouse_upstream_reuses_total", "counter",
         "Requests sent on a pooled keep-alive upstream connection.",
         [](const WorkerStats& w) { return w.upstream_reuses.load(); });
  scalar(out, ws, "gatehouse_upstream_retries_total", "counter",
         "Idempotent requests retried after a reused connection failed.",
         [](const WorkerStats& w) { return w.upstream_retries.load(); });
  scalar(out, ws, "gatehouse_upstream_connections_open", "gauge",
         "Connections to origins open now, in use or idle in the pool.",
         [](const WorkerStats& w) { return w.upstream_open.load(); });
  scalar(out, ws, "gatehouse_tunnels_active", "gauge", "CONNECT and upgraded tunnels open now.",
         [](const WorkerStats& w) { return w.tunnels_active.load(); });
  scalar(out, ws, "gatehouse_tunnels_total", "counter", "CONNECT and upgraded tunnels opened.",
         [](const WorkerStats& w) { return w.tunnels_total.load(); });
  scalar(out, ws, "gatehouse_client_received_bytes_total", "counter", "Bytes read from clients.",
         [](const WorkerStats& w) { return w.bytes_from_clients.load(); });
  scalar(out, ws, "gatehouse_client_sent_bytes_total", "counter", "Bytes written to clients.",
         [](const WorkerStats& w) { return w.bytes_to_clients.load(); });
  scalar(out, ws, "gatehouse_backpressure_pauses_total", "counter",
         "Times a reader was paused because the other side was not keeping up.",
         [](const WorkerStats& w) { return w.backpressure_pauses.load(); });
  scalar(out, ws, "gatehouse_dns_cache_hits_total", "counter",
         "Name lookups answered from the cache.",
         [](const WorkerStats& w) { return w.dns_cache_hits.load(); });
  scalar(out, ws, "gatehouse_dns_cache_misses_total", "counter", "Name lookups that needed DNS.",
         [](const WorkerStats& w) { return w.dns_cache_misses.load(); });
  scalar(out, ws, "gatehouse_auth_failures_total", "counter",
         "Requests refused with 407 for missing or wrong credentials.",
         [](const WorkerStats& w) { return w.auth_failures.load(); });
  scalar(out, ws, "gatehouse_redirects_total", "counter", "3xx responses with a Location seen.",
         [](const WorkerStats& w) { return w.redirects_seen.load(); });
  scalar(out, ws, "gatehouse_redirect_chains_cut_total", "counter",
         "Redirect chains cut with 508 at redirects.max_chain.",
         [](const WorkerStats& w) { return w.redirect_chains_cut.load(); });
  scalar(out, ws, "gatehouse_mime_blocked_total", "counter",
         "Requests or responses refused by a [mime] rule.",
         [](const WorkerStats& w) { return w.mime_blocked.load(); });
  scalar(out, ws, "gatehouse_buffer_chunks_in_use", "gauge",
         "64 KiB buffer chunks holding data right now.",
         [](const WorkerStats& w) { return w.chunks_outstanding.load(); });
  histogram(out, ws, "gatehouse_dns_lookup_seconds", "Time to resolve a destination name.",
            &WorkerStats::dns_latency);
  histogram(out, ws, "gatehouse_upstream_connect_seconds",
            "Time to establish a new upstream TCP connection.", &WorkerStats::connect_latency);
  family(out, "gatehouse_config_reloads_total", "counter", "Configuration reloads applied.");
  sample(out, "gatehouse_config_reloads_total", info.config_reloads);
  family(out, "gatehouse_config_reload_failures_total", "counter",
         "Reloads refused because the new configuration was invalid.");
  sample(out, "gatehouse_config_reload_failures_total", info.config_reload_failures);
  if (info.open_fds >= 0) {
    family(out, "process_open_fds", "gauge", "Open file descriptors of the proxy process.");
    sample(out, "process_open_fds", static_cast<uint64_t>(info.open_fds));
  }
  family(out, "gatehouse_access_log_dropped_total", "counter",
         "Access log lines dropped because the writer could not keep up.");
  sample(out, "gatehouse_access_log_dropped_total", info.access_log_dropped);
  return out;
}

}  // namespace gatehouse
