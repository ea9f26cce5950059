// AccessLog: one line per exchange, written by a dedicated thread so that a slow disk,
// a full pipe or a stalled journald never blocks an event loop.
//
// One per process, owned by the Server (or a test) and shared by the workers, which call
// write() from their loop threads. write() only moves the line into a bounded queue;
// when the queue is full the line is dropped and counted. reconfigure() and reopen()
// (SIGUSR1, reload) are applied by the writer thread before its next write.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "config/config.h"

namespace gatehouse {

struct AccessRecord {
  std::string time;      // RFC 3339 UTC with milliseconds (JSON)
  std::string clf_time;  // "25/Nov/2026:11:36:33 +0000" (combined); falls back to time
  std::string client;
  std::string user;
  std::string method;
  std::string url;  // without userinfo
  std::string version;
  int status = 0;
  std::string proxy_status;  // error type, empty when none
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  uint64_t duration_ms = 0;
  std::string upstream;
  std::string request_id;
  std::string user_agent;
  std::string referer;
};

std::string format_access_json(const AccessRecord& r);
std::string format_access_combined(const AccessRecord& r);
// Removes "user:password@" from an absolute URL.
std::string strip_userinfo(std::string_view url);

class AccessLog {
 public:
  static constexpr size_t kMaxQueuedBytes = 8 * 1024 * 1024;

  AccessLog(const std::string& target, LogFormat format);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  LogFormat format() const { return format_.load(std::memory_order_relaxed); }
  void write(const AccessRecord& r);
  void reconfigure(const std::string& target, LogFormat format);
  void reopen();
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  // Blocks until every queued line was written (tests, shutdown).
  void flush();

 private:
  void run();
  void open_target();  // writer thread only

  std::atomic<bool> enabled_{false};
  std::atomic<LogFormat> format_{LogFormat::kJson};
  std::atomic<uint64_t> dropped_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  bool stop_ = false;
  bool writing_ = false;
  bool reopen_ = false;
  std::string target_;  // guarded by mu_
  int fd_ = -1;         // writer thread only
  bool own_fd_ = false;
  std::thread thread_;
};

}  // namespace gatehouse
