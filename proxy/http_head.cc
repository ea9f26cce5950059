#include "proxy/http_head.h"

#include <ctime>

#include <algorithm>
#include <array>
#include <cctype>

namespace gatehouse {
namespace {

char lower_char(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

template <typename F>
void for_each_token(std::string_view list, F&& f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

// Fields that are hop-by-hop whatever Connection says, or that the proxy re-derives.
constexpr std::array<std::string_view, 10> kAlwaysStripped = {"connection",
                                                              "keep-alive",
                                                              "proxy-connection",
                                                              "proxy-authorization",
                                                              "te",
                                                              "trailer",
                                                              "transfer-encoding",
                                                              "upgrade",
                                                              "proxy-authenticate",
                                                              "proxy-authentication-info"};

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out += name;
  out += ": ";
  out += value;
  out += "\r\n";
}

void append_via(std::string& out, int major, int minor, std::string_view name) {
  out += "Via: ";
  out += static_cast<char>('0' + major);
  out += '.';
  out += static_cast<char>('0' + minor);
  out += ' ';
  out += name;
  out += "\r\n";
}

void append_framing(std::string& out, BodyFraming framing, uint64_t length) {
  if (framing == BodyFraming::kContentLength) {
    append_field(out, "Content-Length", std::to_string(length));
  } else if (framing == BodyFraming::kChunked) {
    append_field(out, "Transfer-Encoding", "chunked");
  }
}

}  // namespace

std::string_view http_date_now() {
  // Formatted at most once a second per thread: it is on every forwarded response.
  thread_local time_t cached_at = 0;
  thread_local char text[40] = {0};
  time_t now = time(nullptr);
  if (now != cached_at) {
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_at = now;
  }
  return text;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  }
  return true;
}

const std::string* find_field(const HeaderList& headers, std::string_view name) {
  for (const auto& f : headers) {
    if (iequals(f.name, name)) return &f.value;
  }
  return nullptr;
}

size_t count_fields(const HeaderList& headers, std::string_view name) {
  return static_cast<size_t>(std::count_if(
      headers.begin(), headers.end(), [&](const HeaderField& f) { return iequals(f.name, name); }));
}

std::vector<std::string> connection_tokens(const HeaderList& headers) {
  std::vector<std::string> tokens;
  for (const auto& f : headers) {
    if (!iequals(f.name, "connection")) continue;
    for_each_token(f.value, [&](std::string_view t) {
      std::string s(t);
      std::transform(s.begin(), s.end(), s.begin(), lower_char);
      tokens.push_back(std::move(s));
    });
  }
  return tokens;
}

std::vector<std::string> transfer_codings(const HeaderList& headers) {
  std::vector<std::string> out;
  for (const auto& f : headers) {
    if (!iequals(f.name, "transfer-encoding")) continue;
    std::string_view v = f.value;
    for (;;) {
      size_t comma = v.find(',');
      out.emplace_back(trim(v.substr(0, comma)));
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  return out;
}

bool has_token(std::string_view list, std::string_view token) {
  bool found = false;
  for_each_token(list, [&](std::string_view t) { found = found || iequals(t, token); });
  return found;
}

bool has_token_in_fields(const HeaderList& headers, std::string_view name, std::string_view token) {
  for (const auto& f : headers) {
    if (iequals(f.name, name) && has_token(f.value, token)) return true;
  }
  return false;
}

bool is_hop_by_hop(std::string_view name, const std::vector<std::string>& conn_tokens) {
  for (auto s : kAlwaysStripped) {
    if (iequals(name, s)) return true;
  }
  for (const auto& t : conn_tokens) {
    if (iequals(name, t)) return true;
  }
  return false;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) ||
              std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

void build_upstream_request(const RequestHead& head, const UpstreamRequestOptions& options,
                            std::string& out) {
  const auto tokens = connection_tokens(head.headers);
  out += head.method;
  out += ' ';
  out += options.origin_form;
  out += " HTTP/1.1\r\n";
  append_field(out, "Host", options.host);
  for (const auto& f : head.headers) {
    if (iequals(f.name, "host") || iequals(f.name, "content-length")) continue;
    if (options.keep_upgrade && iequals(f.name, "upgrade")) {
      append_field(out, f.name, f.value);
      continue;
    }
    if (is_hop_by_hop(f.name, tokens)) continue;
    append_field(out, f.name, f.value);
  }
  if (options.keep_upgrade) append_field(out, "Connection", "upgrade");
  append_via(out, head.http_major, head.http_minor, options.via_name);
  append_framing(out, options.framing, options.content_length);
  out += "\r\n";
}

void build_client_response(const ResponseHead& head, const ClientResponseOptions& options,
                           std::string& out) {
  const auto tokens = connection_tokens(head.headers);
  out += "HTTP/1.1 ";
  out += std::to_string(head.status);
  out += ' ';
  out += head.reason;
  out += "\r\n";
  for (const auto& f : head.headers) {
    if (iequals(f.name, "content-length")) {
      if (options.keep_content_length) append_field(out, f.name, f.value);
      continue;
    }
    if (options.upgrade && iequals(f.name, "upgrade")) {
      append_field(out, f.name, f.value);
      continue;
    }
    if (is_hop_by_hop(f.name, tokens)) continue;
    append_field(out, f.name, f.value);
  }
  append_via(out, head.http_major, head.http_minor, options.via_name);
  if (options.add_date && !find_field(head.headers, "date")) {
    append_field(out, "Date", http_date_now());
  }
  if (options.upgrade) {
    append_field(out, "Connection", "upgrade");
  } else if (options.close) {
    append_field(out, "Connection", "close");
  }
  if (options.framing == BodyFraming::kChunked && !options.transfer_codings.empty()) {
    append_field(out, "Transfer-Encoding", std::string(options.transfer_codings) + ", chunked");
  } else {
    append_framing(out, options.framing, options.content_length);
  }
  out += "\r\n";
}

}  // namespace gatehouse
