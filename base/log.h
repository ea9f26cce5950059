// Diagnostic log: leveled lines to stderr ("gatehouse[worker]: level: message"), one
// write(2) per line so lines from worker threads never interleave. The level is process
// wide (set once at start and on reload); everything else is passed explicitly.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace gatehouse {

enum class LogSeverity { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_log_threshold(LogSeverity s);
bool log_enabled(LogSeverity s);
void log_line(LogSeverity s, std::string_view message);

// printf-style helpers; format checked by the compiler.
[[gnu::format(printf, 2, 3)]] void logf(LogSeverity s, const char* fmt, ...);

#define GH_LOG_DEBUG(...) ::gatehouse::logf(::gatehouse::LogSeverity::kDebug, __VA_ARGS__)
#define GH_LOG_INFO(...) ::gatehouse::logf(::gatehouse::LogSeverity::kInfo, __VA_ARGS__)
#define GH_LOG_WARN(...) ::gatehouse::logf(::gatehouse::LogSeverity::kWarn, __VA_ARGS__)
#define GH_LOG_ERROR(...) ::gatehouse::logf(::gatehouse::LogSeverity::kError, __VA_ARGS__)

}  // namespace gatehouse
