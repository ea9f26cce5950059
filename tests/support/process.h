// Helpers for e2e tests: run the built gatehouse binary and other commands (curl).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gatehouse::test {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by the timeout or a signal
  std::string out;
  std::string err;
};

// Runs argv[0] (searched in PATH) with stdin closed; kills it after the timeout.
CommandResult run_command(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// A temporary file that is removed by the destructor.
class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& suffix = ".toml");
  ~TempFile();
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The gatehouse binary (GATEHOUSE_BINARY) started with `args`. The constructor waits
// (up to 10 s) until the process logs "listening on <addr>:<port>" on stderr and records
// the first port; port() is 0 if it never did (e.g. it exited). stderr keeps being
// collected by a reader thread. The destructor sends SIGTERM, then SIGKILL after 5 s.
// stdin and stdout are /dev/null; only stderr is captured.
class ProxyProcess {
 public:
  explicit ProxyProcess(const std::vector<std::string>& args);
  // Same, for another program (an absolute or relative path, not searched in PATH);
  // used to test this helper with a stand-in for gatehouse.
  ProxyProcess(const std::string& program, const std::vector<std::string>& args);
  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  uint16_t port() const { return port_; }
  int pid() const { return pid_; }
  void send_signal(int sig);
  // Waits for exit; returns the exit code, or -1 on timeout / death by signal.
  int wait_exit(std::chrono::milliseconds timeout);
  std::string stderr_text() const;
  // Blocks until stderr contains `needle` or the timeout passes.
  bool wait_for_stderr(const std::string& needle, std::chrono::milliseconds timeout) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace gatehouse::test
