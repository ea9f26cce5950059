#include "proxy/error_page.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <optional>
#include <system_error>

namespace gatehouse {
namespace {

constexpr std::string_view kBlankType = "about:blank";
constexpr size_t kMaxUrlBytes = 2048;
constexpr size_t kMaxValueBytes = 4096;
constexpr size_t kMaxChainEntries = 100;
constexpr size_t kMaxTemplateBytes = 256 * 1024;
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// ---------------------------------------------------------------------------------------
// UTF-8 and escaping

// Calls fn(bytes, code_point) for each character of s. Bytes that do not form a valid,
// shortest-form UTF-8 sequence (or encode a surrogate) come out one at a time as U+FFFD.
// Returns false when there were such bytes.
template <typename Fn>
bool for_each_char(std::string_view s, Fn&& fn) {
  bool all_valid = true;
  size_t i = 0;
  while (i < s.size()) {
    auto b0 = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if (b0 < 0x80) {
      len = 1;
      cp = b0;
    } else if ((b0 & 0xE0) == 0xC0) {
      len = 2;
      cp = b0 & 0x1F;
      min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
      len = 3;
      cp = b0 & 0x0F;
      min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
      len = 4;
      cp = b0 & 0x07;
      min = 0x10000;
    }
    bool ok = len != 0 && i + len <= s.size();
    for (size_t k = 1; ok && k < len; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) {
        ok = false;
      } else {
        cp = (cp << 6) | (b & 0x3F);
      }
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))) ok = false;
    if (!ok) {
      fn(kReplacement, 0xFFFD);
      all_valid = false;
      ++i;
      continue;
    }
    fn(s.substr(i, len), cp);
    i += len;
  }
  return all_valid;
}

bool is_control(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

bool valid_utf8(std::string_view s) {
  return for_each_char(s, [](std::string_view, uint32_t) {});
}

void append_text(std::string& out, std::string_view s) {
  for_each_char(s, [&](std::string_view bytes, uint32_t cp) {
    if (cp == '\t') {
      out += ' ';
    } else if (is_control(cp)) {
      out += kReplacement;  // CR, LF, ESC, NUL...: never a new line or a terminal sequence
    } else {
      out += bytes;
    }
  });
}

void append_html(std::string& out, std::string_view s) {
  for_each_char(s, [&](std::string_view bytes, uint32_t cp) {
    switch (cp) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      case '\t':
        out += ' ';
        break;
      default:
        if (is_control(cp)) {
          out += kReplacement;
        } else {
          out += bytes;
        }
    }
  });
}

// JSON string content (without the quotes).
void append_json(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for_each_char(s, [&](std::string_view bytes, uint32_t cp) {
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (is_control(cp)) {
          out += "\\u00";
          out += kHex[(cp >> 4) & 0xF];
          out += kHex[cp & 0xF];
        } else {
          out += bytes;
        }
    }
  });
}

void append_escaped(std::string& out, std::string_view s, BodyFormat format) {
  switch (format) {
    case BodyFormat::kText:
      return append_text(out, s);
    case BodyFormat::kHtml:
      return append_html(out, s);
    case BodyFormat::kJson:
      return append_json(out, s);
  }
}

// Cuts s to at most `max` bytes without splitting a UTF-8 sequence, marking the cut.
std::string truncated(std::string_view s, size_t max) {
  if (s.size() <= max) return std::string(s);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  std::string out(s.substr(0, cut));
  out += "...";
  return out;
}

// Display width of already sanitised UTF-8 text (one column per character).
size_t columns(std::string_view s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// Appends sanitised text word-wrapped to `width` columns, every line starting with indent.
void append_wrapped(std::string& out, std::string_view text, std::string_view indent,
                    size_t width = 78) {
  std::string clean;
  append_text(clean, text);
  std::string_view rest = clean;
  size_t col = 0;
  bool line_start = true;
  while (!rest.empty()) {
    size_t sp = rest.find(' ');
    std::string_view word = rest.substr(0, sp);
    rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp + 1);
    if (word.empty()) continue;
    size_t w = columns(word);
    if (!line_start && col + 1 + w > width) {
      out += '\n';
      line_start = true;
    }
    if (line_start) {
      out += indent;
      col = indent.size();
      line_start = false;
    } else {
      out += ' ';
      ++col;
    }
    out += word;
    col += w;
  }
  if (!line_start) out += '\n';
}

// ---------------------------------------------------------------------------------------
// The values a page shows

enum Var : size_t {
  kVarStatus,
  kVarReason,
  kVarTitle,
  kVarSummary,
  kVarMeaning,
  kVarDetails,
  kVarUserHint,
  kVarAdminHint,
  kVarCause,
  kVarType,
  kVarProxyStatus,
  kVarMethod,
  kVarUrl,
  kVarHost,
  kVarNextHop,
  kVarRcode,
  kVarReceivedStatus,
  kVarLimit,
  kVarLimitSetting,
  kVarChain,
  kVarRequestId,
  kVarClientAddress,
  kVarProxyName,
  kVarTime,
  kVarContact,
  kVarCount,
};

constexpr std::array<std::string_view, kVarCount> kVarNames = {
    "status",       "reason",          "title",      "summary",       "meaning",
    "details",      "user_hint",       "admin_hint", "cause",         "type",
    "proxy_status", "method",          "url",        "host",          "next_hop",
    "rcode",        "received_status", "limit",      "limit_setting", "chain",
    "request_id",   "client_address",  "proxy_name", "time",          "contact",
};

struct Values {
  std::array<std::string, kVarCount> v;  // v[kVarChain] stays empty: see `chain`
  std::vector<std::string> chain;        // display URLs, oldest first
  const ErrorDetails* e = nullptr;
  const CauseInfo* info = nullptr;

  const std::string& operator[](Var var) const { return v[var]; }
};

