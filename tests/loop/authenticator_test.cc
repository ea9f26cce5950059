// Authenticator on a real uv loop: crypt_r runs on the thread pool while the loop keeps
// serving timers, answers are never synchronous, the cache saves a second crypt, unknown
// users cost a crypt against a same-kind hash, cancel and close (also with crypt_r in
// flight or still queued) behave, reloads take effect, and the loop closes cleanly.
#include "proxy/authenticator.h"

#include <crypt.h>
#include <uv.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace gatehouse {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::steady_clock::time_point;

std::string make_hash(const char* prefix, const std::string& password, unsigned long cost) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  REQUIRE(crypt_gensalt_rn(prefix, cost, nullptr, 0, setting, sizeof setting) != nullptr);
  crypt_data data{};
  const char* out = crypt_r(password.c_str(), setting, &data);
  REQUIRE(out != nullptr);
  REQUIRE(out[0] != '*');
  return out;
}

// "Basic base64(user:password)".
std::string basic(const std::string& user, const std::string& password) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string in = user + ":" + password, out;
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (in.size() - i == 1) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (in.size() - i == 2) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return "Basic " + out;
}

std::shared_ptr<const Htpasswd> table(
    std::initializer_list<std::pair<const std::string, std::string>> users) {
  return std::make_shared<const Htpasswd>(std::unordered_map<std::string, std::string>(users));
}

struct FakeClock {
  TimePoint now{std::chrono::hours(1000)};
};

// Lets a test hold crypt_r on a pool thread: before_crypt() announces itself through a
// uv_async_t (thread-safe) and then blocks until release().
class CryptGate {
 public:
  explicit CryptGate(uv_loop_t* loop) {
    REQUIRE(uv_sem_init(&sem_, 0) == 0);
    REQUIRE(uv_async_init(loop, &async_, [](uv_async_t*) {}) == 0);
  }
  ~CryptGate() { uv_sem_destroy(&sem_); }

  std::function<void(const std::string&)> hook() {
    return [this](const std::string&) {
      entered_.fetch_add(1);
      uv_async_send(&async_);  // wakes the loop so run_until() re-checks entered()
      uv_sem_wait(&sem_);
    };
  }
  int entered() const { return entered_.load(); }
  void release(int n) {
    for (int i = 0; i < n; ++i) uv_sem_post(&sem_);
  }
  // Releases whatever may still be blocked (after a failed check) and closes the async.
  void close(int blocked_at_most) {
    release(blocked_at_most);
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
  }

 private:
  uv_sem_t sem_;
  uv_async_t async_;
  std::atomic<int> entered_{0};
};

class Harness {
 public:
  explicit Harness(std::shared_ptr<const Htpasswd> users, AuthenticatorOptions options = {}) {
    REQUIRE(uv_loop_init(&loop_) == 0);
    if (!options.clock) options.clock = [this] { return clock.now; };
    auth_ = std::make_unique<Authenticator>(&loop_, std::move(users), std::move(options));
  }

  ~Harness() {
    if (finished_) return;
    if (auth_) {
      bool closed = false;
      auth_->close([&] { closed = true; });
      run_until([&] { return closed; });
      if (closed) auth_.reset();
    }
    uv_loop_close(&loop_);
  }

  Authenticator& auth() { return *auth_; }
  uv_loop_t* loop() { return &loop_; }

  // Runs the loop until pred() holds; false if 20 s pass first.
  bool run_until(const std::function<bool()>& pred) {
    uv_timer_t watchdog;
    bool expired = false;
    uv_timer_init(&loop_, &watchdog);
    watchdog.data = &expired;
    uv_timer_start(
        &watchdog, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 20000, 0);
    while (!pred() && !expired) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return pred();
  }

