// DnsCache: the answers of earlier lookups, keyed by host name, for one Resolver.
//
// A plain value-owning class with no loop and no locking: it belongs to one Resolver and is
// used only from that resolver's loop thread. Time comes from an injectable clock so tests
// can move it by hand.
//
// What is kept, and for how long:
//  - kOk answers for their DNS TTL (the smallest TTL of the answer), capped by max_ttl; an
//    answer with TTL 0 (also what /etc/hosts and IP literals report) is not kept.
//  - kNxDomain, kNoData, kServFail and kRefused ("negative" answers) for negative_ttl.
//  - kTimeout and kError are never kept: the next lookup asks again.
// Beyond `capacity` entries the least recently used one is dropped; get() counts as a use.
// Expired entries are dropped when they are looked up (or pushed out by LRU).
// Keys are normalised with normalize(): lower case, one trailing dot removed.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "resolver/resolver.h"

namespace gatehouse {

class DnsCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // An empty clock means std::chrono::steady_clock::now.
  DnsCache(size_t capacity, std::chrono::milliseconds max_ttl,
           std::chrono::milliseconds negative_ttl, Clock clock = {});

  // Stores `result` for `name` as described above; `ttl` is only used for kOk results.
  // Replaces an existing entry; a result that is not kept leaves an existing entry alone.
  // Returns whether the result was stored.
  bool put(std::string_view name, const ResolveResult& result, std::chrono::seconds ttl);

  // The stored result with from_cache set, or nullopt when absent or expired.
  std::optional<ResolveResult> get(std::string_view name);

  // How long a result of this status would be kept (0 = not cached).
  std::chrono::milliseconds lifetime(ResolveStatus status, std::chrono::seconds ttl) const;

  void erase(std::string_view name);
  void clear();
  size_t size() const { return index_.size(); }
  size_t capacity() const { return capacity_; }

  static std::string normalize(std::string_view name);
  static bool is_negative(ResolveStatus status);

 private:
  struct Entry {
    std::string key;
    ResolveResult result;
    std::chrono::steady_clock::time_point expires;
  };
  using List = std::list<Entry>;  // most recently used first

  std::chrono::steady_clock::time_point now() const;

  size_t capacity_;
  std::chrono::milliseconds max_ttl_;
  std::chrono::milliseconds negative_ttl_;
  Clock clock_;
  List lru_;
  std::unordered_map<std::string, List::iterator> index_;
};

}  // namespace gatehouse