std::string format_limit(uint64_t value, LimitUnit unit) {
  std::string n = std::to_string(value);
  switch (unit) {
    case LimitUnit::kBytes:
      if (value >= 1024 && value % (1024 * 1024) == 0) {
        return n + " bytes (" + std::to_string(value / (1024 * 1024)) + " MiB)";
      }
      if (value >= 1024 && value % 1024 == 0) {
        return n + " bytes (" + std::to_string(value / 1024) + " KiB)";
      }
      return value == 1 ? "1 byte" : n + " bytes";
    case LimitUnit::kMilliseconds:
      if (value % 60000 == 0) return std::to_string(value / 60000) + "m";
      if (value % 1000 == 0) return std::to_string(value / 1000) + "s";
      return n + "ms";
    case LimitUnit::kRedirects:
      return value == 1 ? "1 redirect" : n + " redirects";
    case LimitUnit::kConnections:
      return value == 1 ? "1 connection" : n + " connections";
    case LimitUnit::kNone:
      break;
  }
  return n;
}

std::string_view unit_name(LimitUnit unit) {
  switch (unit) {
    case LimitUnit::kBytes:
      return "bytes";
    case LimitUnit::kMilliseconds:
      return "ms";
    case LimitUnit::kRedirects:
      return "redirects";
    case LimitUnit::kConnections:
      return "connections";
    case LimitUnit::kNone:
      break;
  }
  return "";
}

// How a limit's value is written in the configuration, for the type pages.
std::string_view unit_description(LimitUnit unit) {
  switch (unit) {
    case LimitUnit::kBytes:
      return "a size in bytes";
    case LimitUnit::kMilliseconds:
      return "a duration, such as \"30s\" or \"250ms\"";
    case LimitUnit::kRedirects:
      return "a number of redirects";
    case LimitUnit::kConnections:
      return "a number of connections";
    case LimitUnit::kNone:
      break;
  }
  return "";
}

// The authority part of a display URL ("host:port" of "http://host:port/path", or the
// whole authority-form target), "" for origin-form.
std::string_view authority_of(std::string_view url) {
  size_t scheme = url.find("://");
  std::string_view rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  if (scheme == std::string_view::npos && (url.empty() || url.front() == '/')) return {};
  return rest.substr(0, rest.find_first_of("/?#"));
}

// The host of "host:port", "[v6]:port" or "host"; brackets are kept.
std::string_view host_of(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  return authority.substr(0, authority.find(':'));
}

Values make_values(const ErrorDetails& e, std::string_view proxy_name, long now) {
  const CauseInfo& info = cause_info(e.cause);
  Values vals;
  vals.e = &e;
  vals.info = &info;
  auto& v = vals.v;
  v[kVarStatus] = std::to_string(info.status);
  v[kVarReason] = reason_phrase(info.status);
  v[kVarTitle] = info.title;
  v[kVarSummary] = info.summary;
  v[kVarMeaning] = status_meaning(info.status);
  v[kVarDetails] = truncated(e.details, kMaxValueBytes);
  v[kVarUserHint] = info.user_hint;
  v[kVarAdminHint] = info.admin_hint;
  v[kVarCause] = info.name;
  v[kVarType] = problem_type(e.cause, e.type_base);
  v[kVarProxyStatus] = info.proxy_status;
  v[kVarMethod] = truncated(e.method, 64);
  v[kVarUrl] = display_url(e.url);
  std::string_view host = host_of(authority_of(v[kVarUrl]));
  if (host.empty()) host = host_of(e.next_hop);
  v[kVarHost] = truncated(host, kMaxValueBytes);
  v[kVarNextHop] = truncated(e.next_hop, kMaxValueBytes);
  v[kVarRcode] = truncated(e.rcode, 64);
  if (e.received_status != 0) v[kVarReceivedStatus] = std::to_string(e.received_status);
  if (e.limit != 0) v[kVarLimit] = format_limit(e.limit, info.limit_unit);
  v[kVarLimitSetting] = info.limit_setting;
  for (size_t i = 0; i < e.chain.size() && i < kMaxChainEntries; ++i) {
    vals.chain.push_back(display_url(e.chain[i]));
  }
  if (e.chain.size() > kMaxChainEntries) {
    vals.chain.push_back("(" + std::to_string(e.chain.size() - kMaxChainEntries) + " more)");
  }
  v[kVarRequestId] = truncated(e.request_id, 256);
  v[kVarClientAddress] = truncated(e.client_address, 256);
  v[kVarProxyName] = truncated(proxy_name, 256);
  v[kVarTime] = http_date(now);
  v[kVarContact] = truncated(e.contact, kMaxValueBytes);
  return vals;
}

const std::string* extra_field(const ErrorDetails& e, std::string_view name) {
  return find_field(e.extra, name);
}

struct Fact {
  std::string_view label;
  std::string value;
};

// "What happened", beyond the details sentence: the facts of this case that apply.
std::vector<Fact> make_facts(const Values& vals) {
  const ErrorDetails& e = *vals.e;
  std::vector<Fact> facts;
  if (!vals[kVarUrl].empty() || !vals[kVarMethod].empty()) {
    std::string req = vals[kVarMethod];
    if (!req.empty() && !vals[kVarUrl].empty()) req += ' ';
    req += vals[kVarUrl];
    facts.push_back({"Request", std::move(req)});
  }
  if (e.cause == Cause::kClientDenied && !vals[kVarClientAddress].empty()) {
    facts.push_back({"Your address", vals[kVarClientAddress]});
  }
  if (!vals[kVarNextHop].empty()) facts.push_back({"Next hop", vals[kVarNextHop]});
  if (!vals[kVarRcode].empty()) {
    std::string r = vals[kVarRcode];
    std::string_view m = rcode_meaning(r);
    if (!m.empty()) {
      r += " (";
      r += m;
      r += ')';
    }
    facts.push_back({"DNS answer", std::move(r)});
  }
  if (e.received_status != 0) {
    facts.push_back({"Destination answered", vals[kVarReceivedStatus] + " " +
                                                 std::string(reason_phrase(e.received_status))});
  }
  if (!vals[kVarLimit].empty()) {
    std::string l;
    if (!vals[kVarLimitSetting].empty()) l = vals[kVarLimitSetting] + " = ";
    l += vals[kVarLimit];
    facts.push_back({"Limit", std::move(l)});
  }
  if (const std::string* allow = extra_field(e, "allow")) {
    facts.push_back({"Allowed methods", truncated(*allow, kMaxValueBytes)});
  }
  if (const std::string* retry = extra_field(e, "retry-after")) {
    bool seconds = !retry->empty() && std::all_of(retry->begin(), retry->end(),
                                                  [](char c) { return c >= '0' && c <= '9'; });
    facts.push_back({"Retry after", truncated(*retry, 64) + (seconds ? " seconds" : "")});
  }
  return facts;
}