  // Runs the loop until nothing is left to do (no crypt in flight, no answer queued);
  // false if 20 s pass first.
  bool run_until_quiet() {
    uv_timer_t watchdog;
    bool expired = false;
    uv_timer_init(&loop_, &watchdog);
    watchdog.data = &expired;
    uv_timer_start(
        &watchdog,
        [](uv_timer_t* t) {
          *static_cast<bool*>(t->data) = true;
          uv_stop(t->loop);
        },
        20000, 0);
    uv_unref(reinterpret_cast<uv_handle_t*>(&watchdog));
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_close(reinterpret_cast<uv_handle_t*>(&watchdog), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return !expired;
  }

  AuthResult check(const std::string& header, const std::string& addr = "192.0.2.1") {
    std::optional<AuthResult> result;
    auth_->check(header, addr, [&](AuthResult r) { result = std::move(r); });
    CHECK_FALSE(result.has_value());  // never synchronous
    REQUIRE(run_until([&] { return result.has_value(); }));
    return *result;
  }

  void finish(bool already_closed = false) {
    if (!already_closed) {
      bool closed = false;
      auth_->close([&] { closed = true; });
      CHECK_FALSE(closed);  // on_closed is never synchronous
      REQUIRE(run_until([&] { return closed; }));
    }
    auth_.reset();
    REQUIRE(uv_run(&loop_, UV_RUN_NOWAIT) == 0);
    finished_ = true;
    REQUIRE(uv_loop_close(&loop_) == 0);
  }

  FakeClock clock;

 private:
  uv_loop_t loop_;
  std::unique_ptr<Authenticator> auth_;
  bool finished_ = false;
};

}  // namespace

TEST_CASE("crypt_r runs off the loop thread while timers keep firing", "[loop][policy][auth]") {
  // bcrypt cost 10: tens of milliseconds of work per check.
  auto users = table({{"alice", make_hash("$2y$", "correct horse", 10)}});
  std::mutex mu;
  std::vector<std::thread::id> crypt_threads;
  AuthenticatorOptions options;
  options.before_crypt = [&](const std::string&) {
    std::lock_guard<std::mutex> lock(mu);
    crypt_threads.push_back(std::this_thread::get_id());
  };
  Harness h(users, std::move(options));

  struct Ticker {
    uv_timer_t timer;
    int ticks = 0;
  } ticker;
  uv_timer_init(h.loop(), &ticker.timer);
  ticker.timer.data = &ticker;
  uv_timer_start(
      &ticker.timer, [](uv_timer_t* t) { static_cast<Ticker*>(t->data)->ticks++; }, 1, 1);

  std::optional<AuthResult> result;
  int ticks_at_result = -1;
  h.auth().check(basic("alice", "correct horse"), "192.0.2.1", [&](AuthResult r) {
    result = std::move(r);
    ticks_at_result = ticker.ticks;
  });
  CHECK_FALSE(result.has_value());
  CHECK(h.auth().in_flight() == 1);
  int ticks_at_check = ticker.ticks;
  REQUIRE(h.run_until([&] { return result.has_value(); }));
  uv_close(reinterpret_cast<uv_handle_t*>(&ticker.timer), nullptr);

  CHECK(result->status == AuthStatus::kOk);
  CHECK(result->user == "alice");
  // A blocked loop would not have served the 1 ms timer while the check ran.
  CHECK(ticks_at_result - ticks_at_check >= 3);
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(crypt_threads.size() == 1);
    CHECK(crypt_threads[0] != std::this_thread::get_id());
  }
  CHECK(h.auth().stats().verifications == 1);
  CHECK(h.auth().stats().ok == 1);
  CHECK(h.auth().in_flight() == 0);
  h.finish();
}

