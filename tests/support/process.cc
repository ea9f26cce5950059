// Child processes for e2e tests.
//
// Children get stdin from /dev/null, default signal dispositions and an empty signal
// mask (so an ignored SIGPIPE in the test process does not leak into them). Every
// descriptor the tests open is close-on-exec, so children inherit only 0, 1 and 2.
//
// ProxyProcess: stdout goes to /dev/null; stderr is a pipe drained by a reader thread.
// A second thread blocks in waitid(WNOWAIT) and reaps the child under the mutex, so
// send_signal (also under the mutex) can never hit a recycled pid; it then tells the
// reader to drain what is left and stop.
#include "tests/support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace gatehouse::test {

namespace {

using Clock = std::chrono::steady_clock;

std::vector<char*> make_argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// Spawn attributes shared by both launchers: default dispositions, empty mask.
struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() {
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
};

struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A descriptor that polls readable when the child exits; -1 where pidfds are unsupported.
int open_pidfd(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

}  // namespace

CommandResult run_command(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  CommandResult result;
  if (args.empty()) return result;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + std::strerror(errno);
    return result;
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    result.err = std::string("pipe2: ") + std::strerror(errno);
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return result;
  }
  FileActions fa;
  posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa.fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa.fa, err_pipe[1], 2);
  SpawnAttr attr;
  std::vector<char*> argv = make_argv(args);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &fa.fa, &attr.attr, argv.data(), environ);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    result.exit_code = 127;  // like a shell's "command not found"
    result.err = "posix_spawnp " + args[0] + ": " + std::strerror(rc);
    return result;
  }

  // Poll both pipes and a pidfd for the child's exit. Once the child has exited, only
  // what is already in the pipes is drained (a grandchild that inherited them must not
  // hold us up). Without pidfd support (pre-5.3 kernels) exit is noticed by EOF on both
  // pipes instead, and a child that closes them early is waited for without a deadline.
  const auto deadline = Clock::now() + timeout;
  int fds[3] = {out_pipe[0], err_pipe[0], open_pidfd(pid)};
  std::string* sinks[2] = {&result.out, &result.err};
  bool exited = false;
  int status = 0;
  auto reap = [&] {
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    exited = true;
    close_fd(fds[2]);
  };
  while (fds[0] >= 0 || fds[1] >= 0 || !exited) {
    if (fds[0] < 0 && fds[1] < 0 && fds[2] < 0) {
      reap();  // both pipes closed, no pidfd: the child is exiting
      break;
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd pfds[3];
    for (int i = 0; i < 3; ++i) pfds[i] = {.fd = fds[i], .events = POLLIN, .revents = 0};
    int r = ::poll(pfds, 3, exited ? 0 : static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || (r == 0 && exited)) break;
    if (fds[2] >= 0 && pfds[2].revents != 0) reap();
    for (int i = 0; i < 2; ++i) {
      if (fds[i] < 0 || pfds[i].revents == 0) continue;
      char buf[16384];
      ssize_t n = ::read(fds[i], buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close_fd(fds[i]);
      } else {
        sinks[i]->append(buf, static_cast<size_t>(n));
      }
    }
  }
  for (int& fd : fds) close_fd(fd);
  if (!exited) {
    ::kill(pid, SIGKILL);  // not reaped yet, so the pid cannot have been recycled
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = -1;
    return result;
  }
  result.exit_code = exit_code_of(status);
  return result;
}

