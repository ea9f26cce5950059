// Fuzzes the error page renderer (proxy/error_page.h): operator templates and the
// built-in pages, with every value of the ErrorDetails taken from the input.
//
// Input, NUL-separated parts (missing parts are empty):
//   0 template text         1 settings, "key=value" words: c cause (index in Cause
//                             order), f format (0 text, 1 html, 2 json), h HEAD, k close,
//                             b built-in page only, r received status, l limit, t time
//   2 details
//   3 rcode                 4 next_hop       5 method           6 url
//   7 request_id            8 client_address 9 contact          10 accept
//   11 proxy name (reduced to the RFC 9110 token characters server.name allows)
//   12 redirect chain, one URL per line    13 extra fields, "Name: value" per line
//   14 type_base            15 a problem type name for render_error_type_page
//
// Invariants:
//  - check_template() and ErrorPages::load() agree: a template is used exactly when
//    check_template() accepted it, and a refusal is one warning line without controls;
//  - every body is valid UTF-8;
//  - JSON: the body is valid JSON (RFC 8259) whenever it comes from the built-in page or
//    from a template that check_template() accepted, whatever the inserted values are;
//  - HTML: inserted values never add markup: a template's output has exactly as many
//    '<', '>', '"' and '\'' as the template itself; the built-in page uses only its own
//    tags, has no "<script" anywhere, and links only to http(s) or mailto URLs;
//  - text: inserted values never add control characters (beyond the template's own, and
//    the newlines between redirect chain entries);
//  - build_error_response(): a well-formed head (CRLF lines, token names, no CR/LF/NUL in
//    values, a valid RFC 8941 Proxy-Status item) that llhttp parses, with a Content-Length
//    equal to the body that follows (no body for HEAD);
//  - render_error_type_page() answers exactly the names cause_by_name() knows, with the
//    same format guarantees as the built-in pages.
#include <fcntl.h>
#include <llhttp.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "proxy/error_catalog.h"
#include "proxy/error_page.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

namespace fz = gatehouse::fuzz;
using gatehouse::BodyFormat;

std::string g_dir;  // scratch directory for template files, made once per process

void remove_dir() {
  if (g_dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

void write_file(const std::string& path, std::string_view text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(path.c_str());
    std::abort();
  }
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n <= 0) {
      std::perror(path.c_str());
      std::abort();
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
}

size_t count(std::string_view s, char c) {
  return static_cast<size_t>(std::count(s.begin(), s.end(), c));
}

bool icontains(std::string_view hay, std::string_view needle) {
  auto it = std::search(hay.begin(), hay.end(), needle.begin(), needle.end(), [](char a, char b) {
    return std::tolower(static_cast<unsigned char>(a)) ==
           std::tolower(static_cast<unsigned char>(b));
  });
  return it != hay.end();
}

// The built-in HTML pages use these elements and nothing else.
void check_builtin_html(std::string_view html) {
  static const std::vector<std::string_view> kTags = {
      "html", "head", "meta", "title", "style", "body", "main", "article", "p",  "h1",
      "h2",   "dl",   "dt",   "dd",    "code",  "ol",   "li",   "footer",  "br", "a"};
  FUZZ_CHECK(!icontains(html, "<script"), html);
  for (size_t i = html.find('<'); i != std::string_view::npos; i = html.find('<', i + 1)) {
    std::string_view rest = html.substr(i + 1);
    if (rest.starts_with("!doctype html>")) continue;
    if (rest.starts_with("/")) rest.remove_prefix(1);
    size_t end = rest.find_first_of(" >");
    FUZZ_CHECK(end != std::string_view::npos, html.substr(i, 40));
    std::string_view name = rest.substr(0, end);
    FUZZ_CHECK(std::find(kTags.begin(), kTags.end(), name) != kTags.end(), html.substr(i, 40));
  }
  for (size_t i = html.find("href=\""); i != std::string_view::npos;
       i = html.find("href=\"", i + 1)) {
    std::string_view url = html.substr(i + 6);
    FUZZ_CHECK(
        url.starts_with("http://") || url.starts_with("https://") || url.starts_with("mailto:"),
        url.substr(0, 60));
  }
}

void check_builtin_text(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    FUZZ_CHECK(c == '\n' || (u >= 0x20 && u != 0x7f), text);
  }
}