TEST_CASE("a cached success skips crypt_r and still answers later", "[loop][policy][auth]") {
  auto users = table({{"alice", make_hash("$2y$", "pw", 4)}});
  Harness h(users);
  CHECK(h.check(basic("alice", "pw")).status == AuthStatus::kOk);
  CHECK(h.auth().stats().verifications == 1);
  CHECK(h.auth().cache_size() == 1);

  h.clock.now += 59s;
  auto cached = h.check(basic("alice", "pw"));  // h.check() requires a later answer
  CHECK(cached.status == AuthStatus::kOk);
  CHECK(cached.user == "alice");
  CHECK(h.auth().stats().verifications == 1);
  CHECK(h.auth().stats().cache_hits == 1);

  // The scheme's case does not change the cache key; a different password does.
  CHECK(h.check("basic " + basic("alice", "pw").substr(6)).status == AuthStatus::kOk);
  CHECK(h.auth().stats().verifications == 1);
  CHECK(h.check(basic("alice", "pw2")).status == AuthStatus::kBadCredentials);
  CHECK(h.auth().stats().verifications == 2);

  // Past the TTL (60 s after the last verification) crypt_r runs again.
  h.clock.now += 2s;
  CHECK(h.check(basic("alice", "pw")).status == AuthStatus::kOk);
  CHECK(h.auth().stats().verifications == 3);
  h.finish();
}

TEST_CASE("the cache is bounded", "[loop][policy][auth]") {
  std::string hash = make_hash("$2y$", "pw", 4);
  auto users = table({{"a", hash}, {"b", hash}, {"c", hash}});
  AuthenticatorOptions options;
  options.cache_capacity = 2;
  Harness h(users, std::move(options));
  for (const char* u : {"a", "b", "c"}) CHECK(h.check(basic(u, "pw")).status == AuthStatus::kOk);
  CHECK(h.auth().cache_size() == 2);
  CHECK(h.auth().stats().verifications == 3);
  CHECK(h.check(basic("c", "pw")).status == AuthStatus::kOk);  // still cached
  CHECK(h.auth().stats().verifications == 3);
  CHECK(h.check(basic("a", "pw")).status == AuthStatus::kOk);  // evicted: crypt again
  CHECK(h.auth().stats().verifications == 4);
  h.finish();
}

TEST_CASE("unknown users cost a crypt against a hash of the same kind", "[loop][policy][auth]") {
  auto users = table({{"alice", make_hash("$2y$", "pw", 5)}, {"bob", make_hash("$2y$", "x", 5)}});
  std::mutex mu;
  std::vector<std::string> settings;
  AuthenticatorOptions options;
  options.before_crypt = [&](const std::string& setting) {
    std::lock_guard<std::mutex> lock(mu);
    settings.push_back(setting);
  };
  Harness h(users, std::move(options));

  auto wrong = h.check(basic("alice", "nope"), "10.0.0.1");
  CHECK(wrong.status == AuthStatus::kBadCredentials);
  CHECK(wrong.user == "alice");
  auto unknown = h.check(basic("mallory", "pw"), "10.0.0.1");
  CHECK(unknown.status == AuthStatus::kBadCredentials);
  CHECK(unknown.user == "mallory");
  CHECK(unknown.detail == wrong.detail);  // the log cannot tell them apart either
  // The password that matches the dummy hash (a real user's) still opens nothing.
  std::string dummy_password = users->dummy_hash() == *users->find("bob") ? "x" : "pw";
  CHECK(h.check(basic("nobody", dummy_password), "10.0.0.1").status == AuthStatus::kBadCredentials);
  CHECK(h.auth().stats().verifications == 3);
  {
    std::lock_guard<std::mutex> lock(mu);
    REQUIRE(settings.size() == 3);
    CHECK(settings[0] == *users->find("alice"));
    CHECK(settings[1] == users->dummy_hash());
    CHECK(settings[1].substr(0, 7) == "$2y$05$");
  }
  // Failures are never cached: the same wrong password costs a crypt again.
  CHECK(h.check(basic("alice", "nope"), "10.0.0.1").status == AuthStatus::kBadCredentials);
  CHECK(h.auth().stats().verifications == 4);
  CHECK(h.auth().stats().bad_credentials == 4);
  CHECK(h.auth().failures("10.0.0.1") == 4);
  CHECK(h.auth().failures("10.0.0.2") == 0);
  h.finish();
}