// ---------------------------------------------------------------------------------------
// Built-in pages

std::string render_text(const Values& vals) {
  std::string out;
  out.reserve(2048);
  append_text(out, vals[kVarStatus] + " " + vals[kVarReason] + ": " + vals[kVarTitle]);
  out += "\n\n";
  append_wrapped(out, vals[kVarSummary], "");

  out += "\nWhat happened\n";
  if (!vals[kVarDetails].empty()) {
    // Not wrapped: the details are the one line people grep logs and output for.
    out += "  ";
    append_text(out, vals[kVarDetails]);
    out += '\n';
  } else {
    append_wrapped(out, vals[kVarTitle] + ".", "  ");
  }
  std::vector<Fact> facts = make_facts(vals);
  size_t label_w = 0;
  for (const auto& f : facts) label_w = std::max(label_w, f.label.size());
  for (const auto& f : facts) {
    out += "  ";
    out += f.label;
    out += ':';
    out.append(label_w - f.label.size() + 1, ' ');
    append_text(out, f.value);
    out += '\n';
  }
  if (!vals.chain.empty()) {
    out += "  Redirect chain:\n";
    for (size_t i = 0; i < vals.chain.size(); ++i) {
      out += "    ";
      out += std::to_string(i + 1);
      out += ". ";
      append_text(out, vals.chain[i]);
      out += '\n';
    }
  }

  out += "\nWhat you can do\n";
  append_wrapped(out, vals[kVarUserHint], "  ");
  out += "\nFor the administrator\n";
  append_wrapped(out, vals[kVarAdminHint], "  ");
  if (vals[kVarType] != kBlankType) {
    // Not wrapped, so the URI can be copied (or followed by a terminal) in one piece.
    out += "\nMore: ";
    append_text(out, vals[kVarType]);
    out += '\n';
  }

  out += "\n-- ";
  append_text(out, vals[kVarProxyName]);
  if (!vals[kVarRequestId].empty()) {
    out += " | request ";
    append_text(out, vals[kVarRequestId]);
  }
  out += " | ";
  out += vals[kVarTime];
  out += '\n';
  if (!vals[kVarContact].empty()) {
    out += "Contact: ";
    append_text(out, vals[kVarContact]);
    out += '\n';
  }
  return out;
}

constexpr std::string_view kHtmlStyle =
    ":root{--bg:#f3f4f6;--card:#fff;--fg:#1c2230;--muted:#5a6272;--line:#dde1e7;"
    "--accent:#b42318;--code:#f3f4f6}\n"
    "@media (prefers-color-scheme:dark){:root{--bg:#15181d;--card:#1e2229;--fg:#e5e8ee;"
    "--muted:#9aa2b1;--line:#30363f;--accent:#ff8a80;--code:#15181d}}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--bg);color:var(--fg);"
    "font:16px/1.55 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
    "main{max-width:44rem;margin:2.5rem auto;padding:0 1rem}\n"
    "article{background:var(--card);border:1px solid var(--line);"
    "border-top:4px solid var(--accent);border-radius:8px;padding:1.25rem 1.5rem}\n"
    ".status{margin:0;color:var(--accent);font-weight:600}\n"
    "h1{margin:.2rem 0 .8rem;font-size:1.45rem;line-height:1.3}\n"
    "h2{margin:1.3rem 0 .3rem;font-size:1rem}\n"
    "p{margin:.3rem 0}\n"
    ".summary{color:var(--muted)}\n"
    "dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.6rem 0}\n"
    "dt{color:var(--muted)}\n"
    "dd{margin:0;min-width:0;overflow-wrap:anywhere}\n"
    "code,ol{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;"
    "font-size:.9em}\n"
    "code{background:var(--code);border-radius:4px;padding:0 .2em}\n"
    "ol{margin:.3rem 0;padding-left:2rem;overflow-wrap:anywhere}\n"
    "footer{margin:1rem .25rem;color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}\n"
    "a{color:inherit}\n"
    ".more{margin-top:1rem;overflow-wrap:anywhere}\n"
    "@media (max-width:32rem){main{margin:1rem auto;padding:0 .5rem}"
    "article{padding:1rem}dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}}\n";

bool is_http_url(std::string_view s) {
  return (s.rfind("https://", 0) == 0 || s.rfind("http://", 0) == 0) &&
         s.find_first_of(" \t") == std::string_view::npos;
}

bool looks_like_email(std::string_view s) {
  size_t at = s.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < s.size() &&
         s.find('@', at + 1) == std::string_view::npos &&
         s.find_first_of(" \t:/<>\"'") == std::string_view::npos;
}

