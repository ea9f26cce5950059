#include "base/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdarg>

namespace gatehouse {
namespace {

std::atomic<int> g_threshold{static_cast<int>(LogSeverity::kInfo)};

const char* severity_name(LogSeverity s) {
  switch (s) {
    case LogSeverity::kDebug:
      return "debug";
    case LogSeverity::kInfo:
      return "info";
    case LogSeverity::kWarn:
      return "warning";
    case LogSeverity::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void set_log_threshold(LogSeverity s) {
  g_threshold.store(static_cast<int>(s));
}

bool log_enabled(LogSeverity s) {
  return static_cast<int>(s) >= g_threshold.load();
}

void log_line(LogSeverity s, std::string_view message) {
  if (!log_enabled(s)) return;
  std::string line;
  line.reserve(message.size() + 24);
  line += "gatehouse: ";
  line += severity_name(s);
  line += ": ";
  line += message;
  line += '\n';
  // One write per line: atomic for pipes up to PIPE_BUF and good enough for journald.
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(STDERR_FILENO, line.data() + off, line.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
}

void logf(LogSeverity s, const char* fmt, ...) {
  if (!log_enabled(s)) return;
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  size_t len = static_cast<size_t>(n) < sizeof buf ? static_cast<size_t>(n) : sizeof buf - 1;
  log_line(s, std::string_view(buf, len));
}

}  // namespace gatehouse