TEST_CASE("missing and malformed credentials are answered without crypt_r",
          "[loop][policy][auth]") {
  Harness h(table({{"alice", make_hash("$2y$", "pw", 4)}}));
  auto missing = h.check("", "10.0.0.9");
  CHECK(missing.status == AuthStatus::kMissing);
  CHECK(h.check("  ", "10.0.0.9").status == AuthStatus::kMissing);
  auto bearer = h.check("Bearer abc", "10.0.0.9");
  CHECK(bearer.status == AuthStatus::kMalformed);
  CHECK(bearer.detail == "unsupported scheme 'Bearer' (only Basic)");
  auto bad64 = h.check("Basic !!!!", "10.0.0.9");
  CHECK(bad64.status == AuthStatus::kMalformed);
  CHECK(bad64.detail == "invalid base64");
  CHECK(h.auth().stats().verifications == 0);
  CHECK(h.auth().stats().missing == 2);
  CHECK(h.auth().stats().malformed == 2);
  CHECK(h.auth().failures("10.0.0.9") == 2);  // malformed counts, missing does not
  h.finish();
}

TEST_CASE("failure counts are bounded and forgotten", "[loop][policy][auth]") {
  AuthenticatorOptions options;
  options.failure_capacity = 2;
  options.failure_memory = 10min;
  Harness h(table({}), std::move(options));
  for (const char* addr : {"10.0.0.1", "10.0.0.1", "10.0.0.2", "10.0.0.3"}) {
    CHECK(h.check("Basic x", addr).status == AuthStatus::kMalformed);
  }
  CHECK(h.auth().failures("10.0.0.1") == 0);  // evicted: least recent
  CHECK(h.auth().failures("10.0.0.2") == 1);
  CHECK(h.auth().failures("10.0.0.3") == 1);
  h.clock.now += 9min;
  CHECK(h.check("Basic x", "10.0.0.3").status == AuthStatus::kMalformed);
  CHECK(h.auth().failures("10.0.0.3") == 2);
  h.clock.now += 2min;
  CHECK(h.auth().failures("10.0.0.2") == 0);  // 11 min since its failure
  CHECK(h.auth().failures("10.0.0.3") == 2);  // 2 min since its last failure
  h.clock.now += 10min;
  CHECK(h.auth().failures("10.0.0.3") == 0);
  CHECK(h.check("Basic x", "10.0.0.3").status == AuthStatus::kMalformed);
  CHECK(h.auth().failures("10.0.0.3") == 1);  // counting starts over
  h.finish();
}

TEST_CASE("identical checks in flight share one crypt_r", "[loop][policy][auth]") {
  Harness h(table({{"alice", make_hash("$2y$", "pw", 6)}}));
  std::vector<AuthResult> results;
  for (int i = 0; i < 6; ++i) {
    h.auth().check(basic("alice", "pw"), "192.0.2.1",
                   [&](AuthResult r) { results.push_back(std::move(r)); });
  }
  CHECK(results.empty());
  REQUIRE(h.run_until([&] { return results.size() == 6; }));
  for (const auto& r : results) CHECK(r.status == AuthStatus::kOk);
  CHECK(h.auth().stats().verifications == 1);
  CHECK(h.auth().stats().shared == 5);
  CHECK(h.auth().stats().ok == 6);
  h.finish();
}

