#include "proxy/authenticator.h"

#include <crypt.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gatehouse {

// --- SHA-256 / HMAC ---------------------------------------------------------------------

namespace auth_detail {
namespace {

constexpr uint32_t kK[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

uint32_t rotr(uint32_t x, int n) {
  return (x >> n) | (x << (32 - n));
}

class Sha256 {
 public:
  void update(std::string_view data) {
    for (char c : data) {
      block_[fill_++] = static_cast<uint8_t>(c);
      if (fill_ == 64) {
        compress();
        fill_ = 0;
      }
    }
    bits_ += static_cast<uint64_t>(data.size()) * 8;
  }

  std::array<uint8_t, 32> finish() {
    uint64_t bits = bits_;
    block_[fill_++] = 0x80;
    if (fill_ > 56) {
      while (fill_ < 64) block_[fill_++] = 0;
      compress();
      fill_ = 0;
    }
    while (fill_ < 56) block_[fill_++] = 0;
    for (int i = 7; i >= 0; --i) block_[fill_++] = static_cast<uint8_t>(bits >> (i * 8));
    compress();
    std::array<uint8_t, 32> out{};
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 4; ++j) out[i * 4 + j] = static_cast<uint8_t>(h_[i] >> (24 - j * 8));
    }
    return out;
  }

 private:
  void compress() {
    uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (uint32_t{block_[i * 4]} << 24) | (uint32_t{block_[i * 4 + 1]} << 16) |
             (uint32_t{block_[i * 4 + 2]} << 8) | uint32_t{block_[i * 4 + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      uint32_t s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
      uint32_t ch = (e & f) ^ (~e & g);
      uint32_t t1 = h + s1 + ch + kK[i] + w[i];
      uint32_t s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
      uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
      uint32_t t2 = s0 + maj;
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
  }

  uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                    0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t block_[64] = {};
  size_t fill_ = 0;
  uint64_t bits_ = 0;
};

std::string_view as_view(const std::array<uint8_t, 32>& a) {
  return {reinterpret_cast<const char*>(a.data()), a.size()};
}

}  // namespace

std::array<uint8_t, 32> sha256(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

std::array<uint8_t, 32> hmac_sha256(std::string_view key, std::string_view data) {
  std::array<uint8_t, 64> k{};
  if (key.size() > 64) {
    auto kh = sha256(key);
    std::memcpy(k.data(), kh.data(), kh.size());
  } else {
    std::memcpy(k.data(), key.data(), key.size());
  }
  std::string ipad(64, '\0'), opad(64, '\0');
  for (size_t i = 0; i < 64; ++i) {
    ipad[i] = static_cast<char>(k[i] ^ 0x36);
    opad[i] = static_cast<char>(k[i] ^ 0x5c);
  }
  Sha256 inner;
  inner.update(ipad);
  inner.update(data);
  auto inner_digest = inner.finish();
  Sha256 outer;
  outer.update(opad);
  outer.update(as_view(inner_digest));
  return outer.finish();
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i]);
  }
  return diff == 0;
}

}  // namespace auth_detail

// --- header parsing ----------------------------------------------------------------------

namespace {

constexpr size_t kMaxHeaderValue = 4096;

int base64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool has_control(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A scheme name safe to put in a log line: token characters only, at most 32.
std::string printable_scheme(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 32)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    out += ok && c != '\0' ? c : '?';
  }
  return out;
}

std::chrono::steady_clock::time_point default_now() {
  return std::chrono::steady_clock::now();
}

}  // namespace

std::optional<std::string> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; ++j) {
      char c = text[i + j];
      if (c == '=') {
        // Padding only in the last quantum, only in its last two places, only trailing.
        if (!last || j < 2) return std::nullopt;
        ++pad;
        v[j] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;  // data after '='
      v[j] = base64_value(c);
      if (v[j] < 0) return std::nullopt;
    }
    uint32_t n =
        (uint32_t(v[0]) << 18) | (uint32_t(v[1]) << 12) | (uint32_t(v[2]) << 6) | uint32_t(v[3]);
    out += static_cast<char>(n >> 16);
    if (pad == 2) {
      if ((n & 0xffff) != 0) return std::nullopt;  // non-zero unused bits: not canonical
      break;
    }
    out += static_cast<char>((n >> 8) & 0xff);
    if (pad == 1) {
      if ((n & 0xff) != 0) return std::nullopt;
      break;
    }
    out += static_cast<char>(n & 0xff);
  }
  return out;
}

