// gatehouse: command line, configuration loading and process signals. The proxy itself
// runs on the worker threads started by Server; this thread only waits for signals.
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <variant>

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
    "Signals: SIGTERM/SIGINT stop the proxy; SIGHUP is logged (reload is not implemented yet).\n";

struct Signals {
  uv_signal_t term;
  uv_signal_t intr;
  uv_signal_t hup;
};

void on_stop_signal(uv_signal_t* h, int signum) {
  auto* s = static_cast<Signals*>(h->data);
  GH_LOG_INFO("received %s, stopping", strsignal(signum));
  uv_close(reinterpret_cast<uv_handle_t*>(&s->term), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->intr), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&s->hup), nullptr);
}

// Reloading is not implemented yet; catching SIGHUP keeps its default action (exit) from
// taking the proxy down when an operator or logrotate sends it.
void on_hup(uv_signal_t*, int) {
  GH_LOG_WARN(
      "SIGHUP received: configuration reload is not implemented yet; "
      "restart gatehouse to apply a new configuration");
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
  Signals sig;
  uv_signal_init(&loop, &sig.term);
  uv_signal_init(&loop, &sig.intr);
  uv_signal_init(&loop, &sig.hup);
  sig.term.data = sig.intr.data = sig.hup.data = &sig;
  uv_signal_start(&sig.hup, on_hup, SIGHUP);
  uv_signal_start(&sig.term, on_stop_signal, SIGTERM);
  uv_signal_start(&sig.intr, on_stop_signal, SIGINT);
  gatehouse::Server server(config);
  std::string error;
  if (!server.start(&error)) {
    GH_LOG_ERROR("%s", error.c_str());
    return 1;
  }

  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);

  server.stop();
  GH_LOG_INFO("stopped");
  return 0;
}