// RFC 8941 sf-item whose bare item is a token, with parameters: what Proxy-Status carries.
void check_proxy_status(std::string_view v) {
  size_t i = 0;
  auto peek = [&] { return i < v.size() ? v[i] : '\0'; };
  auto is_alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
  auto token = [&] {
    if (!(is_alpha(peek()) || peek() == '*')) return false;
    while (i < v.size() && (fz::is_tchar(v[i]) || v[i] == ':' || v[i] == '/')) ++i;
    return true;
  };
  FUZZ_CHECK(token(), v);
  while (i < v.size()) {
    FUZZ_CHECK(peek() == ';', v);
    ++i;
    while (peek() == ' ') ++i;
    size_t key = i;
    if ((peek() >= 'a' && peek() <= 'z') || peek() == '*') {
      while (i < v.size() && ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' && v[i] <= '9') ||
                              std::strchr("_-.*", v[i]) != nullptr))
        ++i;
    }
    FUZZ_CHECK(i > key, v);
    if (peek() != '=') continue;  // boolean true parameter
    ++i;
    if (peek() == '"') {
      ++i;
      bool closed = false;
      while (i < v.size()) {
        char c = v[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          FUZZ_CHECK(peek() == '"' || peek() == '\\', v);
          ++i;
          continue;
        }
        FUZZ_CHECK(c >= 0x20 && c < 0x7f, v);
      }
      FUZZ_CHECK(closed, v);
    } else if (peek() == '-' || (peek() >= '0' && peek() <= '9')) {
      size_t start = i;
      if (peek() == '-') ++i;
      while (peek() >= '0' && peek() <= '9') ++i;
      FUZZ_CHECK(i - start <= 16 && i - start >= 1, v);
    } else {
      FUZZ_CHECK(token(), v);
    }
  }
}

struct HeadCount {
  int fields = 0;
  bool done = false;
};

int on_field(llhttp_t* p, const char*, size_t) {
  (void)p;
  return 0;
}
int on_field_complete(llhttp_t* p) {
  static_cast<HeadCount*>(p->data)->fields++;
  return 0;
}
int on_head_done(llhttp_t* p) {
  static_cast<HeadCount*>(p->data)->done = true;
  return HPE_PAUSED;
}

// Checks one complete error response; returns its body.
void check_response(const std::string& out, const gatehouse::ErrorDetails& e,
                    std::string_view proxy_name, long now) {
  size_t end = out.find("\r\n\r\n");
  FUZZ_CHECK(end != std::string::npos, out);
  std::string_view head(out.data(), end + 2);
  std::string_view body = std::string_view(out).substr(end + 4);

  int field_lines = 0;
  long content_length = -1;
  size_t pos = 0;
  bool first = true;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    FUZZ_CHECK(eol != std::string_view::npos, head.substr(pos));
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    for (char c : line) {
      auto u = static_cast<unsigned char>(c);
      FUZZ_CHECK(c == '\t' || (u >= 0x20 && u != 0x7f), line);
    }
    if (first) {
      FUZZ_CHECK(line.starts_with("HTTP/1.1 "), line);
      first = false;
      continue;
    }
    size_t colon = line.find(':');
    FUZZ_CHECK(colon != std::string_view::npos && fz::is_token(line.substr(0, colon)), line);
    std::string_view name = line.substr(0, colon);
    std::string_view value = line.substr(colon + 1);
    if (value.starts_with(" ")) value.remove_prefix(1);
    ++field_lines;
    if (gatehouse::iequals(name, "content-length")) {
      FUZZ_CHECK(content_length < 0, line);
      content_length = std::strtol(std::string(value).c_str(), nullptr, 10);
    }
    if (gatehouse::iequals(name, "proxy-status")) {
      // server.name is an RFC 9110 token, but an sf-token must start with a letter or
      // '*' (known finding 3, docs/fuzzing.md). Unless strict, check the rest of the item.
      std::string v(value);
      if (!fz::strict() && !std::isalpha(static_cast<unsigned char>(proxy_name[0])) &&
          proxy_name[0] != '*') {
        v = "x" + v;
      }
      check_proxy_status(v);
    }
  }
  BodyFormat format = gatehouse::negotiate_format(e.accept);
  std::string expected = gatehouse::render_error_body(e, proxy_name, format, now);
  FUZZ_CHECK(content_length == static_cast<long>(expected.size()), head);
  if (e.head) {
    FUZZ_CHECK(body.empty(), body);
  } else {
    FUZZ_CHECK(body == expected, body);
  }

  llhttp_settings_t s;
  llhttp_settings_init(&s);
  s.on_header_field = on_field;
  s.on_header_field_complete = on_field_complete;
  s.on_headers_complete = on_head_done;
  llhttp_t p;
  llhttp_init(&p, HTTP_RESPONSE, &s);
  HeadCount hc;
  p.data = &hc;
  std::string whole_head(out.data(), end + 4);
  llhttp_errno_t err = llhttp_execute(&p, whole_head.data(), whole_head.size());
  FUZZ_CHECK(err == HPE_PAUSED && hc.done, std::string(llhttp_errno_name(err)) + " " + whole_head);
  FUZZ_CHECK(hc.fields == field_lines, whole_head);
}