std::optional<BasicCredentials> parse_basic_credentials(std::string_view value, std::string* why) {
  auto fail = [&](std::string text) -> std::optional<BasicCredentials> {
    if (why != nullptr) *why = std::move(text);
    return std::nullopt;
  };
  if (value.size() > kMaxHeaderValue) return fail("credentials longer than 4096 characters");
  value = trim_ows(value);
  if (value.empty()) return fail("empty value");
  size_t sp = value.find(' ');
  std::string_view scheme = value.substr(0, sp);
  if (!iequals(scheme, "basic")) {
    return fail("unsupported scheme '" + printable_scheme(scheme) + "' (only Basic)");
  }
  if (sp == std::string_view::npos) return fail("no credentials after 'Basic'");
  std::string_view token = value.substr(sp);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty()) return fail("no credentials after 'Basic'");
  if (token.find_first_of(" \t") != std::string_view::npos) {
    return fail("unexpected text after the credentials");
  }
  auto decoded = decode_base64(token);
  if (!decoded) return fail("invalid base64");
  size_t colon = decoded->find(':');
  if (colon == std::string::npos) return fail("no ':' between user and password");
  BasicCredentials creds{decoded->substr(0, colon), decoded->substr(colon + 1)};
  if (has_control(creds.user) || has_control(creds.password)) {
    return fail("control character in user name or password");
  }
  return creds;
}

// --- Authenticator -----------------------------------------------------------------------

// One crypt_r run, shared by every identical check waiting for it. Created and destroyed
// on the loop thread; while in the thread pool, the worker thread touches only the
// fields marked (pool), and the loop thread does not touch those.
struct Authenticator::Job {
  uv_work_t req{};
  Authenticator* owner = nullptr;
  std::string digest;
  std::string user;
  uint64_t generation = 0;
  std::vector<uint64_t> waiters;
  bool submitted = false;

  std::string password;  // (pool) wiped after use
  std::string setting;   // (pool) the stored hash, or the dummy for an unknown user
  bool known_user = false;
  const std::function<void(const std::string&)>* before_crypt = nullptr;
  bool matched = false;       // (pool) result
  bool crypt_failed = false;  // (pool) crypt_r refused the setting
};

Authenticator::Authenticator(uv_loop_t* loop, std::shared_ptr<const Htpasswd> users,
                             AuthenticatorOptions options)
    : loop_(loop),
      users_(users ? std::move(users) : std::make_shared<const Htpasswd>()),
      options_(std::move(options)) {
  if (!options_.clock) options_.clock = default_now;
  if (options_.max_concurrent == 0) options_.max_concurrent = 1;
  char key[32];
  if (uv_random(nullptr, nullptr, key, sizeof key, 0, nullptr) != 0) {
    std::fprintf(stderr, "gatehouse: cannot get random bytes for the credential cache\n");
    std::abort();
  }
  hmac_key_.assign(key, sizeof key);
  uv_idle_init(loop_, &idle_);
  idle_.data = this;
}

Authenticator::~Authenticator() {
  if (state_ != State::kClosed) {
    std::fprintf(stderr, "gatehouse: Authenticator destroyed without close()\n");
    std::abort();
  }
}

std::chrono::steady_clock::time_point Authenticator::now() const {
  return options_.clock();
}

uint64_t Authenticator::check(std::string_view header_value, const std::string& client_addr,
                              Callback cb) {
  uint64_t id = next_id_++;
  if (state_ != State::kOpen) return id;  // closed: this callback never runs

  waiters_.emplace(id, Waiter{std::move(cb), client_addr, nullptr});
  auto answer = [&](AuthResult r) {
    count(r, client_addr);
    answer_later(id, std::move(r));
    return id;
  };

  if (trim_ows(header_value).empty()) return answer({AuthStatus::kMissing, {}, {}});
  std::string why;
  auto creds = parse_basic_credentials(header_value, &why);
  if (!creds) return answer({AuthStatus::kMalformed, {}, why});

  // The key covers "user:password" (the user cannot contain ':', so it is unambiguous).
  std::string material = creds->user + ":" + creds->password;
  auto mac = auth_detail::hmac_sha256(hmac_key_, material);
  explicit_bzero(material.data(), material.size());
  std::string digest(reinterpret_cast<const char*>(mac.data()), mac.size());

  if (const CacheEntry* hit = cache_find(digest)) {
    ++stats_.cache_hits;
    return answer({AuthStatus::kOk, hit->user, "cached"});
  }

  Job* job;
  if (auto it = jobs_by_digest_.find(digest); it != jobs_by_digest_.end()) {
    job = it->second;
    ++stats_.shared;
    explicit_bzero(creds->password.data(), creds->password.size());
  } else {
    job = new Job;
    job->req.data = job;
    job->owner = this;
    job->digest = digest;
    job->user = creds->user;
    job->generation = generation_;
    job->password = std::move(creds->password);
    const std::string* stored = users_->find(creds->user);
    job->known_user = stored != nullptr;
    job->setting = stored != nullptr ? *stored : users_->dummy_hash();
    if (options_.before_crypt) job->before_crypt = &options_.before_crypt;
    jobs_by_digest_.emplace(digest, job);
    pending_.push_back(job);
  }
  job->waiters.push_back(id);
  waiters_[id].job = job;
  start_jobs();
  return id;
}

