// Authenticator: proxy authentication (RFC 9110 section 11.7.1, RFC 7617 Basic) for one
// worker loop.
//
// Ownership and threading
//  - One per worker, owned by the worker, used only from that worker's loop thread.
//  - Password hashes are checked with crypt_r on libuv's thread pool (uv_queue_work),
//    never on the loop thread: a bcrypt check costs tens of milliseconds.
//  - At most `max_concurrent` checks of one Authenticator run at once (the pool is
//    shared with the rest of the process); further ones wait in a FIFO queue, which is
//    bounded by the number of client connections (one check per request head).
//  - Callbacks NEVER run synchronously from check(): every answer, even "header
//    missing" or a cache hit, is delivered from the Authenticator's own uv_idle_t
//    callback on a later loop turn (crypt results too: the uv_queue_work completion
//    only queues them). A callback may call check(), cancel() or close().
//  - After cancel(id) the callback for id never runs. cancel() of an unknown or answered
//    id is a no-op. A crypt_r that has already started cannot be stopped; its result
//    still fills the cache.
//  - close(on_closed) must be called before destruction. After close() no callback
//    runs and check() returns ids whose callbacks never run. on_closed runs on a later
//    loop turn, once the idle handle is closed AND every crypt_r in flight has come back
//    (uv_queue_work cannot be cancelled once running; the work items point into this
//    object). Only then may the owner delete the Authenticator; the destructor aborts if
//    the object is still open.
//
// What is verified
//  - The header value must be "Basic <token68>": scheme case-insensitive, one or more
//    spaces, strict base64 (RFC 4648 alphabet, '=' padding required, no whitespace or
//    line breaks inside, unused bits zero). The decoded credentials split at the FIRST
//    ':' into user and password; both may be any UTF-8 (the challenge announces
//    charset="UTF-8") but no control characters (RFC 7617 section 2; this also keeps a
//    NUL from truncating the password given to crypt_r). Over 4096 characters -> malformed.
//  - A known user's password is checked against its hash. An unknown user's password is
//    checked against Htpasswd::dummy_hash() (a hash of the table's most common kind and
//    cost) and then refused, so response time does not tell whether a user exists.
//
// Cache: successful checks are remembered for `cache_ttl` (default 60 s), at most
// `cache_capacity` entries (least recently used evicted). The key is HMAC-SHA-256 over
// (user, password) under a random per-Authenticator key, so the cache never holds a
// plaintext password and its keys cannot be compared across processes. (Storing the
// crypt output instead would not help: finding it again needs the slow crypt_r.) A
// memory dump still allows a fast offline guess against a live cache entry, which is why
// entries live only a minute. set_users() empties the cache, so a reload that changes
// or removes a password takes effect at once. Identical checks that overlap (a browser
// opening six connections with the same credentials) share one crypt_r.
//
// Failures: every kMalformed and kBadCredentials answer counts against the client
// address (failures(addr)); an address is forgotten after `failure_memory` without a new
// failure, and at most `failure_capacity` addresses are kept (least recent evicted).
#pragma once

#include <uv.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "proxy/htpasswd.h"

namespace gatehouse {

enum class AuthStatus {
  kOk,              // user authenticated: AuthResult::user names them
  kMissing,         // no Proxy-Authorization: answer 407 with a challenge
  kMalformed,       // not "Basic <valid base64 of user:password>": 407
  kBadCredentials,  // unknown user or wrong password (indistinguishable on purpose): 407
};

struct AuthResult {
  AuthStatus status = AuthStatus::kMissing;
  // kOk: the user. kBadCredentials: the user name the client sent (for the access log;
  // the client chose it). Empty otherwise.
  std::string user;
  // For the diagnostic log only, e.g. "unsupported scheme 'Digest'", "invalid base64".
  // Never says whether the user exists.
  std::string detail;
};

struct AuthStats {
  uint64_t ok = 0;
  uint64_t missing = 0;
  uint64_t malformed = 0;
  uint64_t bad_credentials = 0;
  uint64_t cache_hits = 0;     // kOk answered from the cache
  uint64_t verifications = 0;  // crypt_r runs started (work items queued)
  uint64_t shared = 0;         // checks that joined an identical check already running
};

struct AuthenticatorOptions {
  std::chrono::milliseconds cache_ttl{std::chrono::seconds(60)};
  size_t cache_capacity = 1024;
  size_t max_concurrent = 4;  // crypt_r work items in flight at once
  std::chrono::milliseconds failure_memory{std::chrono::minutes(15)};
  size_t failure_capacity = 10000;
  // Time source for the cache and the failure table; empty = steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> clock;
  // Tests only: runs on the thread-pool thread just before crypt_r, with the stored hash
  // (or the dummy) used as the setting. Must be thread-safe.
  std::function<void(const std::string& setting)> before_crypt;
};

// Parsed "Basic" credentials.
struct BasicCredentials {
  std::string user;
  std::string password;
};

// Strict RFC 4648 base64 (see the header comment); nullopt when invalid.
std::optional<std::string> decode_base64(std::string_view text);

// Parses a Proxy-Authorization value. On failure returns nullopt and sets `why`.
std::optional<BasicCredentials> parse_basic_credentials(std::string_view value, std::string* why);

namespace auth_detail {
// Exposed for tests: the in-file SHA-256 (FIPS 180-4) and HMAC (RFC 2104).
std::array<uint8_t, 32> sha256(std::string_view data);
std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data);
// Constant-time equality of two strings (length leaks, contents do not).
bool equal_constant_time(std::string_view a, std::string_view b);
}  // namespace auth_detail