std::string render_html(const Values& vals) {
  std::string out;
  out.reserve(6144);
  auto esc = [&](std::string_view s) { append_html(out, s); };
  out +=
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"color-scheme\" content=\"light dark\">\n"
      "<meta name=\"robots\" content=\"noindex\">\n<title>";
  esc(vals[kVarStatus] + " " + vals[kVarReason] + ": " + vals[kVarTitle]);
  out += "</title>\n<style>\n";
  out += kHtmlStyle;
  out += "</style>\n</head>\n<body>\n<main>\n<article>\n<p class=\"status\">";
  esc(vals[kVarStatus] + " " + vals[kVarReason]);
  out += "</p>\n<h1>";
  esc(vals[kVarTitle]);
  out += "</h1>\n<p class=\"summary\">";
  esc(vals[kVarSummary]);
  out += "</p>\n<h2>What happened</h2>\n<p>";
  esc(vals[kVarDetails].empty() ? vals[kVarTitle] + "." : vals[kVarDetails]);
  out += "</p>\n";
  std::vector<Fact> facts = make_facts(vals);
  if (!facts.empty()) {
    out += "<dl>\n";
    for (const auto& f : facts) {
      out += "<dt>";
      esc(f.label);
      out += "</dt><dd>";
      bool code = f.label == "Request" || f.label == "Next hop";
      if (code) out += "<code>";
      esc(f.value);
      if (code) out += "</code>";
      out += "</dd>\n";
    }
    out += "</dl>\n";
  }
  if (!vals.chain.empty()) {
    out += "<p>Redirect chain:</p>\n<ol>\n";
    for (const auto& url : vals.chain) {
      out += "<li>";
      esc(url);
      out += "</li>\n";
    }
    out += "</ol>\n";
  }
  out += "<h2>What you can do</h2>\n<p>";
  esc(vals[kVarUserHint]);
  out += "</p>\n<h2>For the administrator</h2>\n<p>";
  esc(vals[kVarAdminHint]);
  out += "</p>\n";
  if (vals[kVarType] != kBlankType) {
    // problem_type() only builds http(s) URIs from a checked authority; escaping keeps the
    // attribute closed whatever it holds.
    out += "<p class=\"more\">More about this error: <a href=\"";
    esc(vals[kVarType]);
    out += "\">";
    esc(vals[kVarType]);
    out += "</a></p>\n";
  }
  out += "</article>\n<footer>";
  esc(vals[kVarProxyName]);
  if (!vals[kVarRequestId].empty()) {
    out += " &middot; request <code>";
    esc(vals[kVarRequestId]);
    out += "</code>";
  }
  out += " &middot; ";
  esc(vals[kVarTime]);
  const std::string& contact = vals[kVarContact];
  if (!contact.empty()) {
    out += "<br>\nContact: ";
    if (is_http_url(contact) || looks_like_email(contact)) {
      out += "<a href=\"";
      if (!is_http_url(contact)) out += "mailto:";
      esc(contact);
      out += "\">";
      esc(contact);
      out += "</a>";
    } else {
      esc(contact);
    }
  }
  out += "</footer>\n</main>\n</body>\n</html>\n";
  return out;
}

std::string render_json(const Values& vals) {
  const ErrorDetails& e = *vals.e;
  std::string out;
  out.reserve(2048);
  bool first = true;
  auto key = [&](std::string_view k) {
    out += first ? "{\n  \"" : ",\n  \"";
    first = false;
    out += k;
    out += "\": ";
  };
  auto str = [&](std::string_view k, std::string_view value) {
    key(k);
    out += '"';
    append_json(out, value);
    out += '"';
  };
  auto opt = [&](std::string_view k, std::string_view value) {
    if (!value.empty()) str(k, value);
  };
  // RFC 9457 members first. With "about:blank" the title must be the reason phrase
  // (section 4.2.1); the cause's own title then has no place, but `cause` and `summary`
  // still say what happened.
  bool blank = vals[kVarType] == kBlankType;
  str("type", vals[kVarType]);
  str("title", blank ? vals[kVarReason] : vals[kVarTitle]);
  key("status");
  out += vals[kVarStatus];
  opt("detail", vals[kVarDetails]);
  // Extension members, each fact once. The Proxy-Status error type is in the response's
  // Proxy-Status field and on the type page, so it is not repeated here.
  str("cause", vals[kVarCause]);
  str("summary", vals[kVarSummary]);
  opt("method", vals[kVarMethod]);
  opt("url", vals[kVarUrl]);
  if (e.cause == Cause::kClientDenied) opt("client_address", vals[kVarClientAddress]);
  opt("next_hop", vals[kVarNextHop]);
  opt("rcode", vals[kVarRcode]);
  if (e.received_status != 0) {
    key("received_status");
    out += vals[kVarReceivedStatus];
  }
  if (e.limit != 0) {
    key("limit");
    out += "{\"setting\": \"";
    append_json(out, vals[kVarLimitSetting]);
    out += "\", \"value\": ";
    out += std::to_string(e.limit);
    out += ", \"unit\": \"";
    append_json(out, unit_name(vals.info->limit_unit));
    out += "\"}";
  }
  if (!vals.chain.empty()) {
    key("chain");
    out += '[';
    for (size_t i = 0; i < vals.chain.size(); ++i) {
      out += i ? ",\n    \"" : "\n    \"";
      append_json(out, vals.chain[i]);
      out += '"';
    }
    out += "\n  ]";
  }
  opt("request_id", vals[kVarRequestId]);
  key("hints");
  out += "{\n    \"user\": \"";
  append_json(out, vals[kVarUserHint]);
  out += "\",\n    \"admin\": \"";
  append_json(out, vals[kVarAdminHint]);
  out += "\"\n  }";
  opt("contact", vals[kVarContact]);
  out += "\n}\n";
  return out;
}

// ---------------------------------------------------------------------------------------
// Problem type pages: what one cause means, independent of any request.

std::string type_page_text(const CauseInfo& info, std::string_view proxy_name) {
  std::string out;
  out.reserve(2048);
  out += "Gatehouse error type: ";
  out += info.name;
  out += "\n";
  append_text(out, info.title);
  out += "\n\n";
  append_wrapped(out, info.summary, "");
  out += "\nStatus\n  ";
  out += std::to_string(info.status);
  out += ' ';
  out += reason_phrase(info.status);
  out += '\n';
  append_wrapped(out, status_meaning(info.status), "  ");
  out += "\nProxy-Status\n";
  if (info.proxy_status.empty()) {
    append_wrapped(
        out,
        "No error parameter: the field names the proxy and carries only the details of the case.",
        "  ");
  } else {
    out += "  error=";
    out += info.proxy_status;
    out += '\n';
  }
  if (!info.limit_setting.empty()) {
    out += "\nLimit\n  Set by ";
    out += info.limit_setting;
    out += " (";
    out += unit_description(info.limit_unit);
    out += ").\n";
  }
  out += "\nWhat you can do\n";
  append_wrapped(out, info.user_hint, "  ");
  out += "\nFor the administrator\n";
  append_wrapped(out, info.admin_hint, "  ");
  out += "\n-- ";
  append_text(out, truncated(proxy_name, 256));
  out += '\n';
  return out;
}

