#include "proxy/redirect_tracker.h"

#include <algorithm>

namespace gatehouse {
namespace {

// The five components of RFC 3986 Appendix B, fragment dropped.
struct UrlParts {
  bool has_scheme = false;
  std::string_view scheme;
  bool has_authority = false;
  std::string_view authority;
  std::string_view path;
  bool has_query = false;
  std::string_view query;
};

UrlParts split_url(std::string_view s) {
  UrlParts p;
  if (size_t hash = s.find('#'); hash != std::string_view::npos) s = s.substr(0, hash);
  // ^(([^:/?#]+):)?
  size_t colon = s.find_first_of(":/?");
  if (colon != std::string_view::npos && colon > 0 && s[colon] == ':') {
    p.has_scheme = true;
    p.scheme = s.substr(0, colon);
    s.remove_prefix(colon + 1);
  }
  // (//([^/?#]*))?
  if (s.starts_with("//")) {
    s.remove_prefix(2);
    size_t end = s.find_first_of("/?");
    p.has_authority = true;
    p.authority = s.substr(0, end);
    s = end == std::string_view::npos ? std::string_view() : s.substr(end);
  }
  // ([^?#]*)(\?([^#]*))?
  size_t q = s.find('?');
  p.path = s.substr(0, q);
  if (q != std::string_view::npos) {
    p.has_query = true;
    p.query = s.substr(q + 1);
  }
  return p;
}

bool valid_scheme(std::string_view s) {
  if (s.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  if (!alpha(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) {
    return alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
  });
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Removes the last segment and its preceding '/' from `out` (RFC 3986 5.2.4, 2C/2D).
void pop_segment(std::string& out) {
  size_t slash = out.rfind('/');
  out.erase(slash == std::string::npos ? 0 : slash);
}

// RFC 3986 section 5.2.4.
std::string remove_dot_segments(std::string_view in) {
  std::string out;
  while (!in.empty()) {
    if (in.starts_with("../")) {
      in.remove_prefix(3);
    } else if (in.starts_with("./")) {
      in.remove_prefix(2);
    } else if (in.starts_with("/./")) {
      in.remove_prefix(2);
    } else if (in == "/.") {
      in = "/";
    } else if (in.starts_with("/../")) {
      in.remove_prefix(3);
      pop_segment(out);
    } else if (in == "/..") {
      in = "/";
      pop_segment(out);
    } else if (in == "." || in == "..") {
      in = {};
    } else {
      size_t next = in.find('/', in.front() == '/' ? 1 : 0);
      out.append(in.substr(0, next));
      in = next == std::string_view::npos ? std::string_view() : in.substr(next);
    }
  }
  return out;
}

// RFC 3986 section 5.2.3.
std::string merge_paths(const UrlParts& base, std::string_view ref_path) {
  if (base.has_authority && base.path.empty()) return "/" + std::string(ref_path);
  size_t slash = base.path.rfind('/');
  if (slash == std::string_view::npos) return std::string(ref_path);
  return std::string(base.path.substr(0, slash + 1)) + std::string(ref_path);
}

// Lower-cases the host, keeps userinfo as is, drops the scheme's default port and an
// empty port.
std::string normalize_authority(std::string_view authority, const std::string& scheme) {
  std::string out;
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.append(authority.substr(0, at + 1));
    authority.remove_prefix(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  size_t search_from = 0;
  if (authority.starts_with("[")) {
    size_t close = authority.find(']');
    search_from = close == std::string_view::npos ? authority.size() : close;
  }
  if (size_t colon = authority.find(':', search_from); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  out += to_lower(host);
  bool default_port = (scheme == "http" && port == "80") || (scheme == "https" && port == "443");
  if (!port.empty() && !default_port) {
    out += ':';
    out.append(port);
  }
  return out;
}

std::string compose(const std::string& scheme, bool has_authority, std::string_view authority,
                    std::string_view path, bool has_query, std::string_view query) {
  std::string out = scheme + ":";
  if (has_authority) out += "//" + normalize_authority(authority, scheme);
  bool web = scheme == "http" || scheme == "https";
  if (has_authority && web && path.empty()) {
    out += '/';
  } else {
    out.append(path);
  }
  if (has_query) {
    out += '?';
    out.append(query);
  }
  return out;
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Percent-encodes what browsers encode before sending a URL: spaces, '"', '<', '>' and
// every non-ASCII byte.
std::string encode_unsafe(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80 || c == ' ' || c == '"' || c == '<' || c == '>') {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

constexpr char kKeySeparator = '\x1f';  // neither an IP address nor a user name has one

}  // namespace

std::string normalize_url(std::string_view url) {
  UrlParts p = split_url(url);
  if (!p.has_scheme || !p.has_authority || !valid_scheme(p.scheme)) return std::string(url);
  return compose(to_lower(p.scheme), true, p.authority, remove_dot_segments(p.path), p.has_query,
                 p.query);
}

std::string resolve_location(std::string_view request_url, std::string_view location) {
  UrlParts base = split_url(request_url);
  if (!base.has_scheme || !base.has_authority || !valid_scheme(base.scheme)) return {};
  std::string base_scheme = to_lower(base.scheme);

  location = trim(location);
  if (has_control(location)) return {};
  std::string ref = encode_unsafe(location);
  if (base_scheme == "http" || base_scheme == "https") {
    // Browsers read '\' as '/' before the query in special-scheme URLs ("\\evil.example").
    size_t end = ref.find_first_of("?#");
    std::replace(ref.begin(), end == std::string::npos ? ref.end() : ref.begin() + end, '\\', '/');
  }
  UrlParts r = split_url(ref);
  if (r.has_scheme && !valid_scheme(r.scheme)) return {};
  // Non-strict (RFC 3986 5.2.2, as browsers do): "http:x" against an http base is relative.
  if (r.has_scheme && to_lower(r.scheme) == base_scheme) r.has_scheme = false;

  if (r.has_scheme) {
    std::string scheme = to_lower(r.scheme);
    return compose(scheme, r.has_authority, r.authority, remove_dot_segments(r.path), r.has_query,
                   r.query);
  }
  if (r.has_authority) {
    return compose(base_scheme, true, r.authority, remove_dot_segments(r.path), r.has_query,
                   r.query);
  }
  if (r.path.empty()) {
    return compose(base_scheme, true, base.authority, remove_dot_segments(base.path),
                   r.has_query || base.has_query, r.has_query ? r.query : base.query);
  }
  std::string path = r.path.front() == '/' ? remove_dot_segments(r.path)
                                           : remove_dot_segments(merge_paths(base, r.path));
  return compose(base_scheme, true, base.authority, path, r.has_query, r.query);
}

bool is_redirect_status(int status) {
  return status == 300 || status == 301 || status == 302 || status == 303 || status == 307 ||
         status == 308;
}

RedirectTracker::RedirectTracker(const Config::Redirects& config, RedirectTrackerOptions options)
    : max_chain_(config.max_chain), remember_(config.remember), options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return std::chrono::steady_clock::now(); };
  if (options_.max_stored_urls < 2) options_.max_stored_urls = 2;
}

void RedirectTracker::set_limits(const Config::Redirects& config) {
  max_chain_ = config.max_chain;
  remember_ = config.remember;
  if (max_chain_ == 0) {
    entries_.clear();
    index_.clear();
    bytes_ = 0;
  }
}

std::string RedirectTracker::client_key(std::string_view address, std::string_view user) {
  std::string key(address);
  if (!user.empty()) {
    key += kKeySeparator;
    key.append(user);
  }
  return key;
}

size_t RedirectTracker::entry_bytes(const Entry& e) {
  // The map key is held twice (entry and index); ~48 bytes of node overhead per string.
  size_t n = sizeof(Entry) + 2 * e.map_key.size() + 96;
  for (const auto& u : e.chain) n += u.size() + 48;
  return n;
}

RedirectTracker::List::iterator RedirectTracker::find(const std::string& map_key) {
  auto it = index_.find(map_key);
  if (it == index_.end()) return entries_.end();
  if (now() >= it->second->expires) {
    erase(it->second);
    return entries_.end();
  }
  return it->second;
}

void RedirectTracker::erase(List::iterator it) {
  bytes_ -= it->bytes;
  index_.erase(it->map_key);
  entries_.erase(it);
}

void RedirectTracker::purge_expired() {
  auto t = now();
  while (!entries_.empty() && t >= entries_.back().expires) erase(std::prev(entries_.end()));
}

void RedirectTracker::enforce_bounds() {
  while (!entries_.empty() &&
         (entries_.size() > options_.max_entries || bytes_ > options_.max_bytes)) {
    erase(std::prev(entries_.end()));
  }
}

RedirectStep RedirectTracker::on_request(const std::string& key, std::string_view url) {
  if (max_chain_ == 0) return {};
  auto it = find(key + '\n' + normalize_url(url));
  if (it == entries_.end()) return {};
  return {true, it->hops};
}

void RedirectTracker::on_final(const std::string& key, std::string_view request_url) {
  if (max_chain_ == 0) return;
  auto it = index_.find(key + '\n' + normalize_url(request_url));
  if (it != index_.end()) erase(it->second);
}

RedirectDecision RedirectTracker::on_redirect(const std::string& key, std::string_view request_url,
                                              std::string_view location_abs) {
  ++redirects_seen_;
  if (max_chain_ == 0) return {};
  purge_expired();
  std::string from = normalize_url(request_url);
  std::string to = normalize_url(location_abs);
  if (to.empty()) return {};

  Entry next;
  if (auto prev = find(key + '\n' + from); prev != entries_.end()) {
    next.hops = prev->hops + 1;
    next.chain = prev->chain;
  } else {
    next.hops = 1;
    next.chain.push_back(from);
  }
  next.chain.push_back(std::move(to));
  if (next.chain.size() > options_.max_stored_urls) {
    next.chain.erase(next.chain.begin(),
                     next.chain.begin() + (next.chain.size() - options_.max_stored_urls));
  }

  if (next.hops > max_chain_) {
    ++chains_cut_;
    RedirectDecision d;
    d.cut = true;
    d.hops = next.hops;
    d.omitted = next.hops + 1 - next.chain.size();
    d.chain = std::move(next.chain);
    return d;
  }

  RedirectDecision d;
  d.hops = next.hops;
  next.map_key = key + '\n' + next.chain.back();
  next.expires = now() + remember_;
  if (auto existing = find(next.map_key); existing != entries_.end()) {
    if (existing->hops >= next.hops) {
      // A longer chain already leads here: keep it (and keep it alive).
      existing->expires = next.expires;
      entries_.splice(entries_.begin(), entries_, existing);
      return d;
    }
    erase(existing);
  }
  next.bytes = entry_bytes(next);
  bytes_ += next.bytes;
  entries_.push_front(std::move(next));
  index_.emplace(entries_.front().map_key, entries_.begin());
  enforce_bounds();
  return d;
}

RedirectStats RedirectTracker::stats() const {
  return {redirects_seen_, chains_cut_, entries_.size(), bytes_};
}

}  // namespace gatehouse