void Authenticator::start_jobs() {
  while (state_ == State::kOpen && running_.size() < options_.max_concurrent && !pending_.empty()) {
    Job* job = pending_.front();
    pending_.pop_front();
    job->submitted = true;
    if (uv_queue_work(loop_, &job->req, on_work, on_after_work) != 0) {
      // Fails only for a missing work callback: a bug.
      std::fprintf(stderr, "gatehouse: uv_queue_work failed\n");
      std::abort();
    }
    running_.insert(job);
    ++stats_.verifications;
  }
}

void Authenticator::on_work(uv_work_t* req) {
  auto* job = static_cast<Job*>(req->data);
  if (job->before_crypt != nullptr) (*job->before_crypt)(job->setting);
  // crypt_data is ~32 KiB: keep it off the pool thread's stack.
  auto data = std::make_unique<crypt_data>();  // zero-initialised, as crypt_r requires
  const char* out = crypt_r(job->password.c_str(), job->setting.c_str(), data.get());
  if (out == nullptr || out[0] == '*') {
    job->crypt_failed = true;
  } else {
    // Compare even for an unknown user (same work), then discard the outcome.
    bool same = auth_detail::equal_constant_time(out, job->setting);
    job->matched = same && job->known_user;
  }
  explicit_bzero(data.get(), sizeof(crypt_data));
  explicit_bzero(job->password.data(), job->password.size());
}

void Authenticator::on_after_work(uv_work_t* req, int status) {
  auto* job = static_cast<Job*>(req->data);
  // May free the Authenticator (through on_closed) when it is closing: nothing after this.
  job->owner->finish_job(job, status == UV_ECANCELED);
}

void Authenticator::finish_job(Job* job, bool cancelled) {
  running_.erase(job);
  if (auto it = jobs_by_digest_.find(job->digest);
      it != jobs_by_digest_.end() && it->second == job) {
    jobs_by_digest_.erase(it);
  }
  if (state_ != State::kOpen) {
    delete job;
    maybe_finish_close();  // may delete this
    return;
  }
  AuthResult result;
  result.user = job->user;
  if (cancelled || job->crypt_failed) {
    // A stored hash passed classify_hash() at load time, so this means libcrypt itself
    // refused it (or the pool refused the work): say so in the log, refuse the client.
    result.status = AuthStatus::kBadCredentials;
    result.detail = cancelled ? "verification cancelled" : "password hash could not be checked";
  } else if (job->matched) {
    result.status = AuthStatus::kOk;
    if (job->generation == generation_) cache_put(job->digest, job->user);
  } else {
    result.status = AuthStatus::kBadCredentials;
    result.detail = "bad credentials";
  }
  for (uint64_t id : job->waiters) {
    auto it = waiters_.find(id);
    if (it == waiters_.end()) continue;  // cancelled
    it->second.job = nullptr;
    count(result, it->second.addr);
    answer_later(id, result);
  }
  delete job;
  start_jobs();
}

void Authenticator::answer_later(uint64_t id, AuthResult result) {
  ready_.push_back({id, std::move(result)});
  if (!idle_active_) {
    idle_active_ = true;
    uv_idle_start(&idle_, on_idle);
  }
}

void Authenticator::on_idle(uv_idle_t* handle) {
  auto* self = static_cast<Authenticator*>(handle->data);
  self->deliver_ready();
}

void Authenticator::deliver_ready() {
  // One batch per turn: answers queued by callbacks wait for the next turn, so a callback
  // that calls check() again cannot starve the loop.
  size_t batch = ready_.size();
  while (batch-- > 0 && state_ == State::kOpen && !ready_.empty()) {
    Ready r = std::move(ready_.front());
    ready_.pop_front();
    auto it = waiters_.find(r.id);
    if (it == waiters_.end()) continue;  // cancelled
    Callback cb = std::move(it->second.cb);
    waiters_.erase(it);
    cb(std::move(r.result));  // may call check(), cancel() or close()
  }
  if (state_ == State::kOpen && ready_.empty() && idle_active_) {
    idle_active_ = false;
    uv_idle_stop(&idle_);
  }
}