std::string type_page_html(const CauseInfo& info, std::string_view proxy_name) {
  std::string out;
  out.reserve(6144);
  auto esc = [&](std::string_view s) { append_html(out, s); };
  out +=
      "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"color-scheme\" content=\"light dark\">\n"
      "<meta name=\"robots\" content=\"noindex\">\n<title>";
  esc(info.name);
  out += ": ";
  esc(info.title);
  out += "</title>\n<style>\n";
  out += kHtmlStyle;
  out += "</style>\n</head>\n<body>\n<main>\n<article>\n<p class=\"status\">Error type <code>";
  esc(info.name);
  out += "</code></p>\n<h1>";
  esc(info.title);
  out += "</h1>\n<p class=\"summary\">";
  esc(info.summary);
  out += "</p>\n<dl>\n<dt>Status</dt><dd>";
  esc(std::to_string(info.status) + " " + std::string(reason_phrase(info.status)));
  out += ": ";
  esc(status_meaning(info.status));
  out += "</dd>\n<dt>Proxy-Status</dt><dd>";
  if (info.proxy_status.empty()) {
    out += "no error parameter";
  } else {
    out += "<code>error=";
    esc(info.proxy_status);
    out += "</code>";
  }
  out += "</dd>\n";
  if (!info.limit_setting.empty()) {
    out += "<dt>Limit</dt><dd><code>";
    esc(info.limit_setting);
    out += "</code> (";
    esc(unit_description(info.limit_unit));
    out += ")</dd>\n";
  }
  out += "</dl>\n<h2>What you can do</h2>\n<p>";
  esc(info.user_hint);
  out += "</p>\n<h2>For the administrator</h2>\n<p>";
  esc(info.admin_hint);
  out += "</p>\n</article>\n<footer>";
  esc(truncated(proxy_name, 256));
  out += "</footer>\n</main>\n</body>\n</html>\n";
  return out;
}

std::string type_page_json(const CauseInfo& info) {
  std::string out;
  out.reserve(2048);
  auto str = [&](std::string_view k, std::string_view value) {
    out += "  \"";
    out += k;
    out += "\": \"";
    append_json(out, value);
    out += "\",\n";
  };
  out += "{\n";
  str("name", info.name);
  str("title", info.title);
  str("summary", info.summary);
  out += "  \"status\": ";
  out += std::to_string(info.status);
  out += ",\n";
  str("reason", reason_phrase(info.status));
  str("status_meaning", status_meaning(info.status));
  if (info.proxy_status.empty()) {
    out += "  \"proxy_status_error\": null,\n";
  } else {
    str("proxy_status_error", info.proxy_status);
  }
  if (!info.limit_setting.empty()) {
    out += "  \"limit\": {\"setting\": \"";
    append_json(out, info.limit_setting);
    out += "\", \"unit\": \"";
    append_json(out, unit_name(info.limit_unit));
    out += "\"},\n";
  }
  out += "  \"hints\": {\n    \"user\": \"";
  append_json(out, info.user_hint);
  out += "\",\n    \"admin\": \"";
  append_json(out, info.admin_hint);
  out += "\"\n  }\n}\n";
  return out;
}

std::string render_builtin(const Values& vals, BodyFormat format) {
  switch (format) {
    case BodyFormat::kHtml:
      return render_html(vals);
    case BodyFormat::kJson:
      return render_json(vals);
    case BodyFormat::kText:
      break;
  }
  return render_text(vals);
}

// ---------------------------------------------------------------------------------------
// Accept negotiation

bool is_tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token_text(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits s at `sep`, ignoring separators inside quoted strings.
std::vector<std::string_view> split_outside_quotes(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (quoted) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        quoted = false;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == sep) {
      parts.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  parts.push_back(s.substr(std::min(start, s.size())));
  return parts;
}

// qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ), as thousandths.
std::optional<int> parse_qvalue(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s[0] != '0' && s[0] != '1')) return std::nullopt;
  int q = (s[0] - '0') * 1000;
  if (s.size() == 1) return q;
  if (s[1] != '.') return std::nullopt;
  int scale = 100;
  for (size_t i = 2; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    q += (s[i] - '0') * scale;
    scale /= 10;
  }
  if (q > 1000) return std::nullopt;
  return q;
}

struct MediaRange {
  std::string_view type;
  std::string_view subtype;
  int q = 1000;  // thousandths
  size_t position = 0;
};

std::vector<MediaRange> parse_accept(std::string_view accept) {
  std::vector<MediaRange> ranges;
  for (std::string_view element : split_outside_quotes(accept, ',')) {
    element = trim_ows(element);
    if (element.empty()) continue;
    std::vector<std::string_view> parts = split_outside_quotes(element, ';');
    std::string_view media = trim_ows(parts[0]);
    size_t slash = media.find('/');
    if (slash == std::string_view::npos) continue;
    MediaRange r;
    r.type = media.substr(0, slash);
    r.subtype = media.substr(slash + 1);
    if (!is_token_text(r.type) || !is_token_text(r.subtype)) continue;
    if (r.type == "*" && r.subtype != "*") continue;
    bool ok = true;
    for (size_t i = 1; i < parts.size(); ++i) {
      std::string_view param = trim_ows(parts[i]);
      size_t eq = param.find('=');
      if (eq == std::string_view::npos) {
        ok = false;
        break;
      }
      std::string_view name = trim_ows(param.substr(0, eq));
      if (iequals(name, "q")) {
        std::optional<int> q = parse_qvalue(trim_ows(param.substr(eq + 1)));
        if (!q) ok = false;
        if (q) r.q = *q;
        break;  // what follows q are accept-ext parameters, which we ignore
      }
      // Media type parameters (charset, level, ...) do not change our choice.
    }
    if (!ok) continue;
    r.position = ranges.size();
    ranges.push_back(r);
  }
  return ranges;
}

struct Match {
  int q = 0;
  int specificity = 0;  // 0 none, 1 */*, 2 type/*, 3 exact
  size_t position = SIZE_MAX;
};

