#include "resolver/dns_cache.h"

#include <algorithm>
#include <cctype>

namespace gatehouse {

DnsCache::DnsCache(size_t capacity, std::chrono::milliseconds max_ttl,
                   std::chrono::milliseconds negative_ttl, Clock clock)
    : capacity_(capacity),
      max_ttl_(max_ttl),
      negative_ttl_(negative_ttl),
      clock_(std::move(clock)) {}

std::chrono::steady_clock::time_point DnsCache::now() const {
  return clock_ ? clock_() : std::chrono::steady_clock::now();
}

std::string DnsCache::normalize(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

bool DnsCache::is_negative(ResolveStatus status) {
  switch (status) {
    case ResolveStatus::kNxDomain:
    case ResolveStatus::kNoData:
    case ResolveStatus::kServFail:
    case ResolveStatus::kRefused:
      return true;
    case ResolveStatus::kOk:
    case ResolveStatus::kTimeout:
    case ResolveStatus::kError:
      return false;
  }
  return false;
}

std::chrono::milliseconds DnsCache::lifetime(ResolveStatus status, std::chrono::seconds ttl) const {
  using std::chrono::milliseconds;
  if (status == ResolveStatus::kOk) {
    if (ttl <= std::chrono::seconds::zero()) return milliseconds::zero();
    return std::min<milliseconds>(ttl, max_ttl_);
  }
  if (is_negative(status)) return std::max(negative_ttl_, milliseconds::zero());
  return milliseconds::zero();
}

bool DnsCache::put(std::string_view name, const ResolveResult& result, std::chrono::seconds ttl) {
  std::string key = normalize(name);
  std::chrono::milliseconds keep = lifetime(result.status, ttl);
  // An answer that may not be kept leaves an existing entry alone: that entry came from a
  // later query (a lookup only queries after a miss) and is the better one.
  if (capacity_ == 0 || key.empty() || keep <= std::chrono::milliseconds::zero()) return false;
  if (result.status == ResolveStatus::kOk && result.addresses.empty()) return false;
  auto expires = now() + keep;
  auto it = index_.find(key);
  if (it != index_.end()) {
    it->second->result = result;
    it->second->result.from_cache = false;
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return true;
  }
  lru_.push_front(Entry{key, result, expires});
  lru_.front().result.from_cache = false;
  index_.emplace(std::move(key), lru_.begin());
  while (index_.size() > capacity_) {
    index_.erase(lru_.back().key);
    lru_.pop_back();
  }
  return true;
}

std::optional<ResolveResult> DnsCache::get(std::string_view name) {
  auto it = index_.find(normalize(name));
  if (it == index_.end()) return std::nullopt;
  List::iterator entry = it->second;
  if (now() >= entry->expires) {
    lru_.erase(entry);
    index_.erase(it);
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, entry);
  ResolveResult out = entry->result;
  out.from_cache = true;
  return out;
}

void DnsCache::erase(std::string_view name) {
  auto it = index_.find(normalize(name));
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void DnsCache::clear() {
  index_.clear();
  lru_.clear();
}

}  // namespace gatehouse