void Authenticator::cancel(uint64_t id) {
  auto it = waiters_.find(id);
  if (it == waiters_.end()) return;
  Job* job = it->second.job;
  waiters_.erase(it);
  if (job == nullptr) return;  // its queued answer is skipped at delivery
  std::erase(job->waiters, id);
  if (!job->waiters.empty() || job->submitted) return;
  // Nobody waits and crypt_r has not started: drop it.
  std::erase(pending_, job);
  if (auto j = jobs_by_digest_.find(job->digest); j != jobs_by_digest_.end() && j->second == job) {
    jobs_by_digest_.erase(j);
  }
  explicit_bzero(job->password.data(), job->password.size());
  delete job;
}

void Authenticator::close(std::function<void()> on_closed) {
  if (state_ != State::kOpen) return;
  state_ = State::kClosing;
  on_closed_ = std::move(on_closed);
  waiters_.clear();
  ready_.clear();
  jobs_by_digest_.clear();
  for (Job* job : pending_) {
    explicit_bzero(job->password.data(), job->password.size());
    delete job;
  }
  pending_.clear();
  // Work not yet picked up by a pool thread comes back with UV_ECANCELED; work that is
  // running comes back when crypt_r ends. Either way finish_job() frees it.
  for (Job* job : running_) uv_cancel(reinterpret_cast<uv_req_t*>(&job->req));
  cache_.clear();
  cache_index_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_), on_idle_closed);
}

void Authenticator::on_idle_closed(uv_handle_t* handle) {
  auto* self = static_cast<Authenticator*>(handle->data);
  self->idle_closed_ = true;
  self->maybe_finish_close();  // may delete self
}

void Authenticator::maybe_finish_close() {
  if (state_ != State::kClosing || !idle_closed_ || !running_.empty()) return;
  state_ = State::kClosed;
  auto cb = std::move(on_closed_);
  if (cb) cb();  // may delete this: nothing after
}

void Authenticator::set_users(std::shared_ptr<const Htpasswd> users) {
  users_ = users ? std::move(users) : std::make_shared<const Htpasswd>();
  ++generation_;
  cache_.clear();
  cache_index_.clear();
  jobs_by_digest_.clear();  // new checks must not join checks against the old table
}

void Authenticator::count(const AuthResult& r, const std::string& client_addr) {
  switch (r.status) {
    case AuthStatus::kOk:
      ++stats_.ok;
      break;
    case AuthStatus::kMissing:
      ++stats_.missing;
      break;
    case AuthStatus::kMalformed:
      ++stats_.malformed;
      note_failure(client_addr);
      break;
    case AuthStatus::kBadCredentials:
      ++stats_.bad_credentials;
      note_failure(client_addr);
      break;
  }
}

void Authenticator::note_failure(const std::string& client_addr) {
  auto t = now();
  // Drop addresses whose last failure is older than failure_memory (oldest at the back).
  while (!failures_.empty() && t - failures_.back().last >= options_.failure_memory) {
    failure_index_.erase(failures_.back().addr);
    failures_.pop_back();
  }
  if (auto it = failure_index_.find(client_addr); it != failure_index_.end()) {
    it->second->count += 1;
    it->second->last = t;
    failures_.splice(failures_.begin(), failures_, it->second);
    return;
  }
  if (options_.failure_capacity == 0) return;
  failures_.push_front({client_addr, 1, t});
  failure_index_.emplace(client_addr, failures_.begin());
  while (failures_.size() > options_.failure_capacity) {
    failure_index_.erase(failures_.back().addr);
    failures_.pop_back();
  }
}

uint64_t Authenticator::failures(const std::string& client_addr) const {
  auto it = failure_index_.find(client_addr);
  if (it == failure_index_.end()) return 0;
  if (now() - it->second->last >= options_.failure_memory) return 0;
  return it->second->count;
}

const Authenticator::CacheEntry* Authenticator::cache_find(const std::string& digest) {
  auto it = cache_index_.find(digest);
  if (it == cache_index_.end()) return nullptr;
  if (now() >= it->second->expires) {
    cache_.erase(it->second);
    cache_index_.erase(it);
    return nullptr;
  }
  cache_.splice(cache_.begin(), cache_, it->second);
  return &*it->second;
}

void Authenticator::cache_put(const std::string& digest, const std::string& user) {
  if (options_.cache_ttl.count() <= 0 || options_.cache_capacity == 0) return;
  auto expires = now() + options_.cache_ttl;
  if (auto it = cache_index_.find(digest); it != cache_index_.end()) {
    it->second->expires = expires;
    cache_.splice(cache_.begin(), cache_, it->second);
    return;
  }
  cache_.push_front({digest, user, expires});
  cache_index_.emplace(digest, cache_.begin());
  while (cache_.size() > options_.cache_capacity) {
    cache_index_.erase(cache_.back().digest);
    cache_.pop_back();
  }
}

}  // namespace gatehouse