// The most specific range matching type/subtype decides its quality (RFC 9110 12.5.1).
Match match(const std::vector<MediaRange>& ranges, std::string_view type,
            std::string_view subtype) {
  Match best;
  for (const auto& r : ranges) {
    int spec = 0;
    if (r.type == "*") {
      spec = 1;
    } else if (iequals(r.type, type)) {
      spec = r.subtype == "*" ? 2 : iequals(r.subtype, subtype) ? 3 : 0;
    }
    if (spec == 0) continue;
    if (spec > best.specificity || (spec == best.specificity && r.q > best.q)) {
      best = {r.q, spec, r.position};
    }
  }
  return best;
}

bool better(const Match& a, const Match& b) {
  if (a.q != b.q) return a.q > b.q;
  if (a.specificity != b.specificity) return a.specificity > b.specificity;
  return a.position < b.position;
}

// ---------------------------------------------------------------------------------------
// JSON validity, for operator .json templates (a strict RFC 8259 recogniser).

class JsonChecker {
 public:
  explicit JsonChecker(std::string_view s) : s_(s) {}

  std::string check() {
    ws();
    if (!value(0)) return error_.empty() ? at("invalid value") : error_;
    ws();
    if (i_ != s_.size()) return at("unexpected text after the JSON value");
    return {};
  }

 private:
  std::string at(std::string_view what) {
    size_t line = 1 + static_cast<size_t>(std::count(s_.begin(), s_.begin() + i_, '\n'));
    return std::string(what) + " (rendered line " + std::to_string(line) + ")";
  }
  bool fail(std::string_view what) {
    if (error_.empty()) error_ = at(what);
    return false;
  }
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r'))
      ++i_;
  }
  bool lit(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return fail("invalid literal");
    i_ += word.size();
    return true;
  }
  bool value(int depth) {
    if (depth > 64) return fail("nesting too deep");
    if (i_ >= s_.size()) return fail("unexpected end");
    char c = s_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return string();
    if (c == 't') return lit("true");
    if (c == 'f') return lit("false");
    if (c == 'n') return lit("null");
    return number();
  }
  bool object(int depth) {
    ++i_;
    ws();
    if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
    for (;;) {
      ws();
      if (i_ >= s_.size() || s_[i_] != '"') return fail("expected a member name");
      if (!string()) return false;
      ws();
      if (i_ >= s_.size() || s_[i_] != ':') return fail("expected ':'");
      ++i_;
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == '}') return ++i_, true;
      return fail("expected ',' or '}'");
    }
  }
  bool array(int depth) {
    ++i_;
    ws();
    if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
    for (;;) {
      ws();
      if (!value(depth + 1)) return false;
      ws();
      if (i_ < s_.size() && s_[i_] == ',') {
        ++i_;
        continue;
      }
      if (i_ < s_.size() && s_[i_] == ']') return ++i_, true;
      return fail("expected ',' or ']'");
    }
  }
  bool string() {
    ++i_;
    while (i_ < s_.size()) {
      auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') return ++i_, true;
      if (c < 0x20) return fail("control character in a string");
      if (c == '\\') {
        if (++i_ >= s_.size()) break;
        char e = s_[i_];
        if (e == 'u') {
          for (int k = 1; k <= 4; ++k) {
            if (i_ + k >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[i_ + k]))) {
              return fail("bad \\u escape");
            }
          }
          i_ += 4;
        } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return fail("bad escape");
        }
      }
      ++i_;
    }
    return fail("unterminated string");
  }
  bool digits() {
    size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number() {
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      return fail("invalid value");
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return fail("invalid number");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return fail("invalid number");
    }
    return true;
  }

  std::string_view s_;
  size_t i_ = 0;
  std::string error_;
};

// A value safe to quote in a warning line: printable ASCII, at most 40 bytes.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (s.size() > 40) out += "...";
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Templates

class ErrorTemplate {
 public:
  static std::optional<ErrorTemplate> parse(std::string_view text, BodyFormat format,
                                            std::string* error) {
    auto fail = [&](size_t pos, const std::string& msg) {
      size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + pos, '\n'));
      *error = "line " + std::to_string(line) + ": " + msg;
      return std::nullopt;
    };
    if (text.size() > kMaxTemplateBytes) {
      *error = "larger than " + std::to_string(kMaxTemplateBytes / 1024) + " KiB";
      return std::nullopt;
    }
    if (!valid_utf8(text)) {
      *error = "not valid UTF-8";
      return std::nullopt;
    }
    ErrorTemplate t;
    t.format_ = format;
    size_t pos = 0;
    std::string literal;
    while (pos < text.size()) {
      size_t open = text.find("{{", pos);
      if (open == std::string_view::npos) {
        literal += text.substr(pos);
        break;
      }
      literal += text.substr(pos, open - pos);
      size_t close = text.find("}}", open + 2);
      if (close == std::string_view::npos) return fail(open, "'{{' is never closed by '}}'");
      std::string_view name = trim_ows(text.substr(open + 2, close - open - 2));
      auto it = std::find(kVarNames.begin(), kVarNames.end(), name);
      if (it == kVarNames.end()) {
        if (name.empty()) return fail(open, "empty variable '{{}}'");
        return fail(open, "unknown variable '{{" + printable(name) +
                              "}}' (see docs/errors.md for the list)");
      }
      t.segments_.push_back({std::move(literal), static_cast<size_t>(it - kVarNames.begin())});
      literal.clear();
      pos = close + 2;
    }
    if (!literal.empty()) t.segments_.push_back({std::move(literal), kVarCount});
    return t;
  }

  void render(const Values& vals, std::string& out) const {
    for (const auto& seg : segments_) {
      out += seg.literal;
      if (seg.var == kVarCount) continue;
      if (seg.var == kVarChain) {
        // Each URL escaped on its own, one per line.
        for (size_t i = 0; i < vals.chain.size(); ++i) {
          if (i) out += format_ == BodyFormat::kJson ? "\\n" : "\n";
          append_escaped(out, vals.chain[i], format_);
        }
        continue;
      }
      append_escaped(out, vals.v[seg.var], format_);
    }
  }

 private:
  struct Segment {
    std::string literal;  // text before the variable
    size_t var;           // kVarCount: no variable (trailing text)
  };
  BodyFormat format_ = BodyFormat::kText;
  std::vector<Segment> segments_;
};