class Authenticator {
 public:
  using Callback = std::function<void(AuthResult)>;
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `users` may be null (treated as an empty table). Initialises a uv_idle_t on `loop`.
  Authenticator(uv_loop_t* loop, std::shared_ptr<const Htpasswd> users,
                AuthenticatorOptions options = {});
  ~Authenticator();
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // Checks a Proxy-Authorization value (empty = the field was absent) for a client
  // address (IP without port; used for failure counting). `cb` runs exactly once on a
  // later loop turn unless cancel(id) or close() comes first. Ids are never 0.
  uint64_t check(std::string_view header_value, const std::string& client_addr, Callback cb);
  void cancel(uint64_t id);
  void close(std::function<void()> on_closed);

  // Reload: later checks use `users`; the cache is emptied. Checks already waiting or
  // running finish against the table they started with and do not fill the cache.
  void set_users(std::shared_ptr<const Htpasswd> users);

  const AuthStats& stats() const { return stats_; }
  // Failures counted for this address within failure_memory (0 if none).
  uint64_t failures(const std::string& client_addr) const;
  size_t cache_size() const { return cache_.size(); }
  size_t in_flight() const { return running_.size(); }

 private:
  struct Job;
  struct CacheEntry {
    std::string digest;
    std::string user;
    std::chrono::steady_clock::time_point expires;
  };
  struct FailureEntry {
    std::string addr;
    uint64_t count = 0;
    std::chrono::steady_clock::time_point last;
  };
  struct Ready {
    uint64_t id;
    AuthResult result;
  };
  struct Waiter {
    Callback cb;
    std::string addr;
    Job* job = nullptr;  // the check it waits for; null when the answer is already known
  };

  std::chrono::steady_clock::time_point now() const;
  void answer_later(uint64_t id, AuthResult result);
  void deliver_ready();
  void start_jobs();
  void finish_job(Job* job, bool cancelled);
  void count(const AuthResult& r, const std::string& client_addr);
  void note_failure(const std::string& client_addr);
  const CacheEntry* cache_find(const std::string& digest);
  void cache_put(const std::string& digest, const std::string& user);
  void maybe_finish_close();

  static void on_idle(uv_idle_t* handle);
  static void on_idle_closed(uv_handle_t* handle);
  static void on_work(uv_work_t* req);
  static void on_after_work(uv_work_t* req, int status);

  uv_loop_t* loop_;
  uv_idle_t idle_;
  std::shared_ptr<const Htpasswd> users_;
  AuthenticatorOptions options_;
  std::string hmac_key_;
  uint64_t generation_ = 0;
  uint64_t next_id_ = 1;

  enum class State { kOpen, kClosing, kClosed } state_ = State::kOpen;
  bool idle_closed_ = false;
  bool idle_active_ = false;
  std::function<void()> on_closed_;

  std::unordered_map<uint64_t, Waiter> waiters_;
  std::deque<Ready> ready_;

  // Jobs of the current table generation that new identical checks may join.
  std::unordered_map<std::string, Job*> jobs_by_digest_;
  std::deque<Job*> pending_;          // created, not yet handed to the thread pool
  std::unordered_set<Job*> running_;  // handed to uv_queue_work, owned until after_work

  std::list<CacheEntry> cache_;  // most recently used first
  std::unordered_map<std::string, std::list<CacheEntry>::iterator> cache_index_;

  std::list<FailureEntry> failures_;  // most recent failure first
  std::unordered_map<std::string, std::list<FailureEntry>::iterator> failure_index_;

  AuthStats stats_;
};

}  // namespace gatehouse
