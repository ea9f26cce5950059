// RedirectTracker: per-client redirect chains ([redirects]), so a redirect loop is cut
// with a 508 that lists the chain instead of bouncing the client around forever.
//
// Ownership and threading: one per worker, owned by the worker, used only on that
// worker's loop thread (NOT thread-safe; nothing in it blocks or allocates per byte).
// Pure bookkeeping: no I/O, no handles, no callbacks; time from an injectable clock.
//
// How the caller uses it, once per exchange (all URLs absolute, e.g.
// "http://example.com/a?b"; the tracker normalises them with normalize_url()):
//   key = RedirectTracker::client_key(client_ip, authenticated_user_or_empty);
//   1. request head accepted:   on_request(key, request_url)  -> for the access log
//   2. response head received:
//        3xx with a Location (is_redirect_status):
//          loc = resolve_location(request_url, location_field);
//          d = on_redirect(key, request_url, loc);
//          if (d.cut) answer 508 listing d.chain instead of forwarding the 3xx
//        anything else: on_final(key, request_url)
//
// Model. For each client the tracker remembers redirect TARGETS: after "A -> 302 B" it
// remembers B with the chain [A, B] (1 hop) for `remember`. When that client's request
// for B is itself redirected to C, the chain becomes [A, B, C] (2 hops), remembered
// under C; and so on. A redirect whose chain would exceed max_chain hops is cut: with
// max_chain = 20 the 21st consecutive redirect becomes a 508. A non-redirect answer for
// a remembered target ends its chain (on_final forgets it), so ordinary flows such as
// A -> login (200, the user types) -> POST login -> A count 1 hop at a time, however
// often they are repeated. When two chains lead to the same target, the longer one is
// kept (parallel requests cannot reset a loop's count).
//
// Memory is bounded: at most `max_entries` remembered targets and about `max_bytes` of
// stored text overall (least recently recorded evicted first); each chain stores at most
// `max_stored_urls` URLs (the most recent ones; the hop count stays exact).
// max_chain = 0 turns tracking off: nothing is stored, nothing is cut.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"

namespace gatehouse {

// RFC 3986 section 5 reference resolution of a Location value against the absolute URL
// of the request that got it: absolute ("https://x/y"), scheme-relative ("//host/x"),
// absolute-path ("/x"), relative ("x/../y", "../y"), query-only ("?q"), empty or
// fragment-only (the request URL itself). Dot segments are removed and the fragment
// dropped. Like browsers, a '\' counts as '/' in http(s) references, a same-scheme
// "http:x" is relative, and spaces and non-ASCII bytes are percent-encoded. The result is
// normalised (normalize_url). Returns "" when it cannot be resolved: the request URL is
// not absolute, the Location contains control characters or has an invalid scheme.
std::string resolve_location(std::string_view request_url, std::string_view location);

// Lower-cases scheme and host, drops the default port (:80 for http, :443 for https),
// an empty path becomes "/", dot segments are removed, the fragment is dropped.
// Returns the input unchanged when it is not an absolute URL with an authority.
std::string normalize_url(std::string_view url);

// 301, 302, 303, 307, 308 and 300 (which may carry a preferred Location).
bool is_redirect_status(int status);

struct RedirectTrackerOptions {
  size_t max_entries = 10000;
  size_t max_bytes = 16 * 1024 * 1024;
  size_t max_stored_urls = 32;
  // Empty = std::chrono::steady_clock::now.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

struct RedirectStep {
  bool continues = false;  // this request follows a remembered redirect of this client
  uint64_t hops = 0;       // redirects so far in that chain (0 when !continues)
};

struct RedirectDecision {
  bool cut = false;   // true: answer 508 instead of forwarding the redirect
  uint64_t hops = 0;  // redirects in the chain including this one (0 when not tracking)
  // Only filled when cut: the chain oldest first, ending with the refused Location.
  // `omitted` older URLs were not stored (see max_stored_urls).
  std::vector<std::string> chain;
  uint64_t omitted = 0;
};

struct RedirectStats {
  uint64_t redirects_seen = 0;  // on_redirect calls (tracking on or off)
  uint64_t chains_cut = 0;      // decisions with cut = true
  size_t entries = 0;           // remembered targets now
  size_t bytes = 0;             // approximate memory held by them
};

class RedirectTracker {
 public:
  explicit RedirectTracker(const Config::Redirects& config, RedirectTrackerOptions options = {});

  // Reload: new max_chain / remember apply to later calls; max_chain = 0 forgets all.
  void set_limits(const Config::Redirects& config);

  // "address" or "address user" with a separator that neither can contain. The address
  // without its port: redirects followed over a new connection belong to the same chain.
  static std::string client_key(std::string_view address, std::string_view user);

  RedirectStep on_request(const std::string& key, std::string_view url);
  RedirectDecision on_redirect(const std::string& key, std::string_view request_url,
                               std::string_view location_abs);
  void on_final(const std::string& key, std::string_view request_url);

  RedirectStats stats() const;

 private:
  struct Entry {
    std::string map_key;  // client key + '\n' + normalised target URL
    uint64_t hops = 0;
    std::vector<std::string> chain;  // most recent max_stored_urls URLs, oldest first
    std::chrono::steady_clock::time_point expires;
    size_t bytes = 0;
  };
  using List = std::list<Entry>;

  std::chrono::steady_clock::time_point now() const { return options_.clock(); }
  // The live entry for this key, or nullptr (an expired one is removed).
  List::iterator find(const std::string& map_key);
  void erase(List::iterator it);
  void purge_expired();
  void enforce_bounds();
  static size_t entry_bytes(const Entry& e);

  uint64_t max_chain_;
  std::chrono::milliseconds remember_;
  RedirectTrackerOptions options_;
  List entries_;  // most recently recorded first: also soonest-to-expire last
  std::unordered_map<std::string, List::iterator> index_;
  size_t bytes_ = 0;
  uint64_t redirects_seen_ = 0;
  uint64_t chains_cut_ = 0;
};

}  // namespace gatehouse