namespace {

// Renders a .json template with two sample errors (every value set, hostile characters
// included; and every optional value empty) and says why the output is not JSON, if it is not.
std::string check_json_template(const ErrorTemplate& t) {
  ErrorDetails full;
  full.cause = Cause::kRedirectLoop;
  full.details = "a \"quoted\" \\ value\r\nwith <tags> & \xC3\xBC\x01";
  full.rcode = "NXDOMAIN";
  full.next_hop = "example.com:80";
  full.received_status = 302;
  full.method = "GET";
  full.url = "http://user:pw@example.com/\"'<>\\";
  full.request_id = "0123abcd";
  full.client_address = "192.0.2.1";
  full.chain = {"http://a.example/\"", "http://b.example/\\"};
  full.limit = 20;
  full.contact = "ops@example.com";
  full.type_base = "http://127.0.0.1:3128";
  ErrorDetails empty;
  empty.cause = Cause::kInternal;
  for (const ErrorDetails* e : {&full, &empty}) {
    Values vals = make_values(*e, "gatehouse", 0);
    std::string out;
    t.render(vals, out);
    std::string err = JsonChecker(out).check();
    if (!err.empty()) return "does not render to valid JSON: " + err;
  }
  return {};
}

std::optional<BodyFormat> format_of_extension(std::string_view ext) {
  for (BodyFormat f : {BodyFormat::kText, BodyFormat::kHtml, BodyFormat::kJson}) {
    if (ext == format_extension(f)) return f;
  }
  return std::nullopt;
}

// Reads a whole file; on failure returns nullopt and sets *error.
std::optional<std::string> read_file(const std::filesystem::path& path, std::string* error) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  std::string data;
  char buf[8192];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxTemplateBytes) break;
  }
  bool failed = std::ferror(f) != 0;
  int saved = errno;
  std::fclose(f);
  if (failed) {
    *error = std::strerror(saved);
    return std::nullopt;
  }
  return data;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Public functions

BodyFormat negotiate_format(std::string_view accept) {
  std::vector<MediaRange> ranges = parse_accept(accept);
  if (ranges.empty()) return BodyFormat::kText;
  Match text = match(ranges, "text", "plain");
  Match html = match(ranges, "text", "html");
  Match problem = match(ranges, "application", "problem+json");
  Match json = match(ranges, "application", "json");
  if (better(json, problem)) problem = json;
  // Fixed order for full ties: text, then HTML, then JSON.
  BodyFormat best = BodyFormat::kText;
  Match best_match = text;
  if (better(html, best_match)) {
    best = BodyFormat::kHtml;
    best_match = html;
  }
  if (better(problem, best_match)) {
    best = BodyFormat::kJson;
    best_match = problem;
  }
  if (best_match.q == 0) return BodyFormat::kText;  // nothing acceptable: say it plainly
  return best;
}

std::string_view content_type(BodyFormat format) {
  switch (format) {
    case BodyFormat::kHtml:
      return "text/html; charset=utf-8";
    case BodyFormat::kJson:
      return "application/problem+json";
    case BodyFormat::kText:
      break;
  }
  return "text/plain; charset=utf-8";
}

std::string_view format_extension(BodyFormat format) {
  switch (format) {
    case BodyFormat::kHtml:
      return "html";
    case BodyFormat::kJson:
      return "json";
    case BodyFormat::kText:
      break;
  }
  return "txt";
}

std::string display_url(std::string_view target) {
  std::string_view authority = authority_of(target);
  std::string out;
  if (!authority.empty()) {
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) {
      size_t start = static_cast<size_t>(authority.data() - target.data());
      out.append(target.substr(0, start));
      out.append(target.substr(start + at + 1));
      return truncated(out, kMaxUrlBytes);
    }
  }
  return truncated(target, kMaxUrlBytes);
}

std::string problem_type(Cause cause, std::string_view type_base) {
  std::string_view base = type_base;
  if (!base.empty() && base.back() == '/') base.remove_suffix(1);
  size_t scheme = base.rfind("https://", 0) == 0 ? 8 : base.rfind("http://", 0) == 0 ? 7 : 0;
  // The authority alone: letters, digits and the few marks a host, an IP literal, a zone id
  // ("%25") or a port use. No path, userinfo, query, quotes, spaces or controls.
  bool ok = scheme != 0 && base.size() > scheme &&
            std::all_of(base.begin() + static_cast<std::ptrdiff_t>(scheme), base.end(), [](char c) {
              return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     std::string_view("-._~:[]%").find(c) != std::string_view::npos;
            });
  if (!ok) return std::string(kBlankType);
  std::string t(base);
  t += kErrorTypePath;
  t += cause_info(cause).name;
  return t;
}

const std::vector<std::string_view>& template_variables() {
  static const std::vector<std::string_view> names(kVarNames.begin(), kVarNames.end());
  return names;
}

ErrorPages::~ErrorPages() = default;

std::string ErrorPages::check_template(std::string_view text, BodyFormat format) {
  std::string error;
  std::optional<ErrorTemplate> t = ErrorTemplate::parse(text, format, &error);
  if (!t) return error;
  if (format == BodyFormat::kJson) return check_json_template(*t);
  return {};
}

