// gatehouse: command line, configuration loading and process signals. The proxy itself
// runs on the worker threads started by Server; this thread only waits for signals.
#include <uv.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <systemd/sd-daemon.h>

#include "base/log.h"
#include "config/config.h"
#include "proxy/server.h"

namespace {

constexpr const char* kUsage =
    "Usage: gatehouse [--config FILE] [--check-config] [--version] [--help]\n"
    "\n"
    "An HTTP/1.1 forward proxy whose own answers explain themselves.\n"
    "\n"
    "  --config FILE    read the TOML configuration FILE (default: built-in defaults,\n"
    "                   listening on 127.0.0.1:3128)\n"
    "  --check-config   validate the configuration and exit (0 = valid; 1 = invalid,\n"
    "                   with 'file:line: message' on stderr)\n"
    "  --version        print the version and exit\n"
    "  --help           print this help and exit\n"
    "\n"
    "Environment variables GATEHOUSE_<SECTION>_<KEY> override single settings,\n"
    "e.g. GATEHOUSE_SERVER_LISTEN=0.0.0.0:3128.\n"
    "Signals: SIGHUP reloads the configuration, SIGTERM/SIGINT drain and stop,\n"
    "SIGUSR1 reopens the access log file.\n";

// Everything the main thread's loop needs: the signal handles and the watchdog timer.
struct Control {
  uv_signal_t term;
  uv_signal_t intr;
  uv_signal_t hup;
  uv_signal_t usr1;
  uv_timer_t watchdog;
  uv_fs_poll_t htpasswd_poll;
  std::string htpasswd_path;
  gatehouse::Server* server = nullptr;
  std::string config_path;
  std::vector<uint64_t> last_beats;
  bool stopping = false;
};

void close_control(Control* c) {
  for (uv_signal_t* h : {&c->term, &c->intr, &c->hup, &c->usr1}) {
    uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&c->watchdog), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->htpasswd_poll), nullptr);
}

void on_stop_signal(uv_signal_t* h, int signum) {
  auto* c = static_cast<Control*>(h->data);
  if (c->stopping) return;
  c->stopping = true;
  GH_LOG_INFO("received %s: draining (finishing open exchanges, accepting no new ones)",
              strsignal(signum));
  sd_notify(0, "STOPPING=1\nSTATUS=draining");
  if (c->server) {
    c->server->drain();  // returns once no worker listens any more
    GH_LOG_INFO("listeners closed: new connections are refused while open exchanges finish");
  }
  close_control(c);  // the loop ends; main() waits for the workers
}

void watch_htpasswd(Control* c, const std::string& path);

void reload(Control* c) {
  if (c->stopping || !c->server) return;
  sd_notify(0, "RELOADING=1");
  auto env = gatehouse::process_environment();
  gatehouse::ConfigResult loaded = c->config_path.empty()
                                       ? gatehouse::default_config(env)
                                       : gatehouse::load_config(c->config_path, env);
  if (auto* err = std::get_if<gatehouse::ConfigError>(&loaded)) {
    GH_LOG_ERROR("reload refused, keeping the running configuration: %s", err->to_string().c_str());
    c->server->note_reload_failure();
    sd_notify(0, "READY=1\nSTATUS=reload failed; running the previous configuration");
    return;
  }
  auto next =
      std::make_shared<const gatehouse::Config>(std::get<gatehouse::Config>(std::move(loaded)));
  std::vector<std::string> warnings;
  std::string error;
  bool applied = c->server->reload(next, &warnings, &error);
  for (const auto& w : warnings) GH_LOG_WARN("reload: %s", w.c_str());
  if (!applied) {
    GH_LOG_ERROR("reload refused, keeping the running configuration: %s", error.c_str());
    sd_notify(0, "READY=1\nSTATUS=reload failed; running the previous configuration");
    return;
  }
  GH_LOG_INFO("configuration reloaded from %s",
              c->config_path.empty() ? "built-in defaults" : c->config_path.c_str());
  watch_htpasswd(c, next->auth.htpasswd);
  sd_notify(0, "READY=1\nSTATUS=serving");
}

void on_hup(uv_signal_t* h, int) {
  reload(static_cast<Control*>(h->data));
}

// The htpasswd file is watched (stat polling on libuv's thread pool, never blocking the
// loop): editing it with `htpasswd` applies without a signal, as a reload does.
void on_htpasswd_changed(uv_fs_poll_t* p, int status, const uv_stat_t*, const uv_stat_t*) {
  auto* c = static_cast<Control*>(p->data);
  if (status < 0 && status != UV_ENOENT) return;
  GH_LOG_INFO("%s changed: reloading", c->htpasswd_path.c_str());
  reload(c);
}