TempFile::TempFile(const std::string& content, const std::string& suffix) {
  std::string tmpl = "/tmp/gatehouse-test-XXXXXX" + suffix;
  int fd = ::mkostemps(tmpl.data(), static_cast<int>(suffix.size()), O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("TempFile: mkostemps: " + std::string(std::strerror(errno)));
  path_ = tmpl;
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(path_.c_str());
      throw std::runtime_error("TempFile: write: " + std::string(std::strerror(e)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  ::close(fd);
}

TempFile::~TempFile() {
  ::unlink(path_.c_str());
}

struct ProxyProcess::Impl {
  mutable std::mutex mu;
  mutable std::condition_variable cv;
  std::string err_text;  // guarded by mu
  bool err_eof = false;  // guarded by mu
  bool exited = false;   // guarded by mu; the child has been reaped
  int exit_code = -1;    // guarded by mu
  int err_fd = -1;       // read end of the stderr pipe; only the reader thread reads it
  int stop_fds[2] = {-1, -1};
  pid_t pid = -1;
  std::thread reader;
  std::thread waiter;

  // Appends stderr until EOF. Once the waiter has reaped the child it writes to
  // stop_fds; then only what is already in the pipe (everything the child wrote) is
  // drained, so a grandchild that inherited stderr cannot keep the reader blocked.
  void read_loop() {
    pollfd pfds[2] = {{.fd = err_fd, .events = POLLIN, .revents = 0},
                      {.fd = stop_fds[0], .events = POLLIN, .revents = 0}};
    bool stopping = false;
    for (;;) {
      int r = ::poll(pfds, stopping ? 1 : 2, stopping ? 0 : -1);
      if (r < 0 && errno == EINTR) continue;
      if (!stopping && r > 0 && pfds[1].revents != 0) {
        stopping = true;
        continue;
      }
      ssize_t n = 0;
      if (r > 0) {
        char buf[4096];
        n = ::read(err_fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n > 0) {
          std::lock_guard<std::mutex> lock(mu);
          err_text.append(buf, static_cast<size_t>(n));
          cv.notify_all();
          continue;
        }
      }
      std::lock_guard<std::mutex> lock(mu);
      err_eof = true;
      cv.notify_all();
      return;
    }
  }

  void wait_loop() {
    siginfo_t info{};
    // WNOWAIT leaves a zombie holding the pid until we reap it under the mutex below.
    while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 &&
           errno == EINTR) {
    }
    std::lock_guard<std::mutex> lock(mu);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    exited = true;
    exit_code = exit_code_of(status);
    cv.notify_all();
    char byte = 1;
    while (::write(stop_fds[1], &byte, 1) < 0 && errno == EINTR) {
    }
  }

  // Exit is reported only once stderr is drained, so callers of wait_exit see the last
  // words of the process in stderr_text().
  bool finished_locked() const { return exited && err_eof; }

  // Port from the first complete line containing "listening on <addr>:<port>"; 0 if none.
  uint16_t parse_port_locked() const {
    static constexpr std::string_view kMarker = "listening on ";
    size_t at = err_text.find(kMarker);
    if (at == std::string::npos) return 0;
    size_t start = at + kMarker.size();
    size_t eol = err_text.find('\n', start);
    if (eol == std::string::npos && !err_eof) return 0;  // the line may still be growing
    std::string_view rest(err_text);
    rest = rest.substr(start, (eol == std::string::npos ? err_text.size() : eol) - start);
    size_t end = rest.find_first_of(" \t\r");
    std::string_view token = rest.substr(0, end);
    size_t colon = token.rfind(':');
    if (colon == std::string_view::npos) return 0;
    unsigned value = 0;
    size_t digits = 0;
    for (char c : token.substr(colon + 1)) {
      if (c < '0' || c > '9') break;
      value = value * 10 + static_cast<unsigned>(c - '0');
      if (value > 65535) return 0;
      ++digits;
    }
    return digits > 0 ? static_cast<uint16_t>(value) : 0;
  }
};

ProxyProcess::ProxyProcess(const std::vector<std::string>& args)
    : ProxyProcess(GATEHOUSE_BINARY, args) {}

ProxyProcess::ProxyProcess(const std::string& program, const std::vector<std::string>& args)
    : impl_(std::make_unique<Impl>()) {
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("ProxyProcess: pipe2: " + std::string(std::strerror(errno)));
  }
  if (::pipe2(impl_->stop_fds, O_CLOEXEC) != 0) {
    int e = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    throw std::runtime_error("ProxyProcess: pipe2: " + std::string(std::strerror(e)));
  }
  FileActions fa;
  posix_spawn_file_actions_addopen(&fa.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa.fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa.fa, err_pipe[1], 2);
  SpawnAttr attr;
  std::vector<std::string> full;
  full.reserve(args.size() + 1);
  full.push_back(program);
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv = make_argv(full);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, program.c_str(), &fa.fa, &attr.attr, argv.data(), environ);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    ::close(impl_->stop_fds[0]);
    ::close(impl_->stop_fds[1]);
    throw std::runtime_error("ProxyProcess: posix_spawn " + program + ": " + std::strerror(rc));
  }
  pid_ = pid;
  impl_->pid = pid;
  impl_->err_fd = err_pipe[0];
  impl_->reader = std::thread([impl = impl_.get()] { impl->read_loop(); });
  impl_->waiter = std::thread([impl = impl_.get()] { impl->wait_loop(); });

  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->cv.wait_for(lock, std::chrono::seconds(10), [&] {
    port_ = impl_->parse_port_locked();
    return port_ != 0 || impl_->err_eof;
  });
}

ProxyProcess::~ProxyProcess() {
  {
    std::unique_lock<std::mutex> lock(impl_->mu);
    if (!impl_->exited) {
      ::kill(impl_->pid, SIGTERM);
      if (!impl_->cv.wait_for(lock, std::chrono::seconds(5), [&] { return impl_->exited; })) {
        ::kill(impl_->pid, SIGKILL);
      }
    }
  }
  impl_->waiter.join();
  impl_->reader.join();
  ::close(impl_->err_fd);
  ::close(impl_->stop_fds[0]);
  ::close(impl_->stop_fds[1]);
}

void ProxyProcess::send_signal(int sig) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->exited) ::kill(impl_->pid, sig);
}

int ProxyProcess::wait_exit(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (!impl_->cv.wait_for(lock, timeout, [&] { return impl_->finished_locked(); })) return -1;
  return impl_->exit_code;
}

std::string ProxyProcess::stderr_text() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->err_text;
}

bool ProxyProcess::wait_for_stderr(const std::string& needle,
                                   std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] {
    return impl_->err_text.find(needle) != std::string::npos || impl_->err_eof;
  }) && impl_->err_text.find(needle) != std::string::npos;
}

}  // namespace gatehouse::test