std::shared_ptr<const ErrorPages> ErrorPages::load(const std::string& templates_dir,
                                                   std::vector<std::string>* warnings) {
  namespace fs = std::filesystem;
  std::shared_ptr<ErrorPages> pages(new ErrorPages());
  if (templates_dir.empty()) return pages;
  auto warn = [&](const std::string& path, const std::string& msg) {
    if (!warnings) return;
    // One line per warning, whatever bytes a file name holds.
    std::string line = path + ": " + msg;
    for (char& c : line) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    warnings->push_back(std::move(line));
  };
  std::error_code ec;
  fs::file_status st = fs::status(templates_dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory) {
    warn(templates_dir, "cannot be read (" + ec.message() + "); the built-in error pages are used");
    return pages;
  }
  if (!fs::exists(st)) {
    warn(templates_dir, "no such directory; the built-in error pages are used");
    return pages;
  }
  if (!fs::is_directory(st)) {
    warn(templates_dir, "not a directory; the built-in error pages are used");
    return pages;
  }
  std::vector<fs::path> files;
  fs::directory_iterator it(templates_dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) files.push_back(it->path());
  if (ec) {
    warn(templates_dir, "cannot be read (" + ec.message() + "); the built-in error pages are used");
    return pages;
  }
  std::sort(files.begin(), files.end());
  const std::vector<int>& statuses = generated_statuses();
  for (const fs::path& path : files) {
    std::string name = path.filename().string();
    // Only "NNN.ext" names are ours; anything else (a README, editor backups) is left alone.
    if (name.size() < 5 || name[3] != '.' ||
        !std::all_of(name.begin(), name.begin() + 3, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    std::string p = path.string();
    int status = std::stoi(name.substr(0, 3));
    std::optional<BodyFormat> format = format_of_extension(std::string_view(name).substr(4));
    if (!format) {
      warn(p, "ignored: the file name must end in .html, .txt or .json");
      continue;
    }
    if (std::find(statuses.begin(), statuses.end(), status) == statuses.end()) {
      warn(p, "ignored: the proxy never generates status " + std::to_string(status));
      continue;
    }
    if (!fs::is_regular_file(path, ec)) {
      warn(p, "ignored: not a regular file");
      continue;
    }
    std::string error;
    std::optional<std::string> text = read_file(path, &error);
    if (!text) {
      warn(p, "cannot be read (" + error + "); the built-in page is used");
      continue;
    }
    std::optional<ErrorTemplate> t = ErrorTemplate::parse(*text, *format, &error);
    if (t && *format == BodyFormat::kJson) {
      error = check_json_template(*t);
      if (!error.empty()) t.reset();
    }
    if (!t) {
      warn(p, error + "; the built-in page is used");
      continue;
    }
    pages->entries_.push_back({status, *format, std::make_unique<ErrorTemplate>(std::move(*t))});
  }
  return pages;
}

const ErrorTemplate* ErrorPages::find(int status, BodyFormat format) const {
  for (const auto& entry : entries_) {
    if (entry.status == status && entry.format == format) return entry.tpl.get();
  }
  return nullptr;
}

std::string render_error_body(const ErrorDetails& e, std::string_view proxy_name, BodyFormat format,
                              long now) {
  Values vals = make_values(e, proxy_name, now);
  if (e.pages) {
    if (const ErrorTemplate* t = e.pages->find(vals.info->status, format)) {
      std::string out;
      t->render(vals, out);
      return out;
    }
  }
  return render_builtin(vals, format);
}

std::optional<std::string> render_error_type_page(std::string_view name, BodyFormat format,
                                                  std::string_view proxy_name) {
  std::optional<Cause> cause = cause_by_name(name);
  if (!cause) return std::nullopt;
  const CauseInfo& info = cause_info(*cause);
  switch (format) {
    case BodyFormat::kHtml:
      return type_page_html(info, proxy_name);
    case BodyFormat::kJson:
      return type_page_json(info);
    case BodyFormat::kText:
      break;
  }
  return type_page_text(info, proxy_name);
}

std::string_view type_page_content_type(BodyFormat format) {
  return format == BodyFormat::kJson ? "application/json" : content_type(format);
}

namespace {

// Header fields the response sets itself; e.extra may not repeat or override them.
bool managed_field(std::string_view name) {
  for (std::string_view m : {"content-length", "transfer-encoding", "content-type", "date",
                             "connection", "cache-control", "vary", "proxy-status", "x-request-id",
                             "x-content-type-options", "content-security-policy"}) {
    if (iequals(name, m)) return true;
  }
  return false;
}

// A field value with every control byte but HTAB removed: no CR/LF can split the head.
void append_field_value(std::string& out, std::string_view v) {
  for (char c : v) {
    auto u = static_cast<unsigned char>(c);
    if ((u >= 0x20 && u != 0x7f) || c == '\t') out += c;
  }
}

}  // namespace

void build_error_response(const ErrorDetails& e, std::string_view proxy_name, long now,
                          std::string& out) {
  const CauseInfo& info = cause_info(e.cause);
  BodyFormat format = negotiate_format(e.accept);
  std::string body = render_error_body(e, proxy_name, format, now);

  out += "HTTP/1.1 ";
  out += std::to_string(info.status);
  out += ' ';
  out += reason_phrase(info.status);
  out += "\r\nDate: ";
  out += http_date(now);
  out += "\r\nContent-Type: ";
  out += content_type(format);
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\nCache-Control: no-store\r\nVary: Accept\r\nX-Content-Type-Options: nosniff\r\n";
  if (format == BodyFormat::kHtml) {
    // The page is self-contained; nothing reflected into it may load or run anything.
    out +=
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n";
  }
  out += "Proxy-Status: ";
  out += proxy_status_value(proxy_name, e);
  out += "\r\n";
  if (!e.request_id.empty()) {
    std::string id;
    for (char c : e.request_id) {
      if (c > 0x20 && c < 0x7f) id += c;  // visible ASCII only
    }
    if (!id.empty()) {
      out += "X-Request-Id: ";
      out += id;
      out += "\r\n";
    }
  }
  for (const auto& f : e.extra) {
    bool name_ok = !f.name.empty() && std::all_of(f.name.begin(), f.name.end(), is_tchar);
    if (!name_ok || managed_field(f.name)) continue;
    out += f.name;
    out += ": ";
    append_field_value(out, f.value);
    out += "\r\n";
  }
  if (e.close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!e.head) out += body;
}

void build_error_response(const ErrorDetails& e, std::string_view proxy_name, std::string& out) {
  build_error_response(e, proxy_name, static_cast<long>(time(nullptr)), out);
}

void append_json_escaped(std::string& out, std::string_view s) {
  append_json(out, s);
}

}  // namespace gatehouse