TEST_CASE("cancel stops one callback and drops crypt work not yet started",
          "[loop][policy][auth]") {
  std::string hash = make_hash("$2y$", "pw", 4);
  AuthenticatorOptions options;
  options.max_concurrent = 1;
  Harness h(table({{"a", hash}, {"b", hash}, {"c", hash}}), std::move(options));

  bool a_called = false, b_called = false, c_called = false, missing_called = false;
  std::optional<AuthResult> shared_result;
  h.auth().check(basic("a", "pw"), "192.0.2.1", [&](AuthResult) { a_called = true; });
  uint64_t b = h.auth().check(basic("b", "pw"), "192.0.2.1", [&](AuthResult) { b_called = true; });
  // Two waiters on c's check; only one is cancelled, so c's crypt still runs.
  uint64_t c1 = h.auth().check(basic("c", "pw"), "192.0.2.1", [&](AuthResult) { c_called = true; });
  h.auth().check(basic("c", "pw"), "192.0.2.1", [&](AuthResult r) { shared_result = r; });
  uint64_t m = h.auth().check("", "192.0.2.1", [&](AuthResult) { missing_called = true; });
  CHECK(h.auth().in_flight() == 1);  // a runs; b and c wait (max_concurrent = 1)
  h.auth().cancel(b);
  h.auth().cancel(c1);
  h.auth().cancel(m);  // its answer is already queued: it must not be delivered
  h.auth().cancel(m);  // twice: no-op
  h.auth().cancel(12345);
  REQUIRE(h.run_until_quiet());
  CHECK(a_called);
  CHECK_FALSE(b_called);
  CHECK_FALSE(c_called);
  CHECK_FALSE(missing_called);
  REQUIRE(shared_result.has_value());
  CHECK(shared_result->status == AuthStatus::kOk);
  CHECK(h.auth().stats().verifications == 2);  // a and c; b never reached crypt_r
  CHECK(h.auth().in_flight() == 0);
  h.finish();
}

TEST_CASE("a callback may check again, cancel and close", "[loop][policy][auth]") {
  Harness h(table({{"alice", make_hash("$2y$", "pw", 4)}}));
  bool closed = false, second = false, third_called = false;
  uint64_t third = 0;
  h.auth().check("", "192.0.2.1", [&](AuthResult r) {
    CHECK(r.status == AuthStatus::kMissing);
    h.auth().check(basic("alice", "pw"), "192.0.2.1", [&](AuthResult r2) {
      CHECK(r2.status == AuthStatus::kOk);
      second = true;
      third = h.auth().check("", "192.0.2.1", [&](AuthResult) { third_called = true; });
      h.auth().close([&] { closed = true; });
      CHECK_FALSE(closed);
      // After close, check() returns an id whose callback never runs.
      h.auth().check("", "192.0.2.1", [&](AuthResult) { third_called = true; });
    });
  });
  REQUIRE(h.run_until([&] { return closed; }));
  CHECK(second);
  CHECK(third != 0);
  CHECK_FALSE(third_called);
  h.finish(/*already_closed=*/true);
}

TEST_CASE("close waits for crypt_r in flight and answers nobody", "[loop][policy][auth]") {
  std::unique_ptr<CryptGate> gate;
  AuthenticatorOptions options;
  options.before_crypt = [&](const std::string& s) { gate->hook()(s); };
  Harness h(table({{"alice", make_hash("$2y$", "pw", 4)}}), std::move(options));
  gate = std::make_unique<CryptGate>(h.loop());

  bool called = false;
  h.auth().check(basic("alice", "pw"), "192.0.2.1", [&](AuthResult) { called = true; });
  REQUIRE(h.run_until([&] { return gate->entered() == 1; }));  // crypt_r is about to run

  bool closed = false;
  h.auth().close([&] { closed = true; });
  for (int i = 0; i < 5; ++i) uv_run(h.loop(), UV_RUN_NOWAIT);
  CHECK_FALSE(closed);  // the work item still points into the Authenticator
  CHECK(h.auth().in_flight() == 1);

  gate->release(1);
  REQUIRE(h.run_until([&] { return closed; }));
  CHECK_FALSE(called);
  CHECK(h.auth().in_flight() == 0);
  gate->close(0);
  h.finish(/*already_closed=*/true);
}