std::vector<std::string> lines(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    size_t nl = s.find('\n');
    out.emplace_back(s.substr(0, nl));
    if (nl == std::string_view::npos) break;
    s.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/gatehouse-fuzz-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  g_dir = buf.data();
  std::atexit(remove_dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fz::Parts in(data, size);
  std::string_view tpl = in.part(0);

  fz::Control ctl(in.part(1));
  const auto& names = gatehouse::error_type_names();
  auto cause = static_cast<gatehouse::Cause>(ctl.get("c") % names.size());
  BodyFormat format = static_cast<BodyFormat>(ctl.get("f") % 3);
  gatehouse::ErrorDetails e;
  e.cause = cause;
  e.head = ctl.get("h") != 0;
  e.close = ctl.get("k") != 0;
  bool use_template = ctl.get("b") == 0;
  // An upstream status as llhttp 8 reports it: 0..999.
  e.received_status = static_cast<int>(ctl.get("r") % 1000);
  e.limit = ctl.get("l");
  // Any time gmtime_r can show (the proxy passes time(nullptr)).
  long now = static_cast<long>(ctl.get("t", 1700000000) % 253402300800);  // < year 10000

  e.details = in.part(2);
  e.rcode = in.part(3);
  e.next_hop = in.part(4);
  e.method = in.part(5);
  e.url = in.part(6);
  e.request_id = in.part(7);
  e.client_address = in.part(8);
  e.contact = in.part(9);
  e.accept = in.part(10);
  std::string proxy_name;
  for (char c : in.part(11)) {
    if (fz::is_tchar(c)) proxy_name += c;
  }
  if (proxy_name.empty()) proxy_name = "gatehouse";
  for (auto& url : lines(in.part(12))) {
    if (e.chain.size() < 150) e.chain.push_back(std::move(url));
  }
  for (const auto& line : lines(in.part(13))) {
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    e.extra.push_back({line.substr(0, colon), value});
  }
  e.type_base = in.part(14);

  // 1. check_template() on every format, and load() agreeing with it for one.
  std::string verdict[3];
  for (int f = 0; f < 3; ++f) {
    verdict[f] = gatehouse::ErrorPages::check_template(tpl, static_cast<BodyFormat>(f));
  }
  int status = gatehouse::cause_info(cause).status;
  std::string path =
      g_dir + "/" + std::to_string(status) + "." + std::string(gatehouse::format_extension(format));
  std::shared_ptr<const gatehouse::ErrorPages> pages;
  const gatehouse::ErrorTemplate* used = nullptr;
  if (use_template) {
    write_file(path, tpl);
    std::vector<std::string> warnings;
    pages = gatehouse::ErrorPages::load(g_dir, &warnings);
    ::unlink(path.c_str());
    used = pages->find(status, format);
    bool accepted = verdict[static_cast<int>(format)].empty();
    FUZZ_CHECK((used != nullptr) == accepted, verdict[static_cast<int>(format)]);
    FUZZ_CHECK(warnings.size() == (accepted ? 0u : 1u),
               warnings.empty() ? std::string("no warning") : warnings.front());
    for (const auto& w : warnings) FUZZ_CHECK(!fz::has_control(w), w);
    e.pages = pages.get();
  }

  // 2. The body in the chosen format.
  std::string body = gatehouse::render_error_body(e, proxy_name, format, now);
  FUZZ_CHECK(fz::valid_utf8(body), body);
  switch (format) {
    case BodyFormat::kJson: {
      std::string err = fz::Json::check(body);
      FUZZ_CHECK(err.empty(), err + "\n" + body);
      break;
    }
    case BodyFormat::kHtml:
      if (used) {
        for (char c : {'<', '>', '"', '\''}) FUZZ_CHECK(count(body, c) == count(tpl, c), body);
      } else {
        check_builtin_html(body);
      }
      break;
    case BodyFormat::kText:
      if (used) {
        for (int c = 0; c < 0x20; ++c) {
          if (c == '\n') continue;
          FUZZ_CHECK(count(body, static_cast<char>(c)) == count(tpl, static_cast<char>(c)), body);
        }
        FUZZ_CHECK(count(body, '\x7f') == count(tpl, '\x7f'), body);
      } else {
        check_builtin_text(body);
      }
      break;
  }

  // 3. The whole response, as sent.
  std::string out;
  gatehouse::build_error_response(e, proxy_name, now, out);
  check_response(out, e, proxy_name, now);

  // 4. The problem type pages.
  std::string_view type_name = in.part(15);
  auto page = gatehouse::render_error_type_page(type_name, format, proxy_name);
  FUZZ_CHECK(page.has_value() == gatehouse::cause_by_name(type_name).has_value(), type_name);
  if (page) {
    FUZZ_CHECK(fz::valid_utf8(*page), *page);
    if (format == BodyFormat::kJson) FUZZ_CHECK(fz::Json::check(*page).empty(), *page);
    if (format == BodyFormat::kHtml) check_builtin_html(*page);
    if (format == BodyFormat::kText) check_builtin_text(*page);
  }
  return 0;
}
