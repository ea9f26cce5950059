#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "proxy/error_page.h"

namespace gatehouse {
namespace {

void json_string(std::string& out, std::string_view s) {
  out += '"';
  append_json_escaped(out, s);
  out += '"';
}

// For the combined format: quotes and control characters escaped, as web servers do.
std::string clf_escape(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

bool write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string strip_userinfo(std::string_view url) {
  size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  size_t start = scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  std::string_view authority =
      url.substr(start, end == std::string_view::npos ? url.npos : end - start);
  size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  std::string out(url.substr(0, start));
  out += url.substr(start + at + 1);
  return out;
}

std::string format_access_json(const AccessRecord& r) {
  std::string out;
  out.reserve(256 + r.url.size());
  out += "{\"time\":";
  json_string(out, r.time);
  out += ",\"client\":";
  json_string(out, r.client);
  out += ",\"user\":";
  json_string(out, r.user);
  out += ",\"method\":";
  json_string(out, r.method);
  out += ",\"url\":";
  json_string(out, r.url);
  out += ",\"status\":" + std::to_string(r.status);
  out += ",\"proxy_status\":";
  json_string(out, r.proxy_status);
  out += ",\"bytes_in\":" + std::to_string(r.bytes_in);
  out += ",\"bytes_out\":" + std::to_string(r.bytes_out);
  out += ",\"duration_ms\":" + std::to_string(r.duration_ms);
  out += ",\"upstream\":";
  json_string(out, r.upstream);
  out += ",\"request_id\":";
  json_string(out, r.request_id);
  out += "}\n";
  return out;
}

std::string format_access_combined(const AccessRecord& r) {
  // host ident user [time] "request" status bytes "referer" "user-agent"
  std::string out = r.client.empty() ? "-" : r.client;
  out += " - ";
  out += r.user.empty() ? "-" : clf_escape(r.user);
  out += " [" + (r.clf_time.empty() ? r.time : r.clf_time) + "] \"" + clf_escape(r.method) + " " +
         clf_escape(r.url) + " " + (r.version.empty() ? std::string("HTTP/1.1") : r.version) +
         "\" ";
  out += std::to_string(r.status) + " " + std::to_string(r.bytes_out) + " \"" +
         (r.referer.empty() ? "-" : clf_escape(r.referer)) + "\" \"" +
         (r.user_agent.empty() ? "-" : clf_escape(r.user_agent)) + "\"\n";
  return out;
}

AccessLog::AccessLog(const std::string& target, LogFormat format) {
  target_ = target;
  format_ = format;
  enabled_ = target != "off";
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (own_fd_ && fd_ >= 0) ::close(fd_);
}

void AccessLog::write(const AccessRecord& r) {
  if (!enabled()) return;
  std::string line =
      format() == LogFormat::kJson ? format_access_json(r) : format_access_combined(r);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queued_bytes_ + line.size() > kMaxQueuedBytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_bytes_ += line.size();
    queue_.push_back(std::move(line));
  }
  cv_.notify_one();
}

void AccessLog::reconfigure(const std::string& target, LogFormat format) {
  format_ = format;
  enabled_ = target != "off";
  {
    std::lock_guard<std::mutex> lock(mu_);
    target_ = target;
    reopen_ = true;
  }
  cv_.notify_one();
}

void AccessLog::reopen() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    reopen_ = true;
  }
  cv_.notify_one();
}

void AccessLog::flush() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && !writing_; });
}

void AccessLog::open_target() {
  std::string target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    target = target_;
  }
  if (own_fd_ && fd_ >= 0) ::close(fd_);
  own_fd_ = false;
  fd_ = -1;
  if (target == "off") return;
  if (target == "stdout") {
    fd_ = STDOUT_FILENO;
  } else if (target == "stderr") {
    fd_ = STDERR_FILENO;
  } else {
    fd_ = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      GH_LOG_ERROR("access log: cannot open %s: %s", target.c_str(), strerror(errno));
      return;
    }
    own_fd_ = true;
  }
}

void AccessLog::run() {
  open_target();
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stop_ || reopen_ || !queue_.empty(); });
    if (reopen_) {
      reopen_ = false;
      lock.unlock();
      open_target();
      lock.lock();
    }
    if (queue_.empty()) {
      if (stop_) break;
      idle_cv_.notify_all();
      continue;
    }
    std::deque<std::string> batch;
    batch.swap(queue_);
    queued_bytes_ = 0;
    writing_ = true;
    lock.unlock();
    std::string joined;
    for (auto& line : batch) joined += line;
    if (fd_ >= 0 && !write_all(fd_, joined)) {
      dropped_.fetch_add(batch.size(), std::memory_order_relaxed);
    }
    lock.lock();
    writing_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
  idle_cv_.notify_all();
}

}  // namespace gatehouse