TEST_CASE("close cancels crypt work still queued in the thread pool", "[loop][policy][auth]") {
  // Occupy every pool thread with a held check, then queue one more: libuv has not
  // started it, so close() cancels it and its crypt_r never runs.
  int pool = 4;
  if (const char* env = std::getenv("UV_THREADPOOL_SIZE")) pool = std::atoi(env);
  if (pool < 1 || pool > 64) {
    WARN("unusual UV_THREADPOOL_SIZE; skipping");
    return;
  }
  std::unique_ptr<CryptGate> gate;
  AuthenticatorOptions options;
  options.max_concurrent = static_cast<size_t>(pool) + 1;
  options.before_crypt = [&](const std::string& s) { gate->hook()(s); };
  std::string hash = make_hash("$2y$", "pw", 4);
  std::unordered_map<std::string, std::string> users;
  for (int i = 0; i <= pool; ++i) users["u" + std::to_string(i)] = hash;
  Harness h(std::make_shared<const Htpasswd>(users), std::move(options));
  gate = std::make_unique<CryptGate>(h.loop());

  int answered = 0;
  for (int i = 0; i < pool; ++i) {
    h.auth().check(basic("u" + std::to_string(i), "pw"), "192.0.2.1",
                   [&](AuthResult) { ++answered; });
  }
  REQUIRE(h.run_until([&] { return gate->entered() == pool; }));
  h.auth().check(basic("u" + std::to_string(pool), "pw"), "192.0.2.1",
                 [&](AuthResult) { ++answered; });
  CHECK(h.auth().in_flight() == static_cast<size_t>(pool) + 1);

  bool closed = false;
  h.auth().close([&] { closed = true; });
  gate->release(pool + 1);
  REQUIRE(h.run_until([&] { return closed; }));
  CHECK(gate->entered() == pool);  // the queued one was cancelled before crypt_r
  CHECK(answered == 0);
  gate->close(0);
  h.finish(/*already_closed=*/true);
}

TEST_CASE("set_users applies a reloaded table at once", "[loop][policy][auth]") {
  Harness h(table({{"alice", make_hash("$2y$", "old", 4)}, {"bob", make_hash("$6$", "b", 0)}}));
  CHECK(h.check(basic("alice", "old")).status == AuthStatus::kOk);
  CHECK(h.check(basic("bob", "b")).status == AuthStatus::kOk);
  CHECK(h.auth().cache_size() == 2);

  h.auth().set_users(table({{"alice", make_hash("$y$", "new", 0)}}));
  CHECK(h.auth().cache_size() == 0);
  CHECK(h.check(basic("alice", "old")).status == AuthStatus::kBadCredentials);
  CHECK(h.check(basic("alice", "new")).status == AuthStatus::kOk);
  CHECK(h.check(basic("bob", "b")).status == AuthStatus::kBadCredentials);

  h.auth().set_users(nullptr);  // no table: everybody is refused
  CHECK(h.check(basic("alice", "new")).status == AuthStatus::kBadCredentials);
  h.finish();
}

TEST_CASE("a check running across a reload does not fill the cache", "[loop][policy][auth]") {
  std::unique_ptr<CryptGate> gate;
  std::atomic<bool> hold{true};
  AuthenticatorOptions options;
  options.before_crypt = [&](const std::string& s) {
    if (hold.load()) gate->hook()(s);
  };
  Harness h(table({{"alice", make_hash("$2y$", "pw", 4)}}), std::move(options));
  gate = std::make_unique<CryptGate>(h.loop());

  std::optional<AuthResult> result;
  h.auth().check(basic("alice", "pw"), "192.0.2.1", [&](AuthResult r) { result = r; });
  REQUIRE(h.run_until([&] { return gate->entered() == 1; }));
  h.auth().set_users(table({{"alice", make_hash("$2y$", "other", 4)}}));
  gate->release(1);
  REQUIRE(h.run_until([&] { return result.has_value(); }));
  CHECK(result->status == AuthStatus::kOk);  // checked against the table it started with
  CHECK(h.auth().cache_size() == 0);
  hold = false;
  CHECK(h.check(basic("alice", "pw")).status == AuthStatus::kBadCredentials);
  gate->close(0);
  h.finish();
}

}  // namespace gatehouse