void watch_htpasswd(Control* c, const std::string& path) {
  if (path == c->htpasswd_path) return;
  uv_fs_poll_stop(&c->htpasswd_poll);
  c->htpasswd_path = path;
  if (!path.empty()) uv_fs_poll_start(&c->htpasswd_poll, on_htpasswd_changed, path.c_str(), 1000);
}

void on_usr1(uv_signal_t* h, int) {
  auto* c = static_cast<Control*>(h->data);
  if (c->server) c->server->reopen_logs();
  GH_LOG_INFO("SIGUSR1: access log reopened");
}

// Pings the systemd watchdog only while every worker loop keeps turning.
void on_watchdog(uv_timer_t* t) {
  auto* c = static_cast<Control*>(t->data);
  if (!c->server) return;
  auto beats = c->server->heartbeats();
  bool all_alive = beats.size() == c->last_beats.size();
  for (size_t i = 0; all_alive && i < beats.size(); ++i) all_alive = beats[i] != c->last_beats[i];
  if (all_alive || c->last_beats.empty())
    sd_notify(0, "WATCHDOG=1");
  else
    GH_LOG_WARN("a worker loop has not turned for a while; withholding the watchdog ping");
  c->last_beats = std::move(beats);
}

gatehouse::LogSeverity severity_of(gatehouse::LogLevel l) {
  switch (l) {
    case gatehouse::LogLevel::kDebug:
      return gatehouse::LogSeverity::kDebug;
    case gatehouse::LogLevel::kInfo:
      return gatehouse::LogSeverity::kInfo;
    case gatehouse::LogLevel::kWarn:
      return gatehouse::LogSeverity::kWarn;
    case gatehouse::LogLevel::kError:
      return gatehouse::LogSeverity::kError;
  }
  return gatehouse::LogSeverity::kInfo;
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" || a == "-c") {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gatehouse: --config needs a file name\n%s", kUsage);
        return 2;
      }
      config_path = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config_path = a.substr(9);
    } else if (a == "--check-config") {
      check_only = true;
    } else if (a == "--version" || a == "-V") {
      std::printf("gatehouse %s\n", GATEHOUSE_VERSION);
      return 0;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "gatehouse: unknown option '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }

  auto env = gatehouse::process_environment();
  gatehouse::ConfigResult loaded = config_path.empty() ? gatehouse::default_config(env)
                                                       : gatehouse::load_config(config_path, env);
  if (auto* err = std::get_if<gatehouse::ConfigError>(&loaded)) {
    std::fprintf(stderr, "%s\n", err->to_string().c_str());
    return 1;
  }
  auto config =
      std::make_shared<const gatehouse::Config>(std::get<gatehouse::Config>(std::move(loaded)));
  if (check_only) {
    std::printf("%s: configuration is valid\n",
                config_path.empty() ? "built-in defaults" : config_path.c_str());
    return 0;
  }
  gatehouse::set_log_threshold(severity_of(config->log.level));
  std::signal(SIGPIPE, SIG_IGN);

  // Signal handlers go in before the listeners open, so a signal sent as soon as the
  // proxy announces itself is never met with its default action.
  uv_loop_t loop;
  uv_loop_init(&loop);
  Control control;
  control.config_path = config_path;
  for (uv_signal_t* h : {&control.term, &control.intr, &control.hup, &control.usr1}) {
    uv_signal_init(&loop, h);
    h->data = &control;
  }
  uv_timer_init(&loop, &control.watchdog);
  control.watchdog.data = &control;
  uv_fs_poll_init(&loop, &control.htpasswd_poll);
  control.htpasswd_poll.data = &control;
  uv_signal_start(&control.hup, on_hup, SIGHUP);
  uv_signal_start(&control.usr1, on_usr1, SIGUSR1);
  uv_signal_start(&control.term, on_stop_signal, SIGTERM);
  uv_signal_start(&control.intr, on_stop_signal, SIGINT);

  gatehouse::Server server(config, /*use_systemd_sockets=*/true);
  std::string error;
  if (!server.start(&error)) {
    GH_LOG_ERROR("%s", error.c_str());
    close_control(&control);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 1;
  }
  control.server = &server;
  watch_htpasswd(&control, config->auth.htpasswd);
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
    // Ping at half the interval; each ping needs every worker to have turned since the last.
    uint64_t ms = std::max<uint64_t>(watchdog_usec / 2000, 1100);
    uv_timer_start(&control.watchdog, on_watchdog, ms, ms);
  }
  sd_notify(0, "READY=1\nSTATUS=serving");

  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  server.wait();
  server.stop();
  GH_LOG_INFO("stopped");
  return 0;
}
